"""Inverses, log-determinants and solves: inv, slogdet, logdet, solve, solve_triangular,
cholesky_solve (the primitives behind autograd.linalg; see README, "Linear algebra").
det lives in decompositions.py, beside the SVD its gradient needs at singular matrices.

Forward runs NumPy's LAPACK (np.linalg), batched over the leading dims.  A triangular
solve is SciPy's trsm where the optional extra 'scipy' is installed, else NumPy's LU
solve of the triangle (the same values, O(n^3) rather than O(n^2 k): see README).  Every VJP solves against A
(or A^T) instead of forming an inverse, and is written with the ops themselves, so
it can be differentiated again.  X denotes the output, G its incoming gradient.
"""
from typing import NamedTuple

import numpy as np

from ..creation import eye
from ..kernels.threads import adopt_loaded_blas
from ..function import Primitive
from ..tensor import Tensor
from .binary import where
from .diagonal import diag_embed, diagonal
from .linalg_errors import (batch_shape, check_float, check_matrix, check_same_dtype,
                            check_square, lapack)
from .registry import SampleInput, make, op
from .batching import all_batched_rule, batch_as_leading_dim_rule

SINGULAR = "the input matrix is singular, so it has no inverse and the system has no unique solution"


# -- helpers shared by the linear-algebra op files ----------------------------------
def eye_like(A, n=None):
    """The identity of A's matrix size and dtype (a constant)."""
    return eye(A.shape[-1] if n is None else n, dtype=A.dtype)


def matrix_trace(A):
    """The trace of each matrix in a batch."""
    return diagonal(A, 0, -2, -1).sum(-1)


def square_matrices(rng, shape, noncontig=False):
    """A well-conditioned float64 sample: uniform(-1, 1) plus 2.5 I (eigenvalues stay
    well away from 0 for n <= 4)."""
    t = make(rng, shape, -1.0, 1.0, noncontig=noncontig, requires_grad=False)
    t.array[...] += 2.5 * np.eye(shape[-1])
    t.requires_grad = True
    return t


def square_samples(rng):
    yield SampleInput((square_matrices(rng, (3, 3)),), {}, "3x3")
    yield SampleInput((square_matrices(rng, (2, 3, 3)),), {}, "batched")
    yield SampleInput((square_matrices(rng, (3, 3), noncontig=True),), {}, "noncontig")
    yield SampleInput((square_matrices(rng, (1, 1)),), {}, "1x1")


# -- inverse and determinants -------------------------------------------------------
class Inv(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    @staticmethod
    def forward(ctx, a):
        x = lapack("linalg.inv", np.linalg.inv, SINGULAR, a)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return -(x.mT @ g @ x.mT)                  # dA = -X^T G X^T

    @staticmethod
    def jvp(ctx, da):
        x, = ctx.saved_tensors
        return -(x @ da @ x)                       # dX = -X dA X


@op(Inv, samples=square_samples, ref=np.linalg.inv, name="linalg.inv", method="inverse")
def inv(A):
    """The inverse of each square matrix in A (LinAlgError if one is singular)."""
    check_square("linalg.inv", A)
    return Inv.apply(A)


inverse = inv


class Slogdet(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    @staticmethod
    def forward(ctx, a):
        sign, logabs = (np.asarray(r) for r in np.linalg.slogdet(a))
        ctx.mark_non_differentiable(sign)
        ctx.save_for_backward(a)
        return sign, logabs

    @staticmethod
    def backward(ctx, _gsign, glog):
        a, = ctx.saved_tensors
        # d log|det A| / dA = A^{-T}: one solve against A^T with G on the diagonal
        return solve(a.mT, diag_embed(glog.unsqueeze(-1).expand(*a.shape[:-1])))

    @staticmethod
    def jvp(ctx, da):
        a, = ctx.saved_tensors
        return None, matrix_trace(solve(a, da))   # d log|det A| = tr(A^{-1} dA)


class SignLogAbsDet(NamedTuple):
    """What slogdet returns (PyTorch's torch.return_types.linalg_slogdet)."""
    sign: Tensor
    logabsdet: Tensor


@op(Slogdet, samples=square_samples, ref=lambda a: tuple(np.linalg.slogdet(a)),
    name="linalg.slogdet", method="slogdet", output_index=1)
def slogdet(A):
    """(sign, log|det A|) of each matrix; sign is 0 and log|det| -inf when A is singular."""
    check_square("linalg.slogdet", A)
    return SignLogAbsDet(*Slogdet.apply(A))


def _logdet_ref(a):
    sign, logabs = np.linalg.slogdet(a)
    return np.where(sign < 0, np.nan, logabs)


@op(Slogdet, samples=square_samples, ref=_logdet_ref, method=True)
def logdet(input):
    """log det A: nan where det A < 0 and -inf where it is 0, as in PyTorch."""
    check_square("logdet", input, "input")
    sign, logabs = Slogdet.apply(input)
    nan = np.asarray(np.nan, logabs.dtype)
    return logabs + where(sign < 0, nan, np.zeros((), logabs.dtype))   # a tensor op: batches


# -- solves ------------------------------------------------------------------------
class Solve(Primitive):
    """X = A^{-1} B for a batch of matrices B (the public solve turns vectors into
    one-column matrices); batch dims broadcast."""
    batch_rule = all_batched_rule             # batches of matrices, both operands

    @staticmethod
    def forward(ctx, a, b):
        x = lapack("linalg.solve", np.linalg.solve, SINGULAR, a, b)
        ctx.save_for_backward(a, x)
        ctx.shapes = a.shape, b.shape
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        gb = solve(a.mT, g)                        # dB = A^{-T} G
        ga = -(gb @ x.mT) if need_a else None      # dA = -dB X^T
        return (None if ga is None else ga.sum_to(a_shape),
                gb.sum_to(b_shape) if need_b else None)

    @staticmethod
    def jvp(ctx, da, db):
        a, x = ctx.saved_tensors
        rhs = db if da is None else (-(da @ x) if db is None else db - da @ x)
        return Solve.apply(a, rhs)                 # dX = A^{-1} (dB - dA X)


def is_vector_rhs(A, B):
    """PyTorch's rule: B is a (batch of) vector(s) if 1-D, or of A's shape minus one dim."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _check_system(name, A, B, left):
    check_square(name, A)
    if not isinstance(B, Tensor):
        raise TypeError(f"{name}: expected B to be a Tensor, got {type(B).__name__}")
    check_float(name, B)
    check_same_dtype(name, A, B)
    vector = is_vector_rhs(A, B)
    if not vector and B.ndim < 2:
        raise ValueError(f"{name}: B must be a vector or a batch of matrices, got shape "
                         f"{tuple(B.shape)}")
    n = A.shape[-1]
    size = B.shape[-1] if vector or not left else B.shape[-2]
    if size != n:
        side = "entries" if vector else "rows" if left else "columns"
        raise ValueError(f"{name}: A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} "
                         f"do not match: B needs {n} {side}")
    if not vector:      # a vector B has A's batch shape by the rule above
        batch_shape(name, A, B)
    return vector


def _solve_samples(rng):
    A = lambda *s: square_matrices(rng, s)
    yield SampleInput((A(3, 3), make(rng, (3, 2))), {}, "3x3,3x2")
    yield SampleInput((A(2, 3, 3), make(rng, (3, 1))), {}, "batched-A")
    yield SampleInput((A(3, 3), make(rng, (2, 3, 2))), {}, "batched-B")
    yield SampleInput((A(3, 3), make(rng, (3,))), {}, "vector")
    yield SampleInput((A(2, 3, 3), make(rng, (2, 3))), {}, "batched-vectors")
    yield SampleInput((A(3, 3), make(rng, (2, 3))), dict(left=False), "right")
    yield SampleInput((A(3, 3), make(rng, (3, 2), requires_grad=False)), {}, "constant-B")


def _solve_ref(a, b, left=True):
    if not left:
        return np.linalg.solve(np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)).swapaxes(-1, -2)
    if b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1]):
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


@op(Solve, samples=_solve_samples, ref=_solve_ref, name="linalg.solve")
def solve(A, B, *, left=True):
    """X with A X = B (left=True) or X A = B; B is a matrix or a vector (PyTorch's rule),
    batch dims broadcast.  LinAlgError if A is singular."""
    vector = _check_system("linalg.solve", A, B, left)
    if vector:
        return Solve.apply(A if left else A.mT, B.unsqueeze(-1)).squeeze(-1)
    if left:
        return Solve.apply(A, B)
    return Solve.apply(A.mT, B.mT).mT             # X A = B  <=>  A^T X^T = B^T


def _triangle(m, x, upper, unit):
    """The triangle of x that a triangular solve reads (m: NumPy or the ops); a
    unitriangular one reads no diagonal."""
    k = (1 if upper else -1) if unit else 0
    if m is np:
        return np.triu(x, k) if upper else np.tril(x, k)
    return x.triu(k) if upper else x.tril(k)


_SCIPY = []


def _scipy_trsm():
    """scipy.linalg.solve_triangular (reads only the triangle), or None without SciPy or
    with one that predates batches (1.15); looked up once, on first use, so importing
    autograd never needs SciPy."""
    if not _SCIPY:
        try:
            from scipy.linalg import solve_triangular as trsm
            trsm(np.ones((1, 1, 1)), np.ones((1, 1, 1)))
        except (ImportError, ValueError):
            trsm = None
        adopt_loaded_blas()          # SciPy's own OpenBLAS follows set_num_threads
        _SCIPY.append(trsm)
    return _SCIPY[0]


def triangular_solve(a, b, upper, unit, trsm=None):
    """T^{-1} B on arrays, T the triangle of a that ``upper``/``unit`` name: SciPy's trsm
    when ``trsm`` is given (2-3x NumPy's LU at n = 64-512), else an LU solve of the
    masked triangle (NumPy's path, also for empty batches, which SciPy refuses)."""
    if trsm is not None and a.size and b.size:
        return trsm(a, b, lower=not upper, unit_diagonal=unit, check_finite=False)
    t = _triangle(np, a, upper, unit)
    if unit:
        t += np.eye(a.shape[-1], dtype=a.dtype)
    return np.linalg.solve(t, b)


class SolveTriangular(Primitive):
    batch_rule = all_batched_rule             # batches of matrices, both operands
    @staticmethod
    def forward(ctx, a, b, upper, unit):
        x = lapack("linalg.solve_triangular", triangular_solve, SINGULAR, a, b, upper, unit,
                   _scipy_trsm())
        ctx.save_for_backward(a, x)
        ctx.shapes, ctx.upper, ctx.unit = (a.shape, b.shape), upper, unit
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        a_shape, b_shape = ctx.shapes
        gb = SolveTriangular.apply(a.mT, g, not ctx.upper, ctx.unit)     # dB = T^{-T} G
        ga = None
        if need_a:                                 # dA = -dB X^T on T's triangle only
            ga = _triangle(None, -(gb @ x.mT), ctx.upper, ctx.unit).sum_to(a_shape)
        return ga, gb.sum_to(b_shape) if need_b else None, None, None

    @staticmethod
    def jvp(ctx, da, db, *_):
        a, x = ctx.saved_tensors
        dt = None if da is None else _triangle(None, da, ctx.upper, ctx.unit) @ x
        rhs = db if dt is None else (-dt if db is None else db - dt)
        return SolveTriangular.apply(a, rhs, ctx.upper, ctx.unit)   # dX = T^{-1}(dB - dT X)


def _tri_solve_samples(rng):
    A = lambda *s: square_matrices(rng, s)
    for kw in (dict(upper=True), dict(upper=False), dict(upper=True, unitriangular=True),
               dict(upper=False, left=False)):
        b = make(rng, (3, 2) if kw.get("left", True) else (2, 3))
        yield SampleInput((A(3, 3), b), kw, "-".join(kw))
    yield SampleInput((A(2, 3, 3), make(rng, (3, 2))), dict(upper=False), "batched")


def _tri_solve_ref(a, b, *, upper, left=True, unitriangular=False):
    t = _triangle(np, a, upper, unitriangular) + (np.eye(a.shape[-1]) if unitriangular else 0)
    return _solve_ref(t, b, left) if not left else np.linalg.solve(t, b)


def check_matrix_system(name, A, B, left, arg="A"):
    """A square, B a batch of matrices of A's dtype with A's size on the side solved
    against (rows if left, else columns), their batch dims broadcasting."""
    check_square(name, A, arg)
    check_matrix(name, B, "B")
    check_same_dtype(name, A, B)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise ValueError(f"{name}: {arg} of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} "
                         f"do not match: B needs {n} {'rows' if left else 'columns'}")
    batch_shape(name, A, B)


@op(SolveTriangular, samples=_tri_solve_samples, ref=_tri_solve_ref, name="linalg.solve_triangular")
def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """X with T X = B (or X T = B), T the upper or lower triangle of A (with ones on the
    diagonal if unitriangular); the other triangle of A is not read."""
    check_matrix_system("linalg.solve_triangular", A, B, left)
    if left:
        return SolveTriangular.apply(A, B, bool(upper), bool(unitriangular))
    # X T = B  <=>  T^T X^T = B^T, and T^T has the other triangle
    return SolveTriangular.apply(A.mT, B.mT, not upper, bool(unitriangular)).mT


def _cholesky_solve_samples(rng):
    for shape, upper in (((3, 3), False), ((2, 3, 3), True)):
        L = make(rng, shape, 0.2, 1.0, requires_grad=False)
        L.array[...] = np.tril(L.array) + 2 * np.eye(3)
        if upper:
            L.array[...] = np.swapaxes(L.array, -1, -2).copy()
        L.requires_grad = True
        yield SampleInput((make(rng, (3, 2)), L), dict(upper=upper), f"upper={upper}")


def _cholesky_solve_ref(b, l, upper=False):
    l = np.swapaxes(l, -1, -2) if upper else l
    return np.linalg.solve(l @ np.swapaxes(l, -1, -2), b)


@op(Solve, samples=_cholesky_solve_samples, ref=_cholesky_solve_ref, method=True)
def cholesky_solve(input, input2, upper=False):
    """X with A X = input, A = L L^T given its Cholesky factor L = input2 (or A = U^T U
    with upper=True).  A is formed from all of input2, as PyTorch's gradient (-(gB X^T +
    X gB^T) L, not confined to the triangle) does; PyTorch's forward reads the triangle
    only, so the values differ where input2 is not triangular (README)."""
    name = "cholesky_solve"
    check_square(name, input2, "input2")
    check_matrix(name, input, "input")
    check_same_dtype(name, input, input2)
    if input.shape[-2] != input2.shape[-1]:
        raise ValueError(f"{name}: input of shape {tuple(input.shape)} needs {input2.shape[-1]} "
                         f"rows to match input2 of shape {tuple(input2.shape)}")
    batch_shape(name, input2, input)
    L = input2.mT if upper else input2
    return solve(L @ L.mT, input)
