"""autograd.Function with PyTorch's contract: the tutorials' custom ops run unchanged
(forward on tensors, both styles) and agree with PyTorch; the ctx API; and
autograd.Primitive, the array-level base, still works as the fast path."""
import numpy as np
import pytest

import autograd as ag

import torch  # noqa: E402  (the reference; a dev dependency)

SOURCE = '''
class MyReLU(torch.autograd.Function):                     # the "defining new autograd functions" tutorial
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class LinearFunction(torch.autograd.Function):             # the "extending autograd" note
    @staticmethod
    def forward(input, weight, bias):
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class Sort(torch.autograd.Function):                       # mark_non_differentiable, materialize
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, g, g_indices):
        indices, = ctx.saved_tensors
        assert g_indices is None                           # not materialised as zeros
        out = torch.zeros_like(g)
        out[indices] = g
        return out


x = torch.tensor(X, requires_grad=True)
w = torch.tensor(W, requires_grad=True)
b = torch.tensor(B, requires_grad=True)
h = MyReLU.apply(LinearFunction.apply(x, w, b))
values, indices = Sort.apply(h[0])
(h.sum() + (values * torch.arange(4.0, dtype=values.dtype)).sum()).backward()
result = dict(h=h, indices=indices, x=x.grad, w=w.grad, b=b.grad,
              indices_requires_grad=indices.requires_grad)
'''


def _run(lib):
    rng = np.random.default_rng(0)
    scope = {"torch": lib, "X": rng.standard_normal((3, 5)), "W": rng.standard_normal((4, 5)),
             "B": rng.standard_normal(4)}
    exec(SOURCE, scope)
    return {k: (v.detach().numpy() if hasattr(v, "detach") else v) for k, v in scope["result"].items()}


def test_the_tutorials_custom_functions_run_unchanged_and_agree_with_pytorch():
    ours, theirs = _run(ag), _run(torch)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, err_msg=k)


class Cube(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x * x


def test_tensor_forward_functions_are_checked_to_second_order():
    x = ag.randn(4, dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(Cube.apply, x) and ag.gradgradcheck(Cube.apply, x)


def test_forward_records_nothing_and_gets_tensors_without_history():
    seen = {}

    class Probe(ag.Function):
        @staticmethod
        def forward(ctx, x):
            seen["type"], seen["grad"] = type(x), ag.is_grad_enabled()
            seen["history"] = x.requires_grad
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Probe.apply(ag.ones(2, requires_grad=True))
    assert seen == {"type": ag.Tensor, "grad": False, "history": False}
    assert type(y.grad_fn).__name__ == "Probe" and y.requires_grad


def test_once_differentiable_gives_first_derivatives_and_refuses_the_second():
    class Sin(ag.Function):
        forward = staticmethod(lambda ctx, x: ctx.save_for_backward(x) or x.sin())
        backward = staticmethod(ag.once_differentiable(lambda ctx, g: g * ctx.saved_tensors[0].cos()))

    x = ag.randn(3, dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(Sin.apply, x)
    g, = ag.grad(Sin.apply(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="first derivatives only"):
        g.sum().backward()


DIRTY_SOURCE = '''
class MulInPlace(torch.autograd.Function):                 # the documented in-place pattern
    @staticmethod
    def forward(ctx, x, k):
        x.mul_(k)
        ctx.mark_dirty(x)
        ctx.k = k
        return x

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


class ExpInPlace(torch.autograd.Function):                 # saves its dirty input: the result
    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        x.exp_()
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * y


w = torch.tensor(W, requires_grad=True)
h = w * 2
before = h.grad_fn
out = MulInPlace.apply(h, 3.0)
e = ExpInPlace.apply(h * 0.1)
(out.sum() + (e * e).sum()).backward()
k = w.clone()
saved_k = k * k                  # saves k, which the Function then modifies
MulInPlace.apply(k, 2.0)
try:
    saved_k.sum().backward()
    refused = False
except RuntimeError:
    refused = True
with torch.no_grad():
    leaf = torch.tensor(W, requires_grad=True)
    same_leaf = MulInPlace.apply(leaf, 0.5) is leaf
result = dict(out=out, e=e, w=w.grad, leaf=leaf, is_h=out is h, rebased=h.grad_fn is not before,
              node=type(h.grad_fn).__name__, refused=refused, same_leaf=same_leaf,
              leaf_grad_fn=leaf.grad_fn is None)
'''


def _run_dirty(lib):
    scope = {"torch": lib, "W": np.random.default_rng(1).standard_normal((2, 3))}
    exec(DIRTY_SOURCE, scope)
    res = scope["result"]
    return {k: (v.detach().numpy() if hasattr(v, "detach") else v) for k, v in res.items()}, scope


def test_mark_dirty_returns_the_input_rebased_as_pytorch_does():
    (ours, ours_scope), (theirs, theirs_scope) = _run_dirty(ag), _run_dirty(torch)
    assert ours.pop("node") == "MulInPlace" and theirs.pop("node") == "MulInPlaceBackward"
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, err_msg=k)
    # forward's in-place write and the marking each advanced the input's version
    assert ours_scope["h"]._version.value == theirs_scope["h"]._version == 2
    assert ours_scope["leaf"]._version.value == theirs_scope["leaf"]._version == 2


def test_mark_dirty_functions_are_checked_to_second_order():
    scope = {"torch": ag, "W": [[0.0]]}
    exec(DIRTY_SOURCE, scope)
    exp_in_place, mul_in_place = scope["ExpInPlace"], scope["MulInPlace"]
    x = ag.randn(3, 2, dtype=ag.float64, requires_grad=True)
    f = lambda x: exp_in_place.apply(mul_in_place.apply(x * 1.0, 3.0))   # noqa: E731
    assert ag.gradcheck(f, x) and ag.gradgradcheck(f, x)


def test_mark_dirty_errors_name_the_function():
    scope = {"torch": ag, "W": [[0.0]]}
    exec(DIRTY_SOURCE, scope)
    mul_in_place = scope["MulInPlace"]
    with pytest.raises(RuntimeError, match="MulInPlace: a leaf tensor that requires grad .* was modified in place"):
        mul_in_place.apply(ag.ones(2, requires_grad=True), 2.0)

    class Forgets(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x.add_(1) * 2

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="Forgets: an input marked dirty .* was not returned"):
        Forgets.apply(ag.ones(2))
    base = ag.ones(2, 3, requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="MulInPlace: modifying a view .* not supported"):
        mul_in_place.apply(base.reshape(3, 2), 2.0)
    with pytest.raises(RuntimeError, match="mark_dirty can only be called inside forward"):
        Forgets().mark_dirty(ag.ones(1))


def test_primitive_is_the_array_level_fast_path():
    class Sin(ag.Primitive):
        @staticmethod
        def forward(ctx, x):
            assert isinstance(x, np.ndarray)
            ctx.save_for_backward(x)
            return np.sin(x)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x.cos()

    x = ag.randn(3, dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(Sin.apply, x) and ag.gradgradcheck(Sin.apply, x)


class _Cube(ag.Primitive):
    """x^3 with both VJPs; ``calls`` records which one the engine ran."""
    calls = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        _Cube.calls.append("backward")
        x, = ctx.saved_tensors
        return g * 3 * x * x

    @staticmethod
    def vjp(ctx, g):
        _Cube.calls.append("vjp")
        x, = ctx.saved_arrays
        return g * 3 * x * x


def test_engine_runs_vjp_for_a_plain_backward_and_backward_under_create_graph():
    x = ag.tensor([0.5, -1.5, 2.0], dtype=np.float64, requires_grad=True)
    _Cube.calls.clear()
    _Cube.apply(x).sum().backward()
    assert _Cube.calls == ["vjp"] and isinstance(x.grad, ag.Tensor)
    _Cube.calls.clear()
    (g,) = ag.grad(_Cube.apply(x).sum(), x, create_graph=True)
    assert _Cube.calls == ["backward"] and g.requires_grad
    np.testing.assert_allclose(g.numpy(), x.grad.numpy())
    assert ag.gradcheck(_Cube.apply, (x,)) and ag.gradgradcheck(_Cube.apply, (x,))


def test_gradcheck_catches_a_wrong_vjp_and_gradgradcheck_a_wrong_backward():
    class WrongVjp(_Cube):
        @staticmethod
        def vjp(ctx, g):
            x, = ctx.saved_arrays
            return g * 2 * x * x

    class WrongBackward(_Cube):
        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 2 * x * x

    x = ag.tensor([0.5, -1.5, 2.0], dtype=np.float64, requires_grad=True)
    with pytest.raises(ag.GradcheckError, match="looks like a wrong VJP"):
        ag.gradcheck(WrongVjp.apply, (x,))
    assert ag.gradcheck(WrongBackward.apply, (x,))          # the vjp is right
    with pytest.raises(ag.GradcheckError, match="differentiable VJP .* disagree on input 0"):
        ag.gradgradcheck(WrongBackward.apply, (x,))
