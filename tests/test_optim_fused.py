"""The fused optimizer steps (autograd/kernels/optim_step.py) against their NumPy
references, step for step, in every option combination, float32 and float64, on both
twins of each kernel (serial and multi-threaded); and the optimizers' foreach/fused
switches.  PyTorch agreement is in test_optim_torch.py."""
import itertools

import numpy as np
import pytest

import autograd as ag
import optim
from autograd.kernels import optim_step as ks
from autograd.kernels import threads

STEPS = 4
# Shapes of one model's parameters: a matrix, a vector, a 0-d scalar, a 3-d kernel.
SHAPES = [(7, 5), (5,), (), (2, 3, 4)]


@pytest.fixture(params=["serial", "parallel"])
def kernel_twin(request, monkeypatch):
    """Route every kernel call of the test to one twin."""
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0 if request.param == "parallel" else 1 << 62)
    return request.param


def _tol(dtype):
    # Same operations in the same order and dtype: only the last bit may differ (LLVM
    # may evaluate sqrt or a product differently from NumPy's loops).
    return dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)


SGD_OPTIONS = [dict(momentum=mu, dampening=damp, weight_decay=wd, nesterov=nes, maximize=mx)
               for mu, damp, wd, nes, mx in itertools.product((0, 0.9), (0, 0.3), (0, 0.1),
                                                              (False, True), (False, True))
               if not nes or (mu > 0 and damp == 0)]
ADAM_OPTIONS = [dict(weight_decay=wd, amsgrad=ams, maximize=mx)
                for wd, ams, mx in itertools.product((0, 0.1), (False, True), (False, True))]
CASES = ([("SGD", dict(lr=0.1, **kw)) for kw in SGD_OPTIONS]
         + [(name, dict(lr=0.01, betas=(0.8, 0.95), **kw)) for name in ("Adam", "AdamW")
            for kw in ADAM_OPTIONS]
         + [("Adam", dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True))])


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES], rng


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_fused_step_matches_reference_step_for_step(name, kw, dtype, kernel_twin):
    x0, rng = _params(dtype)
    fused = [ag.tensor(x, requires_grad=True) for x in x0]
    ref = [ag.tensor(x, requires_grad=True) for x in x0]
    opt = getattr(optim, name)(fused, fused=True, **kw)
    opt_ref = getattr(optim, name)(ref, fused=False, **kw)
    for _ in range(STEPS):
        for p, q in zip(fused, ref):
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad, q.grad = ag.tensor(g), ag.tensor(g.copy())
        opt.step(), opt_ref.step()
        for p, q in zip(fused, ref):
            assert p.dtype == dtype
            np.testing.assert_allclose(p.numpy(), q.numpy(), **_tol(dtype))
    for p, q in zip(fused, ref):
        state, state_ref = opt.state[p], opt_ref.state[q]
        assert set(state) == set(state_ref)
        for key in state:
            np.testing.assert_allclose(state[key], state_ref[key], err_msg=key, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_references_on_a_large_parameter(dtype, kernel_twin):
    """A parameter of the size where the default threshold picks the threaded twin."""
    rng = np.random.default_rng(2)
    n = 40000
    s = np.dtype(dtype).type
    x, g, m, v, vmax = (rng.standard_normal(n).astype(dtype) for _ in range(5))
    v, vmax = v * v, vmax * vmax
    a = [x.copy(), g, m.copy(), v.copy(), vmax.copy()]
    b = [x.copy(), g, m.copy(), v.copy(), vmax.copy()]
    scalars = (s(0.2), s(0.95), s(0.05), s(1e-8), s(0.1), s(0.99), s(0.01), s(0.3), True, True)
    ks.adam_numba(*a, *scalars)
    ks.adam_reference(*b, *scalars)
    for u, w in zip(a, b):
        np.testing.assert_allclose(u, w, **_tol(dtype))
    scalars = (s(0.1), s(0.1), s(0.9), s(1.0), True, False, False)
    ks.sgd_numba(a[0], g, a[2], *scalars)
    ks.sgd_reference(b[0], g, b[2], *scalars)
    np.testing.assert_allclose(a[0], b[0], **_tol(dtype))
    np.testing.assert_allclose(a[2], b[2], **_tol(dtype))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_parameters_the_kernels_cannot_take_use_the_reference(name):
    """float16 and a non-contiguous parameter: the kernel would miss the write."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 6))
    params = [ag.tensor(base.astype(np.float16), requires_grad=True),
              ag.tensor(base, requires_grad=True)]
    params[1].array = base.T                     # a transposed view, not C-contiguous
    assert not params[1].numpy().flags.c_contiguous
    start = [p.numpy().copy() for p in params]
    twins = [ag.tensor(x.copy(), requires_grad=True) for x in start]
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    opt = getattr(optim, name)(params, **kw)
    opt_ref = getattr(optim, name)(twins, fused=False, **kw)
    for _ in range(3):
        for p, q in zip(params, twins):
            g = rng.standard_normal(p.shape).astype(p.dtype)
            p.grad, q.grad = ag.tensor(g), ag.tensor(g)
        opt.step(), opt_ref.step()
    for p, q, x in zip(params, twins, start):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert not np.array_equal(p.numpy(), x)          # the write reached the parameter


@pytest.mark.parametrize("foreach,fused,expected", [
    (None, None, True), (None, True, True), (True, None, True), (True, False, True),
    (False, None, False), (None, False, False), (False, False, False), (False, True, True)])
def test_switches_pick_the_kernel_like_pytorchs_fast_paths(foreach, fused, expected, monkeypatch):
    calls = []
    monkeypatch.setattr(optim.sgd, "sgd_step", lambda *a: calls.append("kernel"))
    monkeypatch.setattr(optim.sgd, "sgd_reference", lambda *a: calls.append("reference"))
    p = ag.ones(3, requires_grad=True)
    p.grad = ag.ones(3)
    optim.SGD([p], lr=0.1, foreach=foreach, fused=fused).step()
    assert calls == ["kernel" if expected else "reference"]


def test_a_checkpoint_without_the_new_options_reloads():
    """State dicts saved before foreach/fused/decoupled_weight_decay existed still load,
    and AdamW keeps decaying the weights (decoupled), not the gradient."""
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(4)]
    p1 = ag.tensor(x0, requires_grad=True)
    opt1 = optim.AdamW([p1], lr=0.1, weight_decay=0.5)
    for g in grads[:2]:
        p1.grad = ag.tensor(g)
        opt1.step()
    sd = opt1.state_dict()
    for group in sd["param_groups"]:
        for key in ("foreach", "fused", "decoupled_weight_decay"):
            del group[key]
    p2 = ag.tensor(p1.numpy().copy(), requires_grad=True)
    opt2 = optim.AdamW([p2], lr=0.1, weight_decay=0.5)
    opt2.load_state_dict(sd)
    for g in grads[2:]:
        for p, o in ((p1, opt1), (p2, opt2)):
            p.grad = ag.tensor(g)
            o.step()
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())


@pytest.mark.parametrize("call,error,match", [
    (lambda p: optim.SGD(p, foreach=True, fused=True), RuntimeError,
     r"SGD: `fused` and `foreach` cannot be `True` together"),
    (lambda p: optim.AdamW(p, foreach=True, fused=True), RuntimeError, r"AdamW: `fused`"),
    (lambda p: optim.SGD(p, differentiable=True), ValueError, r"SGD: capturable=True and"),
    (lambda p: optim.Adam(p, capturable=True), ValueError, r"Adam: capturable=True and"),
])
def test_unsupported_switches_are_refused_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call([ag.zeros(1, requires_grad=True)])
