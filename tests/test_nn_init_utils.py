"""nn.init (distributions, fans, gains, reproducibility) and nn.utils."""
import math

import numpy as np
import pytest

import autograd as ag
import nn
from nn import init, utils


def _t(*shape):
    return nn.Parameter(np.zeros(shape, np.float32))


def test_gain_and_fans():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("conv2d") == 1.0
    assert init._calculate_fan_in_and_fan_out(_t(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError):
        init.calculate_gain("bogus")
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(_t(5))


def test_distributions_have_the_documented_moments():
    ag.manual_seed(0)
    w = init.kaiming_uniform_(_t(200, 300), a=math.sqrt(5))
    bound = math.sqrt(6 / ((1 + 5) * 300))
    assert np.abs(w.array).max() <= bound and w.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    w = init.kaiming_normal_(_t(300, 200), mode="fan_out", nonlinearity="relu")
    assert w.array.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    w = init.xavier_uniform_(_t(100, 300), gain=2.0)
    assert np.abs(w.array).max() <= 2 * math.sqrt(6 / 400)
    w = init.xavier_normal_(_t(100, 300))
    assert w.array.std() == pytest.approx(math.sqrt(2 / 400), rel=0.03)
    w = init.trunc_normal_(_t(200, 200), mean=0.5, std=1.0, a=-0.5, b=1.0)
    assert w.array.min() >= -0.5 and w.array.max() <= 1.0
    # truncated N(0.5, 1) on [-0.5, 1]: mean = 0.5 + (phi(-1) - phi(0.5)) / (Phi(0.5) - Phi(-1))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    expected = 0.5 + (phi(-1) - phi(0.5)) / (Phi(0.5) - Phi(-1))
    assert w.array.mean() == pytest.approx(expected, abs=0.01)
    w = init.uniform_(_t(1000), -2, 3)
    assert w.array.min() >= -2 and w.array.max() <= 3
    w = init.normal_(_t(10000), 1.0, 0.5)
    assert w.array.mean() == pytest.approx(1.0, abs=0.02)


def test_deterministic_and_structured_inits():
    np.testing.assert_array_equal(init.constant_(_t(2, 2), 0.3).array, np.full((2, 2), 0.3, np.float32))
    assert np.all(init.ones_(_t(3)).array == 1) and np.all(init.zeros_(_t(3)).array == 0)
    np.testing.assert_array_equal(init.eye_(_t(2, 3)).array, np.eye(2, 3))
    q = init.orthogonal_(_t(4, 6), gain=2.0).array.astype(np.float64)
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(4), atol=1e-5)
    q = init.orthogonal_(_t(6, 3)).array.astype(np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-5)
    d = init.dirac_(_t(2, 2, 3, 3)).array
    assert d[0, 0, 1, 1] == 1 and d[1, 1, 1, 1] == 1 and d.sum() == 2
    p = _t(2)
    v = p._version.value
    init.ones_(p)
    assert p._version.value == v + 1 and p.grad_fn is None


def test_seeded_init_is_reproducible():
    ag.manual_seed(7)
    a = init.normal_(_t(5)).array.copy()
    ag.manual_seed(7)
    np.testing.assert_array_equal(a, init.normal_(_t(5)).array)


def test_clip_grad_norm_and_value():
    a, b = nn.Parameter(ag.zeros(3)), nn.Parameter(ag.zeros(4))
    a.grad, b.grad = ag.tensor([3.0, 0.0, 0.0]), ag.tensor([0.0, 4.0, 0.0, 0.0])
    total = utils.clip_grad_norm_([a, b], 1.0)
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.array, [3 / 5, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.array, [0, 4 / 5, 0, 0], rtol=1e-5)
    total = utils.clip_grad_norm_([a, b], 10.0, norm_type="inf")
    assert float(total) == pytest.approx(0.8, rel=1e-5)
    np.testing.assert_allclose(b.grad.array, [0, 4 / 5, 0, 0], rtol=1e-5)   # under the max: unchanged
    b.grad = ag.tensor([float("nan"), 0, 0, 0])
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    a.grad = ag.tensor([-3.0, 0.5, 2.0])
    utils.clip_grad_value_(a, 1.0)
    np.testing.assert_array_equal(a.grad.array, [-1.0, 0.5, 1.0])


def test_parameters_vector_round_trip():
    m = nn.Linear(3, 2)
    vec = utils.parameters_to_vector(m.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.array[:6], m.weight.array.reshape(-1))
    vec.sum().backward()                     # differentiable
    assert np.all(m.weight.grad.array == 1)
    utils.vector_to_parameters(ag.arange(8.0), m.parameters())
    np.testing.assert_array_equal(m.bias.array, [6.0, 7.0])
    with pytest.raises(ValueError, match="8"):
        utils.vector_to_parameters(ag.arange(7.0), m.parameters())
