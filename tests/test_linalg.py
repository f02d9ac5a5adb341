"""autograd.linalg against PyTorch 2.13 (CPU): values, gradients and second derivatives
in float64 on well-conditioned inputs from fixed seeds, values in float32, and the
errors.  The registry sweep (tests/test_op_registry.py -k linalg) gradchecks and
gradgradchecks every op against central differences; this file holds them to PyTorch."""
import math

import numpy as np
import pytest
import torch

import autograd as ag
from autograd import linalg


def _rng(seed):
    return np.random.default_rng(seed)


def square(shape, seed=0):
    """uniform(-1, 1) + 2.5 I: well conditioned."""
    return _rng(seed).uniform(-1, 1, shape) + 2.5 * np.eye(shape[-1])


def spd(shape, seed=0):
    x = _rng(seed).uniform(-1, 1, shape)
    a = x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])
    return (a + np.swapaxes(a, -1, -2)) / 2        # symmetric to the last bit


def symmetric(shape, seed=0):
    """Symmetric with eigenvalues spread apart (distinct)."""
    x = _rng(seed).uniform(-0.5, 0.5, shape)
    return (x + np.swapaxes(x, -1, -2)) / 2 + np.diag(1.0 + 1.5 * np.arange(shape[-1]))


def full_rank(shape, seed=0):
    """(m, n) with distinct singular values."""
    x = _rng(seed).uniform(-0.5, 0.5, shape)
    k = min(shape[-2:])
    x[..., range(k), range(k)] += 1.0 + 1.5 * np.arange(k)
    return x


def plain(shape, seed=0):
    return _rng(seed).uniform(-2, 2, shape)


def _gauge_eigh(t, A, **kw):
    w, v = t.linalg.eigh(A, **kw)
    return w, v * v


def _gauge_svd(t, A, **kw):
    u, s, vh = t.linalg.svd(A, **kw)
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    return s, u * u, vh * vh, u @ vh if A.shape[-1] == A.shape[-2] else s


# (name, f(namespace, *inputs) run on both autograd and torch, input arrays)
CASES = [
    ("inv", lambda t, A: t.linalg.inv(A), [square((3, 3))]),
    ("inv-batched", lambda t, A: t.linalg.inv(A), [square((2, 4, 4), 1)]),
    ("inverse-method", lambda t, A: A.inverse(), [square((3, 3), 2)]),
    ("det", lambda t, A: t.linalg.det(A), [square((2, 3, 3), 3)]),
    ("det-method", lambda t, A: A.det(), [square((4, 4), 4)]),
    ("slogdet", lambda t, A: t.linalg.slogdet(A).logabsdet, [square((2, 3, 3), 5) - 2.5 * np.eye(3)]),
    ("logdet", lambda t, A: t.logdet(A), [spd((2, 3, 3), 6)]),
    ("solve", lambda t, A, B: t.linalg.solve(A, B), [square((3, 3), 7), plain((3, 2), 8)]),
    ("solve-broadcast", lambda t, A, B: t.linalg.solve(A, B), [square((2, 1, 3, 3), 9), plain((4, 3, 2), 10)]),
    ("solve-vector", lambda t, A, B: t.linalg.solve(A, B), [square((2, 3, 3), 11), plain((2, 3), 12)]),
    ("solve-right", lambda t, A, B: t.linalg.solve(A, B, left=False), [square((3, 3), 13), plain((2, 3), 14)]),
    ("solve_triangular-upper", lambda t, A, B: t.linalg.solve_triangular(A, B, upper=True),
     [square((2, 3, 3), 15), plain((3, 2), 16)]),
    ("solve_triangular-lower-unit", lambda t, A, B: t.linalg.solve_triangular(A, B, upper=False, unitriangular=True),
     [square((3, 3), 17), plain((3, 4), 18)]),
    ("solve_triangular-right", lambda t, A, B: t.linalg.solve_triangular(A, B, upper=True, left=False),
     [square((3, 3), 19), plain((2, 3), 20)]),
    ("cholesky", lambda t, A: t.linalg.cholesky(A), [spd((2, 3, 3), 21)]),
    ("cholesky-upper", lambda t, A: t.linalg.cholesky(A, upper=True), [spd((4, 4), 22)]),
    ("cholesky_solve", lambda t, B, L: t.cholesky_solve(B, L), [plain((3, 2), 23), np.linalg.cholesky(spd((3, 3), 24))]),
    ("cholesky_solve-upper", lambda t, B, L: t.cholesky_solve(B, L, upper=True),
     [plain((2, 3, 2), 25), np.linalg.cholesky(spd((3, 3), 26)).T.copy()]),
    ("qr-tall", lambda t, A: tuple(t.linalg.qr(A)), [full_rank((5, 3), 27)]),
    ("qr-wide", lambda t, A: tuple(t.linalg.qr(A)), [full_rank((2, 3, 5), 28)]),
    ("qr-complete-square", lambda t, A: tuple(t.linalg.qr(A, mode="complete")), [full_rank((3, 3), 29)]),
    ("eigh", lambda t, A: _gauge_eigh(t, A), [symmetric((2, 4, 4), 30)]),
    ("eigh-upper", lambda t, A: _gauge_eigh(t, A, UPLO="U"), [symmetric((3, 3), 31)]),
    ("eigvalsh", lambda t, A: t.linalg.eigvalsh(A), [symmetric((2, 3, 3), 32)]),
    ("svd-square", lambda t, A: _gauge_svd(t, A, full_matrices=False), [full_rank((2, 3, 3), 33)]),
    ("svd-tall", lambda t, A: _gauge_svd(t, A, full_matrices=False), [full_rank((5, 3), 34)]),
    ("svd-wide-full", lambda t, A: _gauge_svd(t, A), [full_rank((3, 5), 35)]),
    ("svdvals", lambda t, A: t.linalg.svdvals(A), [full_rank((2, 4, 3), 36)]),
    ("lstsq-tall", lambda t, A, B: t.linalg.lstsq(A, B).solution, [full_rank((6, 3), 37), plain((6, 2), 38)]),
    ("lstsq-wide", lambda t, A, B: t.linalg.lstsq(A, B).solution, [full_rank((3, 5), 39), plain((3, 2), 40)]),
    ("lstsq-batched", lambda t, A, B: t.linalg.lstsq(A, B).solution, [full_rank((2, 5, 3), 41), plain((2, 5, 1), 42)]),
    ("pinv", lambda t, A: t.linalg.pinv(A), [full_rank((4, 3), 43)]),
    # symmetrised first: PyTorch's pinv VJP is the general one, ours eigh's (symmetric)
    ("pinv-hermitian", lambda t, A: t.linalg.pinv((A + A.mT) / 2, hermitian=True), [symmetric((3, 3), 44)]),
    ("matrix_exp", lambda t, A: t.linalg.matrix_exp(A), [plain((2, 3, 3), 45)]),
    ("matrix_exp-large", lambda t, A: t.matrix_exp(A), [4 * plain((3, 3), 46)]),
    ("matrix_power-3", lambda t, A: t.linalg.matrix_power(A, 3), [square((2, 3, 3), 47)]),
    ("matrix_power-neg", lambda t, A: t.linalg.matrix_power(A, -2), [square((3, 3), 48)]),
    ("multi_dot", lambda t, a, B, C, d: t.linalg.multi_dot([a, B, C, d]),
     [plain((3,), 49), plain((3, 5), 50), plain((5, 2), 51), plain((2,), 52)]),
    ("multi_dot-matrices", lambda t, A, B, C: t.linalg.multi_dot([A, B, C]),
     [plain((4, 2), 53), plain((2, 6), 54), plain((6, 3), 55)]),
    ("cross", lambda t, a, b: t.linalg.cross(a, b), [plain((4, 3), 56), plain((1, 3), 57)]),
    ("cross-dim", lambda t, a, b: t.linalg.cross(a, b, dim=0), [plain((3, 2), 58), plain((3, 2), 59)]),
    ("diagonal", lambda t, A: t.linalg.diagonal(A, offset=1), [plain((2, 3, 4), 60)]),
    ("diagonal-dims", lambda t, A: t.linalg.diagonal(A, offset=-1, dim1=0, dim2=2), [plain((4, 2, 3), 61)]),
    ("vecdot", lambda t, a, b: t.linalg.vecdot(a, b), [plain((2, 3), 62), plain((3,), 63)]),
]
NORM_CASES = [
    ("vector_norm", lambda t, x, o=o: t.linalg.vector_norm(x, o), [plain((3, 4), 70)], o)
    for o in (2, 1, 3.5, math.inf, -math.inf)
] + [
    ("vector_norm-dims", lambda t, x: t.linalg.vector_norm(x, 2, dim=(0, 2), keepdim=True), [plain((2, 3, 4), 71)], None),
    ("norm-default", lambda t, x: t.linalg.norm(x), [plain((2, 3, 4), 72)], None),
    ("norm-vector-dim", lambda t, x: t.linalg.norm(x, 3, dim=1), [plain((2, 3), 73)], None),
    ("norm-matrix", lambda t, x: t.linalg.norm(x, "nuc"), [full_rank((3, 4), 74)], None),
    ("norm-ord-2d", lambda t, x: t.linalg.norm(x, -math.inf), [plain((3, 4), 75)], None),
] + [
    ("matrix_norm", lambda t, x, o=o: t.linalg.matrix_norm(x, o), [full_rank((2, 4, 3), 76)], o)
    for o in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)
] + [
    ("matrix_norm-dims", lambda t, x: t.linalg.matrix_norm(x, 1, dim=(2, 0), keepdim=True), [plain((3, 2, 4), 77)], None),
]
ALL = [pytest.param(f, xs, id=n) for n, f, xs in CASES] + \
      [pytest.param(f, xs, id=f"{n}-{o}") for n, f, xs, o in NORM_CASES]


def _outputs(res):
    res = res if isinstance(res, tuple) else (res,)
    return [r for r in res if r.dtype in (ag.float32, ag.float64, torch.float32, torch.float64)]


def _both(f, arrays, dtype=np.float64):
    ours = [ag.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    return ours, _outputs(f(ag, *ours)), theirs, _outputs(f(torch, *theirs))


def _weights(outs, seed):
    rng = _rng(seed)
    return [rng.standard_normal(tuple(o.shape)) for o in outs]


@pytest.mark.parametrize("f,arrays", ALL)
def test_values_float64(f, arrays):
    _, outs, _, refs = _both(f, arrays)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert tuple(o.shape) == tuple(r.shape)
        np.testing.assert_allclose(o.array, r.detach().numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("f,arrays", ALL)
def test_values_and_gradients_float32(f, arrays):
    ours, outs, theirs, refs = _both(f, arrays, np.float32)
    for o, r in zip(outs, refs):
        assert o.dtype == ag.float32
        np.testing.assert_allclose(o.array, r.detach().numpy(), rtol=2e-4, atol=2e-5)
    ws = [w.astype(np.float32) for w in _weights(refs, 1)]
    for a, b in zip(ag.grad(_loss(outs, ws, ag), ours),
                    torch.autograd.grad(_loss(refs, ws, torch), theirs)):
        assert a.dtype == ag.float32
        np.testing.assert_allclose(a.array, b.numpy(), rtol=1e-3, atol=1e-4)


def _loss(outs, ws, lib):
    return sum((o * lib.tensor(w)).sum() for o, w in zip(outs, ws))


@pytest.mark.parametrize("f,arrays", ALL)
def test_gradients_and_second_derivatives(f, arrays):
    """d/dx of sum(out * w), then d/dx of sum(grad * r) (both create_graph), as PyTorch."""
    ours, outs, theirs, refs = _both(f, arrays)
    ws = _weights(refs, 1)
    g_ours = ag.grad(_loss(outs, ws, ag), ours, create_graph=True)
    g_theirs = torch.autograd.grad(_loss(refs, ws, torch), theirs, create_graph=True)
    for a, b in zip(g_ours, g_theirs):
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-7, atol=1e-9)
    # second derivatives where the gradient depends on the inputs at all (not for
    # piecewise-linear ops such as the 1- and inf-norms, whose gradients are constant)
    live = [i for i, g in enumerate(g_ours) if g.requires_grad]
    assert live == [i for i, g in enumerate(g_theirs) if g.requires_grad]
    if not live:
        return
    rs = _weights(g_theirs, 2)
    gg_ours = ag.grad(_loss([g_ours[i] for i in live], [rs[i] for i in live], ag), ours,
                      allow_unused=True)
    gg_theirs = torch.autograd.grad(_loss([g_theirs[i] for i in live], [rs[i] for i in live], torch),
                                    theirs, allow_unused=True, materialize_grads=True)
    for a, b in zip(gg_ours, gg_theirs):
        want = b.detach().numpy(force=True)
        np.testing.assert_allclose(np.zeros_like(want) if a is None else a.array, want,
                                   rtol=1e-6, atol=1e-8)


def test_torch_alias_and_top_level_forms():
    import autograd as torch_alias
    assert torch_alias.linalg is linalg
    A = ag.tensor(spd((3, 3)))
    assert np.allclose(ag.det(A).array, np.linalg.det(A.array))
    assert np.allclose(ag.inverse(A).array, np.linalg.inv(A.array))
    assert np.allclose(A.logdet().array, np.linalg.slogdet(A.array)[1])
    assert np.allclose(A.slogdet().sign.array, 1.0)
    assert np.allclose(A.matrix_power(2).array, A.array @ A.array)
    assert tuple(linalg.matrix_power(A, 0).array.ravel()) == tuple(np.eye(3).ravel())


def test_no_grad_paths_match():
    """eigvalsh and svdvals skip the vectors when no derivative can be asked for."""
    A = symmetric((2, 3, 3))
    np.testing.assert_allclose(linalg.eigvalsh(ag.tensor(A)).array, np.linalg.eigvalsh(A))
    np.testing.assert_allclose(linalg.svdvals(ag.tensor(A)).array, np.linalg.svd(A, compute_uv=False))


def test_lstsq_fields_and_rank_deficient():
    A, B = full_rank((6, 3), 1), plain((6, 2), 2)
    for driver in ("gelsy", "gelsd", "gels"):
        ours = linalg.lstsq(ag.tensor(A), ag.tensor(B), driver=driver)
        ref = torch.linalg.lstsq(torch.tensor(A), torch.tensor(B), driver=driver)
        for field in ("solution", "residuals", "rank", "singular_values"):
            np.testing.assert_allclose(getattr(ours, field).array, getattr(ref, field).numpy(),
                                       rtol=1e-9, atol=1e-10, err_msg=f"{driver} {field}")
    D = A.copy()
    D[:, 2] = D[:, 0] - D[:, 1]                     # rank 2: the minimum-norm solution
    ours = linalg.lstsq(ag.tensor(D), ag.tensor(B), driver="gelsd")
    ref = torch.linalg.lstsq(torch.tensor(D), torch.tensor(B), driver="gelsd")
    np.testing.assert_allclose(ours.solution.array, ref.solution.numpy(), rtol=1e-8, atol=1e-10)
    assert int(ours.rank.array) == int(ref.rank) == 2


def test_repeated_eigenvalues_give_infinite_vector_gradients_as_pytorch():
    A = np.diag([1.0, 1.0, 3.0])
    x = ag.tensor(A, requires_grad=True)
    w, v = linalg.eigh(x)
    w.sum().backward()                              # values alone: finite, the identity
    np.testing.assert_allclose(x.grad.array, np.eye(3), atol=1e-12)
    x.grad = None
    with np.errstate(all="ignore"):
        w, v = linalg.eigh(x)
        (v * ag.tensor(plain((3, 3)))).sum().backward()
    assert not np.isfinite(x.grad.array).all()


def test_qr_r_mode_has_no_derivative():
    A = ag.tensor(full_rank((4, 3)), requires_grad=True)
    Q, R = linalg.qr(A, mode="r")
    assert Q.shape == (0,)
    np.testing.assert_allclose(np.abs(R.array), np.abs(torch.linalg.qr(torch.tensor(A.array), mode="r").R.numpy()))
    with pytest.raises(RuntimeError, match="linalg.qr: .*mode='r'"):
        R.sum().backward()
    Q, R = linalg.qr(ag.tensor(full_rank((4, 3)), requires_grad=True), mode="complete")
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        (Q.sum() + R.sum()).backward()


# -- errors --------------------------------------------------------------------------
def _f64(*shape):
    return ag.tensor(square(shape) if shape[-1] == shape[-2] else plain(shape))


SINGULAR = np.stack([np.eye(3), np.ones((3, 3))])          # batch element 1 is singular
NOT_PD = np.stack([spd((3, 3)), spd((3, 3)), -np.eye(3)])  # batch element 2


@pytest.mark.parametrize("call,error,pattern", [
    (lambda: linalg.inv(_f64(3, 4)), ValueError, r"linalg.inv: A must be batches of square matrices, but they are 3 by 4"),
    (lambda: linalg.det(ag.tensor([1.0, 2.0])), ValueError, r"linalg.det: A must have at least 2 dimensions"),
    (lambda: linalg.cholesky(_f64(2, 3)), ValueError, r"linalg.cholesky: .*square"),
    (lambda: linalg.eigh(_f64(2, 3)), ValueError, r"linalg.eigh: .*square"),
    (lambda: linalg.inv(ag.eye(3, dtype=ag.int64)), TypeError, r"linalg.inv: expected a float32 or float64 tensor, got .*int64"),
    (lambda: linalg.svd(ag.ones(3, 3, dtype=ag.int32)), TypeError, r"linalg.svd: expected a float32 or float64"),
    (lambda: linalg.solve(_f64(3, 3), ag.ones(3, 2, dtype=ag.int64)), TypeError, r"linalg.solve: expected a float32"),
    (lambda: linalg.solve(_f64(2, 3, 3), _f64(3, 3, 2)), ValueError, r"linalg.solve: the batch dimensions of A \(2, 3, 3\) and B \(3, 3, 2\)"),
    (lambda: linalg.solve(_f64(3, 3), _f64(4, 2)), ValueError, r"linalg.solve: .*B needs 3 rows"),
    (lambda: linalg.solve(_f64(3, 3), _f64(3, 3).float()), TypeError, r"linalg.solve: expected A and B to have the same dtype"),
    (lambda: linalg.solve_triangular(_f64(2, 3, 3), _f64(4, 3, 1), upper=True), ValueError, r"linalg.solve_triangular: the batch dimensions"),
    (lambda: linalg.lstsq(_f64(2, 5, 3), _f64(3, 5, 1)), ValueError, r"linalg.lstsq: the batch dimensions"),
    (lambda: linalg.lstsq(_f64(5, 3), _f64(5, 1), driver="gelsx"), ValueError, r"linalg.lstsq: driver must be one of"),
    (lambda: linalg.matrix_norm(_f64(3, 3), ord=3), ValueError, r"linalg.matrix_norm: order 3 not supported"),
    (lambda: linalg.vector_norm(_f64(3, 3), ord="fro"), ValueError, r"linalg.vector_norm: ord must be a number"),
    (lambda: linalg.norm(_f64(2, 3, 3), ord=2), ValueError, r"linalg.norm: if dim is not specified but ord is, the input must be 1-D or 2-D"),
    (lambda: linalg.norm(_f64(3, 3), ord="nuc", dim=0), ValueError, r"linalg.norm: ord 'nuc' is a matrix norm"),
    (lambda: ag.cholesky_solve(_f64(4, 2), _f64(3, 3)), ValueError, r"cholesky_solve: input of shape \(4, 2\) needs 3 rows"),
    (lambda: linalg.qr(_f64(3, 3), mode="full"), ValueError, r"linalg.qr: mode must be"),
    (lambda: linalg.eigh(_f64(3, 3), UPLO="X"), ValueError, r"linalg.eigh: UPLO must be 'L' or 'U'"),
    (lambda: linalg.matrix_power(_f64(3, 3), 1.5), TypeError, r"linalg.matrix_power: n must be an integer"),
    (lambda: linalg.cross(_f64(2, 4), _f64(2, 4)), ValueError, r"cross: inputs dimension -1 must have length 3"),
    (lambda: linalg.multi_dot([_f64(2, 3)]), ValueError, r"linalg.multi_dot: expected at least 2"),
    (lambda: linalg.multi_dot([_f64(2, 3), _f64(4, 2)]), ValueError, r"linalg.multi_dot: tensors 0 and 1 cannot be multiplied"),
    (lambda: linalg.inv(ag.tensor(SINGULAR)), linalg.LinAlgError, r"linalg.inv: \(Batch element 1\): the input matrix is singular"),
    (lambda: linalg.solve(ag.tensor(SINGULAR), _f64(3, 1)), linalg.LinAlgError, r"linalg.solve: \(Batch element 1\): .*singular"),
    (lambda: linalg.inv(ag.zeros(3, 3, dtype=ag.float64)), linalg.LinAlgError, r"linalg.inv: the input matrix is singular"),
    (lambda: linalg.cholesky(ag.tensor(NOT_PD)), linalg.LinAlgError, r"linalg.cholesky: \(Batch element 2\): the input is not positive-definite"),
])
def test_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_linalg_error_is_a_runtime_error():
    assert issubclass(linalg.LinAlgError, RuntimeError)


def _cofactor_matrix(a):
    """adj(A)^T by minors: C_ij = (-1)^(i+j) det(A without row i and column j)."""
    n = a.shape[0]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                      for j in range(n)] for i in range(n)])


@pytest.mark.parametrize("matrix", [np.diag([1.0, 2.0, 0.0]),
                                    np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.5, 1.0, 0.0]]),
                                    np.zeros((3, 3))])
def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(matrix):
    """Where LU meets a zero pivot, det's gradient comes from the SVD (PyTorch 2.13 gives
    0 there; README, known differences)."""
    x = ag.tensor(matrix, requires_grad=True)
    linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.array, _cofactor_matrix(matrix), atol=1e-12)


def _is_symmetric(a):
    return a.ndim >= 2 and a.shape[-1] == a.shape[-2] and np.array_equal(a, np.swapaxes(a, -1, -2))


# torch.func.jvp scripts a helper of its own on first use, and warns about that itself
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("f,arrays", ALL)
def test_forward_mode_tangents(f, arrays):
    """J v from each op's jvp rule (forward_ad) against torch.func.jvp.  A symmetric
    input gets a symmetric tangent: cholesky and eigh are functions of symmetric A."""
    from autograd import forward_ad
    vs = [_rng(3 + i).standard_normal(a.shape) for i, a in enumerate(arrays)]
    vs = [(v + np.swapaxes(v, -1, -2)) / 2 if _is_symmetric(a) else v for a, v in zip(arrays, vs)]
    with forward_ad.dual_level():
        outs = _outputs(f(ag, *[forward_ad.make_dual(ag.tensor(a), ag.tensor(v))
                                for a, v in zip(arrays, vs)]))
        tangents = [forward_ad.unpack_dual(o).tangent for o in outs]
    _, ref_tangents = torch.func.jvp(lambda *xs: tuple(_outputs(f(torch, *xs))),
                                     tuple(torch.tensor(a) for a in arrays),
                                     tuple(torch.tensor(v) for v in vs))
    for t, r in zip(tangents, ref_tangents):
        want = r.numpy(force=True)
        np.testing.assert_allclose(np.zeros_like(want) if t is None else t.array, want,
                                   rtol=1e-7, atol=1e-9)


def test_pinv_with_a_tolerance_per_matrix():
    """atol as a tensor: the second matrix loses its smallest singular value (1.24).  The
    values are PyTorch's; the gradient is the derivative of that truncated pseudo-inverse
    (gradcheck), where PyTorch's VJP, the formula for a fixed-rank A+, differs (README)."""
    a = full_rank((2, 4, 3), 78)
    tol = [0.1, 1.5]
    ours = linalg.pinv(ag.tensor(a), atol=ag.tensor(tol, dtype=ag.float64))
    ref = torch.linalg.pinv(torch.tensor(a), atol=torch.tensor(tol, dtype=torch.float64))
    np.testing.assert_allclose(ours.array, ref.numpy(), rtol=1e-10, atol=1e-12)
    x = ag.tensor(a, requires_grad=True)
    assert ag.gradgradcheck(lambda m: linalg.pinv(m, atol=ag.tensor(tol, dtype=ag.float64)), [x])


# -- the triangular solve's two paths: SciPy's trsm (the optional extra) and NumPy's LU --
from autograd.ops import solve as solve_module  # noqa: E402


def _trsm_paths():
    """NumPy's path and SciPy's (the test environment installs the extra: tools/test.sh)."""
    import scipy.linalg
    return [None, scipy.linalg.solve_triangular]


@pytest.mark.parametrize("upper,unit", [(True, False), (False, False), (True, True), (False, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_triangular_solve_paths_agree(upper, unit, dtype):
    a = plain((2, 1, 5, 5), 80).astype(dtype) + 4 * np.eye(5, dtype=dtype)
    b = plain((3, 5, 2), 81).astype(dtype)
    t = (np.triu(a, 1 if unit else 0) if upper else np.tril(a, -1 if unit else 0)) \
        + (np.eye(5, dtype=dtype) if unit else 0)
    want = np.linalg.solve(t.astype(np.float64), b.astype(np.float64))
    for trsm in _trsm_paths():
        got = solve_module.triangular_solve(a, b, upper, unit, trsm)
        assert got.dtype == dtype and got.shape == (2, 3, 5, 2)
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 0)


@pytest.mark.parametrize("path", ["scipy", "numpy"])
def test_triangular_solve_paths_through_the_ops(path, monkeypatch):
    """solve_triangular and cholesky (whose VJP solves triangles) give PyTorch's values
    and gradients on either path; a zero on a diagonal names the batch element."""
    trsm = _trsm_paths()[1 if path == "scipy" else 0]
    monkeypatch.setattr(solve_module, "_SCIPY", [trsm])
    for f, arrays in [(lambda t, A, B: t.linalg.solve_triangular(A, B, upper=False, left=False),
                       [square((2, 3, 3), 82), plain((4, 3), 83)]),
                      (lambda t, A: t.linalg.cholesky(A), [spd((2, 4, 4), 84)])]:
        ours, outs, theirs, refs = _both(f, arrays)
        np.testing.assert_allclose(outs[0].array, refs[0].detach().numpy(), rtol=1e-10)
        w = _weights(refs, 5)
        for a, b in zip(ag.grad(_loss(outs, w, ag), ours),
                        torch.autograd.grad(_loss(refs, w, torch), theirs)):
            np.testing.assert_allclose(a.array, b.numpy(), rtol=1e-9, atol=1e-12)
    singular = np.stack([np.eye(3), np.diag([1.0, 0.0, 1.0])])
    with pytest.raises(linalg.LinAlgError, match=r"linalg.solve_triangular: \(Batch element 1\)"):
        linalg.solve_triangular(ag.tensor(singular), ag.ones(3, 1, dtype=ag.float64), upper=True)
