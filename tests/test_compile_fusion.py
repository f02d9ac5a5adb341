"""Elementwise fusion against eager: every registered elementwise op, on each of its
samples, followed by ``* 1.5 + 0.5`` so that it joins a fused kernel, compiled and
eager: values and gradients equal to float64's rounding (a fused kernel must not
change an op's numbers).  And what the plan shows of its kernels."""
import warnings

import numpy as np
import pytest

import autograd as ag
from autograd.compile import fusion
from autograd.compile.fusion import NotFusible
from autograd.ops.batching import elementwise_batch_rule
from autograd.ops.formula import FormulaPrimitive
from autograd.ops.registry import REGISTRY

from test_compile_registry import _copies, _op_of_tensors, _run, _sample, assert_same_results

ELEMENTWISE = [info for info in REGISTRY.values()
               if any(issubclass(p, FormulaPrimitive) and p.batch_rule is elementwise_batch_rule
                      for p in info.primitives)]
CASES = [pytest.param(info, k, id=f"{info.name}-{k}")
         for info in ELEMENTWISE
         for k, sample in enumerate(info.samples(np.random.default_rng(0)))]


def test_the_sweep_covers_the_elementwise_family():
    assert {"add", "mul", "div", "tanh", "exp", "log", "sigmoid"} <= {i.name for i in ELEMENTWISE}


@pytest.mark.parametrize("info,k", CASES)
def test_fused_op_equals_eager(info, k):
    op_fn, xs = _op_of_tensors(info, _sample(info, k))

    def fn(*args):
        return tuple(o * 1.5 + 0.5 if isinstance(o, ag.Tensor) and o.dtype.kind == "f" else o
                     for o in op_fn(*args))
    compiled = ag.compile(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # ops that break run eagerly: still equal
        compiled(*_copies(xs, scale=0.01))
        compiled(*_copies(xs, scale=0.1))
        got = _run(compiled, _copies(xs))
    want = _run(fn, _copies(xs))
    assert_same_results(got, want, f"{info.name}: fused differs from eager", 1e-10, 1e-5)


def test_a_chain_is_one_kernel_and_the_code_shows_it():
    def fn(x, y):
        return ((x * y).tanh() + y).exp().sum()
    compiled = ag.compile(fn)
    x, y = ag.randn(5, requires_grad=True), ag.randn(5, requires_grad=True)
    for _ in range(3):
        compiled(x, y).backward()
    kernels = compiled._last.kernels
    assert [k["ops"] for k in kernels] == [["Mul", "Tanh", "Add", "Exp", "Sum"]]
    assert "fused_0(x, y)" in compiled.code and "fused_0_backward" in compiled.code
    assert "for i in range(n):" in kernels[0]["backward"]
    stats = compiled._last.stats
    # the sum is the kernel's epilogue: no array between the ops, the exp's included
    assert stats["fused_ops"] == 5 and stats["temporaries_removed"] == 4
    assert stats["bytes_removed"] == 4 * 5 * 4


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("exported", [False, True])
def test_a_full_reduction_is_the_kernels_epilogue(reduce, exported):
    """``sum``/``mean`` of a group's value joins the kernel; values, gradients (also of
    a value read again after it) and second derivatives equal eager's in float64."""
    def fn(x, y):
        t = (x * y).sin()
        r = getattr(t * t, reduce)()
        return (r, t * 3.0) if exported else r
    compiled = ag.compile(fn)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 4)) for _ in range(2)]

    def run(f):
        x, y = (ag.tensor(a, requires_grad=True) for a in xs)
        out = f(x, y)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * (k + 1.5)).sum() for k, o in enumerate(outs))
        gx, gy = ag.grad(loss, (x, y), create_graph=True)
        ggx, = ag.grad((gx * gy).sum(), (x,))
        return [o.array for o in outs] + [gx.array, gy.array, ggx.array]
    for _ in range(2):
        run(compiled)
    kernel, = compiled._last.kernels
    assert kernel["ops"][-1] == reduce.capitalize() and "acc += red[i]" in kernel["forward"]
    for got, want in zip(run(compiled), run(fn)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_partial_reduction_stays_a_step():
    compiled = ag.compile(lambda x: (x * 2).exp().sum(0))
    x = ag.randn(3, 4)
    for _ in range(3):
        out = compiled(x)
    kernel, = compiled._last.kernels
    assert kernel["ops"] == ["Mul", "Exp"] and "Sum(" in compiled.code
    np.testing.assert_allclose(out.array, (x * 2).exp().sum(0).array, rtol=1e-6)


def test_the_kernels_buffers_are_reused_and_never_what_a_caller_holds(monkeypatch):
    """Buffer planning: the arrays a fused kernel wrote go back to its pool when the call's
    graph ends, and the next call writes into them; what the region returns (here a view
    of a fused result) stays the caller's, even with graphs of earlier calls still alive.
    (Small arrays are pooled here by lowering the threshold.)"""
    monkeypatch.setattr(fusion, "POOL_MIN_BYTES", 0)
    def fn(x, w):
        h = (x * 2.0 + 1.0).tanh()            # an export the matmul reads
        return h @ w, (x * 3.0 - 1.0).T        # a returned view of the second kernel's
    compiled = ag.compile(fn)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 5)) for _ in range(6)]
    w_array = rng.standard_normal((5, 3))

    def call(f, a):
        x, w = ag.tensor(a, requires_grad=True), ag.tensor(w_array, requires_grad=True)
        return x, w, f(x, w)
    for a in xs[:2]:                           # capture and confirm
        call(compiled, a)
    internal = next(e for e in compiled._last.plan.entries if type(e).__name__ == "FusedStep"
                    and "Tanh" in [m.cls.__name__ for m in e.members])
    kept = [call(compiled, a) for a in xs]     # graphs alive together
    for x, w, (y, v) in kept:
        (y * y).sum().backward()               # its run ends: the buffers go back
    pooled = internal.free[-1][0]
    for a in xs[:2]:                           # later calls write into them
        x, w, (y, v) = call(compiled, a + 10.0)
        assert not internal.free or internal.free[-1][0] is not pooled    # taken
        (y.sum() + v.sum()).backward()
        assert internal.free[-1][0] is pooled                               # back
    assert compiled._last.stats["bytes_pooled"] == 3 * 4 * 5 * 8     # two exports, a tape
    for x, w, (y, v) in kept:
        ex, ew, (ey, ev) = call(fn, x.array)
        (ey * ey).sum().backward()
        for got, want in [(y, ey), (v, ev), (x.grad, ex.grad), (w.grad, ew.grad)]:
            np.testing.assert_allclose(got.array, want.array, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [16, fusion.LIBM_SPLIT_MIN[np.dtype(np.float64)]])
def test_on_large_arrays_a_transcendental_op_stays_numpys(n):
    """From LIBM_SPLIT_MIN elements tanh (a libm call an element in a kernel, SIMD in
    NumPy) is a step of its own and the arithmetic around it is fused; below, one kernel.
    Values and gradients equal eager's either way."""
    def fn(x, y):
        return ((x * y + 1.0).tanh() * 2.0 - y).sum()
    compiled = ag.compile(fn)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(n) for _ in range(2)]

    def run(f):
        x, y = (ag.tensor(a, requires_grad=True) for a in xs)
        out = f(x, y)
        out.backward()
        return out.array, x.grad.array, y.grad.array
    for _ in range(2):
        run(compiled)
    ops = [k["ops"] for k in compiled._last.kernels]
    if n < fusion.LIBM_SPLIT_MIN[np.dtype(np.float64)]:
        assert ops == [["Mul", "Add", "Tanh", "Mul", "Sub", "Sum"]]
    else:
        assert ops == [["Mul", "Add"], ["Mul", "Sub", "Sum"]] and "Tanh(" in compiled.code
    for got, want in zip(run(compiled), run(fn)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float32_kernels_tanh_is_correctly_rounded_with_numpys_special_values():
    """A float32 kernel's tanh (tanh32, from exp in float64): within 0.5 ulp of the
    float64 tanh rounded (NumPy's float32 tanh: about 1.3), and NumPy's values at 0, -0,
    tiny, huge, infinite and NaN inputs."""
    special = np.array([0.0, -0.0, 1e-30, -1e-9, 1e-8, 3e-8, 50.0, -1e4, np.inf, -np.inf,
                        np.nan], np.float32)
    rng = np.random.default_rng(0)
    values = np.concatenate([special, (rng.standard_normal(1000) * 4).astype(np.float32),
                             rng.uniform(-1e-4, 1e-4, 500).astype(np.float32)])
    f = ag.compile(lambda x: (x * 1.0).tanh() * 1.0)
    x = ag.tensor(values)
    for _ in range(3):
        got = f(x).array
    assert "tanh32(" in f._last.kernels[0]["forward"]
    want = np.tanh(values.astype(np.float64))
    finite = np.isfinite(values)
    ulps = np.abs(got[finite] - want[finite]) / np.spacing(np.abs(want[finite]).astype(np.float32))
    assert ulps.max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(got[:len(special)], np.tanh(special))
    assert np.array_equal(np.signbit(got[:2]), [False, True])


def test_fusion_can_be_turned_off():
    fn = ag.compile(lambda x: (x * 2).tanh(), options={"fusion": False})
    x = ag.randn(3)
    for _ in range(3):
        fn(x)
    assert fn._last.kernels == [] and fn._last.stats["fused_ops"] == 0


def test_a_forward_the_kernel_cannot_express_stays_a_step():
    from autograd.compile.fusion import KernelSource
    s = KernelSource((3,), np.float64).sym("x")
    with pytest.raises(NotFusible):
        bool(s > 0)
    with pytest.raises(NotFusible):
        s.reshape(3)


def test_to_dot_draws_a_compiled_region_as_a_cluster_of_its_ops():
    import nn
    from autograd.viz import to_dot
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    compiled = ag.compile(model)
    x = ag.randn(5, 3)
    for _ in range(3):
        out = compiled(x)
    graph = to_dot((out * out).sum(), params=dict(model.named_parameters()))
    src = graph.source
    assert 'label="compiled Sequential"' in src
    assert src.count("captured by compile(Sequential)") == 3        # Linear, Tanh, Linear
    region = next(n for n in graph.model.nodes if n.endswith("_0"))[:-2]   # op<seq>
    edges = {(e.src, e.dst) for e in graph.model.edges}
    assert {(f"{region}_0", f"{region}_1"), (f"{region}_1", f"{region}_2")} <= edges
    assert sum(1 for src, dst in edges if dst == f"{region}_0" and src.startswith("leaf")) == 2
    assert "<svg" in graph.svg(builtin=True)
