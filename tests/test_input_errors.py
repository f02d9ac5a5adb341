"""Bad inputs get an error naming the op or module, what it received and what it
expected, raised before any kernel runs -- never a raw NumPy/Python error, never a
silently wrong result.  Also: float16 through the kernel-backed ops, and negative
pads (PyTorch's cropping)."""
import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
import optim

X = ag.randn(2, 3)
X4 = ag.randn(1, 2, 4, 4)

BAD_CALLS = [
    # (label, call, exception type, regex naming the op and what was wrong)
    ("linear-3d-weight", lambda: F.linear(X, ag.randn(2, 3, 1)), ValueError, r"linear: expected a weight"),
    ("linear-in-features", lambda: F.linear(X, ag.randn(4, 5)), ValueError, r"linear: input of shape \(2, 3\).*expects 5"),
    ("arange-step-0", lambda: ag.arange(0, 5, 0), ValueError, r"arange: step must be nonzero"),
    ("arange-wrong-sign", lambda: ag.arange(5, 0, 1), ValueError, r"arange: end=0 .*wrong side"),
    ("arange-inf", lambda: ag.arange(0, float("inf")), ValueError, r"arange: .*finite"),
    ("interpolate-size-0", lambda: F.interpolate(ag.randn(1, 1, 4), size=0), ValueError, r"interpolate: size .*got 0"),
    ("interpolate-negative-scale", lambda: F.interpolate(ag.randn(1, 1, 4), scale_factor=-2), ValueError,
     r"interpolate: scale_factor .*got -2"),
    ("interpolate-scale-to-0", lambda: F.interpolate(ag.randn(1, 1, 4), scale_factor=0.1), ValueError,
     r"interpolate: scale_factor 0.1 turns input size \(4,\) into \(0,\)"),
    ("interpolate-linear-4d", lambda: F.interpolate(X4, size=3, mode="linear"), ValueError,
     r"interpolate: mode 'linear' needs a 3-d input"),
    ("pad-negative-reflect", lambda: F.pad(X, (-1, 1), mode="reflect"), ValueError, r"pad: negative widths crop only"),
    ("pad-too-negative", lambda: F.pad(X, (-2, -2)), ValueError, r"pad: dim 1 of size 3 padded by \(-2, -2\)"),
    ("pad-float", lambda: F.pad(X, (1.5, 1)), TypeError, r"pad: pad must hold integers"),
    ("amax-empty-dim", lambda: ag.zeros(0, 3).amax(0), IndexError, r"amax: cannot reduce over dim\(s\) \(0,\)"),
    ("max-empty-dim", lambda: ag.zeros(0, 3).max(0), IndexError, r"max: cannot reduce over dim\(s\) \(0,\)"),
    ("argmax-empty", lambda: ag.zeros(0).argmax(), IndexError, r"argmax: cannot reduce"),
    ("reshape-minus-2", lambda: ag.zeros(6).reshape(-2, 3), ValueError, r"reshape: shape \(-2, 3\) is invalid"),
    ("reshape-two-minus-1", lambda: ag.zeros(6).view(-1, -1), ValueError, r"reshape: shape \(-1, -1\)"),
    ("expand-minus-2", lambda: ag.zeros(1, 3).expand(-2, 3), ValueError, r"expand: sizes \(-2, 3\) are invalid"),
    ("randn-negative", lambda: ag.randn(-1), ValueError, r"randn: sizes must be non-negative integers, got \(-1,\)"),
    ("zeros-float-size", lambda: ag.zeros(2.5), ValueError, r"zeros: sizes must be non-negative integers"),
    ("full-negative", lambda: ag.full((2, -1), 1.0), ValueError, r"full: sizes"),
    ("randint-empty-range", lambda: ag.randint(5, 2, (3,)), ValueError, r"randint: expected low < high"),
    ("linspace-negative", lambda: ag.linspace(0, 1, -2), ValueError, r"linspace: sizes"),
    ("cross_entropy-weight-length", lambda: F.cross_entropy(ag.randn(4, 3), ag.tensor([0, 1, 2, 0]),
                                                            weight=ag.ones(2)),
     ValueError, r"cross_entropy: weight of shape \(2,\) .*expected \(3,\)"),
    ("nll_loss-weight-length", lambda: F.nll_loss(ag.randn(4, 3), ag.tensor([0, 1, 1, 0]), weight=ag.ones(5)),
     ValueError, r"nll_loss: weight of shape \(5,\) .*expected \(3,\)"),
    ("cross_entropy-probabilities-weight", lambda: F.cross_entropy(ag.randn(4, 3), ag.rand(4, 3),
                                                                   weight=ag.ones(4)),
     ValueError, r"cross_entropy: weight of shape \(4,\)"),
    ("multi_margin-weight", lambda: F.multi_margin_loss(X, ag.tensor([0, 1]), weight=ag.ones(2)),
     ValueError, r"multi_margin_loss: weight of shape \(2,\)"),
    ("multi_margin-target", lambda: F.multi_margin_loss(X, ag.tensor([0, 7])), IndexError,
     r"multi_margin_loss: target 0..7 out of bounds for 3 classes"),
    ("label_smoothing", lambda: F.cross_entropy(X, ag.tensor([0, 1]), label_smoothing=2.0), ValueError,
     r"cross_entropy: label_smoothing must be between 0.0 and 1.0"),
    ("chunk-0", lambda: X.chunk(0), ValueError, r"chunk: chunks must be a positive integer, got 0"),
    ("flatten-order", lambda: X.flatten(1, 0), ValueError, r"flatten: start_dim 1 comes after end_dim 0"),
    ("repeat-negative", lambda: X.repeat(-1, 1), ValueError, r"repeat: repeats must be non-negative"),
    ("tril-1d", lambda: ag.randn(3).tril(), ValueError, r"tril: input must have at least 2 dimensions"),
    ("sum_to-incompatible", lambda: X.sum_to((5,)), ValueError, r"sum_to: shape \(2, 3\) cannot be summed to \(5,\)"),
    ("one_hot-negative", lambda: F.one_hot(ag.tensor([-1, 2]), 3), ValueError, r"one_hot: class values must be non-negative"),
    ("one_hot-too-few-classes", lambda: F.one_hot(ag.tensor([5]), 3), ValueError, r"one_hot: class value 5 .*num_classes=3"),
    ("one_hot-float", lambda: F.one_hot(ag.tensor([1.0]), 3), TypeError, r"one_hot: expected an integer"),
    ("group_norm-0", lambda: F.group_norm(X4, 0), ValueError, r"group_norm: num_groups must be a positive integer"),
    ("rms_norm-shape", lambda: F.rms_norm(X, (4,)), ValueError, r"rms_norm: expected input with trailing shape \(4,\)"),
    ("add-string", lambda: X + "a", TypeError, r"add: unsupported operands float32 \(2, 3\) and str"),
    ("pow-string", lambda: X ** "a", TypeError, r"pow: unsupported operands"),
    ("tensor-ragged", lambda: ag.tensor([[1, 2], [3]]), ValueError, r"tensor\(\): data must be .* regular shape"),
    ("dtype-unknown", lambda: ag.zeros(2, dtype="foo"), TypeError, r"dtype 'foo' is not understood"),
    ("to-unknown", lambda: X.to("foo"), TypeError, r"dtype 'foo' is not understood"),
    ("size-dim", lambda: X.size(5), IndexError, r"size: dim 5 is out of range for a tensor of shape \(2, 3\)"),
    ("Linear-negative", lambda: nn.Linear(-1, 3), ValueError, r"Linear: sizes must be non-negative integers"),
    ("Embedding-negative", lambda: nn.Embedding(-1, 3), ValueError, r"Embedding: sizes"),
    ("Conv2d-groups-0", lambda: nn.Conv2d(2, 2, 3, groups=0), ValueError, r"Conv2d: groups must be a positive integer"),
    ("SGD-nan-lr", lambda: optim.SGD([ag.randn(2, requires_grad=True)], lr=float("nan")), ValueError,
     r"SGD: invalid learning rate value nan"),
    ("norm-p-string", lambda: X.norm("fro"), TypeError, r"norm: p must be a number"),
]


@pytest.mark.parametrize("call,exc,match", [pytest.param(c, e, m, id=i) for i, c, e, m in BAD_CALLS])
def test_bad_input_gets_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_linear_takes_a_1d_weight_like_pytorch():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(3)
    for x in (rng.standard_normal((2, 3)), rng.standard_normal(3)):
        ours = F.linear(ag.tensor(x), ag.tensor(w))
        theirs = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w))
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("pad", [(-1, 2), (1, -2, -1, 1), (-1, -1, 0, 0), (0, 0, -1, 0)])
def test_negative_constant_pad_crops_like_pytorch(pad):
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    ours = ag.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y, t = F.pad(ours, pad, value=0.5), torch.nn.functional.pad(theirs, pad, value=0.5)
    np.testing.assert_array_equal(y.array, t.detach().numpy())
    w = np.random.default_rng(1).standard_normal(t.shape)
    (y * ag.tensor(w)).sum().backward()
    (t * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ours.grad.array, theirs.grad.numpy())
    assert ag.gradcheck(lambda z: F.pad(z, pad, value=0.5), [ours.detach().requires_grad_()])


def _adam_after_one_step(model):
    opt = optim.Adam(model.parameters())
    model(ag.randn(2, 3)).sum().backward()
    opt.step()
    return opt


def test_optimizer_state_from_another_architecture_fails_at_load_time():
    saved = _adam_after_one_step(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))).state_dict()
    other = optim.Adam(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).parameters())
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state 'exp_avg' of parameter 0 "
                                         r"has shape \(4, 3\), .*has shape \(3, 4\)"):
        other.load_state_dict(saved)
    fewer = optim.Adam(nn.Linear(3, 2).parameters())
    with pytest.raises(ValueError, match=r"parameter group 0 has 4 parameters, this optimizer's has 2"):
        fewer.load_state_dict(saved)
    same = optim.Adam(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).parameters())
    same.load_state_dict(saved)               # the same architecture still loads


def test_lbfgs_state_from_another_architecture_fails_at_load_time():
    model = nn.Linear(3, 2)
    opt = optim.LBFGS(model.parameters(), max_iter=2)
    x = ag.randn(4, 3)

    def closure():
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    other = optim.LBFGS(nn.Linear(4, 2).parameters())
    with pytest.raises(ValueError, match=r"LBFGS.load_state_dict: state 'd' has 8 entries per vector, "
                                         r"but this optimizer's parameters have 10"):
        other.load_state_dict(opt.state_dict())


HALF_OPS = [
    ("conv2d", lambda m, f, x, w: f.conv2d(x, w, padding=1), [(1, 2, 5, 5), (3, 2, 3, 3)]),
    ("conv1d", lambda m, f, x, w: f.conv1d(x, w), [(2, 2, 6), (3, 2, 3)]),
    ("conv_transpose2d", lambda m, f, x, w: f.conv_transpose2d(x, w, stride=2), [(1, 2, 3, 3), (2, 3, 2, 2)]),
    ("max_pool2d", lambda m, f, x: f.max_pool2d(x, 2), [(1, 2, 4, 4)]),
    ("avg_pool2d", lambda m, f, x: f.avg_pool2d(x, 2), [(1, 2, 4, 4)]),
    ("adaptive_avg_pool2d", lambda m, f, x: f.adaptive_avg_pool2d(x, 3), [(1, 2, 5, 5)]),
    ("unfold", lambda m, f, x: f.unfold(x, 2), [(1, 2, 4, 4)]),
    ("layer_norm", lambda m, f, x, w, b: f.layer_norm(x, (5,), w, b), [(3, 5), (5,), (5,)]),
    ("gelu", lambda m, f, x: f.gelu(x), [(3, 5)]),
    ("erf", lambda m, f, x: x.erf(), [(3, 5)]),
    ("softmax", lambda m, f, x: f.softmax(x, dim=-1), [(3, 5)]),
]


@pytest.mark.parametrize("fn,shapes", [pytest.param(f, s, id=n) for n, f, s in HALF_OPS])
def test_float16_runs_the_kernel_ops_through_float32_like_pytorch(fn, shapes):
    """float16 in, float16 out (values and gradients), within float16 rounding of
    PyTorch's own float16 results."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float16) for s in shapes]
    ours = [ag.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, t = fn(ag, F, *ours), fn(torch, torch.nn.functional, *theirs)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.array.astype(np.float32), t.detach().float().numpy(), rtol=2e-2, atol=2e-2)
    w = rng.standard_normal(t.shape).astype(np.float16)
    (y * ag.tensor(w)).sum().backward()
    (t * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        assert a.grad.dtype == np.float16
        np.testing.assert_allclose(a.grad.array.astype(np.float32), b.grad.float().numpy(),
                                   rtol=3e-2, atol=3e-2)
