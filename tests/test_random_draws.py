"""bernoulli(_), normal (tensor forms), poisson and randint_like (autograd/ops/random_ops.py): their
distributions (moments over many draws, with bounds that fail a wrong parameter),
shapes and dtypes and gradients as PyTorch 2.13's (zero, connected), the global
generator's seeding, generator=, and errors naming the op."""
import numpy as np
import pytest
import torch

import autograd as ag

N = 200_000                    # draws: the standard error of a mean of unit variance is 0.0022


def test_bernoulli_probabilities_per_element():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    draws = ag.bernoulli(ag.tensor(np.tile(p, (N // 5, 1)))).numpy()
    assert set(np.unique(draws)) <= {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(0), p, atol=0.01)
    assert draws[:, 0].max() == 0.0 and draws[:, -1].min() == 1.0


def test_bernoulli_scalar_p_and_method():
    x = ag.zeros(N, dtype=ag.float64)
    draws = x.bernoulli(0.3)
    assert str(draws.dtype) == "torch.float64" and draws.shape == (N,)
    assert abs(draws.numpy().mean() - 0.3) < 0.01


def test_normal_tensor_forms_broadcast_like_torch():
    mean, std = ag.tensor(np.array([[-3.0], [0.0], [5.0]])), ag.tensor(np.array([0.5, 2.0]))
    out = ag.normal(mean, std)
    assert out.shape == torch.normal(torch.zeros(3, 1), torch.ones(2)).shape == (3, 2)
    big = ag.normal(ag.tensor(np.full(N, 2.0)), 3.0).numpy()
    assert abs(big.mean() - 2.0) < 0.03 and abs(big.std() - 3.0) < 0.03
    big = ag.normal(-1.0, ag.tensor(np.full(N, 0.5))).numpy()
    assert abs(big.mean() + 1.0) < 0.01 and abs(big.std() - 0.5) < 0.01
    floats = ag.normal(2.0, 3.0, size=(4, 5))
    assert floats.shape == (4, 5) and str(floats.dtype) == "torch.float32"


def test_poisson_rates():
    rates = np.array([0.0, 0.5, 4.0, 30.0])
    draws = ag.poisson(ag.tensor(np.tile(rates, (N // 4, 1)))).numpy()
    assert (draws == np.round(draws)).all() and draws.dtype == np.float64
    np.testing.assert_allclose(draws.mean(0), rates, atol=0.1)
    np.testing.assert_allclose(draws.var(0), rates, rtol=0.05, atol=0.01)


@pytest.mark.parametrize("name,fn", [
    ("bernoulli", lambda m, p, s: m.bernoulli(p)),
    ("normal-tensor-float", lambda m, p, s: m.normal(p, 1.0)),
    ("normal-tensor-tensor", lambda m, p, s: m.normal(p, s)),
    ("normal-float-tensor", lambda m, p, s: m.normal(0.0, s)),
    ("poisson", lambda m, p, s: m.poisson(p)),
])
def test_gradients_are_zero_as_torch(name, fn):
    p, s = np.array([[0.2, 0.7], [0.5, 0.9]]), np.array([1.0, 2.0])
    ours = [ag.tensor(a, requires_grad=True) for a in (p, s)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (p, s)]
    out_ours, out_theirs = fn(ag, *ours), fn(torch, *theirs)
    assert out_ours.requires_grad == out_theirs.requires_grad
    assert str(out_ours.dtype) == str(out_theirs.dtype) and tuple(out_ours.shape) == tuple(out_theirs.shape)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_seeded_and_generator_draws_repeat():
    p = ag.tensor(np.full(100, 0.5))
    ag.manual_seed(7)
    first = (ag.bernoulli(p).numpy(), ag.normal(p, 1.0).numpy(), ag.poisson(p).numpy())
    ag.manual_seed(7)
    second = (ag.bernoulli(p).numpy(), ag.normal(p, 1.0).numpy(), ag.poisson(p).numpy())
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    g1, g2 = ag.Generator().manual_seed(3), ag.Generator().manual_seed(3)
    np.testing.assert_array_equal(ag.normal(p, 2.0, generator=g1).numpy(),
                                  ag.normal(p, 2.0, generator=g2).numpy())
    assert not np.array_equal(ag.poisson(p, g1).numpy(), ag.poisson(p, ag.Generator().manual_seed(4)).numpy())


def test_bernoulli_in_place():
    x = ag.zeros(N, dtype=ag.float64)
    assert x.bernoulli_(0.25) is x and abs(x.numpy().mean() - 0.25) < 0.01
    x.bernoulli_(ag.tensor(np.tile([0.0, 1.0], N // 2)))
    np.testing.assert_array_equal(x.numpy(), np.tile([0.0, 1.0], N // 2))
    w = ag.ones(3, requires_grad=True)
    y = w * 2.0
    y.bernoulli_()                            # connected, gradient zero (as PyTorch's)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(3))


def test_randint_like_as_torch():
    for args, like in [((5,), np.zeros((2, 3), np.float32)), ((2, 4), np.zeros(4, np.int64))]:
        ours = ag.randint_like(ag.tensor(like), *args)
        theirs = torch.randint_like(torch.tensor(like), *args)
        assert str(ours.dtype) == str(theirs.dtype) and tuple(ours.shape) == tuple(theirs.shape)
    draws = ag.randint_like(ag.zeros(N), 3, 7).numpy()
    assert set(np.unique(draws)) == {3.0, 4.0, 5.0, 6.0}
    assert str(ag.randint_like(ag.zeros(2), 3, dtype=ag.int32).dtype) == "torch.int32"


@pytest.mark.parametrize("call,match", [
    (lambda: ag.bernoulli(ag.tensor([1.5])), "bernoulli.*\\[0, 1\\]"),
    (lambda: ag.bernoulli(ag.tensor([1, 0])), "bernoulli.*floating"),
    (lambda: ag.normal(ag.zeros(3), -1.0), "normal.*std >= 0"),
    (lambda: ag.normal(ag.zeros(3), ag.ones(2)), "normal.*broadcast"),
    (lambda: ag.normal(0.0, 1.0), "normal.*size"),
    (lambda: ag.poisson(ag.tensor([-1.0])), "poisson.*non-negative"),
])
def test_errors_name_the_op(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_under_vmap_randomness_modes(monkeypatch):
    from autograd.func import vmap
    from autograd.ops import creation_random
    monkeypatch.setattr(creation_random, "_warned", [])     # the warning is once a process
    p = ag.tensor(np.stack([np.zeros(500), np.ones(500), np.full(500, 0.5)]))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(ag.bernoulli)(p)
    same = vmap(ag.bernoulli, randomness="same")(p).numpy()
    np.testing.assert_array_equal(same[0], 0.0)
    np.testing.assert_array_equal(same[1], 1.0)
    means = ag.tensor(np.array([[0.0] * 400, [10.0] * 400]))
    z = vmap(lambda m: ag.normal(m, 2.0), randomness="same")(means).numpy()
    np.testing.assert_allclose(z[1] - z[0], 10.0)            # one draw, two means
    assert abs(z[0].std() - 2.0) < 0.3
    with pytest.warns(UserWarning):                          # once per sample, announced
        apart = vmap(lambda m: ag.normal(m, 1.0), randomness="different")(means).numpy()
    assert not np.allclose(apart[1] - apart[0], 10.0)
