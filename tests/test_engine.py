"""The tape and its replay: accumulation, graph release, memory, hooks, grad modes,
higher order, in-place safety and the errors a user meets."""
import gc
import threading
import weakref

import numpy as np
import pytest

import autograd as ag
from autograd.grad_mode import STATE


def leaf(*shape, dtype="float64"):
    return ag.randn(*shape, dtype=dtype, requires_grad=True)


def test_backward_accumulates_into_leaves_across_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.array, 5.0)


def test_gradients_meeting_at_a_node_are_summed_first():
    x = leaf(3)
    y = x.exp()
    seen = []
    y.register_hook(lambda g: seen.append(g.array.copy()))
    (y * 2 + y * 3).sum().backward()
    assert len(seen) == 1                       # the hook sees the total, once
    np.testing.assert_allclose(seen[0], 5.0)
    np.testing.assert_allclose(x.grad.array, 5 * np.exp(x.array))


def test_backward_order_is_reverse_tape_order():
    order = []
    x = leaf(2)
    a = x * 2
    b = a.exp()
    c = a.sin()
    out = (b + c).sum()
    STATE.backward_observer = lambda node, go, gi: order.append(type(node).__name__)
    try:
        out.backward()
    finally:
        STATE.backward_observer = None
    assert order == ["Sum", "Add", "Sin", "Exp", "Mul"]      # recorded Mul, Exp, Sin, Add, Sum


def test_deep_chain_needs_no_recursion():
    x = ag.tensor(1.5, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_non_scalar_backward_needs_gradient():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*shape \(2, 3\)"):
        (x * 2).backward()
    g = ag.ones(2, 3, dtype="float64")
    (x * 2).backward(g)
    np.testing.assert_allclose(x.grad.array, 2.0)


def test_gradient_shape_mismatch_is_named():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"gradient 0 has shape \(3,\).*shape \(2, 3\)"):
        (x * 2).backward(ag.ones(3, dtype="float64"))


def test_second_backward_through_released_graph_mentions_retain_graph():
    x = leaf(3)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(3)
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.array, 2 * np.exp(x.array))


def test_backward_releases_saved_tensors():
    x = leaf(1000)
    y = x.exp()
    out = (y * y).sum()
    node = y.grad_fn
    assert node._saved is not None
    out.backward()
    assert node._saved is None


def test_intermediates_are_freed_with_the_output():
    x = leaf(50)
    h = x.exp()
    ref = weakref.ref(h)
    node_ref = weakref.ref(h.grad_fn)
    out = (h.sin() * 2).sum()
    del h
    assert ref() is not None                    # the graph still needs it
    out.backward()
    del out
    assert ref() is None and node_ref() is None  # no cycles: freed by refcount alone
    gc.collect()


def test_saving_an_output_creates_no_cycle():
    x = leaf(10)
    y = x.exp()                                  # Exp saves its own output
    ref = weakref.ref(y)
    del y
    assert ref() is None


def test_create_graph_gives_higher_derivatives():
    x = ag.tensor([0.3, -1.2], dtype="float64", requires_grad=True)
    y = (x ** 3).sum()
    g, = ag.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.array, 3 * x.array ** 2)
    h, = ag.grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(h.array, 6 * x.array)
    t, = ag.grad(h.sum(), x)
    np.testing.assert_allclose(t.array, 6.0)


def test_grad_does_not_touch_dot_grad_and_respects_allow_unused():
    x, z = leaf(3), leaf(3)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="input 1.*allow_unused=True"):
        ag.grad(y, [x, z], retain_graph=True)
    gx, gz = ag.grad(y, [x, z], allow_unused=True)
    assert gz is None and x.grad is None
    np.testing.assert_allclose(gx.array, 2.0)


def test_grad_of_a_tensor_listed_twice():
    x = leaf(3)
    h = x * 1
    g1, g2, g3 = ag.grad((x * x).sum() + h.sum(), [x, x, h])
    np.testing.assert_allclose(g1.array, 2 * x.array + 1)    # h = x also depends on x
    np.testing.assert_allclose(g2.array, 2 * x.array + 1)
    np.testing.assert_allclose(g3.array, 1.0)


def test_grad_with_respect_to_an_intermediate():
    x = leaf(3)
    h = x * 3
    y = (h * h).sum()
    gh, = ag.grad(y, h)
    np.testing.assert_allclose(gh.array, 2 * h.array)


def test_backward_inputs_limits_accumulation():
    x, z = leaf(2), leaf(2)
    (x * z).sum().backward(inputs=[x])
    assert z.grad is None
    np.testing.assert_allclose(x.grad.array, z.array)


def test_hooks_can_replace_gradients_and_be_removed():
    x = leaf(3)
    handle = x.register_hook(lambda g: g * 0 + 7)
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.array, 7.0)
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.array, 2.0)


def test_post_accumulate_grad_hook_fires_when_the_leaf_gradient_is_final():
    # w2 is used last in forward, w1 first and twice: backward finishes w2 first, and w1
    # only after both of its uses, while the replay still has nodes to run.
    x, w1, w2 = leaf(3), leaf(3), leaf(3)
    events = []
    h = x * w1
    h.register_hook(lambda g: events.append("h"))
    y = (h * w2 + w1).sum()
    for name, w in (("w1", w1), ("w2", w2)):
        w.register_post_accumulate_grad_hook(
            lambda t, name=name: events.append((name, t.grad.array.copy())))
    x.register_hook(lambda g: events.append("x"))
    y.backward()
    assert [e if isinstance(e, str) else e[0] for e in events] == ["w2", "h", "w1", "x"]
    np.testing.assert_allclose(events[0][1], h.array)                  # d/dw2, already in .grad
    np.testing.assert_allclose(events[2][1], x.array * w2.array + 1)    # both uses of w1 summed


def test_post_accumulate_grad_hook_sees_accumulated_grad_and_can_be_removed():
    w = leaf(2)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.array.copy()))
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    np.testing.assert_allclose(seen[1], 5.0)
    handle.remove()
    (w * 1).sum().backward()
    assert len(seen) == 2
    ag.grad((w * 2).sum(), w)                      # autograd.grad accumulates nothing: no call
    assert len(seen) == 2


def test_post_accumulate_grad_hook_only_on_leaves_that_require_grad():
    w = leaf(2)
    with pytest.raises(RuntimeError, match="only be registered on leaf tensors.*Mul"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        ag.zeros(2).register_post_accumulate_grad_hook(lambda t: None)


def test_retain_grad_on_non_leaf():
    x = leaf(3)
    y = x * 2
    y.retain_grad()
    z = y * 2
    (y.sum() + z.sum()).backward()
    np.testing.assert_allclose(y.grad.array, 3.0)
    assert z.grad is None


def test_no_grad_records_nothing_and_is_thread_local():
    x = leaf(3)
    with ag.no_grad():
        y = x * 2
        with ag.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    seen = {}

    def worker():
        seen["other"] = ag.is_grad_enabled()
    with ag.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        seen["here"] = ag.is_grad_enabled()
    assert seen == {"other": True, "here": False}


def test_grad_mode_decorators():
    x = leaf(2)

    @ag.no_grad()
    def f():
        return x * 2

    @ag.set_grad_enabled(False)
    def g():
        return x * 2

    @ag.no_grad                                  # bare, as PyTorch 2 allows
    def h():
        return x * 2
    assert not h().requires_grad
    assert ag.is_grad_enabled()                  # decorating did not switch the mode
    assert not f().requires_grad and not g().requires_grad
    ag.set_grad_enabled(False)                   # a plain call switches at once
    assert not ag.is_grad_enabled()
    ag.set_grad_enabled(True)
    assert ag.is_grad_enabled()


def test_detach_shares_data_but_not_history():
    x = leaf(3)
    y = (x * 2).detach()
    assert y.grad_fn is None and not y.requires_grad
    z = x.detach()
    z.array[0] = 42.0
    assert x.array[0] == 42.0


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point.*int64.*shape \\(3,\\)"):
        ag.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        ag.arange(3).requires_grad_()


def test_modifying_a_saved_tensor_in_place_is_detected():
    x = leaf(3)
    b = x * 1
    c = b.sin()                                  # Sin saves its input b
    b.add_(1)
    with pytest.raises(RuntimeError, match=r"SinBackward.*modified by an in-place.*version 1; expected version 0"):
        c.sum().backward()


def test_in_place_on_a_leaf_requiring_grad_is_refused_outside_no_grad():
    w = leaf(3)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.mul_(2)
    with ag.no_grad():
        w.mul_(2)                                # an optimizer update
    assert w.grad_fn is None and w.requires_grad


def test_in_place_ops_are_differentiable():
    x = leaf(4)
    y = x * 1
    y.mul_(3)
    y += x
    y[1] = 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, [4, 0, 4, 4])


def test_in_place_through_an_index_view_updates_the_base():
    x = leaf(3, 4)
    y = x * 1
    y[:, 1] *= 10                                 # Python: v = y[:, 1]; v *= 10; y[:, 1] = v
    row = y[0]
    row.add_(1)
    assert y.array[0, 0] == x.array[0, 0] + 1       # the view's memory is the base's
    y.sum().backward()
    expected = np.ones((3, 4))
    expected[:, 1] = 10
    np.testing.assert_allclose(x.grad.array, expected)


def test_in_place_on_a_reshape_view_while_recording_is_refused():
    x = leaf(2, 3)
    v = (x * 1).reshape(6)
    with pytest.raises(RuntimeError, match="view.*reshape"):
        v.add_(1)


def test_setitem_gradients_for_value_and_base():
    x, v = leaf(4, 3), leaf(3)
    y = x * 1
    y[np.array([0, 2])] = v
    (y * ag.arange(12, dtype="float64").reshape(4, 3)).sum().backward()
    w = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(v.grad.array, w[0] + w[2])
    expected = w.copy()
    expected[[0, 2]] = 0
    np.testing.assert_allclose(x.grad.array, expected)


def test_index_with_repeats_accumulates():
    x = leaf(5)
    x[np.array([0, 1, 1, 1])].sum().backward()
    np.testing.assert_allclose(x.grad.array, [1, 3, 0, 0, 0])


class ExpFirstOrder(ag.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g.array * y.array                   # NumPy: first order only


class ScaledSin(ag.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x.sin() * scale

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x.cos() * ctx.scale, None


def test_custom_function_first_and_second_order():
    x = leaf(4)
    assert ag.gradcheck(lambda t: ScaledSin.apply(t, 2.5), x)
    assert ag.gradgradcheck(lambda t: ScaledSin.apply(t, 2.5), x)
    assert ag.gradcheck(ExpFirstOrder.apply, x)


def test_custom_function_with_array_backward_refuses_double_backward():
    x = leaf(3)
    y = ExpFirstOrder.apply(x).sum()
    g, = ag.grad(y, x, create_graph=True)
    with pytest.raises(RuntimeError, match="ExpFirstOrder.backward returned NumPy arrays.*first derivatives"):
        g.sum().backward()


def test_custom_function_wrong_number_or_shape_of_gradients():
    class TooMany(ag.Function):
        forward = staticmethod(lambda ctx, x: x * 2)
        backward = staticmethod(lambda ctx, g: (g, g))

    class WrongShape(ag.Function):
        forward = staticmethod(lambda ctx, x: x * 2)
        backward = staticmethod(lambda ctx, g: g.sum())
    x = leaf(3)
    with pytest.raises(RuntimeError, match=r"function TooManyBackward returned an incorrect number "
                                           r"of gradients \(expected 1, got 2\)"):   # PyTorch's words
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape \(\) for input 0.*\(3,\)"):
        WrongShape.apply(x).sum().backward()


def test_needs_input_grad_and_non_tensor_arguments():
    seen = {}

    class Probe(ag.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen["needs"] = list(ctx.needs_input_grad)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            return g, None, None
    Probe.apply(leaf(2), ag.ones(2, dtype="float64"), 3)
    assert seen["needs"] == [True, False, False]


def test_name_scope_is_recorded_on_nodes():
    x = leaf(2)
    with ag.name_scope("encoder"):
        with ag.name_scope("0"):
            y = x.exp()
    z = y * 2
    assert y.grad_fn.scope == "encoder.0"
    assert z.grad_fn.scope == ""


def test_anomaly_mode_names_the_op_and_line():
    x = ag.tensor([1.0, -1.0], requires_grad=True)
    with ag.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"Log.*test_engine.py:\d+"):
            x.log()
    with np.errstate(invalid="ignore"):
        total = x.sqrt().sum()                   # nan in forward, outside anomaly mode
    with ag.detect_anomaly():
        with pytest.raises(FloatingPointError, match="SqrtBackward.*NaN/Inf"):
            total.backward()


def _vjp_arrays(monkeypatch):
    """Weak references to every gradient array a VJP returns during a backward."""
    made = []

    def observe(node, grads_out, grads_in):
        made.extend(weakref.ref(g.array) for g in grads_in if g is not None)
    monkeypatch.setattr(STATE, "backward_observer", observe)
    return made


def test_a_leaf_keeps_a_fresh_gradient_without_copying_but_never_aliases(monkeypatch):
    made = _vjp_arrays(monkeypatch)
    x = leaf(3)
    w = leaf(3)
    (x * w).sum().backward()
    assert any(r() is x.grad.numpy() for r in made)      # the VJP's own array, kept
    # Shared arrays are copied: one gradient feeding two leaves (z = x + y passes g to both),
    # the caller's own gradient, and an array a hook kept.
    a, b = leaf(2), leaf(2)
    g = ag.ones(2, dtype="float64")
    (a + b).backward(g)
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    assert not np.shares_memory(a.grad.numpy(), g.numpy())
    kept = []
    c = leaf(2)
    h = c + 0.0
    h.register_hook(lambda grad: kept.append(grad * 2) or kept[-1])
    h.sum().backward()
    assert not np.shares_memory(c.grad.numpy(), kept[0].numpy())
    h2 = c + 0.0
    h2.sum().backward()                                  # accumulates into c.grad in place
    np.testing.assert_allclose(kept[0].numpy(), [2.0, 2.0])


def test_every_parameter_of_a_training_step_keeps_its_gradient_without_a_copy(monkeypatch):
    # Each parameter is used once, so its gradient is an array one VJP made and nothing
    # else holds; copying it would cost a model's size in memory traffic every step.
    from nn import Linear, ReLU, Sequential
    model = Sequential(Linear(6, 5), ReLU(), Linear(5, 3))
    x = ag.tensor(np.random.default_rng(0).standard_normal((4, 6)))
    for _ in range(2):
        made = _vjp_arrays(monkeypatch)
        model.zero_grad()
        ag.nn.functional.cross_entropy(model(x), ag.tensor([0, 1, 2, 0])).backward()
        for name, p in model.named_parameters():
            assert any(r() is p.grad.numpy() for r in made), name


def test_gradient_sums_never_write_into_an_array_held_elsewhere():
    # Sums of gradients run in place when the engine alone holds the running total; an
    # array a VJP also kept (here in `kept`) must come through unchanged.
    kept = []

    class Keep(ag.Primitive):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return g

        @staticmethod
        def vjp(ctx, g):
            out = np.full_like(g, 1.0)
            kept.append(out)
            return out

    x = leaf(3)
    (Keep.apply(x) + Keep.apply(x) + Keep.apply(x) * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])     # Keep passes 1, whatever g is
    for a in kept:
        np.testing.assert_allclose(a, [1.0, 1.0, 1.0])
    # and with nothing kept, the sum of many gradients is still right
    w = leaf(2)
    total = w * 0.0
    for k in range(1, 6):
        total = total + w * float(k)
    total.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [15.0, 15.0])
