"""take, put, take_along_dim, index_put/copy/fill/reduce, masked_select/scatter and
scatter_reduce (autograd/ops/indexing_more.py) against PyTorch 2.13: values and
gradients, including ties, zeros in products, NaN, repeated and empty indices,
integer inputs, the in-place forms, and errors naming the op."""
import warnings

import numpy as np
import pytest
import torch

import autograd as ag
from torch_compare import compare

rng = np.random.default_rng(1)
A34 = rng.standard_normal((3, 4))
A234 = rng.standard_normal((2, 3, 4))
V5 = rng.standard_normal(5)
IDX = np.array([[0, 2, 0, 0], [1, 2, 2, 0]])           # repeats along dim 0
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [3.0, 0.0, 0.0, 0.0], [-1.0, -1.0, 2.0, 2.0]])
SRC_TIES = np.array([[3.0, 0.0, 3.0, 0.0], [3.0, -1.0, 3.0, -2.0]])
ZEROS = np.array([[0.0, 2.0, 0.0, 1.5], [0.5, 0.0, 3.0, -1.0], [2.0, 1.0, 0.0, 0.0]])
SRC_ZEROS = np.array([[2.0, 0.0, 0.0, 4.0], [0.0, 0.0, 3.0, 0.5]])
IDX3 = rng.integers(0, 3, (2, 2, 4))
WITH_NAN = np.array([[1.0, np.nan, 3.0, 0.0], [2.0, -np.inf, 0.0, np.inf], [np.inf, 1.0, -1.0, 5.0]])


def case(name, fn, *inputs, **kw):
    return pytest.param(fn, inputs, kw, id=name)


def t(m, a):
    return m.tensor(np.asarray(a))


REDUCES = ["sum", "prod", "mean", "amax", "amin"]
CASES = [
    case("take", lambda m, x: m.take(x, t(m, [[0, 11], [-1, 5]])), A34),
    case("take-repeated-method", lambda m, x: x.take(t(m, [3, 3, 0])), A34),
    case("take-empty-index", lambda m, x: m.take(x, t(m, np.zeros(0, np.int64))), A34),
    case("put", lambda m, x, s: m.put(x, t(m, [4, -1]), s), A34, V5[:2]),
    case("put-accumulate-repeated", lambda m, x, s: x.put(t(m, [[1, 1], [0, 11]]), s, accumulate=True),
         A34, A34[:2, :2]),
    case("take_along_dim", lambda m, x: m.take_along_dim(x, t(m, [[0], [3], [1]]), dim=1), A34),
    case("take_along_dim-argsort", lambda m, x: m.take_along_dim(x, m.argsort(x, 1), 1), A34),
    case("take_along_dim-broadcast-indices", lambda m, x: m.take_along_dim(x, t(m, [[2, 0, 1, 1]]), 0), A34),
    case("take_along_dim-broadcast-input", lambda m, x: x.take_along_dim(t(m, np.zeros((2, 3, 2), np.int64)), 2),
         A234[:1, :, :1]),
    case("take_along_dim-flat", lambda m, x: m.take_along_dim(x, t(m, [5, 0, 5])), A34),
    case("index_put", lambda m, x, v: m.index_put(x, (t(m, [2, 0]),), v), A34, A34[:2]),
    case("index_put-points", lambda m, x, v: x.index_put((t(m, [0, 2]), t(m, [1, 3])), v), A34, V5[:2]),
    case("index_put-broadcast-value", lambda m, x, v: m.index_put(x, (t(m, [1]),), v), A34, np.array(2.5)),
    case("index_put-accumulate", lambda m, x, v: m.index_put(x, (t(m, [0, 2, 0]), t(m, [1, 3, 1])), v,
                                                             accumulate=True), A34, V5[:3]),
    case("index_put-accumulate-broadcast", lambda m, x, v: m.index_put(x, (t(m, [1, 1]),), v, True), A34,
         rng.standard_normal(4)),
    case("index_put-bool-mask", lambda m, x, v: m.index_put(x, (t(m, A34 > 0),), v), A34, np.array(-1.0)),
    case("index_copy", lambda m, x, s: m.index_copy(x, 0, t(m, [2, 0]), s), A34, A34[:2] * 3),
    case("index_copy-last-dim", lambda m, x, s: x.index_copy(-1, t(m, [3, 1]), s), A234, A234[..., :2]),
    case("index_fill", lambda m, x: m.index_fill(x, 1, t(m, [0, 3]), -2.0), A34),
    case("index_fill-tensor-value-repeated", lambda m, x, v: x.index_fill(1, t(m, [2, 2, 0]), v), A34,
         np.array(0.5)),
    case("index_fill-negative", lambda m, x: m.index_fill(x, 0, t(m, [-1]), np.inf), A34),
    case("masked_select", lambda m, x: m.masked_select(x, x > 0), A34),
    case("masked_select-broadcast", lambda m, x: x.masked_select(t(m, [True, False, True, True])), A34[:, :1]),
    case("masked_select-none", lambda m, x: m.masked_select(x, x > 100), A34),
    case("masked_scatter", lambda m, x, s: m.masked_scatter(x, x > 0, s), A34, rng.standard_normal(12)),
    case("masked_scatter-broadcast-mask", lambda m, x, s: x.masked_scatter(t(m, [True, False, True, False]), s),
         A34, rng.standard_normal((3, 4))),
]
for _r in REDUCES:
    for _self in (True, False):
        CASES += [
            case(f"scatter_reduce-{_r}-self{_self}",
                 lambda m, x, s, r=_r, i=_self: m.scatter_reduce(x, 0, t(m, IDX), s, r, include_self=i),
                 A34, rng.standard_normal((2, 4))),
            case(f"scatter_reduce-{_r}-self{_self}-ties",
                 lambda m, x, s, r=_r, i=_self: x.scatter_reduce(0, t(m, IDX), s, r, include_self=i),
                 TIES, SRC_TIES),
            case(f"scatter_reduce-{_r}-self{_self}-zeros",
                 lambda m, x, s, r=_r, i=_self: m.scatter_reduce(x, 0, t(m, IDX), s, r, include_self=i),
                 ZEROS, SRC_ZEROS),
            case(f"scatter_reduce-{_r}-self{_self}-nonfinite",
                 lambda m, x, s, r=_r, i=_self: m.scatter_reduce(x, 1, t(m, [[0, 0], [3, 1], [2, 2]]), s, r,
                                                                 include_self=i),
                 WITH_NAN, WITH_NAN[:, 1:3][::-1].copy(), grad=False),
        ]
CASES += [
    case("scatter_reduce-dim-1", lambda m, x, s: m.scatter_reduce(x, -1, t(m, [[3, 3], [0, 1]]), s, "amax"),
         A34[:2], A34[:2, :2] + 5),
    case("scatter_reduce-3d", lambda m, x, s: m.scatter_reduce(x, 1, t(m, IDX3), s, "mean",
                                                               include_self=False), A234, A234[:, :2]),
]
for _r in ("prod", "mean", "amax", "amin"):
    CASES += [
        case(f"index_reduce-{_r}", lambda m, x, s, r=_r: m.index_reduce(x, 0, t(m, [2, 0, 2]), s, r),
             A34, rng.standard_normal((3, 4))),
        case(f"index_reduce-{_r}-noself-dim1",
             lambda m, x, s, r=_r: x.index_reduce(1, t(m, [3, 1, 3]), s, r, include_self=False), A34,
             np.round(rng.standard_normal((3, 3)))),
    ]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_against_torch(fn, inputs, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # index_reduce is "in beta" in PyTorch
        compare(fn, *inputs, **kw)


@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_integers(reduce):
    x = np.array([[-5, 3, 7], [2, -8, 1]])
    src = np.array([[2, -4, 4], [-3, 5, 0]])
    index = np.array([[0, 0, 1], [0, 1, 2]])
    for include_self in (True, False):
        compare(lambda m, a, s: m.scatter_reduce(a, 1, t(m, index), s, reduce, include_self=include_self),
                x, src, grad=False)


def test_integer_inputs():
    x = np.arange(12).reshape(3, 4)
    for fn in (lambda m, a: m.take(a, t(m, [1, -1])), lambda m, a: m.take_along_dim(a, t(m, [[1], [0], [3]]), 1),
               lambda m, a: m.masked_select(a, a > 4), lambda m, a: m.index_fill(a, 1, t(m, [0]), 7),
               lambda m, a: m.put(a, t(m, [0, 0]), t(m, [5, 6]), accumulate=True)):
        compare(fn, x, grad=False)


def test_in_place_forms():
    def run(m):
        x = m.tensor(A34.copy(), requires_grad=True)
        y = x * 1.0
        y.index_put_((t(m, [0]),), m.tensor(2.0, dtype=m.float64))
        y.index_copy_(1, t(m, [3]), x[:, :1] * 3)
        y.index_fill_(0, t(m, [2]), -1.0)
        y.masked_scatter_(y > 1, x.reshape(-1))
        y.put_(t(m, [5]), x[0, :1])
        y.scatter_reduce_(0, t(m, IDX), x[:2, :4] * 2, "mean")   # last: it saves its result
        (y * m.tensor(A34)).sum().backward()
        return y.detach().numpy() if m is torch else y.array, x.grad.numpy() if m is torch else x.grad.array
    (y_ours, g_ours), (y_torch, g_torch) = run(ag), run(torch)
    np.testing.assert_allclose(y_ours, y_torch, rtol=1e-12)
    np.testing.assert_allclose(g_ours, g_torch, rtol=1e-12)


def test_index_reduce_in_place():
    def run(m):
        x = m.tensor(A34.copy(), requires_grad=True)
        y = x * 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y.index_reduce_(1, t(m, [0, 0]), x[:, :2] + 1, "prod")
        (y * m.tensor(A34)).sum().backward()
        return np.asarray(y.detach().numpy() if m is torch else y.array), \
            np.asarray(x.grad.numpy() if m is torch else x.grad.array)
    for ours, theirs in zip(run(ag), run(torch)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_scatter_reduce_empty_index():
    # PyTorch's backward fails here (a shape error), so this is checked on its own:
    # nothing is scattered, input passes through and src gets a zero gradient.
    x, src = ag.tensor(A34, requires_grad=True), ag.tensor(A34[:2], requires_grad=True)
    for reduce in REDUCES:
        out = ag.scatter_reduce(x, 0, ag.tensor(np.zeros((0, 4), np.int64)), src, reduce)
        np.testing.assert_array_equal(out.array, torch.scatter_reduce(
            torch.tensor(A34), 0, torch.zeros((0, 4), dtype=torch.long), torch.tensor(A34[:2]), reduce))
        gx, gs = ag.grad(out.sum(), (x, src))
        np.testing.assert_array_equal(gx.array, np.ones_like(A34))
        np.testing.assert_array_equal(gs.array, np.zeros_like(A34[:2]))


def test_scatter_reduce_double_backward_against_torch():
    x, src = np.array([[1.0, 2.0], [3.0, 0.5]]), np.array([[2.0, 1.5], [0.5, 3.0]])
    grads = []
    for m in (ag, torch):
        a, s = m.tensor(x, requires_grad=True), m.tensor(src, requires_grad=True)
        y = m.scatter_reduce(a, 0, t(m, [[1, 0], [1, 1]]), s, "prod").sum()
        ga, gs = m.autograd.grad(y, (a, s), create_graph=True)
        ((ga ** 2).sum() + (gs ** 3).sum()).backward()
        grads.append([np.asarray(a.grad.numpy() if m is torch else a.grad.array),
                      np.asarray(s.grad.numpy() if m is torch else s.grad.array)])
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


ERRORS = [
    (lambda: ag.take(ag.zeros(2, 3), ag.tensor([6])), "take"),
    (lambda: ag.take(ag.zeros(2, 3), ag.tensor([0.5])), "take"),
    (lambda: ag.put(ag.zeros(2, 3), ag.tensor([0, 1]), ag.zeros(3)), "put"),
    (lambda: ag.take_along_dim(ag.zeros(2, 3), ag.tensor([[0, 1]]).reshape(1, 1, 2), 1), "take_along_dim"),
    (lambda: ag.take_along_dim(ag.zeros(2, 3), ag.tensor([[0], [1], [2]]), 1), "take_along_dim"),
    (lambda: ag.take_along_dim(ag.zeros(2, 3), ag.tensor([[3]]), 1), "take_along_dim"),
    (lambda: ag.index_put(ag.zeros(2, 3), ag.tensor([0]), ag.zeros(3)), "index_put"),
    (lambda: ag.index_put(ag.zeros(2, 3), (ag.tensor([5]),), ag.zeros(3)), "index_put"),
    (lambda: ag.index_put(ag.zeros(2, 3), (ag.tensor([0, 1]),), ag.zeros(2, 2)), "index_put"),
    (lambda: ag.index_copy(ag.zeros(2, 3), 0, ag.tensor([0]), ag.zeros(2, 3)), "index_copy"),
    (lambda: ag.index_copy(ag.zeros(2, 3), 0, ag.tensor([[0]]), ag.zeros(1, 3)), "index_copy"),
    (lambda: ag.index_fill(ag.zeros(2, 3), 1, ag.tensor([3]), 1.0), "index_fill"),
    (lambda: ag.index_fill(ag.zeros(2, 3), 1, ag.tensor([0]), ag.zeros(2)), "index_fill"),
    (lambda: ag.masked_select(ag.zeros(2, 3), ag.zeros(2, 3)), "masked_select"),
    (lambda: ag.masked_select(ag.zeros(2, 3), np.ones(2, bool)), "masked_select"),
    (lambda: ag.masked_scatter(ag.zeros(2, 3), np.ones((2, 3), bool), ag.zeros(5)), "masked_scatter"),
    (lambda: ag.scatter_reduce(ag.zeros(3), 0, ag.tensor([0]), ag.zeros(1), "max"), "scatter_reduce"),
    (lambda: ag.scatter_reduce(ag.zeros(3), 0, ag.tensor([3]), ag.zeros(1), "sum"), "scatter_reduce"),
    (lambda: ag.scatter_reduce(ag.zeros(3), 0, ag.tensor([0]), 1.0, "sum"), "scatter_reduce"),
    (lambda: ag.scatter_reduce(ag.zeros(3), 0, ag.tensor([0]), ag.zeros(1, dtype=ag.float64), "sum"),
     "scatter_reduce"),
    (lambda: ag.index_reduce(ag.zeros(3), 0, ag.tensor([0]), ag.zeros(1), "sum"), "index_reduce"),
    (lambda: ag.index_reduce(ag.zeros(3, 2), 0, ag.tensor([0]), ag.zeros(2, 2), "mean"), "index_reduce"),
]


@pytest.mark.parametrize("call,name", ERRORS, ids=[f"{e[1]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors_name_the_op(call, name):
    with pytest.raises((ValueError, IndexError, TypeError, RuntimeError), match=name):
        call()
