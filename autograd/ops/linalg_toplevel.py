"""PyTorch's top-level linear-algebra functions, most of them older spellings of
torch.linalg's: cholesky, cholesky_inverse, lu, lu_solve, lu_unpack, ormqr, pinverse,
qr, svd (U, S, V with V not Vh, some=, compute_uv=), triangular_solve; each a thin
composition of the linalg ops (and a Tensor method where PyTorch has one)."""
from typing import NamedTuple

import numpy as np

from ..creation import eye, zeros
from ..tensor import Tensor, tensor_method
from .batching import values_of
from .decompositions import SVD, QR, Cholesky, _sym, _symmetric_samples, cholesky as linalg_cholesky
from .decompositions import pinv, qr as linalg_qr, square_like, svd as linalg_svd, svdvals
from .linalg_errors import check_matrix, check_square
from .linalg_more import apply_reflectors, check_reflectors, reflectors
from .lu import (LUFactor, PivotsToPermutation, _lu_samples, _lu_solve_samples, lu_factor_ex,
                 lu_reference, lu_solve as linalg_lu_solve, lu_solve_reference, raise_singular,
                 unpack, unpack_reference)
from .registry import SampleInput, make, op
from .solve import (Solve, SolveTriangular, _tri_solve_ref, cholesky_solve, solve_triangular,
                    square_matrices)


@op(Cholesky, samples=_symmetric_samples, ref=lambda x: np.linalg.cholesky(_sym(x)),
    name="cholesky_of_symmetric")
def _cholesky_of_symmetric(x):
    return cholesky(_sym(x))


def cholesky(input, upper=False):
    """torch.cholesky: linalg.cholesky's factor (deprecated in PyTorch for it)."""
    check_square("cholesky", input, "input")
    return linalg_cholesky(input, upper=upper)


tensor_method(cholesky, name="cholesky")


def _triangular_factor(rng, shape, upper):
    L = make(rng, shape, 0.2, 1.0, requires_grad=False)
    L.array[...] = np.tril(L.array) + 2 * np.eye(shape[-1])
    if upper:
        L.array[...] = np.swapaxes(L.array, -1, -2).copy()
    return L.requires_grad_()


def _cholesky_inverse_samples(rng):
    for shape, upper in (((3, 3), False), ((2, 3, 3), True), ((1, 1), False)):
        yield SampleInput((_triangular_factor(rng, shape, upper),), dict(upper=upper),
                          f"{shape}-upper={upper}")


def _cholesky_inverse_ref(l, upper=False):
    l = np.swapaxes(l, -1, -2) if upper else l
    return np.linalg.inv(l @ np.swapaxes(l, -1, -2))


@op(Solve, samples=_cholesky_inverse_samples, ref=_cholesky_inverse_ref, method=True)
def cholesky_inverse(input, upper=False):
    """A^{-1} for A = L L^T given its Cholesky factor L = input (A = U^T U if upper):
    cholesky_solve of the identity, so it shares that op's rule: A is formed from all of
    input, as PyTorch's gradient is (README)."""
    check_square("cholesky_inverse", input, "input")
    return cholesky_solve(eye(input.shape[-1], dtype=input.dtype), input, upper)


def _torch_lu_ref(a, pivot=True, get_infos=False):
    return lu_reference(a, pivot)


@op(LUFactor, samples=_lu_samples, ref=_torch_lu_ref, name="lu", method=True, output_index=0)
def lu(A, pivot=True, get_infos=False):
    """torch.lu: (LU, pivots), or (LU, pivots, infos) with get_infos=True; without it a
    singular A raises LinAlgError (PyTorch's check_errors=not get_infos)."""
    LU, pivots, info = lu_factor_ex(A, pivot=pivot)
    if get_infos:
        return LU, pivots, info
    raise_singular("lu", info)
    return LU, pivots


def _torch_lu_solve_samples(rng):
    for s in _lu_solve_samples(rng):
        if not s.kwargs:
            LU, pivots, b = s.args
            yield SampleInput((b, LU, pivots), {}, s.name)


@op(LUFactor, samples=_torch_lu_solve_samples, name="lu_solve", method=True,
    ref=lambda b, lu_, piv: lu_solve_reference(lu_, piv, b))
def lu_solve(b, LU_data, LU_pivots):
    """torch.lu_solve: X with A X = b, A given by lu_factor; linalg.lu_solve(LU, pivots, B)."""
    return linalg_lu_solve(LU_data, LU_pivots, b)


class LUUnpackResult(NamedTuple):
    P: Tensor
    L: Tensor
    U: Tensor


def _lu_unpack_samples(rng):
    for s in _lu_samples(rng):
        if not s.kwargs:
            LU, pivots = lu_factor_ex(s.args[0].detach())[:2]
            yield SampleInput((LU.requires_grad_(), pivots), {}, s.name)
    yield SampleInput((LU.detach().requires_grad_(), pivots), dict(unpack_pivots=False),
                      "no-pivots")


@op(LUFactor, PivotsToPermutation, samples=_lu_unpack_samples, ref=unpack_reference,
    name="lu_unpack")
def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """(P, L, U) with A = P L U from lu_factor's (LU, pivots); a part not asked for is an
    empty tensor, as PyTorch."""
    name = "lu_unpack"
    check_matrix(name, LU_data, "LU_data")
    k = min(LU_data.shape[-2:])
    if not isinstance(LU_pivots, Tensor) or LU_pivots.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected LU_pivots to be an integer tensor (from lu_factor)")
    if tuple(LU_pivots.shape) != tuple(LU_data.shape[:-2]) + (k,):
        raise ValueError(f"{name}: LU_pivots of shape {tuple(LU_pivots.shape)} do not match "
                         f"LU_data of shape {tuple(LU_data.shape)}; expected "
                         f"{tuple(LU_data.shape[:-2]) + (k,)}")
    p, m = values_of(LU_pivots), LU_data.shape[-2]
    if p.size and (p.min() < 1 or p.max() > m):
        raise ValueError(f"{name}: LU_pivots must be row numbers from 1 to {m}, got values from "
                         f"{p.min()} to {p.max()}")
    return LUUnpackResult(*unpack(LU_data, LU_pivots, unpack_data, unpack_pivots))


# -- Householder products ----------------------------------------------------------------
def _ormqr_samples(rng):
    for shape, k, other, kw in (((4, 3), 3, (4, 2), {}), ((4, 2), 2, (4, 3), dict(transpose=True)),
                                ((3, 3), 2, (2, 3), dict(left=False)),
                                ((2, 3, 2), 2, (2, 4, 3), dict(left=False, transpose=True))):
        yield SampleInput((make(rng, shape, -1.0, 1.0), make(rng, shape[:-2] + (k,), 0.5, 1.5),
                           make(rng, other)), kw, f"{shape}-{other}-{'-'.join(kw)}")


def _ormqr_ref(a, tau, c, left=True, transpose=False):
    mn = a.shape[-2]
    q = np.broadcast_to(np.eye(mn), a.shape[:-2] + (mn, mn)).copy()
    for i in range(tau.shape[-1]):
        v = np.zeros(a.shape[:-2] + (mn,))
        v[..., i] = 1.0
        v[..., i + 1:] = a[..., i + 1:, i]
        q = q @ (np.eye(mn) - tau[..., i, None, None] * v[..., :, None] * v[..., None, :])
    q = np.swapaxes(q, -1, -2) if transpose else q
    return q @ c if left else c @ q


@op(samples=_ormqr_samples, ref=_ormqr_ref, method=True)
def ormqr(input, tau, other, left=True, transpose=False):
    """Q other (left) or other Q, Q^T with transpose=True, for Q = H_1 ... H_k the full
    product of the Householder reflectors in (input, tau), as geqrf leaves them: what
    LAPACK's ormqr computes, without forming Q."""
    name = "ormqr"
    check_matrix(name, other, "other")
    rows = other.shape[-2] if left else other.shape[-1]
    check_reflectors(name, input, tau, rows)
    if tuple(other.shape[:-2]) != tuple(input.shape[:-2]):
        raise ValueError(f"{name}: expected the batch dimensions of other {tuple(other.shape)} to "
                         f"equal those of input {tuple(input.shape)}")
    return apply_reflectors(reflectors(input, tau.shape[-1]), tau, other, left, transpose)


# -- pinverse, qr, svd, triangular_solve ---------------------------------------------------
def _pinverse_samples(rng):
    for shape in ((4, 3), (3, 5), (2, 3, 3)):
        yield SampleInput((square_like(rng, shape),), {}, f"{shape}")


@op(SVD, samples=_pinverse_samples, ref=lambda a, rcond=1e-15: np.linalg.pinv(a, rcond=rcond),
    method=True)
def pinverse(input, rcond=1e-15):
    """torch.pinverse: linalg.pinv with rtol=rcond (singular values below rcond * s_max
    count as zero)."""
    return pinv(input, rtol=rcond)


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


def _qr_samples(rng):
    for shape, some in (((4, 3), True), ((2, 3, 3), True), ((3, 5), True), ((2, 4), False)):
        yield SampleInput((square_like(rng, shape),), dict(some=some), f"{shape}-some={some}")


def _qr_ref(a, some=True):
    return tuple(np.linalg.qr(a, "reduced" if some else "complete"))


@op(QR, samples=_qr_samples, ref=_qr_ref, name="qr", method=True)
def qr(input, some=True):
    """torch.qr: linalg.qr with mode 'reduced' (some=True) or 'complete'."""
    return QRResult(*linalg_qr(input, mode="reduced" if some else "complete"))


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    V: Tensor


def svd(input, some=True, compute_uv=True):
    """torch.svd: (U, S, V) with input = U diag(S) V^T -- V, not linalg.svd's Vh.
    some=True gives k = min(m, n) columns of U and V, False all; compute_uv=False gives
    U and V filled with zeros, (m, m) and (n, n), as PyTorch."""
    name = "svd"
    check_matrix(name, input, "input")
    if not compute_uv:
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        return SVDResult(zeros(*batch, m, m, dtype=input.dtype), svdvals(input),
                         zeros(*batch, n, n, dtype=input.dtype))
    U, S, Vh = linalg_svd(input, full_matrices=not some)
    return SVDResult(U, S, Vh.mT)


tensor_method(svd, name="svd")


def _svd_samples(rng):
    for shape, kw in (((4, 3), {}), ((2, 3, 3), {}), ((3, 4), dict(some=False)),
                      ((3, 2), dict(compute_uv=False))):
        t = make(rng, shape, -0.5, 0.5, requires_grad=False)
        k = min(shape[-2:])
        t.array[..., range(k), range(k)] += 1.0 + 1.5 * np.arange(k)    # distinct values
        yield SampleInput((t.requires_grad_(),), kw, f"{shape}-{'-'.join(kw)}")


def _svd_gauge_ref(a, some=True, compute_uv=True):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    if not compute_uv:
        return (s,)
    return s, u * u, np.swapaxes(vh, -1, -2) ** 2


@op(SVD, samples=_svd_samples, ref=_svd_gauge_ref, name="svd_gauge")
def _svd_gauge(x, some=True, compute_uv=True):
    """The sweep's view of torch.svd: values and the squared first k columns of U and V
    (invariant under the sign of each singular pair)."""
    U, S, V = svd(x, some, compute_uv)
    if not compute_uv:
        return (S,)
    k = S.shape[-1]
    return S, U[..., :, :k] ** 2, V[..., :, :k] ** 2


class TriangularSolveResult(NamedTuple):
    solution: Tensor
    cloned_coefficient: Tensor


def _triangular_solve_samples(rng):
    for kw in ({}, dict(upper=False), dict(transpose=True), dict(upper=False, unitriangular=True)):
        yield SampleInput((make(rng, (3, 2)), square_matrices(rng, (3, 3))), kw,
                          "-".join(kw) or "upper")
    yield SampleInput((make(rng, (2, 3, 1)), square_matrices(rng, (3, 3))), dict(transpose=True),
                      "batched")


def _triangular_solve_ref(b, a, upper=True, transpose=False, unitriangular=False):
    t, up = (np.swapaxes(a, -1, -2), not upper) if transpose else (a, upper)
    return _tri_solve_ref(t, b, upper=up, unitriangular=unitriangular), a


@op(SolveTriangular, samples=_triangular_solve_samples, ref=_triangular_solve_ref, method=True)
def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """torch.triangular_solve: (X, a copy of A) with T X = b, T the upper (or lower)
    triangle of A, or T^T X = b with transpose=True."""
    T, upper_ = (A.mT, not upper) if transpose else (A, upper)
    X = solve_triangular(T, b, upper=upper_, unitriangular=unitriangular)
    return TriangularSolveResult(X, A.clone())
