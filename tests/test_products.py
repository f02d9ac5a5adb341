"""Products (autograd/ops/products.py) against PyTorch 2.13: the add* family with beta
and alpha (beta = 0 ignores NaN in input), mv, inner, vdot, tensordot, kron, cross,
trace, chain_matmul, cdist (every p, both compute paths, coincident points) and
pdist; values and gradients, and errors naming the op."""
import warnings

import numpy as np
import pytest
import torch

import autograd as ag
from torch_compare import compare

rng = np.random.default_rng(2)
A23, A34, A24 = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
B234, B245 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
V2, V3, V4 = rng.standard_normal(2), rng.standard_normal(3), rng.standard_normal(4)
NAN24 = np.full((2, 4), np.nan)
P1, P2 = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
MANY1, MANY2 = rng.standard_normal((30, 3)), rng.standard_normal((27, 3))   # > 25 rows: the GEMM path


def case(name, fn, *inputs, **kw):
    return pytest.param(fn, inputs, kw, id=name)


CASES = [
    case("addmm", lambda m, c, a, b: m.addmm(c, a, b), A24, A23, A34),
    case("addmm-bias-row", lambda m, c, a, b: m.addmm(c, a, b), V4, A23, A34),
    case("addmm-scaled", lambda m, c, a, b: c.addmm(a, b, beta=0.5, alpha=-2), A24[:1], A23, A34),
    case("addmm-beta0-ignores-nan", lambda m, c, a, b: m.addmm(c, a, b, beta=0), NAN24, A23, A34),
    case("addmm-empty-k", lambda m, c, a, b: m.addmm(c, a, b), A24, A23[:, :0], A34[:0]),
    case("addmm-noncontig", lambda m, c, a, b: m.addmm(c, a.mT, b.mT), V4, A23.T.copy(), A34.T.copy()),
    case("mv", lambda m, a, v: m.mv(a, v), A34, V4),
    case("mv-method", lambda m, a, v: a.mv(v), A23, V3),
    case("addmv", lambda m, c, a, v: m.addmv(c, a, v), V3, A34, V4),
    case("addmv-scaled", lambda m, c, a, v: c.addmv(a, v, beta=2, alpha=0.5), np.array(1.5), A34, V4),
    case("addr", lambda m, c, u, v: m.addr(c, u, v), A34, V3, V4),
    case("addr-broadcast", lambda m, c, u, v: c.addr(u, v, beta=-1, alpha=3), V4, V3, V4),
    case("baddbmm", lambda m, c, a, b: m.baddbmm(c, a, b), rng.standard_normal((2, 3, 5)), B234, B245),
    case("baddbmm-broadcast", lambda m, c, a, b: c.baddbmm(a, b, beta=0.25, alpha=2), V3[:1], B234, B245),
    case("addbmm", lambda m, c, a, b: m.addbmm(c, a, b), rng.standard_normal((3, 5)), B234, B245),
    case("addbmm-scaled", lambda m, c, a, b: c.addbmm(a, b, beta=0, alpha=-1), np.full((3, 5), np.inf),
         B234, B245),
    case("inner", lambda m, a, b: m.inner(a, b), A34, A24),
    case("inner-vectors", lambda m, a, b: a.inner(b), V4, V4),
    case("inner-scalar", lambda m, a, b: m.inner(a, b), np.array(2.0), A34),
    case("inner-3d", lambda m, a, b: m.inner(a, b), B234, A24),
    case("vdot", lambda m, a, b: m.vdot(a, b), V4, V4[::-1].copy()),
    case("tensordot-int", lambda m, a, b: m.tensordot(a, b, 1), B234, B245[0]),
    case("tensordot-default", lambda m, a, b: m.tensordot(a, b), B234, rng.standard_normal((3, 4, 2))),
    case("tensordot-lists", lambda m, a, b: m.tensordot(a, b, ([0, 2], [1, 0])), B234, rng.standard_normal((4, 2))),
    case("tensordot-zero", lambda m, a, b: m.tensordot(a, b, 0), A23, V4),
    case("tensordot-empty", lambda m, a, b: m.tensordot(a, b, ([1], [0])), A23[:, :0], A34[:0]),
    case("kron", lambda m, a, b: m.kron(a, b), A23, A34),
    case("kron-ranks-differ", lambda m, a, b: a.kron(b), V2, B234),
    case("kron-0d", lambda m, a, b: m.kron(a, b), np.array(3.0), A23),
    case("cross", lambda m, a, b: m.cross(a, b, dim=1), P1, P1[::-1].copy()),
    case("cross-broadcast", lambda m, a, b: a.cross(b, dim=0), A34[:, :2], A34[:, :1]),
    case("cross-negative-dim", lambda m, a, b: m.cross(a, b, -1), B234[..., :3], B234[..., 1:]),
    case("trace", lambda m, a: m.trace(a), A34),
    case("trace-method", lambda m, a: a.trace(), A34.T),
    case("trace-empty", lambda m, a: m.trace(a), A34[:0]),
    case("chain_matmul", lambda m, a, b, c: m.chain_matmul(a, b, c), A23, A34, B245[0]),
    case("chain_matmul-one", lambda m, a: m.chain_matmul(a), A23),
]
for _p in (2.0, 1.0, 3.0, 0.5, 0.0, float("inf")):
    CASES += [
        case(f"cdist-p{_p}", lambda m, a, b, p=_p: m.cdist(a, b, p), P1, P2),
        case(f"cdist-p{_p}-batch-broadcast", lambda m, a, b, p=_p: m.cdist(a, b, p=p),
             rng.standard_normal((2, 1, 3, 2)), rng.standard_normal((3, 4, 2))),
        case(f"cdist-p{_p}-coincident", lambda m, a, b, p=_p: m.cdist(a, b, p), P1[:3], P1[1:4]),
        case(f"pdist-p{_p}", lambda m, a, p=_p: m.pdist(a, p), P1),
    ]
CASES += [
    case("cdist-mm-many-rows", lambda m, a, b: m.cdist(a, b), MANY1, MANY2, rtol=1e-6, atol=1e-9),
    case("cdist-mm-forced", lambda m, a, b: m.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), P1, P2,
         rtol=1e-6, atol=1e-9),
    case("cdist-no-mm", lambda m, a, b: m.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist"),
         MANY1, MANY2),
    case("cdist-empty", lambda m, a, b: m.cdist(a, b), P1[:0], P2),
    case("pdist-one-row", lambda m, a: m.pdist(a), P1[:1]),
    case("pdist-coincident-rows", lambda m, a: m.pdist(a), np.vstack([P1[:2], P1[:1]])),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_against_torch(fn, inputs, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # chain_matmul is deprecated in PyTorch
        compare(fn, *inputs, **kw)


def test_cross_without_dim_warns_and_takes_the_first_size_3_dim():
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    with pytest.warns(UserWarning, match="cross"):
        ours = ag.cross(ag.tensor(a), ag.tensor(b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.cross(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(ours.array, theirs.numpy())


def test_cdist_coincident_points_on_the_gemm_path_have_zero_gradient():
    # PyTorch clamps the squared distance at 1e-30 on this path; here it is clamped at
    # 0, and the gradient at a zero distance is 0 (PyTorch's subgradient).
    x = ag.tensor(MANY1, requires_grad=True)
    d = ag.cdist(x, ag.tensor(MANY1[:1]))
    g, = ag.grad(d[0, 0], x)
    assert d.array[0, 0] == 0.0
    np.testing.assert_array_equal(g.array, 0.0)


def test_addmm_bias_row_is_one_node():
    c, a, b = (ag.tensor(v, requires_grad=True) for v in (V4, A23, A34))
    assert type(ag.addmm(c, a, b).grad_fn).__name__ == "Linear"


def test_integer_products():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    for fn in (lambda m, x, y: m.addmm(m.ones(4, dtype=m.int64), x, y), lambda m, x, y: m.kron(x, y),
               lambda m, x, y: m.tensordot(x, y, 1), lambda m, x, y: m.trace(y),
               lambda m, x, y: m.inner(x, y.mT)):
        compare(fn, a, b, grad=False)


ERRORS = [
    (lambda: ag.addmm(ag.zeros(2, 4), ag.zeros(2, 3), ag.zeros(4, 4)), "addmm"),
    (lambda: ag.addmm(ag.zeros(2, 4), ag.zeros(3), ag.zeros(3, 4)), "addmm"),
    (lambda: ag.addmm(ag.zeros(3, 4), ag.zeros(2, 3), ag.zeros(3, 4)), "addmm"),
    (lambda: ag.mv(ag.zeros(2, 3), ag.zeros(2)), "mv"),
    (lambda: ag.mv(ag.zeros(3), ag.zeros(3)), "mv"),
    (lambda: ag.addmv(ag.zeros(4), ag.zeros(2, 3), ag.zeros(3)), "addmv"),
    (lambda: ag.addr(ag.zeros(2, 2), ag.zeros(2, 1), ag.zeros(2)), "addr"),
    (lambda: ag.baddbmm(ag.zeros(2, 3, 5), ag.zeros(2, 3, 4), ag.zeros(3, 4, 5)), "baddbmm"),
    (lambda: ag.addbmm(ag.zeros(3, 5), ag.zeros(3, 4), ag.zeros(4, 5)), "addbmm"),
    (lambda: ag.inner(ag.zeros(2, 3), ag.zeros(2)), "inner"),
    (lambda: ag.vdot(ag.zeros(3), ag.zeros(4)), "vdot"),
    (lambda: ag.vdot(ag.zeros(3, 1), ag.zeros(3)), "vdot"),
    (lambda: ag.tensordot(ag.zeros(2, 3), ag.zeros(2, 3), 1), "tensordot"),
    (lambda: ag.tensordot(ag.zeros(2, 3), ag.zeros(3), 3), "tensordot"),
    (lambda: ag.tensordot(ag.zeros(2, 3), ag.zeros(3), ([1, 0], [0])), "tensordot"),
    (lambda: ag.cross(ag.zeros(4, 2), ag.zeros(4, 2), dim=1), "cross"),
    (lambda: ag.cross(ag.zeros(3, 2), ag.zeros(4, 2), dim=1), "cross"),
    (lambda: ag.trace(ag.zeros(2, 2, 2)), "trace"),
    (lambda: ag.chain_matmul(ag.zeros(2, 3), ag.zeros(2, 3)), "chain_matmul"),
    (lambda: ag.chain_matmul(), "chain_matmul"),
    (lambda: ag.cdist(ag.zeros(2, 3), ag.zeros(2, 4)), "cdist"),
    (lambda: ag.cdist(ag.zeros(2, 3), ag.zeros(2, 3), p=-1), "cdist"),
    (lambda: ag.cdist(ag.zeros(2, 3), ag.zeros(2, 3), compute_mode="fast"), "cdist"),
    (lambda: ag.cdist(ag.zeros(2, 2, 3), ag.zeros(3, 2, 3)), "cdist"),
    (lambda: ag.pdist(ag.zeros(3)), "pdist"),
    (lambda: ag.pdist(ag.zeros(3, 2), p=-2), "pdist"),
]


@pytest.mark.parametrize("call,name", ERRORS, ids=[f"{e[1]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors_name_the_op(call, name):
    with pytest.raises((ValueError, IndexError, TypeError, RuntimeError), match=name):
        call()
