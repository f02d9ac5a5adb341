"""Products beyond matmul: the BLAS-style ``add*`` family (beta * input + alpha *
product), matrix-vector, inner and tensor products, Kronecker, cross, trace,
pairwise distances (``pdist`` one primitive over a Numba kernel).

All but Euclidean ``cdist`` are compositions of matmul, linear, the shape ops and
elementwise ops, so their gradients, tangents and double backward are those of the
composite.  ``cdist`` with p = 2 on many points is one primitive: the distances
come from ``|x|^2 + |y|^2 - 2 x y^T`` (a GEMM, as PyTorch computes them) instead of
a (P, R, M) tensor of differences.
"""
import warnings

import numpy as np

from ..function import Primitive
from ..forward_ad import derived_jvp
from ..tensor import Tensor
from .diagonal import Diagonal, diagonal
from ..kernels.pdist import pdist as pdist_kernel
from ..kernels.pdist import pdist_backward
from .binary import where
from .indexing import IndexAddZeros
from .linalg import Linear, MatMul, linear, matmul
from .reduction import Norm, norm
from .registry import SampleInput, make, op
from .shape import (Expand, Permute, Reshape, Stack, Unbind, expand, normalize_dim, permute,
                    reshape, stack, unbind)
from .batching import all_batched_rule


def _shape(t):
    return tuple(t.shape)


def _need_ndim(name, what, t, ndim):
    if t.ndim != ndim:
        kind = {1: "a vector", 2: "a matrix", 3: "a 3-D tensor (a batch of matrices)"}[ndim]
        raise ValueError(f"{name}: {what} must be {kind}, got a {t.ndim}-D tensor of shape {_shape(t)}")


def _scaled_sum(name, input, product, beta, alpha):
    """beta * input + alpha * product, with input broadcast to product's shape; beta = 0
    ignores input's values (NaN and inf included), as PyTorch."""
    try:
        if np.broadcast_shapes(_shape(input), _shape(product)) != _shape(product):
            raise ValueError
    except ValueError:
        raise ValueError(f"{name}: input of shape {_shape(input)} cannot be broadcast to the "
                         f"product's shape {_shape(product)}") from None
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        return out
    return out + (input if beta == 1 else input * beta)


def _addmm_samples(rng):
    yield SampleInput((make(rng, (3,)), make(rng, (2, 4)), make(rng, (4, 3))), {}, "bias-row")
    yield SampleInput((make(rng, (2, 3)), make(rng, (2, 4)), make(rng, (3, 4), noncontig=True).mT),
                      dict(beta=0.5, alpha=-2.0), "scaled-noncontig")
    yield SampleInput((make(rng, (2, 1)), make(rng, (2, 0)), make(rng, (0, 3))), {}, "empty-k")


@op(MatMul, Linear, Permute, samples=_addmm_samples, method=True,
    ref=lambda c, a, b, beta=1, alpha=1: beta * c + alpha * (a @ b))
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2) for matrices; ``input`` broadcasts."""
    _need_ndim("addmm", "mat1", mat1, 2)
    _need_ndim("addmm", "mat2", mat2, 2)
    if mat1.shape[1] != mat2.shape[0]:
        raise ValueError(f"addmm: mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x"
                         f"{mat1.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})")
    if beta == 1 and alpha == 1 and input.ndim == 1 and input.shape[0] == mat2.shape[1] \
            and input.dtype == mat1.dtype == mat2.dtype:
        return linear(mat1, mat2.mT, input)          # one GEMM node with the bias added in
    return _scaled_sum("addmm", input, matmul(mat1, mat2), beta, alpha)


def _mv_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (4,))), {}, "3x4")
    yield SampleInput((make(rng, (4, 3), noncontig=True), make(rng, (3,))), {}, "noncontig")


@op(MatMul, samples=_mv_samples, ref=np.matmul, method=True)
def mv(input, vec):
    """The matrix-vector product."""
    _need_ndim("mv", "input", input, 2)
    _need_ndim("mv", "vec", vec, 1)
    if input.shape[1] != vec.shape[0]:
        raise ValueError(f"mv: input of shape {_shape(input)} and vec of size {vec.shape[0]} "
                         "cannot be multiplied")
    return matmul(input, vec)


def _addmv_samples(rng):
    yield SampleInput((make(rng, (3,)), make(rng, (3, 4)), make(rng, (4,))), {}, "3x4")
    yield SampleInput((make(rng, ()), make(rng, (2, 3)), make(rng, (3,))), dict(beta=2, alpha=0.5),
                      "scalar-input")


@op(MatMul, samples=_addmv_samples, method=True,
    ref=lambda c, a, v, beta=1, alpha=1: beta * c + alpha * (a @ v))
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec)."""
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


def _addr_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (3,)), make(rng, (4,))), {}, "3x4")
    yield SampleInput((make(rng, (4,)), make(rng, (2,)), make(rng, (4,))), dict(beta=0, alpha=3),
                      "broadcast-beta0")


@op(samples=_addr_samples, method=True,
    ref=lambda c, u, v, beta=1, alpha=1: beta * c + alpha * np.outer(u, v))
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2)."""
    _need_ndim("addr", "vec1", vec1, 1)
    _need_ndim("addr", "vec2", vec2, 1)
    return _scaled_sum("addr", input, vec1.unsqueeze(1) * vec2.unsqueeze(0), beta, alpha)


def _check_batches(name, b1, b2):
    _need_ndim(name, "batch1", b1, 3)
    _need_ndim(name, "batch2", b2, 3)
    if b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]:
        raise ValueError(f"{name}: batch1 of shape {_shape(b1)} and batch2 of shape {_shape(b2)} "
                         "cannot be multiplied: expected (b, n, m) and (b, m, p)")


def _baddbmm_samples(rng):
    yield SampleInput((make(rng, (2, 3, 2)), make(rng, (2, 3, 4)), make(rng, (2, 4, 2))), {}, "full")
    yield SampleInput((make(rng, (2,)), make(rng, (3, 2, 4)), make(rng, (3, 4, 2))),
                      dict(beta=-1, alpha=0.5), "broadcast")


@op(MatMul, samples=_baddbmm_samples, method=True,
    ref=lambda c, a, b, beta=1, alpha=1: beta * c + alpha * (a @ b))
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2), batch by batch."""
    _check_batches("baddbmm", batch1, batch2)
    return _scaled_sum("baddbmm", input, matmul(batch1, batch2), beta, alpha)


def _addbmm_samples(rng):
    yield SampleInput((make(rng, (3, 2)), make(rng, (4, 3, 5)), make(rng, (4, 5, 2))), {}, "full")
    yield SampleInput((make(rng, (1,)), make(rng, (2, 3, 2)), make(rng, (2, 2, 4))),
                      dict(beta=0.5, alpha=2), "broadcast")


@op(MatMul, Permute, Reshape, samples=_addbmm_samples, method=True,
    ref=lambda c, a, b, beta=1, alpha=1: beta * c + alpha * (a @ b).sum(0))
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * sum_b batch1[b] @ batch2[b]."""
    _check_batches("addbmm", batch1, batch2)
    b, n, m = batch1.shape
    # The sum of the batch's products is one GEMM: (n, b*m) @ (b*m, p).
    product = matmul(reshape(permute(batch1, (1, 0, 2)), (n, b * m)),
                     reshape(batch2, (b * m, batch2.shape[2])))
    return _scaled_sum("addbmm", input, product, beta, alpha)


# -- inner, dot and tensor products -----------------------------------------------------
def _tensordot_dims(a, b, dims):
    if isinstance(dims, Tensor):
        dims = dims.array.tolist()
    if isinstance(dims, (int, np.integer)):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims={dims} must be in [0, {min(a.ndim, b.ndim)}] for "
                             f"shapes {_shape(a)} and {_shape(b)}")
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    da, db = dims
    da = [da] if isinstance(da, int) else list(da)
    db = [db] if isinstance(db, int) else list(db)
    if len(da) != len(db):
        raise ValueError(f"tensordot: both dims lists must have the same length, got {da} and {db}")
    return ([normalize_dim(d, a.ndim, "tensordot") for d in da],
            [normalize_dim(d, b.ndim, "tensordot") for d in db])


def _tensordot_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (3, 4, 5))), {}, "dims2")
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (4, 2))), dict(dims=([0, 2], [1, 0])), "lists")
    yield SampleInput((make(rng, (2, 3)), make(rng, (4,))), dict(dims=0), "outer")


@op(MatMul, Permute, Reshape, samples=_tensordot_samples,
    ref=lambda a, b, dims=2: np.tensordot(a, b, dims))
def tensordot(a, b, dims=2):
    """The sum over the paired dims of ``a`` and ``b`` of their products: ``dims`` is an
    int (the last dims of a with the first of b) or two lists of dims."""
    da, db = _tensordot_dims(a, b, dims)
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: contracted dims differ in size: dim {i} of a (shape "
                             f"{_shape(a)}) has {a.shape[i]}, dim {j} of b (shape {_shape(b)}) "
                             f"has {b.shape[j]}")
    free_a = [i for i in range(a.ndim) if i not in da]
    free_b = [j for j in range(b.ndim) if j not in db]
    size = lambda t, dims: int(np.prod([t.shape[i] for i in dims], dtype=np.int64))   # noqa: E731
    # One GEMM: a as (free, contracted) times b as (contracted, free).
    left = reshape(permute(a, tuple(free_a + da)), (size(a, free_a), size(a, da)))
    right = reshape(permute(b, tuple(db + free_b)), (size(b, db), size(b, free_b)))
    out = matmul(left, right)
    return reshape(out, tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b))


def _inner_samples(rng):
    yield SampleInput((make(rng, (2, 3)), make(rng, (4, 3))), {}, "matrices")
    yield SampleInput((make(rng, (4,)), make(rng, (4,))), {}, "vectors")
    yield SampleInput((make(rng, ()), make(rng, (2, 3))), {}, "scalar")


@op(MatMul, samples=_inner_samples, ref=np.inner, method=True)
def inner(input, other):
    """The sum of products over the last dims (a product when one is 0-d)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise ValueError(f"inner: the last dims must match, got shapes {_shape(input)} and "
                         f"{_shape(other)}")
    return tensordot(input, other, ([input.ndim - 1], [other.ndim - 1]))


@op(MatMul, samples=lambda rng: [SampleInput((make(rng, (5,)), make(rng, (5,))), {}, "5")],
    ref=np.vdot, method=True)
def vdot(input, other):
    """The dot product of two vectors (the first is conjugated; real dtypes here)."""
    _need_ndim("vdot", "input", input, 1)
    _need_ndim("vdot", "other", other, 1)
    if input.shape != other.shape:
        raise ValueError(f"vdot: expects vectors of the same size, got {input.shape[0]} and "
                         f"{other.shape[0]}")
    return matmul(input, other)


def _kron_samples(rng):
    yield SampleInput((make(rng, (2, 3)), make(rng, (3, 2))), {}, "matrices")
    yield SampleInput((make(rng, (2,)), make(rng, (2, 1, 3))), {}, "ranks-differ")


@op(Expand, Reshape, samples=_kron_samples, ref=np.kron, method=True)
def kron(input, other):
    """The Kronecker product: block (i, ...) is input[i, ...] * other."""
    nd = max(input.ndim, other.ndim)
    a = reshape(input, (1,) * (nd - input.ndim) + _shape(input))
    b = reshape(other, (1,) * (nd - other.ndim) + _shape(other))
    # interleave: a as (a0, 1, a1, 1, ...), b as (1, b0, 1, b1, ...)
    prod = reshape(a, sum(((s, 1) for s in a.shape), ())) * reshape(b, sum(((1, s) for s in b.shape), ()))
    return reshape(prod, tuple(x * y for x, y in zip(a.shape, b.shape)))


def _cross_samples(rng):
    yield SampleInput((make(rng, (4, 3)), make(rng, (4, 3))), dict(dim=1), "rows")
    yield SampleInput((make(rng, (3, 2)), make(rng, (3, 1))), dict(dim=0), "broadcast")


@op(Unbind, Stack, samples=_cross_samples, method=True,
    ref=lambda a, b, dim=None: np.cross(a, b, axis=_default_dim(np.broadcast_shapes(a.shape, b.shape))
                                         if dim is None else dim))
def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim``; without dim, the first dim of size
    3 (PyTorch's deprecated default, which warns)."""
    shape = _broadcast_shape("cross", input.shape, other.shape)
    if dim is None:
        warnings.warn("cross: using the first dim of size 3 because dim was not given; pass dim "
                      "explicitly (or use linalg.cross, whose default is -1)", UserWarning, stacklevel=2)
        dim = _default_dim(shape)
    d = normalize_dim(dim, len(shape), "cross")
    if input.shape[d - len(shape) + input.ndim] != 3 or other.shape[d - len(shape) + other.ndim] != 3:
        raise ValueError(f"cross: inputs dimension {dim} must have length 3, got shapes "
                         f"{_shape(input)} and {_shape(other)}")
    # c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1} (indices mod 3), from views of the three
    # components (one unbind node each; its VJP is a stack, not a scatter)
    a = unbind(expand(input, shape), d)
    b = unbind(expand(other, shape), d)
    return stack([a[(i + 1) % 3] * b[(i + 2) % 3] - a[(i + 2) % 3] * b[(i + 1) % 3]
                  for i in range(3)], d)


def _default_dim(shape):
    for i, s in enumerate(shape):
        if s == 3:
            return i
    raise ValueError(f"cross: no dimension of size 3 in shape {tuple(shape)}")


def _broadcast_shape(name, a, b):
    try:
        return np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise ValueError(f"{name}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast "
                         "together") from None


@op(Diagonal, samples=lambda rng: [SampleInput((make(rng, (3, 4)),), {}, "3x4"),
                                   SampleInput((make(rng, (3, 3), noncontig=True),), {}, "noncontig")],
    ref=np.trace, method=True)
def trace(input):
    """The sum of a matrix's main diagonal."""
    _need_ndim("trace", "input", input, 2)
    return diagonal(input).sum()


def _chain_samples(rng):
    yield SampleInput((make(rng, (2, 3)), make(rng, (3, 4)), make(rng, (4, 2))), {}, "three")
    yield SampleInput((make(rng, (2, 3)),), {}, "one")


@op(MatMul, samples=_chain_samples, ref=lambda *ms: np.linalg.multi_dot(ms) if len(ms) > 1 else ms[0])
def chain_matmul(*matrices):
    """The product of the matrices, left to right (deprecated in PyTorch for
    linalg.multi_dot)."""
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise ValueError("chain_matmul: expected one or more matrices")
    for i, m in enumerate(matrices):
        _need_ndim("chain_matmul", f"tensor {i}", m, 2)
    out = matrices[0] if len(matrices) > 1 else matrices[0].clone()
    for m in matrices[1:]:
        if out.shape[1] != m.shape[0]:
            raise ValueError(f"chain_matmul: shapes {_shape(out)} and {_shape(m)} cannot be multiplied")
        out = matmul(out, m)
    return out


# -- pairwise distances ------------------------------------------------------------------
class EuclideanDist(Primitive):
    """d[..., i, j] = |x1[..., i, :] - x2[..., j, :]| for batches of equal shape, from
    |x|^2 + |y|^2 - 2 x y^T (clamped at 0 against rounding)."""
    batch_rule = all_batched_rule             # batches of matrices, both operands
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x1, x2):
        sq = (np.einsum("...i,...i->...", x1, x1)[..., :, None]
              + np.einsum("...i,...i->...", x2, x2)[..., None, :] - 2 * (x1 @ np.swapaxes(x2, -1, -2)))
        d = np.sqrt(np.maximum(sq, 0))
        ctx.save_for_backward(x1, x2, d, (d == 0).astype(d.dtype))
        return d

    @staticmethod
    def backward(ctx, g):
        x1, x2, d, zero = ctx.saved_tensors
        # dd/dx1_i = sum_j (x1_i - x2_j) / d_ij; 0 where d_ij = 0 (PyTorch's subgradient)
        w = g * (1.0 - zero) / (d + zero)
        return (w.sum(-1, keepdim=True) * x1 - w @ x2,
                w.sum(-2).unsqueeze(-1) * x2 - w.mT @ x1)


_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
          "donot_use_mm_for_euclid_dist")


def _cdist_samples(rng):
    for p in (2.0, 1.0, 3.0, float("inf"), 0.5):
        yield SampleInput((make(rng, (4, 3)), make(rng, (5, 3))), dict(p=p), f"p{p}")
    yield SampleInput((make(rng, (2, 3, 2)), make(rng, (1, 4, 2))), {}, "batch-broadcast")
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (2, 5, 4))),
                      dict(compute_mode="use_mm_for_euclid_dist"), "mm")
    yield SampleInput((make(rng, (0, 3)), make(rng, (2, 3))), {}, "no-rows")


def _cdist_ref(x1, x2, p=2.0, compute_mode=None):
    diff = np.abs(x1[..., :, None, :] - x2[..., None, :, :])
    if p == float("inf"):
        return diff.max(-1, initial=0)
    return (diff ** p).sum(-1) ** (1 / p)


@op(EuclideanDist, Norm, Expand, samples=_cdist_samples, ref=_cdist_ref)
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distances between the rows of x1 (..., P, M) and of x2 (..., R, M):
    (..., P, R); batch dims broadcast.  p = 2 on more than 25 rows (or always, with
    compute_mode='use_mm_for_euclid_dist') takes the GEMM route, as PyTorch."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same M, "
                         f"got shapes {_shape(x1)} and {_shape(x2)}")
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not p >= 0:
        raise ValueError(f"cdist: only supports non-negative p values, got {p!r}")
    if compute_mode not in _MODES:
        raise ValueError(f"cdist: compute_mode must be one of {_MODES}, got {compute_mode!r}")
    batch = _broadcast_shape("cdist", x1.shape[:-2], x2.shape[:-2])
    x1 = expand(x1, batch + x1.shape[-2:])
    x2 = expand(x2, batch + x2.shape[-2:])
    mm = compute_mode == _MODES[1] or (compute_mode == _MODES[0] and max(x1.shape[-2], x2.shape[-2]) > 25)
    if p == 2 and mm:
        return EuclideanDist.apply(x1, x2)
    return norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, dim=-1)


class Pdist(Primitive):
    """The distances of the pairs of rows i < j of x (N, M) by a Numba kernel, and its
    VJP (autograd/kernels/pdist.py: the rule per p), without the (pairs, M) tensor of
    differences.  The differentiable VJP is the same rule in tensor ops."""
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, p):
        d = pdist_kernel(x, p)
        ctx.save_for_backward(x, d)
        ctx.p = p
        return d

    @staticmethod
    def batch_rule(b, x, p):
        i, j = np.triu_indices(x.shape[1], 1)
        return norm(x[:, i] - x[:, j], p, dim=-1)     # the composite, batched by its own rules

    @staticmethod
    def vjp(ctx, g):
        x, d = ctx._unpack_saved(True)
        return pdist_backward(x, d, np.ascontiguousarray(g), ctx.p), None

    @staticmethod
    def backward(ctx, g):
        x, _ = ctx.saved_tensors
        p = ctx.p
        i, j = np.triu_indices(x.shape[0], 1)
        diff = x[i] - x[j]
        d = norm(diff, p, dim=-1, keepdim=True)
        live = d.array != 0
        safe = where(live, d, 1.0)
        gk = g.reshape(-1, 1)
        if p == 0:
            f = diff * 0.0
        elif p == 1:
            f = diff.sign() * gk
        elif p == 2:
            f = diff * gk / safe
        elif p == float("inf"):
            f = diff.sign() * (diff.abs().array == d.array) * gk
        else:
            kept = live & ((diff.array != 0) | (p >= 1))
            f = where(kept, diff.sign() * where(kept, diff.abs(), 1.0) ** (p - 1) * gk / safe ** (p - 1), 0.0)
        f = where(live, f, 0.0)
        shape = tuple(x.shape)
        return IndexAddZeros.apply(f, shape, i, False) - IndexAddZeros.apply(f, shape, j, False), None


def _pdist_samples(rng):
    yield SampleInput((make(rng, (4, 3)),), {}, "p2")
    yield SampleInput((make(rng, (3, 2)),), dict(p=1), "p1")
    yield SampleInput((make(rng, (1, 2)),), {}, "one-row")
    for p in (0.5, 3.0, float("inf")):
        yield SampleInput((make(rng, (4, 3)),), dict(p=p), f"p{p}")


def _pdist_ref(x, p=2.0):
    i, j = np.triu_indices(len(x), 1)
    a = np.abs(x[i] - x[j])
    return a.max(-1) if p == float("inf") else (a ** p).sum(-1) ** (1 / p)


@op(Pdist, IndexAddZeros, samples=_pdist_samples, ref=_pdist_ref)
def pdist(input, p=2.0):
    """The p-norm distances between each pair of rows i < j of a matrix, row-major."""
    _need_ndim("pdist", "input", input, 2)
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not p >= 0:
        raise ValueError(f"pdist: only supports non-negative p values, got {p!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"pdist: input must be floating point, got {input.dtype}")
    return Pdist.apply(input, float(p))


__all__ = ["addbmm", "addmm", "addmv", "addr", "baddbmm", "cdist", "chain_matmul", "cross",
           "inner", "kron", "mv", "pdist", "tensordot", "trace", "vdot"]
