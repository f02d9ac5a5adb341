"""More of torch.linalg, composed from the linear-algebra primitives (so each inherits
their VJPs, tangent rules and checks): cholesky_ex, cond, householder_product (and
the reflector products torch.ormqr uses), tensorinv, tensorsolve, vander."""
import math
from typing import NamedTuple

import numpy as np

from ..creation import eye, ones_like
from ..function import Primitive
from ..tensor import Tensor
from .batching import batch_as_leading_dim_rule, values_of
from .binary import where
from .decompositions import SVD, Cholesky, _sym, _symmetric_samples, cholesky, svdvals
from .linalg_errors import LinAlgError, check_float, check_matrix, check_square
from .lu import regular_part
from .matrix_functions import matrix_norm
from .registry import SampleInput, make, op
from .shape import stack
from .solve import Inv, Solve, inv, solve, square_matrices


# -- cholesky_ex --------------------------------------------------------------------
class CholeskyExResult(NamedTuple):
    L: Tensor
    info: Tensor


def cholesky_info(a):
    """potrf's info per matrix of a (arrays): the order of the first leading minor that
    is not positive-definite, 0 if A is.  Cholesky's column recurrence in NumPy
    (d_j = a_jj - |l_j,:j|^2 must stay > 0), batched; run only when LAPACK failed."""
    n = a.shape[-1]
    l = np.zeros_like(a)
    info = np.zeros(a.shape[:-2], np.int32)
    for j in range(n):
        d = a[..., j, j] - (l[..., j, :j] ** 2).sum(-1)
        info = np.where((info == 0) & ~(d > 0), j + 1, info).astype(np.int32)
        s = np.sqrt(np.where(d > 0, d, 1.0))
        l[..., j, j] = s
        known = (l[..., j + 1:, :j] * l[..., j, None, :j]).sum(-1)
        l[..., j + 1:, j] = (a[..., j + 1:, j] - known) / s[..., None]
    return info


class CholeskyInfo(Primitive):
    """`cholesky_info` as an op (int32, not differentiable), so that it maps over
    leading dims under vmap."""
    batch_rule = batch_as_leading_dim_rule

    @staticmethod
    def forward(ctx, a):
        info = cholesky_info(a)
        ctx.mark_non_differentiable(info)
        return info

    @staticmethod
    def backward(ctx, g):
        return None

    @staticmethod
    def jvp(ctx, da):
        return None


def _cholesky_ex_samples(rng):
    for s in _symmetric_samples(rng):
        yield s
    yield SampleInput(next(iter(_symmetric_samples(rng))).args, dict(upper=True), "upper")


@op(Cholesky, CholeskyInfo, samples=_cholesky_ex_samples,
    ref=lambda x, upper=False: np.swapaxes(np.linalg.cholesky(_sym(x)), -1, -2) if upper
    else np.linalg.cholesky(_sym(x)), name="linalg.cholesky_ex_of_symmetric")
def _cholesky_ex_of_symmetric(x, upper=False):
    """The sweep's view of cholesky_ex: the factor of the symmetric part of x."""
    return cholesky_ex(_sym(x), upper=upper).L


def cholesky_ex(A, *, upper=False, check_errors=False):
    """(L, info): cholesky's factor where A is positive-definite; where it is not, info
    is the order of the first leading minor that is not (LAPACK's potrf) and that
    matrix's factor is nan (PyTorch returns LAPACK's partial work).  check_errors=True
    raises LinAlgError instead."""
    name = "linalg.cholesky_ex"
    check_square(name, A)
    try:
        L = cholesky(A, upper=upper)
        # under vmap, every sample's factor: the fast way only where all are fine
        if not np.isnan(np.diagonal(values_of(L), axis1=-2, axis2=-1)).any():
            return CholeskyExResult(L, Tensor._make(np.zeros(A.shape[:-2], np.int32)))
    except LinAlgError:         # (NumPy's cholesky passes a nan through, LAPACK's info not)
        pass
    info = CholeskyInfo.apply(A.detach())
    if check_errors:
        values = values_of(info)
        bad = np.flatnonzero(values)
        where_ = f"(Batch element {bad[0]}): " if values.ndim else ""
        raise LinAlgError(f"{name}: {where_}The factorization could not be completed because the "
                          f"input is not positive-definite (the leading minor of order "
                          f"{values.flat[bad[0]]} is not positive-definite).")
    mask = (info != 0).unsqueeze(-1).unsqueeze(-1)
    L = cholesky(where(mask, eye(A.shape[-1], dtype=A.dtype), A), upper=upper)
    return CholeskyExResult(where(mask, float("nan"), L), info)


# -- cond ------------------------------------------------------------------------------
COND_ORDS = (None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf)


def _cond_samples(rng):
    for p in COND_ORDS:
        yield SampleInput((square_matrices(rng, (2, 3, 3)),), dict(p=p), f"p={p}")
    yield SampleInput((make(rng, (3, 5)),), {}, "wide")


def _cond_ref(a, p=None):
    return np.linalg.cond(a, p)


@op(SVD, Inv, samples=_cond_samples, ref=_cond_ref, name="linalg.cond")
def cond(A, p=None):
    """The condition number of A in the p-norm: s_max / s_min for p None or 2 (any m x n
    A), s_min / s_max for -2, else ||A||_p ||A^{-1}||_p (square A; inf where A is
    singular, as PyTorch)."""
    name = "linalg.cond"
    check_matrix(name, A)
    if p is not None and not any(p == o and type(p) is not bool for o in COND_ORDS[1:]):
        raise ValueError(f"{name}: p must be one of {COND_ORDS}, got {p!r}")
    if p in (None, 2, -2):
        s = svdvals(A)
        top, bottom = s[..., 0], s[..., -1]
        with np.errstate(divide="ignore", invalid="ignore"):      # singular: inf, as PyTorch
            return bottom / top if p == -2 else top / bottom
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name}: p={p!r} needs square matrices, got shape {tuple(A.shape)} "
                         "(p None, 2 or -2 take any m x n A)")
    regular, info, mask = regular_part(A)
    value = matrix_norm(A, p) * matrix_norm(inv(regular), p)
    return where(mask[..., 0, 0], math.inf, value) if info.any() else value


# -- Householder reflectors ---------------------------------------------------------------
def reflectors(A, k):
    """The first k Householder vectors v_i, as geqrf stores them in A: the columns of a
    unit lower-trapezoidal V, A below its diagonal and ones on it."""
    return A[..., :, :k].tril(-1) + eye(A.shape[-2], k, dtype=A.dtype)


def apply_reflectors(V, tau, C, left=True, transpose=False):
    """Q C (or Q^T C, C Q, C Q^T) with Q = H_1 H_2 ... H_k, one rank-1 update per
    reflector: H_i C = C - tau_i v_i (v_i^T C), C H_i = C - tau_i (C v_i) v_i^T."""
    k = tau.shape[-1]
    # Q C applies H_k first; Q^T C = H_k ... H_1 C applies H_1 first; the right side mirrors
    order = range(k - 1, -1, -1) if left != transpose else range(k)
    for i in order:
        v = V[..., :, i:i + 1]
        t = tau[..., i:i + 1].unsqueeze(-1)
        if left:
            C = C - (v * t) @ (v.mT @ C)
        else:
            C = C - ((C @ v) * t) @ v.mT
    return C


def check_reflectors(name, A, tau, rows):
    """A holds the reflectors (its batch dims those of tau), ``rows`` the length of each."""
    check_matrix(name, A, "input")
    if not isinstance(tau, Tensor):
        raise TypeError(f"{name}: expected tau to be a Tensor, got {type(tau).__name__}")
    check_float(name, tau)
    if tau.dtype != A.dtype:
        raise TypeError(f"{name}: expected input and tau to have the same dtype, got {A.dtype} "
                        f"and {tau.dtype}")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]) or tau.ndim < 1:
        raise ValueError(f"{name}: expected the batch dimensions of tau {tuple(tau.shape)} to be "
                         f"equal to input.shape[:-2] {tuple(A.shape[:-2])}")
    if tau.shape[-1] > A.shape[-1]:
        raise ValueError(f"{name}: input.shape[-1] ({A.shape[-1]}) must be greater than or equal "
                         f"to tau.shape[-1] ({tau.shape[-1]})")
    if A.shape[-2] != rows:
        raise ValueError(f"{name}: input of shape {tuple(A.shape)} must have {rows} rows")


def _householder_samples(rng):
    for shape, k in (((4, 3), 3), ((2, 3, 3), 2), ((3, 1), 1)):
        yield SampleInput((make(rng, shape, -1.0, 1.0), make(rng, shape[:-2] + (k,), 0.5, 1.5)), {},
                          f"{shape}-k={k}")


def _householder_ref(a, tau):
    m, n = a.shape[-2:]
    q = np.broadcast_to(np.eye(m), a.shape[:-2] + (m, m)).copy()
    for i in range(tau.shape[-1]):
        v = np.zeros(a.shape[:-2] + (m,))
        v[..., i] = 1.0
        v[..., i + 1:] = a[..., i + 1:, i]
        h = np.eye(m) - tau[..., i, None, None] * v[..., :, None] * v[..., None, :]
        q = q @ h
    return q[..., :, :n]


@op(samples=_householder_samples, ref=_householder_ref, name="linalg.householder_product")
def householder_product(input, tau):
    """The first n columns of Q = H_1 ... H_k, H_i = I - tau_i v_i v_i^T with v_i the
    i-th column of input below its diagonal and a 1 on it (geqrf's storage): what
    LAPACK's orgqr computes.  input is m x n with m >= n, tau has k <= n entries."""
    name = "linalg.householder_product"
    check_matrix(name, input, "input")
    m, n = input.shape[-2:]
    if m < n:
        raise ValueError(f"{name}: input.shape[-2] must be greater than or equal to "
                         f"input.shape[-1], got shape {tuple(input.shape)}")
    check_reflectors(name, input, tau, m)
    identity = eye(m, n, dtype=input.dtype).expand(*input.shape)
    return apply_reflectors(reflectors(input, tau.shape[-1]), tau, identity)


# -- tensor inverses and solves ---------------------------------------------------------
def _split_size(name, shape, ind, what):
    rows, cols = math.prod(shape[:ind]), math.prod(shape[ind:])
    if rows != cols:
        raise ValueError(f"{name}: expected prod(A.shape[{what}:]) == prod(A.shape[:{what}]), "
                         f"but got {cols} != {rows} (A of shape {tuple(shape)})")
    return rows


def _tensorinv_samples(rng):
    a = square_matrices(rng, (6, 6))
    yield SampleInput((a.detach().reshape(2, 3, 6).requires_grad_(),), dict(ind=2), "2x3x6")
    yield SampleInput((a.detach().reshape(6, 2, 3).requires_grad_(),), dict(ind=1), "ind=1")


@op(Inv, samples=_tensorinv_samples, ref=lambda a, ind=2: np.linalg.tensorinv(a, ind),
    name="linalg.tensorinv")
def tensorinv(A, ind=2):
    """The inverse of A read as a matrix of prod(A.shape[:ind]) rows: tensordot(result, A,
    ind) is the identity; the result has shape A.shape[ind:] + A.shape[:ind]."""
    name = "linalg.tensorinv"
    if not isinstance(ind, int) or ind <= 0:
        raise ValueError(f"{name}: expected ind to be a positive integer, got {ind!r}")
    n = _split_size(name, tuple(A.shape), ind, "ind")
    check_float(name, A)
    return inv(A.reshape(n, n)).reshape(*A.shape[ind:], *A.shape[:ind])


def _tensorsolve_samples(rng):
    a = square_matrices(rng, (6, 6))
    yield SampleInput((a.detach().reshape(2, 3, 6).requires_grad_(), make(rng, (2, 3))), {},
                      "2x3x6")
    yield SampleInput((a.detach().reshape(6, 2, 3).requires_grad_(), make(rng, (2, 3))),
                      dict(dims=(0,)), "dims")


@op(Solve, samples=_tensorsolve_samples, name="linalg.tensorsolve",
    ref=lambda a, b, dims=None: np.linalg.tensorsolve(a, b, dims))
def tensorsolve(A, B, dims=None):
    """X with tensordot(A, X, X.ndim) = B; X has shape A.shape[B.ndim:] (after the dims
    named by ``dims`` are moved to the end of A)."""
    name = "linalg.tensorsolve"
    if dims is not None:
        dims = [d % A.ndim for d in ((dims,) if isinstance(dims, int) else dims)]
        A = A.permute(*[d for d in range(A.ndim) if d not in dims], *dims)
    n = _split_size(name, tuple(A.shape), B.ndim, "B.ndim")
    if B.numel() != n:         # PyTorch compares sizes only, not A's leading dims with B's
        raise ValueError(f"{name}: B of shape {tuple(B.shape)} has {B.numel()} entries, but A of "
                         f"shape {tuple(A.shape)} has {n} rows (prod(A.shape[:B.ndim]))")
    return solve(A.reshape(n, n), B.reshape(n)).reshape(*A.shape[B.ndim:])


# -- Vandermonde ------------------------------------------------------------------------
def _vander_samples(rng):
    yield SampleInput((make(rng, (4,)),), {}, "4")
    yield SampleInput((make(rng, (2, 3)),), dict(N=5), "N=5")


def _vander_ref(x, N=None):
    rows = [np.vander(r, N, increasing=True) for r in x.reshape(-1, x.shape[-1])]
    return np.stack(rows).reshape(x.shape + rows[0].shape[-1:])


@op(samples=_vander_samples, ref=_vander_ref, name="linalg.vander")
def vander(x, N=None):
    """The Vandermonde matrices of x (..., n; 0-d is n = 1): columns x^0, x^1, ...,
    x^(N-1), N = n by default; products, not powers, so the gradient at x = 0 is finite and integer x
    gives an integer result."""
    name = "linalg.vander"
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected x to be a Tensor, got {type(x).__name__}")
    x = x.reshape(1) if x.ndim == 0 else x          # a 0-d x is one point, as PyTorch
    N = x.shape[-1] if N is None else N
    if not isinstance(N, int) or N <= 1:
        raise ValueError(f"{name}: N must be greater than 1, got {N!r}")
    columns = [ones_like(x), x]
    while len(columns) < N:
        columns.append(columns[-1] * x)
    return stack(columns, -1)
