"""L-BFGS: convergence on classic full-batch problems, the two-loop recursion, state."""
import numpy as np
import pytest

import autograd as ag
import optim
from optim.lbfgs import _cubic_min, _strong_wolfe


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _closure(opt, fn, x):
    def closure():
        opt.zero_grad()
        loss = fn(x)
        loss.backward()
        return loss
    return closure


def test_strong_wolfe_solves_rosenbrock():
    x = ag.tensor([-1.5, 2.0], dtype=ag.float64, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe")
    closure = _closure(opt, rosenbrock, x)
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.array, [1.0, 1.0], atol=1e-5)
    state = opt.state[x]
    assert state["n_iter"] <= 100 and state["func_evals"] >= state["n_iter"]


def test_fixed_step_quadratic_matches_exact_solution():
    """On a convex quadratic 1/2 x'Ax - b'x, L-BFGS with line search finds A^-1 b."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    A = M @ M.T + 6 * np.eye(6)
    b = rng.standard_normal(6)
    x = ag.zeros(6, dtype=ag.float64, requires_grad=True)
    At, bt = ag.tensor(A), ag.tensor(b)

    def f(x):
        return 0.5 * (x @ (At @ x)) - bt @ x

    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14)
    opt.step(_closure(opt, f, x))
    np.testing.assert_allclose(x.array, np.linalg.solve(A, b), rtol=1e-6, atol=1e-8)


def test_no_line_search_decreases_loss_and_history_is_bounded():
    scales = ag.tensor([1.0, 3.0, 10.0, 0.5], dtype=ag.float64)
    x = ag.tensor([1.0, -2.0, 0.5, 4.0], dtype=ag.float64, requires_grad=True)

    def f(x):
        return (scales * x * x).sum()

    opt = optim.LBFGS([x], lr=0.5, history_size=3, max_iter=10)
    closure = _closure(opt, f, x)
    first = float(opt.step(closure))
    for _ in range(4):
        opt.step(closure)
    assert float(f(x)) < 1e-3 * first
    assert len(opt.state[x]["old_dirs"]) <= 3


def test_first_direction_and_step_are_scaled_gradient():
    """First iteration: d = -g and t = min(1, 1/|g|_1) * lr, so x1 = x0 - t g."""
    x0 = np.array([0.3, -0.7])
    x = ag.tensor(x0, requires_grad=True)
    opt = optim.LBFGS([x], lr=1, max_iter=1)
    g = np.array([2 * 0.3 * 3, -0.7 * 4 * 2])            # grad of 3 x0^2 + 4 x1^2
    opt.step(_closure(opt, lambda x: 3 * x[0] ** 2 + 4 * x[1] ** 2, x))
    t = min(1.0, 1.0 / np.abs(g).sum())
    np.testing.assert_allclose(x.array, x0 - t * g, rtol=1e-6)


def test_state_dict_round_trip():
    x = ag.tensor([-1.5, 2.0], dtype=ag.float64, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=3)
    opt.step(_closure(opt, rosenbrock, x))
    sd = opt.state_dict()
    assert isinstance(sd["state"][0]["old_dirs"], np.ndarray)
    y = ag.tensor(x.array.copy(), requires_grad=True)
    opt2 = optim.LBFGS([y], line_search_fn="strong_wolfe", max_iter=3)
    opt2.load_state_dict(sd)
    opt.step(_closure(opt, rosenbrock, x))
    opt2.step(_closure(opt2, rosenbrock, y))
    np.testing.assert_array_equal(x.array, y.array)


def test_cubic_interpolation_and_wolfe_conditions():
    # f(t) = (t - 2)^2: the cubic through (0, 4, -4) and (3, 1, 2) has its minimum at 2.
    assert _cubic_min(0.0, 4.0, -4.0, 3.0, 1.0, 2.0) == pytest.approx(2.0)
    # Strong Wolfe on phi(t) = (t-2)^2 along d = 1 from x = 0.
    d = np.array([1.0])

    def evaluate(t):
        return (t - 2.0) ** 2, np.array([2 * (t - 2.0)])

    f, g, t, evals = _strong_wolfe(evaluate, 1.0, d, 4.0, np.array([-4.0]), -4.0)
    assert f <= 4.0 + 1e-4 * t * -4.0           # sufficient decrease
    assert abs(g[0]) <= 0.9 * 4.0               # curvature
    assert evals >= 1


def test_requires_closure_and_single_group():
    x = ag.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([x]).step()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [x]}, {"params": [ag.zeros(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([x], line_search_fn="backtracking")
