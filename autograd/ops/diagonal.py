"""Diagonals: ``diagonal`` (a strided view of the elements at (i, i + offset) of two
dims) and its adjoint ``diag_embed`` (zeros with a tensor written on such a
diagonal), and the ops built from the pair: ``diag``, ``diagflat`` and
``diagonal_scatter``.

The two primitives are each other's VJPs, as indexing and its scatter into zeros
are, so double backward needs nothing more: d(diagonal)^T g = embed(g) and
d(embed)^T g = diagonal(g).
"""
import numpy as np

from ..function import Primitive
from ..forward_ad import derived_jvp
from .binary import where
from .registry import SampleInput, make, op
from .shape import normalize_dim, reshape
from .batching import dims_batch_rule, shift_dims


def _on_diagonal(a, offset, dim1, dim2):
    """A writable view (..., n, m) of ``a`` with dim1, dim2 last, and the (rows, cols)
    of its diagonal ``offset``."""
    view = np.moveaxis(a, (dim1, dim2), (-2, -1))
    n = max(0, min(view.shape[-2] + min(offset, 0), view.shape[-1] - max(offset, 0)))
    rows = np.arange(n) - min(offset, 0)
    return view, rows, rows + offset


class Diagonal(Primitive):
    batch_rule = dims_batch_rule(2, 3)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.in_shape, ctx.where = x.shape, (offset, dim1, dim2)
        return np.diagonal(x, offset, dim1, dim2)

    @staticmethod
    def backward(ctx, g):
        # dx = zeros with g on the diagonal
        return DiagEmbed.apply(g, ctx.in_shape, *ctx.where), None, None, None


class DiagEmbed(Primitive):
    """zeros(shape) with ``d`` on the diagonal ``offset`` of dims (dim1, dim2); ``d``'s
    last dim runs along the diagonal, as ``diagonal`` returns it."""
    @staticmethod
    def batch_rule(b, d, shape, offset, dim1, dim2):
        return DiagEmbed.apply(d, (b.size,) + tuple(shape), offset, shift_dims(dim1, len(shape)),
                               shift_dims(dim2, len(shape)))
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, d, shape, offset, dim1, dim2):
        ctx.where = (offset, dim1, dim2)
        out = np.zeros(shape, d.dtype)
        view, rows, cols = _on_diagonal(out, offset, dim1, dim2)
        view[..., rows, cols] = d
        return out

    @staticmethod
    def backward(ctx, g):
        return Diagonal.apply(g, *ctx.where), None, None, None, None   # dd = g's diagonal


def _diagonal_dims(ndim, offset, dim1, dim2, name):
    d1, d2 = normalize_dim(dim1, ndim, name), normalize_dim(dim2, ndim, name)
    if d1 == d2:
        raise ValueError(f"{name}: the diagonal dims cannot be identical, got dim1={dim1}, "
                         f"dim2={dim2}")
    if not isinstance(offset, (int, np.integer)) or isinstance(offset, bool):
        raise TypeError(f"{name}: offset must be an integer, got {offset!r}")
    return d1, d2


def _diagonal_samples(rng):
    yield SampleInput((make(rng, (3, 4)),), {}, "main")
    yield SampleInput((make(rng, (3, 4)),), dict(offset=1), "above")
    yield SampleInput((make(rng, (2, 3, 4)),), dict(offset=-1, dim1=2, dim2=0), "below-dims")
    yield SampleInput((make(rng, (4, 3), noncontig=True),), dict(offset=5), "empty")


@op(Diagonal, DiagEmbed, samples=_diagonal_samples, method=True,
    ref=lambda x, offset=0, dim1=0, dim2=1: np.diagonal(x, offset, dim1, dim2))
def diagonal(input, offset=0, dim1=0, dim2=1):
    """The elements (i, i + offset) of dims ``dim1`` and ``dim2`` as the last dim of a
    view; ``offset`` > 0 is above the main diagonal."""
    if input.ndim < 2:
        raise ValueError(f"diagonal: expected a tensor with at least 2 dims, got shape "
                         f"{tuple(input.shape)}")
    return Diagonal.apply(input, offset, *_diagonal_dims(input.ndim, offset, dim1, dim2, "diagonal"))


def _embedded_shape(shape, offset, d1, d2):
    n = shape[-1] + abs(offset)
    out = list(shape[:-1])
    for d in sorted((d1, d2)):
        out.insert(d, n)
    return tuple(out)


def _diag_embed_samples(rng):
    yield SampleInput((make(rng, (2, 3)),), {}, "batched")
    yield SampleInput((make(rng, (3,)),), dict(offset=-2), "below")
    yield SampleInput((make(rng, (2, 3)),), dict(offset=1, dim1=0, dim2=2), "dims")


def _diag_embed_ref(x, offset=0, dim1=-2, dim2=-1):
    d1, d2 = dim1 % (x.ndim + 1), dim2 % (x.ndim + 1)
    out = np.zeros(_embedded_shape(x.shape, offset, d1, d2))
    view = np.moveaxis(out, (d1, d2), (-2, -1))
    for i in range(x.shape[-1]):
        view[..., i + max(-offset, 0), i + max(offset, 0)] = x[..., i]
    return out


@op(DiagEmbed, Diagonal, samples=_diag_embed_samples, ref=_diag_embed_ref, method=True)
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Zeros with the last dim of ``input`` on the diagonal ``offset`` of the new dims
    ``dim1`` and ``dim2`` (of the result)."""
    d1, d2 = _diagonal_dims(input.ndim + 1, offset, dim1, dim2, "diag_embed")
    return DiagEmbed.apply(input, _embedded_shape(input.shape, offset, d1, d2), offset, d1, d2)


def _diag_samples(rng):
    yield SampleInput((make(rng, (3,)),), {}, "vector")
    yield SampleInput((make(rng, (3,)), -1), {}, "vector-below")
    yield SampleInput((make(rng, (3, 4)), 1), {}, "matrix-above")


@op(DiagEmbed, Diagonal, samples=_diag_samples, method=True,
    ref=lambda x, diagonal=0: np.diag(x, diagonal))
def diag(input, diagonal=0):
    """A 1-D tensor put on the diagonal ``diagonal`` of a square matrix, or the
    diagonal ``diagonal`` of a matrix as a 1-D tensor."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return Diagonal.apply(input, diagonal, 0, 1)
    raise ValueError(f"diag: supports 1-D or 2-D tensors, got a {input.ndim}-D tensor of shape "
                     f"{tuple(input.shape)}")


def _diagflat_samples(rng):
    yield SampleInput((make(rng, (2, 2)),), {}, "matrix")
    yield SampleInput((make(rng, (3,)), 1), {}, "above")


@op(DiagEmbed, samples=_diagflat_samples, method=True,
    ref=lambda x, offset=0: np.diagflat(x, offset))
def diagflat(input, offset=0):
    """The flattened ``input`` on the diagonal ``offset`` of a square matrix."""
    return diag_embed(reshape(input, (-1,)), offset, 0, 1)


def _diagonal_scatter_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (3,))), {}, "main")
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (4, 2))), dict(offset=-1, dim1=1, dim2=0),
                      "below-dims")


def _diagonal_scatter_ref(x, src, offset=0, dim1=0, dim2=1):
    out = x.copy()
    view, rows, cols = _on_diagonal(out, offset, dim1, dim2)
    view[..., rows, cols] = src
    return out


@op(DiagEmbed, samples=_diagonal_scatter_samples, ref=_diagonal_scatter_ref, method=True)
def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """``input`` with ``src`` written on its diagonal (``input.diagonal(offset, dim1,
    dim2)``'s place): ``src`` has that diagonal's shape."""
    if input.ndim < 2:
        raise ValueError(f"diagonal_scatter: expected a tensor with at least 2 dims, got shape "
                         f"{tuple(input.shape)}")
    d1, d2 = _diagonal_dims(input.ndim, offset, dim1, dim2, "diagonal_scatter")
    expected = np.diagonal(np.broadcast_to(np.empty((), np.bool_), input.shape), offset, d1, d2).shape
    if tuple(src.shape) != expected:
        raise ValueError(f"diagonal_scatter: src must have the diagonal's shape {expected}, got "
                         f"{tuple(src.shape)} (input shape {tuple(input.shape)}, offset {offset}, "
                         f"dims {d1}, {d2})")
    on = np.zeros(input.shape, np.bool_)
    view, rows, cols = _on_diagonal(on, offset, d1, d2)
    view[..., rows, cols] = True
    # where, not input * mask + embed: an inf on input's diagonal must not become NaN
    return where(on, DiagEmbed.apply(src, input.shape, offset, d1, d2), input)


__all__ = ["diag", "diag_embed", "diagflat", "diagonal", "diagonal_scatter"]
