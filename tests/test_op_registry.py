"""The op registry sweep: every registered op, every sample: forward against its
NumPy reference, gradcheck and gradgradcheck (float64, central differences)."""

import numpy as np
import pytest

import autograd as ag
from autograd import forward_ad
from autograd.function import Primitive
from autograd.ops.registry import REGISTRY

CASES, GRADGRAD_CASES = [], []
for info in REGISTRY.values():
    for k, sample in enumerate(info.samples(np.random.default_rng(0))):
        case = pytest.param(info, k, id=f"{info.name}-{k}-{sample.name}")
        CASES.append(case)
        # Samples at points where the VJP itself is not differentiable (ties of max)
        # declare gradgrad=False; they are still gradchecked.
        if info.gradgrad and sample.gradgrad:
            GRADGRAD_CASES.append(case)


def _sample(info, k):
    # Fresh tensors per test (gradcheck perturbs inputs in place).
    return list(info.samples(np.random.default_rng(0)))[k]


def _as_arrays(args):
    return [a.array if isinstance(a, ag.Tensor) else
            [x.array if isinstance(x, ag.Tensor) else x for x in a] if isinstance(a, list) else a
            for a in args]


def _selected(info, out):
    outs = out if isinstance(out, tuple) else (out,)
    if info.output_index is not None and isinstance(out, tuple):
        return (outs[info.output_index],)
    return outs


def _fn(info, sample):
    """The op as a function of the sample's differentiable tensors only."""
    flat = []
    for a in sample.args:
        flat.extend(a if isinstance(a, list) else [a])
    positions = [i for i, a in enumerate(flat) if isinstance(a, ag.Tensor) and a.requires_grad]

    def fn(*xs):
        values = list(flat)
        for p, x in zip(positions, xs):
            values[p] = x
        it = iter(values)
        args = [[next(it) for _ in a] if isinstance(a, list) else next(it) for a in sample.args]
        return _selected(info, info.op(*args, **sample.kwargs))
    return fn, [flat[p] for p in positions]


@pytest.mark.parametrize("info,k", CASES)
def test_forward_matches_reference(info, k):
    if info.ref is None:
        pytest.fail(f"op {info.name} has no NumPy reference")
    sample = _sample(info, k)
    ours = _selected(info, info.op(*sample.args, **sample.kwargs))
    ref = info.ref(*_as_arrays(sample.args), **sample.kwargs)
    ref = _selected(info, ref) if isinstance(ref, tuple) else (ref,)
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert o.shape == np.shape(r), f"{info.name}: shape {o.shape} != reference {np.shape(r)}"
        np.testing.assert_allclose(o.array, r, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("info,k", CASES)
def test_gradcheck(info, k):
    fn, xs = _fn(info, _sample(info, k))
    assert ag.gradcheck(fn, xs, atol=info.atol, rtol=info.rtol)


@pytest.mark.parametrize("info,k", GRADGRAD_CASES)
def test_gradgradcheck(info, k):
    fn, xs = _fn(info, _sample(info, k))
    assert ag.gradgradcheck(fn, xs, atol=info.atol, rtol=info.rtol)


def _primitives():
    import autograd.ops  # noqa: F401
    seen, stack = [], [Primitive]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("autograd.ops.") and "forward" in vars(sub):
                seen.append(sub)
    return seen


def test_every_primitive_has_samples():
    covered = {p for info in REGISTRY.values() for p in info.primitives}
    missing = [f"{p.__module__}.{p.__name__}" for p in _primitives() if p not in covered]
    assert not missing, f"primitives without a registry entry (add samples): {missing}"


def test_every_op_has_samples():
    empty = [name for name, info in REGISTRY.items()
             if not list(info.samples(np.random.default_rng(0)))]
    assert not empty, f"ops registered without sample inputs: {empty}"


@pytest.mark.parametrize("info,k", CASES)
def test_jvp(info, k):
    """Every primitive's tangent rule: the forward-mode Jacobian against central
    differences, then the adjoint identity <J v, u> = <v, J^T u> against its VJP."""
    fn, xs = _fn(info, _sample(info, k))
    assert ag.gradcheck(fn, xs, atol=info.atol, rtol=info.rtol, check_forward_ad=True,
                        check_backward_ad=False)
    rng = np.random.default_rng(2)
    vs = [ag.tensor(rng.standard_normal(x.shape)) for x in xs]
    with forward_ad.dual_level():
        outs = fn(*[forward_ad.make_dual(x, v) for x, v in zip(xs, vs)])
        pairs = [(o, forward_ad.unpack_dual(o).tangent) for o in outs
                 if isinstance(o, ag.Tensor) and o.dtype.kind == "f" and o.requires_grad]
    us = [ag.tensor(rng.standard_normal(o.shape)) for o, _ in pairs]
    if not pairs:
        return
    jv_u = sum(float((t.array * u.array).sum()) for (_, t), u in zip(pairs, us) if t is not None)
    grads = ag.grad([o for o, _ in pairs], xs, us, allow_unused=True)
    v_jtu = sum(float((g.array * v.array).sum()) for g, v in zip(grads, vs) if g is not None)
    assert abs(jv_u - v_jtu) <= info.atol + info.rtol * abs(v_jtu), (jv_u, v_jtu)


def test_every_primitive_declares_a_jvp_rule():
    """No built-in primitive is left without a tangent rule (explicit or derived)."""
    missing = sorted({p.__name__ for info in REGISTRY.values() for p in info.primitives
                      if p.jvp is None})
    assert not missing, f"primitives without a jvp rule: {missing}"
