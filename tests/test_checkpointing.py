"""Activation checkpointing (autograd.utils.checkpoint, issue 29): gradients equal the
plain run's and PyTorch 2.13's, dropout masks are drawn again the same, BatchNorm's
running statistics end as PyTorch leaves them, keyword, non-tensor and tuple
arguments work, and the number of saved tensors falls as in PyTorch."""
import warnings

import numpy as np
import pytest

import autograd
import torch as torch_ref

PROGRAM = '''
import warnings
torch.manual_seed(0)
blocks = [torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh(), torch.nn.Dropout(P),
                              *([torch.nn.BatchNorm1d(6)] if BN else []))
          for _ in range(8)]
model = torch.nn.Sequential(*blocks)
model.load_state_dict({k: torch.tensor(v) for k, v in WEIGHTS.items()}, strict=False)
x = torch.tensor(X, requires_grad=True)
calls = [0]
def pack(t):
    calls[0] += 1
    return t
torch.manual_seed(1)
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    if MODE == "plain":
        out = model(x)
    elif MODE == "sequential":
        out = torch.utils.checkpoint.checkpoint_sequential(model, SEGMENTS, x, use_reentrant=REENTRANT)
    else:
        out = x
        for b in blocks:
            out = torch.utils.checkpoint.checkpoint(b, out, use_reentrant=REENTRANT)
packed = calls[0]
loss = (out * out).sum()
loss.backward()
result = dict(packed=packed, loss=float(loss.detach()), x=x.grad.numpy().copy(),
              **{n: p.grad.numpy().copy() for n, p in model.named_parameters()},
              **{n: b.numpy().copy() for n, b in model.named_buffers() if "running" in n})
'''


def _run(torch, mode, reentrant=False, p=0.0, bn=False, segments=4):
    rng = np.random.default_rng(0)
    weights = {}
    for i in range(8):
        weights[f"{i}.0.weight"] = (rng.standard_normal((6, 6)) * 0.5).astype(np.float32)
        weights[f"{i}.0.bias"] = (rng.standard_normal(6) * 0.1).astype(np.float32)
    scope = {"torch": torch, "WEIGHTS": weights, "MODE": mode, "REENTRANT": reentrant, "P": p,
             "BN": bn, "SEGMENTS": segments,
             "X": rng.standard_normal((5, 6)).astype(np.float32)}
    exec(PROGRAM, scope)
    return scope["result"]


def _close(a, b, rtol=1e-4, atol=1e-5):
    assert a.keys() == b.keys()
    for k in a:
        if k != "packed":
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("mode", ["sequential", "each"])
@pytest.mark.parametrize("reentrant", [False, True])
def test_gradients_equal_the_plain_run_and_pytorch(mode, reentrant):
    ours, theirs = _run(autograd, mode, reentrant), _run(torch_ref, mode, reentrant)
    _close(ours, _run(autograd, "plain"))
    _close(ours, theirs)


@pytest.mark.parametrize("reentrant", [False, True])
def test_pack_calls_fall_as_in_pytorch(reentrant):
    """8 blocks (Linear, Tanh, Dropout): 4 saved tensors a block when plain; with one
    checkpoint per block an outer hook sees only each checkpoint's input, and
    checkpoint_sequential leaves its last segment as usual."""
    plain = (_run(autograd, "plain", p=0.2)["packed"], _run(torch_ref, "plain", p=0.2)["packed"])
    each = (_run(autograd, "each", reentrant, p=0.2)["packed"],
            _run(torch_ref, "each", reentrant, p=0.2)["packed"])
    seq = (_run(autograd, "sequential", reentrant, p=0.2)["packed"],
           _run(torch_ref, "sequential", reentrant, p=0.2)["packed"])
    assert plain == (32, 32) and each == (8, 8)
    assert seq[0] == seq[1] == 3 + 2 * 4          # 3 segment inputs + the last 2 blocks


@pytest.mark.parametrize("reentrant", [False, True])
def test_dropout_draws_the_same_masks_in_the_recomputation(reentrant):
    for torch in (autograd, torch_ref):
        _close(_run(torch, "each", reentrant, p=0.3), _run(torch, "plain", p=0.3))


def test_without_preserved_rng_state_the_recomputation_draws_a_new_mask():
    x = autograd.ones(200, requires_grad=True)
    drop = autograd.nn.Dropout(0.5)
    kept = []
    for preserve in (True, False):
        x.grad = None
        autograd.manual_seed(3)
        y = autograd.utils.checkpoint.checkpoint(drop, x, use_reentrant=False,
                                                 preserve_rng_state=preserve)
        y.sum().backward()
        kept.append(np.array_equal(x.grad.numpy() != 0, y.detach().numpy() != 0))
    assert kept == [True, False]


@pytest.mark.parametrize("reentrant", [False, True])
def test_batchnorm_running_statistics_as_pytorch_leaves_them(reentrant):
    ours, theirs = _run(autograd, "each", reentrant, bn=True), _run(torch_ref, "each", reentrant, bn=True)
    _close(ours, theirs, rtol=2e-4, atol=2e-5)
    assert any("running_mean" in k for k in ours)


ARGS = '''
def f(a, scale, b, *, shift=0.0):
    h = (a * scale + shift).tanh()
    return h * b, (h.exp() if scale > 0 else h).sum()

a = torch.tensor(A, requires_grad=True)
b = torch.tensor(B, requires_grad=True)
if REENTRANT:
    y, s = torch.utils.checkpoint.checkpoint(lambda a, scale, b: f(a, scale, b, shift=0.5),
                                             a, 2.0, b, use_reentrant=True)
else:
    y, s = torch.utils.checkpoint.checkpoint(f, a, 2.0, b, shift=0.5, use_reentrant=False)
((y ** 2).sum() + s).backward()
result = dict(a=a.grad.numpy().copy(), b=b.grad.numpy().copy(), y=y.detach().numpy().copy())
'''


@pytest.mark.parametrize("reentrant", [False, True])
def test_keyword_and_non_tensor_arguments_and_tuple_outputs(reentrant):
    rng = np.random.default_rng(2)
    data = {"A": rng.standard_normal((3, 4)).astype(np.float32),
            "B": rng.standard_normal((3, 4)).astype(np.float32), "REENTRANT": reentrant}
    results = []
    for torch in (autograd, torch_ref):
        scope = {"torch": torch, **data}
        exec(ARGS, scope)
        results.append(scope["result"])
    _close(*results)


def test_non_reentrant_works_with_autograd_grad_and_create_graph():
    x = autograd.tensor([0.3, -0.7, 1.1], dtype=autograd.float64, requires_grad=True)

    def f(u):
        return (u * u * u).sin()
    y = autograd.utils.checkpoint.checkpoint(f, x, use_reentrant=False).sum()
    g, = autograd.grad(y, x, create_graph=True)
    h, = autograd.grad(g.sum(), x)
    u = x.detach().numpy()
    np.testing.assert_allclose(g.numpy(), 3 * u ** 2 * np.cos(u ** 3))
    np.testing.assert_allclose(h.numpy(), 6 * u * np.cos(u ** 3) - 9 * u ** 4 * np.sin(u ** 3))
    assert autograd.gradcheck(lambda v: autograd.utils.checkpoint.checkpoint(f, v, use_reentrant=False), (x,))


def test_the_tape_holds_fewer_saved_bytes_and_retain_graph_runs_again():
    model = autograd.nn.Sequential(*[autograd.nn.Sequential(autograd.nn.Linear(32, 32), autograd.nn.Tanh())
                                     for _ in range(6)])
    x = autograd.randn(16, 32, requires_grad=True)
    plain = autograd.tape(model(x).sum()).total_saved_bytes
    out = autograd.utils.checkpoint.checkpoint_sequential(model, 3, x, use_reentrant=False).sum()
    checkpointed = autograd.tape(out).total_saved_bytes
    assert checkpointed < plain / 2
    out.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-5)


def test_pytorchs_warnings_and_errors():
    x = autograd.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        autograd.utils.checkpoint.checkpoint(autograd.tanh, x)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        autograd.utils.checkpoint.checkpoint(autograd.tanh, x.detach(), use_reentrant=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        autograd.utils.checkpoint.checkpoint(lambda u, scale: u, x, scale=2, use_reentrant=True)
    with pytest.raises(ValueError, match="segments must be an int from 1 to 2"):
        autograd.utils.checkpoint.checkpoint_sequential([autograd.tanh, autograd.exp], 3, x,
                                                        use_reentrant=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        autograd.utils.checkpoint.checkpoint(autograd.tanh, x, use_reentrant=False)


def test_the_zoo_takes_checkpoint_segments():
    from nn import models
    autograd.manual_seed(0)
    for make, x in ((lambda **k: models.resnet18(num_classes=3, cifar_stem=True, width=4, **k),
                     autograd.randn(2, 3, 8, 8)),
                    (lambda **k: models.VisionTransformer(8, 4, 2, 2, 8, 16, num_classes=3, **k),
                     autograd.randn(2, 3, 8, 8))):
        autograd.manual_seed(0)
        plain = make()
        autograd.manual_seed(0)
        ck = make(checkpoint=2)
        ck.load_state_dict(plain.state_dict())
        grads = []
        for m in (plain, ck):
            m.train()
            m(x).sum().backward()
            grads.append({n: p.grad.numpy().copy() for n, p in m.named_parameters()})
        for n in grads[0]:
            np.testing.assert_allclose(grads[1][n], grads[0][n], rtol=1e-4, atol=1e-5, err_msg=n)
