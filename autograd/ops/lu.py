"""The LU factorization and what is built on it: linalg.lu_factor, lu_factor_ex, lu,
lu_solve, and the *_ex forms of solve and inv, which report a singular matrix in
``info`` instead of raising (README, "Linear algebra").

Forward is LAPACK's getrf (partial pivoting) through SciPy's batched ``lu_factor``
where the optional extra 'scipy' is installed (>= 1.15), else ``lu_reference`` below,
the same algorithm in NumPy, vectorised over the batch; tests hold the two to each
other.  Pivots are LAPACK's: 1-based int32 row interchanges, applied in order, as
PyTorch returns them.  ``pivot=False`` (no row interchanges) runs the NumPy path; on
the CPU PyTorch refuses it, here it works.

One primitive, LUFactor: A (m x n) -> packed LU (L below the diagonal, unit diagonal
implied; U on and above it), pivots and LAPACK's info.  Its VJP is PyTorch's (linalg_lu_backward in
FunctionsManual.cpp), written with triangular solves so it differentiates again; P, L,
U and lu_solve are compositions of it, so they inherit its rules.
"""
import warnings
from typing import NamedTuple

import numpy as np

from ..creation import eye
from ..forward_ad import derived_jvp
from ..function import Primitive
from ..kernels.threads import adopt_loaded_blas
from ..tensor import Tensor
from .batching import batch_as_leading_dim_rule, values_of
from .binary import where
from .linalg_errors import LinAlgError, check_matrix, check_square
from .registry import SampleInput, make, op
from .shape import cat
from .solve import (Inv, Solve, _check_system, _solve_ref, check_matrix_system, inv, solve,
                    solve_triangular, square_matrices, square_samples)


# -- the factorization on arrays ------------------------------------------------------
def lu_reference(a, pivot=True):
    """getrf in NumPy, batched: for each column, the row of largest |a| at or below the
    diagonal (the first on ties, as LAPACK's idamax) is swapped up, the column below is
    divided by the pivot (skipped where it is 0, as LAPACK's getf2) and the trailing
    block gets the rank-1 update.  Returns (lu, pivots)."""
    *batch, m, n = a.shape
    k = min(m, n)
    lu = a.reshape(int(np.prod(batch)), m, n).copy()
    pivots = np.tile(np.arange(1, k + 1, dtype=np.int32), (lu.shape[0], 1))
    rows = np.arange(lu.shape[0])
    for j in range(k):
        if pivot:
            p = j + np.argmax(np.abs(lu[:, j:, j]), axis=1)
            pivots[:, j] = p + 1
            top = lu[rows, j].copy()
            lu[rows, j] = lu[rows, p]
            lu[rows, p] = top
        d = lu[:, j, j]
        nonzero = d != 0
        below = lu[:, j + 1:, j]
        lu[:, j + 1:, j] = np.where(nonzero[:, None], below / np.where(nonzero, d, 1)[:, None],
                                    below)
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j, None] * lu[:, j, None, j + 1:]
    return lu.reshape(a.shape), pivots.reshape(*batch, k)


_SCIPY = []


def _scipy_getrf():
    """scipy.linalg.lu_factor, or None without SciPy or with one that predates batches
    (1.15); looked up on first use, so importing autograd never needs SciPy."""
    if not _SCIPY:
        try:
            from scipy.linalg import lu_factor as getrf
            getrf(np.eye(2)[None], check_finite=False)
        except (ImportError, ValueError):
            getrf = None
        adopt_loaded_blas()          # SciPy's own OpenBLAS follows set_num_threads
        _SCIPY.append(getrf)
    return _SCIPY[0]


def lu_arrays(a, pivot=True, getrf=None):
    """(lu, pivots) of a batch of (m, n) arrays: SciPy's getrf when given (and the
    input is not empty, which SciPy refuses), else lu_reference."""
    if getrf is None or not pivot or a.size == 0:
        return lu_reference(a, pivot)
    with warnings.catch_warnings():        # SciPy warns on a zero pivot; info reports it
        warnings.simplefilter("ignore")
        lu, piv = getrf(a, check_finite=False)
    return lu, (piv + 1).astype(np.int32)


def lu_info(lu):
    """LAPACK's info: the (1-based) index of the first exact zero on U's diagonal, 0 if
    there is none."""
    zero = np.diagonal(lu, axis1=-2, axis2=-1) == 0
    if not zero.shape[-1]:
        return np.zeros(zero.shape[:-1], np.int32)
    return np.where(zero.any(-1), zero.argmax(-1) + 1, 0).astype(np.int32)


def permutation(pivots, m):
    """perm with A[perm] = L U, i.e. P^T A = L U: LAPACK's interchanges applied in turn."""
    batch, k = pivots.shape[:-1], pivots.shape[-1]
    count = int(np.prod(batch))
    perm = np.tile(np.arange(m), (count, 1))
    swaps = pivots.reshape(count, k).astype(np.int64) - 1
    rows = np.arange(perm.shape[0])
    for j in range(k):
        p = swaps[:, j]
        top = perm[rows, j].copy()
        perm[rows, j] = perm[rows, p]
        perm[rows, p] = top
    return perm.reshape(*batch, m)


class PivotsToPermutation(Primitive):
    """P (m x m, of ``dtype``) with A = P L U, P[perm[i], i] = 1, from LAPACK's pivots.  A
    primitive rather than a read of the pivots' values, so that vmap batches it; the
    pivots are integers, so P is a constant: no gradient, no tangent."""
    batch_rule = batch_as_leading_dim_rule

    @staticmethod
    def forward(ctx, pivots, m, dtype):
        return np.swapaxes(np.eye(m, dtype=dtype)[permutation(pivots, m)], -1, -2).copy()

    @staticmethod
    def backward(ctx, g):
        return None, None, None

    @staticmethod
    def jvp(ctx, *tangents):
        return None


def permutation_matrix(pivots, m, dtype):
    """P (a constant Tensor) from the pivots (a Tensor)."""
    return PivotsToPermutation.apply(pivots, m, np.dtype(dtype))


# -- the primitive ----------------------------------------------------------------------
class LUFactor(Primitive):
    jvp = derived_jvp
    batch_rule = batch_as_leading_dim_rule       # getrf maps over leading dims already

    @staticmethod
    def forward(ctx, a, pivot):
        lu, piv = lu_arrays(a, pivot, _scipy_getrf())
        ctx.save_for_backward(lu, piv)
        ctx.pivot = pivot
        return lu, piv, lu_info(lu)          # info here, so that vmap batches it too

    @staticmethod
    def backward(ctx, glu, _gpivots, _ginfo):
        lu, piv = ctx.saved_tensors
        return lu_backward(glu, lu, piv, ctx.pivot), None


def lu_backward(glu, lu, pivots, pivot):
    """PyTorch's linalg_lu_backward on the packed factor, gL = tril(gLU, -1), gU = triu(gLU);
    the triangular solves read L (unit diagonal) or U straight from the packed LU.
      square: dA = P L^{-T} [tril(L^T gL, -1) + triu(gU U^T)] U^{-T}
      wide (m < n, U = [U1 U2]): dA = P L^{-T} [tril(L^T gL - gU U^T, -1) U1^{-T} + gU1 | gU2]
      tall (m > n, L = [L1; L2]): dA = P [L1^{-T} triu(gU U^T - L^T gL) + gL1 ; gL2] U^{-T}"""
    m, n = lu.shape[-2:]
    k = min(m, n)
    L = lu[..., :, :k].tril(-1) + eye(m, k, dtype=lu.dtype)
    U = lu[..., :k, :].triu()
    gL, gU = glu[..., :, :k].tril(-1), glu[..., :k, :].triu()
    square_lu = lu[..., :k, :k]            # L1 below its diagonal, U1 on and above it
    if m == n:
        inner = (L.mT @ gL).tril(-1) + (gU @ U.mT).triu()
        ga = solve_triangular(square_lu.mT, inner, upper=False, left=False)
        ga = solve_triangular(square_lu.mT, ga, upper=True, unitriangular=True)
    elif m < n:
        inner = solve_triangular(square_lu.mT, (L.mT @ gL - gU @ U.mT).tril(-1), upper=False,
                                 left=False)
        ga = cat([inner + gU[..., :, :k], gU[..., :, k:]], -1)
        ga = solve_triangular(square_lu.mT, ga, upper=True, unitriangular=True)
    else:
        inner = solve_triangular(square_lu.mT, (gU @ U.mT - L.mT @ gL).triu(), upper=True,
                                 unitriangular=True)
        ga = cat([inner + gL[..., :k, :], gL[..., k:, :]], -2)
        ga = solve_triangular(square_lu.mT, ga, upper=False, left=False)
    return permutation_matrix(pivots, m, lu.dtype) @ ga if pivot else ga


# -- the public forms --------------------------------------------------------------------
class LUFactorResult(NamedTuple):
    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    LU: Tensor
    pivots: Tensor
    info: Tensor


class PLUResult(NamedTuple):
    P: Tensor
    L: Tensor
    U: Tensor


def _lu_samples(rng):
    for shape in ((3, 3), (2, 3, 3), (4, 2), (2, 3, 5), (1, 1)):
        yield SampleInput((make(rng, shape),), {}, f"{shape}")
    yield SampleInput((make(rng, (3, 3), noncontig=True),), {}, "noncontig")
    yield SampleInput((square_matrices(rng, (3, 3)),), dict(pivot=False), "no-pivoting")


def _lu_factor_ex_ref(a, pivot=True, check_errors=False):
    lu, piv = lu_reference(a, pivot)
    return lu, piv, lu_info(lu)


def _factor(name, A, pivot):
    check_matrix(name, A)
    if not isinstance(pivot, bool):
        raise TypeError(f"{name}: pivot must be a bool, got {pivot!r}")
    return LUFactor.apply(A, pivot)        # (LU, pivots, info)


@op(LUFactor, samples=_lu_samples, ref=_lu_factor_ex_ref, name="linalg.lu_factor_ex",
    output_index=0)
def lu_factor_ex(A, *, pivot=True, check_errors=False):
    """(LU, pivots, info) of A (m x n) = P L U: L (m x k, unit diagonal) below the
    diagonal of LU, U (k x n) on and above it, k = min(m, n).  info is LAPACK's: the
    index (from 1) of the first zero on U's diagonal, 0 if none; check_errors=True
    raises LinAlgError instead."""
    name = "linalg.lu_factor_ex"
    lu, piv, info = _factor(name, A, pivot)
    if check_errors:
        raise_singular(name, info)
    return LUFactorExResult(lu, piv, info)


def raise_singular(name, info):
    """LinAlgError naming the first matrix whose info (a Tensor, or an array) is not 0."""
    info = values_of(info) if isinstance(info, Tensor) else info      # a check: vmap allows it
    bad = np.flatnonzero(info)
    if bad.size:
        where_ = f"(Batch element {bad[0]}): " if info.ndim else ""
        i = info.flat[bad[0]]
        raise LinAlgError(f"{name}: {where_}U[{i}, {i}] is zero: the "
                          "input matrix is singular, so a solve with it would divide by zero "
                          "(linalg.lu and linalg.lu_factor_ex factor it anyway)")


@op(LUFactor, samples=_lu_samples, ref=lambda a, pivot=True: lu_reference(a, pivot),
    name="linalg.lu_factor", output_index=0)
def lu_factor(A, *, pivot=True):
    """(LU, pivots) of A as lu_factor_ex; LinAlgError if U has a zero on its diagonal (a
    solve with it would divide by zero), as PyTorch."""
    name = "linalg.lu_factor"
    lu, piv, info = _factor(name, A, pivot)
    raise_singular(name, info)
    return LUFactorResult(lu, piv)


def unpack(LU, pivots, unpack_data=True, unpack_pivots=True):
    """(P, L, U) from the packed factor; the parts not asked for are empty."""
    m, n = LU.shape[-2:]
    k = min(m, n)
    empty = Tensor._make(np.empty((0,), LU.dtype))
    P = permutation_matrix(pivots, m, LU.dtype) if unpack_pivots else empty
    if not unpack_data:
        return PLUResult(P, empty, empty)
    L = LU[..., :, :k].tril(-1) + eye(m, k, dtype=LU.dtype)
    return PLUResult(P, L, LU[..., :k, :].triu())


def unpack_reference(lu_, piv, unpack_data=True, unpack_pivots=True):
    """unpack on arrays: (P, L, U), the parts not asked for empty."""
    m, n = lu_.shape[-2:]
    k = min(m, n)
    empty = np.empty((0,))
    P = np.swapaxes(np.eye(m)[permutation(piv, m)], -1, -2) if unpack_pivots else empty
    if not unpack_data:
        return P, empty, empty
    return P, np.tril(lu_[..., :, :k], -1) + np.eye(m, k), np.triu(lu_[..., :k, :])


def _plu_ref(a, pivot=True):
    return unpack_reference(*lu_reference(a, pivot), unpack_pivots=pivot)


@op(LUFactor, PivotsToPermutation, samples=_lu_samples, ref=_plu_ref, name="linalg.lu")
def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U (A m x n; P m x m, L m x k unit lower, U k x n upper).
    A singular A factors too (U has a zero on its diagonal).  pivot=False: P is empty."""
    return unpack(*_factor("linalg.lu", A, pivot)[:2], unpack_pivots=pivot)


def check_pivots(name, LU, pivots):
    check_square(name, LU, "LU")
    if not isinstance(pivots, Tensor) or pivots.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected pivots to be an integer tensor (from lu_factor), got "
                        f"{getattr(pivots, 'dtype', type(pivots).__name__)}")
    n = LU.shape[-1]
    if tuple(pivots.shape) != tuple(LU.shape[:-1]):
        raise ValueError(f"{name}: pivots of shape {tuple(pivots.shape)} do not match LU of shape "
                         f"{tuple(LU.shape)}; expected {tuple(LU.shape[:-1])}")
    p = values_of(pivots)                  # a check of every sample's pivots (vmap allows it)
    if p.size and (p.min() < 1 or p.max() > n):
        raise ValueError(f"{name}: pivots must be row numbers from 1 to {n} (LAPACK's, as "
                         f"lu_factor returns them), got values from {p.min()} to {p.max()}")


def _lu_solve_samples(rng):
    def factored(shape):
        lu_, piv = lu_factor(square_matrices(rng, shape))
        return lu_.detach().requires_grad_(), piv
    for shape, b, kw in [((3, 3), (3, 2), {}), ((2, 3, 3), (3, 1), {}), ((3, 3), (2, 3, 2), {}),
                         ((3, 3), (3, 2), dict(adjoint=True)), ((3, 3), (2, 3), dict(left=False)),
                         ((2, 3, 3), (2, 3), dict(left=False, adjoint=True))]:
        yield SampleInput((*factored(shape), make(rng, b)), kw, f"{shape}-{b}-{'-'.join(kw)}")


def lu_solve_reference(lu_, piv, b, left=True, adjoint=False):
    P, L, U = unpack_reference(lu_, piv)
    a = P @ L @ U
    a = np.swapaxes(a, -1, -2) if adjoint else a
    return _solve_ref(a, b, left)


@op(LUFactor, samples=_lu_solve_samples, ref=lu_solve_reference, name="linalg.lu_solve")
def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """X with A X = B (left=False: X A = B; adjoint=True: A^T in place of A), A = P L U
    given as lu_factor returns it; batch dims broadcast.  Two triangular solves and a
    permutation, so the gradient reaches LU (its two triangles) and B."""
    name = "linalg.lu_solve"
    check_matrix_system(name, LU, B, left, "LU")
    check_pivots(name, LU, pivots)
    P = permutation_matrix(pivots, LU.shape[-1], LU.dtype)
    lower = dict(upper=False, unitriangular=True)
    if not left:        # X A = B  <=>  A^T X^T = B^T
        return lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT
    if adjoint:         # A^T X = B: X = P L^{-T} U^{-T} B
        y = solve_triangular(LU.mT, B, upper=False)
        return P @ solve_triangular(LU.mT, y, upper=True, unitriangular=True)
    y = solve_triangular(LU, P.mT @ B, **lower)              # X = U^{-1} L^{-1} P^T B
    return solve_triangular(LU, y, upper=True)


# -- solve and inv that report singular matrices ------------------------------------------
class SolveExResult(NamedTuple):
    result: Tensor
    info: Tensor


class InvExResult(NamedTuple):
    inverse: Tensor
    info: Tensor


def _singular_info(A):
    """getrf's info of each matrix of A (an array): 0, or where U's diagonal is zero."""
    return lu_info(lu_arrays(A, True, _scipy_getrf())[0])


def regular_part(A):
    """(A with each singular matrix replaced by I, info, singular mask as a constant
    Tensor of A's batch shape plus two unit dims): what the *_ex ops solve with, so the
    regular matrices keep their values and gradients."""
    info = _singular_info(A.array)
    singular = info != 0
    mask = Tensor._make(singular[..., None, None])
    if singular.any():
        A = where(mask, eye(A.shape[-1], dtype=A.dtype), A)
    return A, info, mask


def _with_nan(x, mask, info, name, check_errors):
    if check_errors:
        raise_singular(name, info)
    return where(mask, float("nan"), x) if info.any() else x


def _solve_ex_ref(a, b, left=True, check_errors=False):
    return _solve_ref(a, b, left), np.zeros(a.shape[:-2], np.int32)


def _solve_ex_samples(rng):
    yield SampleInput((square_matrices(rng, (2, 3, 3)), make(rng, (3, 2))), {}, "batched")
    yield SampleInput((square_matrices(rng, (3, 3)), make(rng, (3,))), {}, "vector")
    yield SampleInput((square_matrices(rng, (3, 3)), make(rng, (2, 3))), dict(left=False), "right")


@op(Solve, samples=_solve_ex_samples, ref=_solve_ex_ref, name="linalg.solve_ex", output_index=0)
def solve_ex(A, B, *, left=True, check_errors=False):
    """(result, info): solve's result where A is regular; where A is singular, info is
    LAPACK's (the first zero on U's diagonal) and that matrix's result is nan (PyTorch
    returns LAPACK's partial work, inf/nan).  check_errors=True raises LinAlgError."""
    name = "linalg.solve_ex"
    vector = _check_system(name, A, B, left)
    A, info, mask = regular_part(A)
    x = solve(A, B, left=left)
    return SolveExResult(_with_nan(x, mask[..., 0] if vector else mask, info, name, check_errors),
                         Tensor._make(info))


def _inv_ex_ref(a, check_errors=False):
    return np.linalg.inv(a), np.zeros(a.shape[:-2], np.int32)


@op(Inv, samples=square_samples, ref=_inv_ex_ref, name="linalg.inv_ex", output_index=0)
def inv_ex(A, *, check_errors=False):
    """(inverse, info) as solve_ex: nan where A is singular, with info saying where."""
    name = "linalg.inv_ex"
    check_square(name, A)
    A, info, mask = regular_part(A)
    return InvExResult(_with_nan(inv(A), mask, info, name, check_errors), Tensor._make(info))
