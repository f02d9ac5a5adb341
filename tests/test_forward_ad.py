"""Forward mode (autograd.forward_ad) and the functional API (autograd.functional)
against PyTorch 2.13: the same program under both, values, tangents, Jacobians and
Hessians compared; and the errors."""
import numpy as np
import pytest

import autograd as ag
import nn
import torch

from autograd import forward_ad as fwAD
from autograd import functional as AF

RNG = np.random.default_rng(0)
W1, B1, W2 = RNG.standard_normal((3, 5)), RNG.standard_normal(5), RNG.standard_normal((5, 2))
X, Y, V = RNG.standard_normal((4, 3)), RNG.standard_normal(2), RNG.standard_normal((4, 3))


def _model(lib):
    w1, b1, w2 = lib.tensor(W1), lib.tensor(B1), lib.tensor(W2)

    def f(x, y):                                   # two inputs, two outputs
        h = (x @ w1 + b1).tanh()
        return (h @ w2) * y, (h.exp() / (1 + x.abs().sum())).sum(dim=0)

    def loss(x):                                   # a scalar: softplus of a tiny MLP
        return lib.nn.functional.softplus((x @ w1 + b1).tanh() @ w2).sum()
    return f, loss


def _same(ours, theirs, tol=1e-10):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, tol)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


PROGRAM = '''
fwAD = lib.autograd.forward_ad
with fwAD.dual_level():
    x = fwAD.make_dual(lib.tensor(X), lib.tensor(V))
    y = lib.tensor(Y)
    outs = f(x, y)
    result = [fwAD.unpack_dual(o).tangent for o in outs] + [fwAD.unpack_dual(o).primal for o in outs]
    layer = lib.nn.Linear(3, 2).double()
    with lib.no_grad():
        layer.weight.copy_(lib.tensor(W1[:, :2].T.copy()))
        layer.bias.zero_()
    result.append(fwAD.unpack_dual(lib.nn.functional.gelu(layer(x))).tangent)
result.append(fwAD.unpack_dual(outs[0]).tangent)   # None: the level has exited
'''


def test_dual_tensors_flow_through_ops_and_modules_as_in_pytorch():
    results = []
    for lib in (ag, torch):
        f, _ = _model(lib)
        scope = {"lib": lib, "f": f, "X": X, "Y": Y, "V": V, "W1": W1}
        exec(PROGRAM, scope)
        results.append(scope["result"])
    ours, theirs = results
    assert ours[-1] is None and theirs[-1] is None
    for a, b in zip(ours[:-1], theirs[:-1]):
        _same(a, b)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_of_tuple_inputs_and_outputs_matches_pytorch(strategy):
    fa, _ = _model(ag)
    ft, _ = _model(torch)
    ours = AF.jacobian(fa, (ag.tensor(X), ag.tensor(Y)), strategy=strategy)
    theirs = torch.autograd.functional.jacobian(ft, (torch.tensor(X), torch.tensor(Y)),
                                                strategy=strategy, vectorize=True)
    _same(ours, theirs)
    # One input, one output: a single Tensor of shape out.shape + in.shape.
    single = AF.jacobian(lambda x: fa(x, ag.tensor(Y))[0], ag.tensor(X), strategy=strategy)
    assert single.shape == (4, 2, 4, 3)
    _same(single, theirs[0][0])


@pytest.mark.parametrize("outer", ["reverse-mode", "forward-mode"])
def test_hessian_of_a_tiny_mlp_loss_matches_pytorch(outer):
    _, la = _model(ag)
    _, lt = _model(torch)
    ours = AF.hessian(la, ag.tensor(X), outer_jacobian_strategy=outer)
    _same(ours, torch.autograd.functional.hessian(lt, torch.tensor(X)))
    assert np.allclose(ours.numpy().reshape(12, 12), ours.numpy().reshape(12, 12).T)


@pytest.mark.parametrize("name", ["vjp", "jvp", "hvp", "vhp"])
def test_products_match_pytorch(name):
    fa, la = _model(ag)
    ft, lt = _model(torch)
    if name in ("hvp", "vhp"):
        ours = getattr(AF, name)(la, ag.tensor(X), ag.tensor(V))
        theirs = getattr(torch.autograd.functional, name)(lt, torch.tensor(X), torch.tensor(V))
    elif name == "jvp":
        ours = AF.jvp(fa, (ag.tensor(X), ag.tensor(Y)), (ag.tensor(V), ag.tensor(Y)))
        theirs = torch.autograd.functional.jvp(ft, (torch.tensor(X), torch.tensor(Y)),
                                               (torch.tensor(V), torch.tensor(Y)))
    else:
        ours = AF.vjp(fa, (ag.tensor(X), ag.tensor(Y)), (ag.ones(4, 2, dtype=ag.float64), ag.tensor(B1)))
        theirs = torch.autograd.functional.vjp(ft, (torch.tensor(X), torch.tensor(Y)),
                                               (torch.ones(4, 2, dtype=torch.float64), torch.tensor(B1)))
    _same(ours, theirs)


def test_create_graph_gives_a_third_derivative():
    def third(lib, functional):
        x = lib.tensor([0.3, -0.7], dtype=lib.float64, requires_grad=True)
        h = functional.hessian(lambda x: (x.sin() * x.exp()).sum(), x, create_graph=True)
        h.sum().backward()
        return x.grad
    _same(third(ag, AF), third(torch, torch.autograd.functional))


def test_strict_refuses_an_output_independent_of_an_input():
    for lib, functional in ((ag, AF), (torch, torch.autograd.functional)):
        with pytest.raises(RuntimeError, match="independent of input 1"):
            functional.jacobian(lambda a, b: a * 2, (lib.ones(2), lib.ones(2)), strict=True)
        zeros = functional.jacobian(lambda a, b: a * 2, (lib.ones(2), lib.ones(2)))[1]
        assert np.array_equal(np.asarray(zeros), np.zeros((2, 2)))


def test_forward_over_reverse_and_reverse_over_forward():
    x0 = RNG.standard_normal(3)
    v0 = RNG.standard_normal(3)

    def f(x):
        return (x.tanh() * x.sin()).sum()
    # forward over reverse: the tangent of the gradient is H v
    x = ag.tensor(x0, requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, ag.tensor(v0))
        g, = ag.grad(f(d), d)
        hv = fwAD.unpack_dual(g).tangent
    h = AF.hessian(f, ag.tensor(x0))
    np.testing.assert_allclose(hv.numpy(), h.numpy() @ v0, rtol=1e-10)
    # reverse over forward: the gradient of <J v, 1> with respect to x is v^T H
    x = ag.tensor(x0, requires_grad=True)
    with fwAD.dual_level():
        jv = fwAD.unpack_dual(f(fwAD.make_dual(x, ag.tensor(v0)))).tangent
    jv.backward()
    np.testing.assert_allclose(x.grad.numpy(), v0 @ h.numpy(), rtol=1e-10)


class _Cube(ag.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.scale = scale
        return x ** 3 * scale

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x ** 2 * ctx.scale, None, None      # an extra None, as PyTorch allows

    @staticmethod
    def jvp(ctx, t, _):
        x, = ctx.saved_tensors
        return t * 3 * x ** 2 * ctx.scale


class _WrongCube(_Cube):
    @staticmethod
    def jvp(ctx, t, _):
        x, = ctx.saved_tensors
        return t * 2 * x ** 2 * ctx.scale


def test_custom_function_jvp_is_gradchecked():
    x = ag.tensor(RNG.standard_normal(4), requires_grad=True)
    assert ag.gradcheck(lambda a: _Cube.apply(a, 2.0), [x], check_forward_ad=True)
    with pytest.raises(ag.GradcheckError, match="(?s)forward-mode gradient check failed.*wrong JVP"):
        ag.gradcheck(lambda a: _WrongCube.apply(a, 2.0), [x], check_forward_ad=True)


def test_a_custom_function_without_jvp_refuses_forward_mode():
    class NoJvp(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2
    with fwAD.dual_level():
        d = fwAD.make_dual(ag.ones(2), ag.ones(2))
        with pytest.raises(NotImplementedError, match="must implement the jvp function"):
            NoJvp.apply(d)


def test_modules_and_hvp_on_a_small_network():
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    w = model[0].weight

    def loss(weight):
        return nn.functional.linear(nn.functional.linear(ag.tensor(X), weight, model[0].bias).tanh(),
                                    model[2].weight, model[2].bias).pow(2).mean()
    v = ag.tensor(RNG.standard_normal(w.shape))
    _, hv = AF.hvp(loss, w.detach(), v)
    _, vh = AF.vhp(loss, w.detach(), v)
    np.testing.assert_allclose(hv.numpy(), vh.numpy(), rtol=1e-9, atol=1e-12)   # H is symmetric
    h = AF.hessian(loss, w.detach()).numpy().reshape(w.numel(), w.numel())
    np.testing.assert_allclose(hv.numpy().reshape(-1), h @ v.numpy().reshape(-1), rtol=1e-9, atol=1e-12)


def test_errors_name_the_function_and_argument():
    x = ag.ones(3)
    with pytest.raises(RuntimeError, match="make_dual: no dual level is open"):
        fwAD.make_dual(x, x)
    with fwAD.dual_level():
        with pytest.raises(ValueError, match=r"make_dual: the tangent's shape \(4,\) does not match"):
            fwAD.make_dual(x, ag.ones(4))
        with pytest.raises(ValueError, match="make_dual: expected a floating-point tangent"):
            fwAD.make_dual(x, ag.ones(3, dtype=ag.int64))
        with pytest.raises(ValueError, match="make_dual: the tangent's dtype"):
            fwAD.make_dual(x, ag.ones(3, dtype=ag.float64))
        with pytest.raises(RuntimeError, match="nested forward-mode AD is not supported"):
            fwAD.enter_dual_level()
    with pytest.raises(TypeError, match="outputs of the user-provided function given to jacobian "
                                        "must be either a Tensor or a tuple of Tensors but the value "
                                        "at index 0 has type float"):
        AF.jacobian(lambda a: 1.0, x)
    with pytest.raises(TypeError, match="inputs given to hessian"):
        AF.hessian(lambda a: a.sum(), [1.0])
    with pytest.raises(RuntimeError, match="hvp: The function given to hvp should return a single"):
        AF.hvp(lambda a: a * 2, x, x)
    with pytest.raises(RuntimeError, match="jvp: entry 0 of v has shape"):
        AF.jvp(lambda a: a * 2, x, ag.ones(2))
    with pytest.raises(ValueError, match="jacobian: strategy must be one of"):
        AF.jacobian(lambda a: a, x, strategy="sideways")
