"""Compiled mode (autograd.compile): compiled training equals eager training step for
step; each guard retraces; graph breaks run eagerly (or raise under fullgraph); state
(random draws, BatchNorm statistics) is replayed, not frozen."""
import warnings

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim
from autograd.compile import CompileCheckError, GraphBreak, OptimizedModule
from nn.models.lenet import LeNet5
from nn.models.mlp import MLP
from nn.models.vit import VisionTransformer


def _train(make, shape, classes, opt, kw, compiled, steps=3, dtype=np.float32, **compile_kw):
    """Losses, parameters and buffers after ``steps`` training steps, from one seed."""
    ag.manual_seed(0)
    module = make()
    if dtype == np.float64:
        module = module.double()
    optimizer = opt(module.parameters(), **kw)
    model = ag.compile(module, **compile_kw) if compiled else module
    rng = np.random.default_rng(1)
    ag.manual_seed(2)                 # the dropout masks: the same stream both ways
    losses = []
    for _ in range(steps):
        x = ag.tensor(rng.standard_normal(shape).astype(dtype))
        y = ag.tensor(rng.integers(0, classes, shape[0]))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.array.copy())
    return (losses, [p.array.copy() for p in module.parameters()],
            [b.array.copy() for b in module.buffers()], model)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(4 * 6 * 6, 3)
        self.bn1 = nn.BatchNorm1d(3)

    def forward(self, x):
        h = self.drop(F.relu(self.bn(self.conv(x))))
        return self.bn1(self.fc(h.flatten(1)))


MODELS = {
    "mlp-sgd": (lambda: MLP(8, [16, 16], 4), (5, 8), 4, optim.SGD, dict(lr=0.1, momentum=0.9)),
    "mlp-dropout-adamw": (lambda: MLP(8, [16, 16], 4, dropout=0.3), (5, 8), 4, optim.AdamW,
                          dict(lr=0.01)),
    "lenet-sgd": (LeNet5, (4, 1, 28, 28), 10, optim.SGD, dict(lr=0.05)),
    "bn-dropout-sgd": (BNNet, (6, 1, 6, 6), 3, optim.SGD, dict(lr=0.1)),
    "vit-adamw": (lambda: VisionTransformer(8, 4, 2, 2, 16, 32, dropout=0.1, num_classes=3),
                  (2, 3, 8, 8), 3, optim.AdamW, dict(lr=0.01)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(MODELS))
def test_compiled_training_equals_eager(name, dtype):
    make, shape, classes, opt, kw = MODELS[name]
    le, pe, be, _ = _train(make, shape, classes, opt, kw, False, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no graph break, no retrace warning
        lc, pc, bc, model = _train(make, shape, classes, opt, kw, True, dtype=dtype)
    # the same ops on the same arrays: equal, not merely close
    for a, b in zip(le + pe + be, lc + pc + bc):
        np.testing.assert_array_equal(a, b)
    assert len(model._compiled.traces) == 1
    assert model._compiled.graph_breaks == []


def test_calls_after_the_first_are_one_node_on_the_tape():
    model = ag.compile(MLP(3, [4], 2))
    x = ag.randn(2, 3)
    first = model(x)
    model(x)                          # the second capture confirms the first's constants
    second = model(x)
    assert not first.grad_fn.name().startswith("CompiledRegion")     # the capture: eager
    assert second.grad_fn.name().startswith("CompiledRegion[")
    edges = [getattr(e[0], "variable", e[0]) for e in second.grad_fn.next_functions
             if e[0] is not None]
    assert {id(p) for p in model.parameters()} <= {id(e) for e in edges}
    np.testing.assert_array_equal(first.array, second.array)


def test_module_wrapper_shares_parameters_and_keeps_orig_mod():
    m = nn.Linear(3, 2)
    c = ag.compile(m)
    assert isinstance(c, OptimizedModule) and c._orig_mod is m
    assert [id(p) for p in c.parameters()] == [id(p) for p in m.parameters()]
    assert c.weight is m.weight
    assert c.eval() is c and not m.training


def test_function_decorator_forms():
    @ag.compile
    def f(x):
        return (x * 2).sum()

    @ag.compile(fullgraph=True)
    def g(x):
        return (x * 3).sum()

    x = ag.ones(3, requires_grad=True)
    for _ in range(2):
        assert f(x).item() == 6.0 and g(x).item() == 9.0
    assert ag.compile(f, disable=True) is f


@pytest.mark.parametrize("kwargs, error", [
    (dict(mode="max-autotune"), ValueError), (dict(mode="fast"), ValueError),
    (dict(options={"triton.cudagraphs": True}), ValueError), (dict(dynamic=True), NotImplementedError),
    (dict(backend="tvm"), ValueError)])
def test_unsupported_arguments_raise_clearly(kwargs, error):
    with pytest.raises(error, match="compile"):
        ag.compile(lambda x: x, **kwargs)


def _retraces(f, calls):
    """How many traces ``f`` holds after the calls (each a thunk calling it)."""
    for call in calls:
        call()
    return len(f.traces)


def test_each_guard_retraces():
    w = ag.randn(3, requires_grad=True)

    def fn(x):
        return (x * w).sum()
    f = ag.compile(fn)
    x = ag.randn(3)
    f(x), f(x)
    assert len(f.traces) == 1
    f(ag.randn(4, 3)[0])                      # same shape: no retrace
    assert len(f.traces) == 1
    f(ag.randn(2, 3))
    assert len(f.traces) == 2                  # shape
    n = len(f.traces)
    f(ag.randn(3, dtype=ag.float64))
    assert len(f.traces) == n + 1              # dtype
    f(ag.randn(3, requires_grad=True))
    assert len(f.traces) == n + 2              # requires_grad
    with ag.no_grad():
        f(x)
    assert len(f.traces) == n + 3              # grad mode
    with ag.detect_anomaly():
        f(x)
    assert len(f.traces) == n + 4              # anomaly mode
    ag.set_default_dtype(ag.float64)
    try:
        f(x)
    finally:
        ag.set_default_dtype(ag.float32)
    assert len(f.traces) == n + 5              # default dtype


G_SCALE = ag.tensor([1.0, 2.0, 3.0])


def test_the_fast_guard_check_sends_every_change_to_the_signature_path():
    """After a hit, calls try the last trace's generated check first; each change it
    guards must still retrace (or reach the right trace) with eager's result."""
    w = ag.randn(3, requires_grad=True)

    def fn(x, y):
        return (x * w * G_SCALE + y).sum()
    f = ag.compile(fn)
    x, y = ag.randn(3), ag.randn(3)
    for _ in range(3):
        f(x, y)
    check, trace = f._fast
    assert "a1 is not a0" in check.source and "G.get('G_SCALE') is" in check.source
    assert f(x, x).array == fn(x, x).array and len(f.traces) == 2       # aliasing
    f(x, y)
    assert f._fast[1] is trace                      # back on the first trace, no retrace
    w2 = ag.randn(3)
    w_old, w = w, w2                                # the closure now holds another tensor
    np.testing.assert_allclose(f(x, y).array, fn(x, y).array, rtol=1e-6)
    w = w_old
    global G_SCALE
    old = G_SCALE
    G_SCALE = ag.tensor([5.0, 5.0, 5.0])           # a global rebound
    try:
        np.testing.assert_allclose(f(x, y).array, fn(x, y).array, rtol=1e-6)
    finally:
        G_SCALE = old
    n = len(f.traces)
    w.requires_grad_(False)                          # a captured tensor's flag
    out = f(x, y)
    assert len(f.traces) > n and not out.requires_grad


def test_module_guards_training_flag_and_parameter_identity():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    c = ag.compile(m)
    x = ag.randn(2, 3)
    c(x), c(x)
    assert len(c._compiled.traces) == 1
    c.eval()
    c(x)
    assert len(c._compiled.traces) == 2
    m[0].weight = nn.Parameter(ag.randn(3, 3))     # a new parameter object
    out = c(x)
    assert len(c._compiled.traces) == 3
    np.testing.assert_allclose(out.array, m(x).array, rtol=1e-6)
    m[0].weight = nn.Parameter(ag.randn(4, 3))     # a new shape: retrace, and eager's error
    m[0].bias = nn.Parameter(ag.randn(4))
    assert c(x).shape == (2, 4) and len(c._compiled.traces) == 4


def test_a_modules_fast_guard_check_sends_every_change_to_the_signature_path():
    """A compiled module's generated check holds its tree: training flags, children,
    parameters and buffers (objects and count); each change still reaches the right trace
    with eager's result."""
    m = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.0), nn.BatchNorm1d(4))
    c = ag.compile(m)
    x = ag.randn(5, 3)

    def same():
        ag.manual_seed(0)
        got = c(x)
        ag.manual_seed(0)
        np.testing.assert_allclose(got.array, m(x).array, rtol=1e-6, atol=1e-6)
    for _ in range(3):
        c(x)
    # (the second capture once missed BatchNorm's statistics buffer: np.empty handed
    # back the first call's block, already holding the same numbers)
    assert not c.graph_breaks
    check, trace = c._compiled._fast
    assert "M0._modules.get('2') is" in check.source and "M3.training is True" in check.source
    c.eval()
    same()
    assert len(c._compiled.traces) == 2             # the check failed: a new capture
    c.train()
    same()
    assert c._compiled._fast[1] is trace            # back on the first, by the signature
    m[0].weight = nn.Parameter(ag.randn(4, 3))       # a new parameter object
    same()
    m[2].running_mean = ag.zeros(4)                  # a new buffer object
    same()
    m.append(nn.Tanh())                              # a new child
    same()
    n = len(c._compiled.traces)
    m[0].bias.requires_grad_(False)                  # a parameter's flag
    c(x), c(x)
    assert len(c._compiled.traces) > n and c(x).requires_grad


def test_parameter_changed_in_place_is_read_live():
    m = nn.Linear(3, 2)
    c = ag.compile(m)
    x = ag.randn(4, 3)
    c(x), c(x)
    with ag.no_grad():
        m.weight.mul_(2.0)
        m.bias.add_(1.0)
    np.testing.assert_array_equal(c(x).array, m(x).array)
    assert len(c._compiled.traces) == 1


def test_cache_limit_warns_once_naming_the_guard():
    f = ag.compile(lambda x: x * 2, options={"cache_size_limit": 2})
    with pytest.warns(UserWarning, match="guard on arguments keeps failing"):
        for n in range(1, 6):
            np.testing.assert_array_equal(f(ag.ones(n)).array, np.full(n, 2.0, np.float32))
    assert len(f.traces) == 2


@pytest.mark.parametrize("read", [
    lambda t: t.sum().item(), lambda t: bool(t.sum() > 0), lambda t: float(t.sum()),
    lambda t: t.tolist(), lambda t: t.numpy(), lambda t: [v for v in t], lambda t: np.asarray(t)])
def test_graph_breaks_run_eagerly_and_warn_with_the_users_line(read):
    def fn(x):
        y = x * 2
        read(y)
        return y.sum()
    f = ag.compile(fn)
    x = ag.tensor([1.0, -2.0, 3.0], requires_grad=True)
    with pytest.warns(UserWarning, match="graph break") as w:
        out = f(x)
    assert any(r.filename == __file__ for r in w)     # the warning points at this file
    assert f.graph_breaks and __file__ in f.graph_breaks[0][1]
    out.backward()
    np.testing.assert_array_equal(x.grad.array, [2.0, 2.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(x).item() == 4.0                      # eager again, no second warning
    assert f.traces == {}


def test_data_dependent_branch_stays_correct():
    def fn(x):
        if x.sum() > 0:
            return x * 2
        return x * -1
    f = ag.compile(fn)
    with pytest.warns(UserWarning, match="bool"):
        f(ag.ones(2))
    np.testing.assert_array_equal(f(-ag.ones(2)).array, [1.0, 1.0])
    np.testing.assert_array_equal(f(ag.ones(2)).array, [2.0, 2.0])


def test_fullgraph_raises_naming_the_break():
    f = ag.compile(lambda x: x * x.sum().item(), fullgraph=True)
    with pytest.raises(GraphBreak, match=r"Tensor.item\(\) at .*test_compile.py"):
        f(ag.ones(2))


def test_in_place_write_outside_the_tape_is_a_graph_break():
    def fn(x):
        y = x * 2
        with ag.no_grad():
            y.add_(1.0)
        return y * 3
    f = ag.compile(fn)
    x = ag.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="written in place"):
        first = f(x)
    np.testing.assert_array_equal(f(x).array, first.array)
    np.testing.assert_array_equal(first.array, [9.0, 9.0])


def test_region_mutating_its_input_runs_eagerly():
    def fn(x):
        x.mul_(2)
        return x
    f = ag.compile(fn)
    x = ag.ones(2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f(x)
    assert any("writes in place" in str(m.message) for m in w)
    f(x)
    np.testing.assert_array_equal(x.array, [4.0, 4.0])


def test_dropout_masks_differ_per_call_and_match_eager_under_one_seed():
    drop = ag.compile(lambda x: F.dropout(x, 0.5))
    x = ag.ones(64)
    ag.manual_seed(7)
    eager = [F.dropout(x, 0.5).array for _ in range(4)]
    ag.manual_seed(7)
    compiled = [drop(x).array for _ in range(4)]
    for a, b in zip(eager, compiled):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(compiled[2], compiled[3])
    rand = ag.compile(lambda x: x + ag.rand(3) + ag.randn(3))
    ag.manual_seed(3)
    eager = [(ag.zeros(3) + ag.rand(3) + ag.randn(3)).array for _ in range(3)]
    ag.manual_seed(3)
    for e in eager:
        np.testing.assert_array_equal(rand(ag.zeros(3)).array, e)


def test_random_numbers_used_outside_arithmetic_break():
    f = ag.compile(lambda x: x + ag.from_numpy(ag.creation.default_generator().random(3)[::-1].copy()))
    with pytest.warns(UserWarning, match="random numbers"):
        f(ag.zeros(3, dtype=ag.float64))


def test_batchnorm_running_statistics_update_every_call():
    bn = nn.BatchNorm1d(3)
    ref = nn.BatchNorm1d(3)
    c = ag.compile(bn)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = ag.tensor(rng.standard_normal((5, 3)).astype(np.float32))
        np.testing.assert_array_equal(c(x).array, ref(x).array)
    for a, b in zip(bn.buffers(), ref.buffers()):
        np.testing.assert_array_equal(a.array, b.array)
    assert int(bn.num_batches_tracked.array) == 4
    c.eval(), ref.eval()
    for _ in range(2):
        np.testing.assert_array_equal(c(x).array, ref(x).array)
    c.train(), ref.train()
    c(x), ref(x)
    c.eval(), ref.eval()                     # the eval trace reads the new statistics
    np.testing.assert_array_equal(c(x).array, ref(x).array)


def test_batchnorm_momentum_none_runs_eagerly():
    bn = nn.BatchNorm1d(2, momentum=None)
    c = ag.compile(bn)
    with pytest.warns(UserWarning, match="momentum=None"):
        c(ag.randn(4, 2))


def test_no_grad_inference():
    m = MLP(4, [8], 2)
    c = ag.compile(m)
    x = ag.randn(3, 4)
    with ag.no_grad():
        a, b = c(x), c(x)
    assert not b.requires_grad and b.grad_fn is None
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_array_equal(b.array, m(x).array)


def test_double_backward_through_a_compiled_region_is_correct():
    w = ag.tensor(np.random.default_rng(0).standard_normal(4), requires_grad=True)

    def fn(x):
        return (x.tanh() * w).sum() ** 2
    f = ag.compile(fn)
    x = ag.tensor(np.random.default_rng(1).standard_normal(4), requires_grad=True)
    f(x)
    (gx,) = ag.grad(f(x), (x,), create_graph=True)
    (hx,) = ag.grad(gx.sum(), (x,))
    (gx_e,) = ag.grad(fn(x), (x,), create_graph=True)
    (hx_e,) = ag.grad(gx_e.sum(), (x,))
    np.testing.assert_allclose(gx.array, gx_e.array, rtol=1e-12)
    np.testing.assert_allclose(hx.array, hx_e.array, rtol=1e-12)
    f(x)                                     # the trace exists: gradcheck the region node
    assert ag.gradcheck(f, (x,)) and ag.gradgradcheck(f, (x,))


def test_second_backward_is_refused_as_in_eager():
    f = ag.compile(lambda x: (x.exp() * x).sum())
    x = ag.ones(3, requires_grad=True)
    f(x)
    y = f(x)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_a_retained_graph_keeps_the_regions_saved_values_and_a_released_one_frees_them():
    """retain_graph=True: the region's steps keep what they saved and a second backward
    gives the same gradients; without it each step's saved arrays go as its VJP runs
    (eager's peak memory), and a further backward is refused."""
    f = ag.compile(lambda x, w: (x @ w).tanh().sum())
    rng = np.random.default_rng(0)
    x, w = (ag.tensor(rng.standard_normal(s), requires_grad=True) for s in ((3, 4), (4, 2)))
    for _ in range(2):
        f(x, w)
    y = f(x, w)
    run = y.grad_fn.run
    first = ag.grad(y, (x, w), retain_graph=True)
    assert run.ctxs                                  # kept for the second backward
    second = ag.grad(y, (x, w))
    assert not run.ctxs                              # freed step by step
    want = ag.grad((x @ w).tanh().sum(), (x, w))
    for a, b, c in zip(first, second, want):
        np.testing.assert_allclose(a.array, c.array, rtol=1e-12)
        np.testing.assert_allclose(b.array, c.array, rtol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        ag.grad(y, (x, w))
    from autograd.grad_mode import STATE
    assert STATE.retain_graph is True                # restored after each replay


def test_the_capture_frees_what_eager_frees():
    """The capturing calls hold the tensors they met weakly: an intermediate the
    function drops (nothing saved it) is freed at once, as in eager."""
    import weakref
    alive = []

    def fn(x):
        t = x * 2.0
        ref = weakref.ref(t)
        u = t.exp()                  # Exp saves its output, not t
        del t
        alive.append(ref() is not None)
        return u.sum()
    f = ag.compile(fn)
    x = ag.randn(5, requires_grad=True)
    for _ in range(3):
        f(x).backward()
    fn(x)
    assert alive == [False, False, False]            # two captures, then eager's own


def test_mode_check_passes_on_a_model_and_names_a_differing_op(monkeypatch):
    model = ag.compile(MLP(4, [8], 2), mode="check")
    x = ag.randn(3, 4)
    model(x).sum().backward()
    from autograd.ops import activation
    original = activation.ReLU.forward if hasattr(activation, "ReLU") else None
    f = ag.compile(lambda x: (x * 2).exp(), options={"check": True})
    from autograd.ops import elementwise
    exp_cls = type(ag.exp(ag.ones(1, requires_grad=True)).grad_fn)
    real = exp_cls.forward
    calls = []

    def flaky(ctx, a):
        calls.append(1)
        out = real(ctx, a)
        return out if len(calls) == 1 else out + 1.0      # the replay differs
    monkeypatch.setattr(exp_cls, "forward", staticmethod(flaky))
    with pytest.raises(CompileCheckError, match="Exp"):
        f(ag.ones(2, requires_grad=True))
    del original, elementwise


def test_code_shows_forward_and_backward():
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    c = ag.compile(m)
    c(ag.randn(2, 3))
    code = c._compiled.code
    assert "def forward(input, self_0_weight, self_0_bias" in code
    assert "def backward(" in code and "TanhBackward" in code
    assert any("training flags" in g for g in c._compiled.guards)
    compile(code, "<captured>", "exec")          # it is Python


def test_dead_code_is_removed():
    def fn(x):
        unused = (x * 3).exp()      # noqa: F841
        return x.sin().sum()
    f = ag.compile(fn)
    x = ag.randn(3, requires_grad=True)
    f(x)
    trace = next(iter(f.traces.values()))
    assert trace.stats["removed_by_dce"] == 2 and "Exp" not in trace.code
    f(x).backward()
    np.testing.assert_allclose(x.grad.array, np.cos(x.array), rtol=1e-6)


def test_nested_structures_and_passthrough_outputs():
    @ag.compile
    def f(d):
        return {"sum": d["a"] + d["b"][0], "a": d["a"], "n": 3}
    a = ag.ones(2, requires_grad=True)
    b = ag.ones(2)
    f({"a": a, "b": [b]})
    out = f({"a": a, "b": [b]})
    assert out["a"] is a and out["n"] == 3
    out["sum"].sum().backward()
    np.testing.assert_array_equal(a.grad.array, [1.0, 1.0])


def test_same_tensor_passed_twice_gets_its_gradient_once():
    f = ag.compile(lambda x, y: (x * y).sum())
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    f(x, x)
    f(x, x).backward()
    np.testing.assert_array_equal(x.grad.array, [2.0, 4.0])
