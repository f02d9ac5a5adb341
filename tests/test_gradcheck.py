"""gradcheck itself: it must pass right VJPs, catch wrong ones, and explain why."""
import numpy as np
import pytest

import autograd as ag


class WrongSin(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x.cos() * 1.1                 # planted bug: 10% off


def x64(*shape):
    return ag.randn(*shape, dtype="float64", requires_grad=True)


def test_a_wrong_vjp_is_caught_and_diagnosed():
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradcheck(WrongSin.apply, x64(2, 3))
    err = info.value
    msg = str(err)
    assert "wrong VJP" in msg and "output 0 w.r.t. input 0" in msg
    assert "analytical" in msg and "numerical" in msg and "h=0.001" in msg
    assert err.analytical.shape == err.numerical.shape == (6, 6)
    np.testing.assert_allclose(np.diag(err.analytical), 1.1 * np.diag(err.numerical), rtol=1e-5)


def test_a_kink_is_told_apart_from_a_wrong_vjp():
    x = ag.tensor([0.0, 1.0], dtype="float64", requires_grad=True)   # relu at exactly 0
    with pytest.raises(ag.GradcheckError, match="looks like a kink"):
        ag.gradcheck(ag.relu, x)


def test_the_kink_test_both_checks_share():
    from autograd.gradcheck import is_kink, one_sided_step
    assert is_kink(1.0, 0.0)                       # relu at 0: slopes 1 and 0
    assert not is_kink(1e6, 1e6 * (1 + 1e-3))      # within 1% of the slope: smooth
    assert not is_kink(1e-7, -1e-7)                # both slopes tiny: flat, not a kink
    assert one_sided_step(1e-6) == 1e-5 and one_sided_step(1e-3) == 1e-3


def test_raise_exception_false_returns_false():
    assert ag.gradcheck(WrongSin.apply, x64(3), raise_exception=False) is False
    assert ag.gradcheck(ag.sin, x64(3), raise_exception=False) is True


def test_fast_mode_checks_projections():
    assert ag.gradcheck(lambda a, b: (a @ b).tanh(), (x64(4, 5), x64(5, 3)), fast_mode=True)
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(WrongSin.apply, x64(4), fast_mode=True)


def test_low_precision_inputs_warn():
    x = ag.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="float32"):
        ag.gradcheck(ag.exp, x, atol=1e-2, rtol=1e-2, eps=1e-3)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class WrongDoubleSquare(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            # right value, but x.detach() hides x from the second derivative
            return g * 2 * x.detach()
    x = x64(3)
    assert ag.gradcheck(WrongDoubleSquare.apply, x)
    with pytest.raises(ag.GradcheckError, match="second-order"):
        ag.gradgradcheck(WrongDoubleSquare.apply, x)


def test_multiple_inputs_and_outputs():
    def f(a, b):
        return a * b, (a - b).exp()
    assert ag.gradcheck(f, (x64(3), x64(3)))
    assert ag.gradgradcheck(f, (x64(3), x64(3)))
