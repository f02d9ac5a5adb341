"""The activations of issue 27 (selu, celu, hardsigmoid, hardswish, hardshrink,
softshrink, threshold, glu, rrelu, Softmax2d and the in-place forms) against PyTorch
2.13: values and gradients at the kinks, +-inf and NaN (test_edge_gradients.py's
harness), module names, defaults and reprs, and rrelu's random slopes."""
import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
from test_edge_gradients import EDGES_NAN, both
from test_edge_gradients import test_value_and_gradient_match_pytorch as check_against_pytorch

# The kinks of the piecewise ones, on both sides, with the usual edge values.
KINKS = np.concatenate([EDGES_NAN, [-3.0, 3.0, -3.0001, 2.9999, 0.5, -0.5, 0.3, 0.2999, 6.0]])

CASES = [
    both("selu", lambda m, f, x: f.selu(x), KINKS),
    both("celu", lambda m, f, x: f.celu(x), KINKS),
    both("celu-alpha", lambda m, f, x: f.celu(x, alpha=0.4), KINKS),
    both("hardsigmoid", lambda m, f, x: f.hardsigmoid(x), KINKS),
    both("hardswish", lambda m, f, x: f.hardswish(x), KINKS),
    both("hardshrink", lambda m, f, x: f.hardshrink(x), KINKS),
    both("hardshrink-lambd", lambda m, f, x: f.hardshrink(x, lambd=0.3), KINKS),
    both("softshrink", lambda m, f, x: f.softshrink(x), KINKS),
    both("softshrink-lambd", lambda m, f, x: f.softshrink(x, 2.0), KINKS),
    both("threshold", lambda m, f, x: f.threshold(x, 0.3, -7.0), KINKS),
    both("glu", lambda m, f, x: f.glu(x.reshape(4, 5), 0), KINKS[:20]),
    both("glu-last", lambda m, f, x: f.glu(x.reshape(5, 4)), KINKS[:20]),
    both("rrelu-eval", lambda m, f, x: f.rrelu(x), KINKS),
    both("rrelu-eval-bounds", lambda m, f, x: f.rrelu(x, 0.2, 0.6, training=False), KINKS),
    both("softmax2d", lambda m, f, x: m.nn.Softmax2d()(x[:18].reshape(2, 3, 3)),
         KINKS[np.isfinite(KINKS)]),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("ours,theirs,inputs,rtol,atol", CASES)
def test_activation_matches_pytorch(ours, theirs, inputs, rtol, atol):
    check_against_pytorch(ours, theirs, inputs, rtol, atol)


MODULES = [("SELU", ()), ("SELU", (True,)), ("CELU", ()), ("CELU", (2.0, True)),
           ("Hardsigmoid", ()), ("Hardsigmoid", (True,)), ("Hardswish", ()), ("GLU", ()),
           ("GLU", (0,)), ("Hardshrink", ()), ("Hardshrink", (0.2,)), ("Softshrink", ()),
           ("Threshold", (0.1, 20.0)), ("Threshold", (0.1, 20.0, True)), ("RReLU", ()),
           ("RReLU", (0.1, 0.3, True)), ("Softmax2d", ())]


@pytest.mark.parametrize("name,args", MODULES)
def test_module_matches_pytorch(name, args):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ours.eval(), theirs.eval()
    x = np.linspace(-4, 4, 2 * 4 * 3 * 2).reshape(2, 4, 3, 2)
    np.testing.assert_allclose(ours(ag.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                               rtol=1e-6, atol=1e-7)
    assert getattr(nn.modules.activation, name) is getattr(nn, name)


def test_threshold_needs_its_arguments():
    with pytest.raises(TypeError):
        nn.Threshold(0.5)


def test_rrelu_training_draws_one_slope_per_negative_element():
    ag.manual_seed(0)
    x = ag.tensor(np.concatenate([-np.ones(4000), np.ones(10)]), dtype=ag.float64,
                  requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y.detach().numpy()[:4000]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and len(np.unique(slopes)) > 3900
    assert abs(slopes.mean() - 0.2) < 0.005                   # U(0.1, 0.3): mean 0.2, sd 0.058
    np.testing.assert_array_equal(y.detach().numpy()[4000:], 1.0)
    y.sum().backward()                                           # dy/dx = the slope drawn
    np.testing.assert_array_equal(x.grad.numpy()[:4000], slopes)
    np.testing.assert_array_equal(x.grad.numpy()[4000:], 1.0)
    m = nn.RReLU(0.1, 0.3)
    assert not np.allclose(m(x).detach().numpy()[:4000], -0.2)   # training by default
    m.eval()
    np.testing.assert_allclose(m(x).detach().numpy()[:4000], -0.2)


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", (0.5,)), ("leaky_relu_", (0.2,)),
                                       ("hardtanh_", (-0.5, 0.5)), ("selu_", ()),
                                       ("celu_", (0.7,)), ("threshold_", (0.1, -3.0)),
                                       ("rrelu_", ())])
def test_in_place_forms_write_into_their_input(name, args):
    x = np.array([-2.0, -0.3, 0.0, 0.4, 3.0])
    ours, theirs = ag.tensor(x), torch.tensor(x)
    out = getattr(F, name)(ours, *args)
    ref = getattr(torch.nn.functional, name)(theirs, *args)
    assert out is ours and ref is theirs
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    # on a non-leaf, the gradient flows through the in-place result as in PyTorch
    a, b = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    getattr(F, name)(a * 1.0, *args).sum().backward()
    getattr(torch.nn.functional, name)(b * 1.0, *args).sum().backward()
    # PyTorch's in-place celu_ differentiates from its result with alpha's reciprocal
    # rounded to float32 (1 + 1.7e-8 at x = 0)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-7)


def test_errors_name_the_op():
    with pytest.raises(ValueError, match="glu: halving dimension must be even"):
        F.glu(ag.ones(3, 5))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D"):
        nn.Softmax2d()(ag.ones(3, 5))
    with pytest.raises(ValueError, match="rrelu: expected 0 <= lower <= upper"):
        F.rrelu(ag.ones(3), 0.5, 0.1)
    with pytest.raises(ValueError, match="softshrink: lambd must be non-negative"):
        F.softshrink(ag.ones(3), -1.0)
    with pytest.raises(RuntimeError, match="relu_: a leaf tensor that requires grad"):
        F.relu_(ag.ones(3, requires_grad=True))
