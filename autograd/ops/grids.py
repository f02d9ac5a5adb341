"""Broadcasting and grids: broadcast_shapes and broadcast_tensors, coordinate grids
(meshgrid, cartesian_prod), combinations, and the index grids of triangles
(tril_indices, triu_indices).

The tensor ops are expand, reshape, stack and indexing composed, so they define no
Primitive; the index grids are integer tensors with no gradient.
"""
import itertools

import numpy as np

from ..dtypes import as_dtype, is_int
from ..tensor import Size, Tensor
from .indexing import GetItem, getitem
from .layout import tensors_of as _tensors
from .registry import SampleInput, make, op
from .shape import Expand, Reshape, expand, reshape, stack


def broadcast_shapes(*shapes):
    """The shape that all ``shapes`` broadcast to, as a Size."""
    shapes = [(s,) if is_int(s) else tuple(s) for s in shapes]
    try:
        return Size(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"broadcast_shapes: shapes {shapes} cannot be broadcast together") from None


def _broadcast_tensors_samples(rng):
    yield SampleInput((make(rng, (3, 1)), make(rng, (4,)), make(rng, ())), {}, "three")
    yield SampleInput((make(rng, (2, 3)),), {}, "one")


@op(Expand, samples=_broadcast_tensors_samples, ref=lambda *xs: tuple(np.broadcast_arrays(*xs)))
def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (as views)."""
    ts = _tensors(tensors, "broadcast_tensors")
    try:
        shape = np.broadcast_shapes(*(t.shape for t in ts))
    except ValueError:
        raise ValueError(f"broadcast_tensors: shapes {[tuple(t.shape) for t in ts]} cannot be "
                         "broadcast together") from None
    return tuple(expand(t, shape) for t in ts)


def _meshgrid_samples(rng):
    yield SampleInput((make(rng, (3,)), make(rng, (2,))), {}, "ij")
    yield SampleInput((make(rng, (3,)), make(rng, (2,)), make(rng, (1,))), dict(indexing="xy"), "xy")


@op(Expand, Reshape, samples=_meshgrid_samples,
    ref=lambda *xs, indexing="ij": tuple(np.meshgrid(*xs, indexing=indexing)))
def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids: output i holds tensor i along its dim of the grid, ``indexing``
    'ij' (matrix) or 'xy' (Cartesian: the first two dims swapped).  PyTorch's default
    is 'ij' (it warns when indexing is not given)."""
    ts = _tensors(tensors, "meshgrid")
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim > 1 for t in ts):
        raise ValueError(f"meshgrid: expects 0-d or 1-d tensors, got shapes {[tuple(t.shape) for t in ts]}")
    sizes = [t.numel() for t in ts]
    axis = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        axis[0], axis[1] = 1, 0
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for t, a in zip(ts, axis):
        shape = [1] * len(ts)
        shape[a] = t.numel()
        out.append(expand(reshape(t, tuple(shape)), tuple(sizes)))
    return tuple(out)


def _cartesian_samples(rng):
    yield SampleInput((make(rng, (3,)), make(rng, (2,))), {}, "two")
    yield SampleInput((make(rng, (2,)), make(rng, (2,)), make(rng, (1,))), {}, "three")


def _cartesian_ref(*xs):
    return np.stack([g.reshape(-1) for g in np.meshgrid(*xs, indexing="ij")], 1) if len(xs) > 1 else xs[0]


@op(Expand, samples=_cartesian_samples, ref=_cartesian_ref)
def cartesian_prod(*tensors):
    """All tuples of one element from each 1-D tensor, as rows, in lexicographic order."""
    ts = _tensors(tensors, "cartesian_prod")
    if any(t.ndim != 1 for t in ts):
        raise ValueError(f"cartesian_prod: expects 1-d tensors, got shapes {[tuple(t.shape) for t in ts]}")
    if len(ts) == 1:
        return ts[0]
    return stack([reshape(g, (-1,)) for g in meshgrid(*ts, indexing="ij")], 1)


def _combinations_samples(rng):
    yield SampleInput((make(rng, (4,)),), {}, "r2")
    yield SampleInput((make(rng, (3,)),), dict(r=2, with_replacement=True), "replacement")
    yield SampleInput((make(rng, (3,)),), dict(r=1), "r1")


def _combination_indices(n, r, with_replacement):
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    return np.array(list(pick(range(n), r)), np.int64).reshape(-1, r)


def _combinations_ref(x, r=2, with_replacement=False):
    return x[_combination_indices(len(x), r, with_replacement)]


@op(GetItem, samples=_combinations_samples, ref=_combinations_ref)
def combinations(input, r=2, with_replacement=False):
    """The length-``r`` combinations of a 1-D tensor's elements, one per row (as
    Python's itertools.combinations, or with replacement)."""
    if input.ndim != 1:
        raise ValueError(f"combinations: expects a 1-d tensor, got shape {tuple(input.shape)}")
    if not is_int(r, 0):
        raise ValueError(f"combinations: r must be a non-negative integer, got {r!r}")
    if r == 0:
        return Tensor._make(np.empty((0,), input.dtype))
    return getitem(input, _combination_indices(input.shape[0], r, with_replacement))


def _triangle_indices(name, np_fn):
    def fn(row, col, offset=0, *, dtype=None, device=None, layout=None):
        if not (is_int(row, 0) and is_int(col, 0) and is_int(offset)):
            raise ValueError(f"{name}: row and col must be non-negative integers and offset an "
                             f"integer, got row={row!r}, col={col!r}, offset={offset!r}")
        dt = np.int64 if dtype is None else as_dtype(dtype)
        return Tensor._make(np.stack(np_fn(row, offset, col)).astype(dt).reshape(2, -1))
    fn.__name__ = name
    fn.__doc__ = (f"The (2, N) coordinates of the {'lower' if name[1] == 'r' else 'upper'} "
                  "triangle of a row x col matrix, row by row (offset as tril/triu's diagonal).")
    return fn


tril_indices = _triangle_indices("tril_indices", np.tril_indices)
triu_indices = _triangle_indices("triu_indices", np.triu_indices)


__all__ = ["broadcast_shapes", "broadcast_tensors", "cartesian_prod", "combinations", "meshgrid",
           "tril_indices", "triu_indices"]
