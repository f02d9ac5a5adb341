"""Mixed precision (autograd.amp) against PyTorch 2.13: the same source under both."""
import warnings

import numpy as np
import pytest

import autograd
import torch

RNG = np.random.default_rng(0)
X, W, T = RNG.standard_normal((6, 4)), RNG.standard_normal((3, 4)), np.array([0, 2, 1, 1, 0, 2])
IMG, K = RNG.standard_normal((2, 1, 5, 5)), RNG.standard_normal((2, 1, 3, 3))

DTYPES = '''
x = torch.tensor(X, dtype=torch.float32)
w = torch.tensor(W, dtype=torch.float32, requires_grad=True)
t = torch.tensor(T)
F = torch.nn.functional
with torch.autocast(device_type="cpu", dtype=torch.float16):
    y = F.linear(x, w)
    out = {"linear": y, "matmul": x @ w.T, "mm": torch.mm(x, w.T), "relu": y.relu(),
           "softmax": torch.softmax(y, -1), "promoted": y + torch.ones(3),
           "cross_entropy": F.cross_entropy(y, t), "mse": F.mse_loss(y, torch.zeros(6, 3)),
           "conv": F.conv2d(torch.tensor(IMG, dtype=torch.float32), torch.tensor(K, dtype=torch.float32)),
           "layer_norm": F.layer_norm(y, (3,)), "double": torch.mm(x.double(), w.double().T),
           "attention": F.scaled_dot_product_attention(x[None], x[None], x[None])}
    with torch.autocast(device_type="cpu", enabled=False):
        out["disabled"] = torch.mm(x, w.T)
    loss = out["cross_entropy"]
loss.backward()
out["grad"] = w.grad
result = {k: (str(v.dtype), v.detach().double().numpy()) for k, v in out.items()}
'''


def _run(lib, source, **extra):
    scope = {"torch": lib, "X": X, "W": W, "T": T, "IMG": IMG, "K": K, **extra}
    exec(source, scope)
    return scope["result"]


def test_autocast_gives_the_dtypes_and_values_of_pytorchs_cpu_autocast():
    ours, theirs = _run(autograd, DTYPES), _run(torch, DTYPES)
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert ours[k][0] == theirs[k][0], k
        np.testing.assert_allclose(ours[k][1], theirs[k][1], rtol=2e-3, atol=2e-3, err_msg=k)
    assert ours["grad"][0] == "torch.float32"        # a float32 parameter's gradient


SCALER = '''
model = torch.nn.Linear(4, 3)
with torch.no_grad():
    model.weight.copy_(torch.tensor(W, dtype=torch.float32))
    model.bias.zero_()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
scales, weights = [], []
for step in range(10):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(torch.tensor(X, dtype=torch.float32)), torch.tensor(T))
    scaler.scale(loss).backward()
    if step in PLANTED:
        model.weight.grad[0, 0] = float("inf") if step % 2 else float("nan")
    if step == 6:
        scaler.unscale_(opt)          # as for gradient clipping, then step does not unscale again
    scaler.step(opt)
    scaler.update()
    scales.append(scaler.get_scale())
    weights.append(model.weight.detach().numpy().copy())
result = {"scales": scales, "weights": weights, "state": scaler.state_dict()}
'''


def test_grad_scaler_scales_skips_and_adjusts_exactly_as_pytorchs():
    planted = {1, 2, 7}
    ours = _run(autograd, SCALER, PLANTED=planted)
    theirs = _run(torch, SCALER, PLANTED=planted)
    assert ours["scales"] == theirs["scales"]
    assert ours["scales"][:3] == [1024.0, 512.0, 256.0]   # a good step, then two backed off
    assert ours["state"] == theirs["state"]
    for a, b in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.array_equal(ours["weights"][1], ours["weights"][0])     # a skipped step


def test_loss_scaling_keeps_float16_gradients_that_would_underflow():
    # A float32 weight used in float16: d(loss)/dh = 1e-8 is below float16's smallest
    # subnormal (6e-8), so it reaches the weight as 0 unless the loss is scaled.
    def weight_grad(lib, scale):
        w = lib.ones(4, requires_grad=True)
        h = w.to(lib.float16)
        (h.float() * 1e-8).sum().mul(scale).backward()
        return w.grad.numpy().astype(np.float64) / scale
    for lib in (autograd, torch):
        assert not weight_grad(lib, 1.0).any()
        np.testing.assert_allclose(weight_grad(lib, 2.0 ** 16), 1e-8, rtol=1e-3)


def test_bfloat16_and_other_devices_say_what_happens():
    with pytest.raises(RuntimeError, match="dtype=bfloat16.*is not supported.*Pass dtype=torch.float16"):
        autograd.autocast("cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with autograd.autocast("cuda", dtype=autograd.float16):
            assert autograd.mm(autograd.ones(2, 2), autograd.ones(2, 2)).dtype == autograd.float32
        assert not autograd.amp.GradScaler().is_enabled()
    assert len(caught) == 2 and all("CPU only" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="expected `device_type` of type `str`"):
        autograd.autocast(0)
    scaler = autograd.amp.GradScaler("cpu")
    opt = autograd.optim.SGD([autograd.nn.Parameter(autograd.ones(2))], lr=0.1)
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        scaler.unscale_(opt)
