"""Matrix functions and norms: matrix_exp (a primitive), and, composed from the ops,
matrix_power, multi_dot, vector_norm, matrix_norm, norm, cross, diagonal, vecdot."""
import math

import numpy as np

from ..function import Primitive
from .decompositions import svdvals
from .diagonal import diagonal as _diagonal
from .products import cross as _cross
from .linalg_errors import check_float, check_matrix, check_square
from .reduction import amax, amin, norm as _vector_p_norm
from .registry import SampleInput, make, op
from .shape import cat, normalize_dim
from .solve import Inv, eye_like, inv, square_matrices
from ..creation import zeros_like
from .batching import batch_as_leading_dim_rule

# Higham (2005), "The scaling and squaring method for the matrix exponential revisited":
# the [13/13] Pade coefficients, and the 1-norm up to which [13/13] is accurate to
# float64's unit roundoff without scaling.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(a):
    """exp of each matrix in a (arrays): scaling and squaring with the [13/13] Pade
    approximant, A scaled by 2^-s per matrix so that ||A / 2^s||_1 <= theta_13."""
    b = _PADE13
    norm1 = np.abs(a).sum(-2).max(-1, initial=0.0)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(norm1 / _THETA13))).astype(np.int64)
    a = a / np.ldexp(1.0, s)[..., None, None].astype(a.dtype)
    ident = np.eye(a.shape[-1], dtype=a.dtype)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a2 @ a4
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * ident)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
        + b[0] * ident
    r = np.linalg.solve(v - u, v + u)
    for i in range(int(s.max(initial=0))):        # square back, each matrix s times
        r = np.where((s > i)[..., None, None], r @ r, r)
    return r


class MatrixExp(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return expm(a)

    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return _frechet(a.mT, g)                   # dA = L(A^T, G), L the Frechet derivative

    @staticmethod
    def jvp(ctx, da):
        a, = ctx.saved_tensors
        return _frechet(a, da)                     # dX = L(A, dA)


def _frechet(a, e):
    """L(A, E), the derivative of exp at A along E: the upper right block of
    exp([[A, E], [0, A]]) (Mathias 1996), so it is differentiable again."""
    n = a.shape[-1]
    shape = np.broadcast_shapes(a.shape, e.shape)
    a, e = a.expand(*shape), e.expand(*shape)
    block = cat([cat([a, e], -1), cat([zeros_like(a), a], -1)], -2)
    return MatrixExp.apply(block)[..., :n, n:]


def _expm_ref(a):
    """exp by its Taylor series, 40 terms (enough for the samples' norms, <= 8)."""
    term, total = np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy(), 0
    for k in range(1, 40):
        total = total + term
        term = term @ a / k
    return total


def _matrix_exp_samples(rng):
    yield SampleInput((make(rng, (3, 3), -1.0, 1.0),), {}, "3x3")
    yield SampleInput((make(rng, (2, 2, 2), -1.0, 1.0),), {}, "batched")
    big = make(rng, (2, 2), -1.0, 1.0, requires_grad=False)
    big.array[...] *= 4.0                          # norm past theta_13: squaring runs
    big.requires_grad = True
    yield SampleInput((big,), {}, "scaled")


@op(MatrixExp, samples=_matrix_exp_samples, ref=_expm_ref, name="linalg.matrix_exp",
    method="matrix_exp")
def matrix_exp(A):
    """exp(A) of each square matrix (scaling and squaring with Pade [13/13])."""
    check_square("linalg.matrix_exp", A)
    return MatrixExp.apply(A)


# -- products ------------------------------------------------------------------------
def _matrix_power_samples(rng):
    for n in (1, 3, -2):
        yield SampleInput((square_matrices(rng, (2, 3, 3)), n), {}, f"n={n}")


@op(Inv, samples=_matrix_power_samples, ref=lambda a, n: np.linalg.matrix_power(a, n),
    name="linalg.matrix_power", method="matrix_power")
def matrix_power(A, n):
    """A^n for an integer n by repeated squaring; n < 0 is inv(A)^-n, n = 0 the identity."""
    check_square("linalg.matrix_power", A)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an integer, got {n!r}")
    if n == 0:
        return eye_like(A).expand(*A.shape).clone()
    if n < 0:
        A, n = inv(A), -n
    result = None
    while n:
        if n & 1:
            result = A if result is None else result @ A
        n >>= 1
        if n:
            A = A @ A
    return result


def _chain_order(dims):
    """The cheapest parenthesisation of a matrix chain (dims[i] x dims[i+1] matrices):
    split[i][j] is where the product of matrices i..j splits (textbook dynamic program)."""
    k = len(dims) - 1
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = math.inf
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s
    return split


def _multi_dot_samples(rng):
    yield SampleInput(([make(rng, (2, 3)), make(rng, (3, 4)), make(rng, (4, 2))],), {}, "three")
    yield SampleInput(([make(rng, (3,)), make(rng, (3, 4)), make(rng, (4, 2)), make(rng, (2,))],),
                      {}, "vector-ends")


@op(samples=_multi_dot_samples, ref=lambda ms: np.linalg.multi_dot(ms), name="linalg.multi_dot")
def multi_dot(tensors):
    """The product of two or more matrices in the cheapest order; the first may be a row
    vector and the last a column vector (1-D), whose dims are dropped from the result."""
    name = "linalg.multi_dot"
    ms = list(tensors)
    if len(ms) < 2:
        raise ValueError(f"{name}: expected at least 2 tensors, got {len(ms)}")
    first_vec, last_vec = ms[0].ndim == 1, ms[-1].ndim == 1
    ms[0] = ms[0].unsqueeze(0) if first_vec else ms[0]
    ms[-1] = ms[-1].unsqueeze(-1) if last_vec else ms[-1]
    for i, m in enumerate(ms):
        if m.ndim != 2:
            raise ValueError(f"{name}: tensor {i} must be 2-D (the first and last may be 1-D), "
                             f"got shape {tuple(tensors[i].shape)}")
        check_float(name, m)
        if i and ms[i - 1].shape[1] != m.shape[0]:
            raise ValueError(f"{name}: tensors {i - 1} and {i} cannot be multiplied: shapes "
                             f"{tuple(tensors[i - 1].shape)} and {tuple(tensors[i].shape)}")
    split = _chain_order([ms[0].shape[0]] + [m.shape[1] for m in ms])

    def product(i, j):
        return ms[i] if i == j else product(i, split[i][j]) @ product(split[i][j] + 1, j)
    out = product(0, len(ms) - 1)
    if last_vec:
        out = out.squeeze(-1)
    return out.squeeze(0) if first_vec else out


# -- norms ---------------------------------------------------------------------------
MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def _norm_dtype(name, x, dtype):
    check_float(name, x)
    return x if dtype is None else x.to(dtype)


def _vector_norm_samples(rng):
    for ord_ in (2, 1, math.inf, -math.inf, 3.5, 0):
        yield SampleInput((make(rng, (3, 4), away=(0, 0.05)),), dict(ord=ord_), f"ord={ord_}")
    yield SampleInput((make(rng, (2, 3, 4), away=(0, 0.05)),), dict(ord=2, dim=(0, 2), keepdim=True),
                      "dims-keepdim")


def _vector_norm_ref(x, ord=2, dim=None, keepdim=False):
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    a = np.abs(x)
    if ord == math.inf:
        return a.max(axis=axis, keepdims=keepdim)
    if ord == -math.inf:
        return a.min(axis=axis, keepdims=keepdim)
    if ord == 0:
        return (a != 0).sum(axis=axis, keepdims=keepdim).astype(x.dtype)
    return (a ** ord).sum(axis=axis, keepdims=keepdim) ** (1.0 / ord)


@op(samples=_vector_norm_samples, ref=_vector_norm_ref, name="linalg.vector_norm")
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x as a vector over dim (all of x by default)."""
    if isinstance(ord, str) or not isinstance(ord, (int, float)) or isinstance(ord, bool):
        raise ValueError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    x = _norm_dtype("linalg.vector_norm", x, dtype)
    return _vector_p_norm(x, ord, dim, keepdim)


def _matrix_norm_samples(rng):
    for ord_ in MATRIX_ORDS:
        t = make(rng, (2, 3, 4) if ord_ != "nuc" else (3, 4), away=(0, 0.05))
        yield SampleInput((t,), dict(ord=ord_), f"ord={ord_}")
    yield SampleInput((make(rng, (3, 2, 4), away=(0, 0.05)),), dict(ord=1, dim=(2, 0), keepdim=True),
                      "dims-keepdim")


def _matrix_norm_ref(a, ord="fro", dim=(-2, -1), keepdim=False):
    return np.linalg.norm(a, ord=ord, axis=dim, keepdims=keepdim)


@op(samples=_matrix_norm_samples, ref=_matrix_norm_ref, name="linalg.matrix_norm")
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The ord-norm of the matrices over the two dims ``dim``: 'fro', 'nuc', +-1 (max/min
    column sum of |a|), +-inf (rows), +-2 (largest/smallest singular value)."""
    name = "linalg.matrix_norm"
    check_matrix(name, A)
    if not any(ord == o and type(ord) is not bool for o in MATRIX_ORDS):
        raise ValueError(f"{name}: order {ord!r} not supported; expected one of {MATRIX_ORDS}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"{name}: dim must be a 2-tuple of dims, got {dim!r}")
    d0, d1 = (normalize_dim(d, A.ndim, name) for d in dim)
    if d0 == d1:
        raise ValueError(f"{name}: dim {tuple(dim)} names the same dimension twice")
    A = _norm_dtype(name, A, dtype)
    if ord == "fro":
        return _vector_p_norm(A, 2, (d0, d1), keepdim)
    rest = [i for i in range(A.ndim) if i not in (d0, d1)]
    M = A.permute(*rest, d0, d1)
    if ord == "nuc":
        out = svdvals(M).sum(-1)
    elif abs(ord) == 2:
        out = (amax if ord > 0 else amin)(svdvals(M), -1)
    else:             # 1: the largest column sum of |a|; inf: the largest row sum
        out = (amax if ord > 0 else amin)(M.abs().sum(-2 if abs(ord) == 1 else -1), -1)
    if keepdim:
        for d in sorted((d0, d1)):
            out = out.unsqueeze(d)
    return out


def _norm_samples(rng):
    yield SampleInput((make(rng, (2, 3), away=(0, 0.05)),), {}, "default")
    yield SampleInput((make(rng, (3, 4), away=(0, 0.05)),), dict(ord="nuc"), "nuc")
    yield SampleInput((make(rng, (4,), away=(0, 0.05)),), dict(ord=3), "vector")
    yield SampleInput((make(rng, (2, 3, 4), away=(0, 0.05)),), dict(ord=-1, dim=(1, 2)), "matrix-dims")


def _norm_ref(x, ord=None, dim=None, keepdim=False):
    if dim is None and ord is None:
        return np.linalg.norm(x.reshape(-1))
    return np.linalg.norm(x, ord=ord, axis=dim, keepdims=keepdim)


@op(samples=_norm_samples, ref=_norm_ref, name="linalg.norm")
def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """A vector norm (dim an int, or A 1-D) or a matrix norm (dim a 2-tuple, or A 2-D,
    or ord a string); with neither ord nor dim, the 2-norm of A flattened."""
    name = "linalg.norm"
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) not in (1, 2):
        raise ValueError(f"{name}: dim must be an int, a 1-tuple or a 2-tuple, got {dim!r}")
    if dim is None and ord is not None:
        if A.ndim not in (1, 2):
            raise ValueError(f"{name}: if dim is not specified but ord is, the input must be "
                             f"1-D or 2-D; got shape {tuple(A.shape)}")
        dim = tuple(range(A.ndim))
    if (dim is not None and len(dim) == 2) or isinstance(ord, str):
        if dim is None or len(dim) != 2:
            raise ValueError(f"{name}: ord {ord!r} is a matrix norm and needs two dims, got "
                             f"dim={dim!r} for shape {tuple(A.shape)}")
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


# -- vectors and diagonals -------------------------------------------------------------
def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along dim (default the last), the other dims
    broadcast; torch.cross's rule, with linalg's default dim and equal ndims (PyTorch)."""
    if input.ndim != other.ndim:
        raise ValueError(f"linalg.cross: inputs must have the same number of dimensions, got "
                         f"shapes {tuple(input.shape)} and {tuple(other.shape)}")
    return _cross(input, other, dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonal (offset above it, below if negative) of the matrices over dim1, dim2,
    as the last dim: torch.diagonal with linalg's defaults."""
    return _diagonal(A, offset, dim1, dim2)


@op(samples=lambda rng: [SampleInput((make(rng, (2, 3)), make(rng, (3,))), {}, "broadcast")],
    ref=lambda x, y, dim=-1: (x * y).sum(dim), name="linalg.vecdot")
def vecdot(x, y, *, dim=-1):
    """The dot product of vectors along dim (the other dims broadcast)."""
    return (x * y).sum(dim)
