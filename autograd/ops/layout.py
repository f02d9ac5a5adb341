"""Layout ops built from the shape and indexing primitives: moving, selecting,
tiling, stacking and splitting dims, rotations and flips, block diagonals,
``as_strided``, the matrix transposes H/mH, and the scatter inverses of ``select``
and slicing (broadcasting and grids are in grids.py, diagonals in diagonal.py).

Each op is a composition of primitives that already carry their VJPs and tangent
rules (permute, reshape, expand, getitem, cat, split, flip, pad, the setitem core),
so none defines a Primitive: its gradient is the composite's, and the registry
sweep checks it end to end.
"""
import itertools

import numpy as np

from ..dtypes import is_int, promote_types
from ..tensor import Tensor, tensor_method
from .indexing import GetItem, IndexPut, getitem
from .pad import pad
from .registry import SampleInput, make, op
from .shape import (Cat, Flip, Permute, Reshape, Split, cat, flip, normalize_dim, permute, repeat,
                    reshape, split, sum_to, transpose, unflatten)


def _dims(dims):
    return (dims,) if isinstance(dims, int) else tuple(dims)


def tensors_of(args, name):
    """f(a, b, c) or f([a, b, c]) -> a list of Tensors, as PyTorch's varargs ops."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    if not all(isinstance(t, Tensor) for t in args):
        kinds = [type(t).__name__ for t in args]
        raise TypeError(f"{name}: expected tensors, got {kinds}")
    return list(args)


# -- moving dims ---------------------------------------------------------------------
def _movedim_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4)), 0, -1), {}, "one")
    yield SampleInput((make(rng, (2, 3, 4, 1)), (0, 1), (3, 0)), {}, "two")
    yield SampleInput((make(rng, (4, 3), noncontig=True), 1, 0), {}, "noncontig")


@op(Permute, samples=_movedim_samples, ref=np.moveaxis, method=True)
def movedim(input, source, destination):
    """``input`` with the dims ``source`` moved to the positions ``destination``; the
    other dims keep their order."""
    src, dst = _dims(source), _dims(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {src} and destination {dst} must name the same "
                         "number of dims")
    src = [normalize_dim(d, input.ndim, "movedim") for d in src]
    dst = [normalize_dim(d, input.ndim, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {tuple(source) if not isinstance(source, int) else source}"
                         f" or destination {destination}")
    if input.ndim == 0:
        return input
    order = [None] * input.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(input.ndim) if i not in src)
    return permute(input, tuple(o if o is not None else next(rest) for o in order))


moveaxis = movedim
tensor_method(movedim, name="moveaxis")
swapaxes = swapdims = transpose
tensor_method(transpose, name="swapdims")


# -- selecting -------------------------------------------------------------------------
def _narrow_samples(rng):
    yield SampleInput((make(rng, (4, 5)), 1, 1, 3), {}, "middle")
    yield SampleInput((make(rng, (4, 3)), 0, -2, 2), {}, "negative-start")
    yield SampleInput((make(rng, (4, 3), noncontig=True), 0, 4, 0), {}, "empty-at-end")


def _narrow_ref(x, dim, start, length):
    start = start + x.shape[dim] if start < 0 else start
    return np.take(x, range(start, start + length), axis=dim)


@op(GetItem, samples=_narrow_samples, ref=_narrow_ref, method=True)
def narrow(input, dim, start, length):
    """``length`` elements of ``dim`` from ``start`` (a negative start counts from the end)."""
    d = normalize_dim(dim, input.ndim, "narrow")
    if input.ndim == 0:
        raise IndexError("narrow: cannot be applied to a 0-dim tensor")
    if isinstance(start, Tensor):
        start = start.item()
    n = input.shape[d]
    if not is_int(start) or not -n <= start <= n:
        raise IndexError(f"narrow: start {start!r} is out of range for dim {d} of size {n} "
                         f"(expected an integer in [{-n}, {n}])")
    start = start + n if start < 0 else start
    if not is_int(length, 0) or start + length > n:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dim {d} of size {n} "
                         f"(tensor of shape {tuple(input.shape)})")
    return getitem(input, (slice(None),) * d + (slice(start, start + length),))


def _select_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 1, 2), {}, "col")
    yield SampleInput((make(rng, (2, 3, 4)), 0, -1), {}, "negative")


@op(GetItem, samples=_select_samples, ref=lambda x, dim, index: np.take(x, index, axis=dim),
    method=True)
def select(input, dim, index):
    """The slice ``index`` of ``dim``, with ``dim`` removed."""
    return getitem(input, _selected(input, dim, index, "select"))


def _selected(input, dim, index, name):
    """The basic index of ``input.select(dim, index)``, checked."""
    if input.ndim == 0:
        raise IndexError(f"{name}: cannot be applied to a 0-dim tensor")
    d = normalize_dim(dim, input.ndim, name)
    n = input.shape[d]
    index = index.item() if isinstance(index, Tensor) else index
    if not is_int(index) or not -n <= index < n:
        raise IndexError(f"{name}: index {index!r} is out of range for dim {d} of size {n} "
                         f"(tensor of shape {tuple(input.shape)})")
    return (slice(None),) * d + (index % n,)


def flat_take(input, index):
    """The elements of ``input``, in row-major order, at the integer array ``index``."""
    return getitem(reshape(input, (-1,)), index)


def _as_strided_samples(rng):
    yield SampleInput((make(rng, (3, 4)), (2, 2), (4, 1)), {}, "window")
    yield SampleInput((make(rng, (6,)), (3, 3), (1, 1)), {}, "overlapping")
    yield SampleInput((make(rng, (3, 4)), (2, 3), (1, 2), 1), {}, "offset")


def _as_strided_ref(x, size, stride, storage_offset=0):
    flat = np.ascontiguousarray(x).reshape(-1)[storage_offset:]
    return np.lib.stride_tricks.as_strided(flat, size, [s * x.itemsize for s in stride]).copy()


@op(GetItem, Reshape, samples=_as_strided_samples, ref=_as_strided_ref, method=True)
def as_strided(input, size, stride, storage_offset=0):
    """A view of ``input``'s elements, in row-major order, with the given sizes and
    strides (in elements).  PyTorch reads the tensor's storage, which is the same for
    a contiguous tensor; here a non-contiguous input is read in its logical order.
    Overlapping windows get the sum of their gradients."""
    return flat_take(input, strided_positions("as_strided", input, size, stride, storage_offset))


def strided_positions(name, input, size, stride, storage_offset):
    """The row-major positions in ``input`` of a strided view's elements (shape ``size``)."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or not all(is_int(s, 0) for s in size + stride) \
            or not is_int(storage_offset, 0):
        raise ValueError(f"{name}: expected equally long non-negative integer size and "
                         f"stride and storage_offset >= 0, got size {size}, stride {stride}, "
                         f"storage_offset {storage_offset}")
    flat = storage_offset + sum((np.arange(n).reshape((-1,) + (1,) * (len(size) - 1 - k)) * s
                                 for k, (n, s) in enumerate(zip(size, stride))),
                                np.zeros(size, np.int64))
    last = flat.max(initial=storage_offset) if flat.size else storage_offset - 1
    if last >= input.numel():
        raise RuntimeError(f"{name}: size {size}, stride {stride} and storage_offset "
                           f"{storage_offset} reach element {last}, out of bounds for a tensor "
                           f"of {input.numel()} elements (shape {tuple(input.shape)})")
    return flat.astype(np.int64)


# -- tiling and flattening ---------------------------------------------------------------
def _tile_samples(rng):
    yield SampleInput((make(rng, (2, 3)), (2,)), {}, "fewer-dims")
    yield SampleInput((make(rng, (3,)), (2, 1, 2)), {}, "more-dims")
    yield SampleInput((make(rng, (2, 3)), (0, 1)), {}, "zero")


@op(samples=_tile_samples, ref=np.tile, method=True)
def tile(input, dims):
    """``input`` repeated ``dims[i]`` times along dim i; missing leading entries are 1."""
    dims = _dims(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


@op(Reshape, samples=lambda rng: [SampleInput((make(rng, (4, 3), noncontig=True),), {}, "noncontig")],
    ref=np.ravel, method=True)
def ravel(input):
    return reshape(input, (-1,))


@tensor_method
def sum_to_size(input, *size):
    """``input`` summed to ``size`` (which must broadcast to input's shape)."""
    return sum_to(input, size[0] if len(size) == 1 and not is_int(size[0]) else size)


# -- at least n dims, stacking ---------------------------------------------------------
def _atleast(n, name, places, ref):
    def fn(*tensors):
        ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
        out = tuple(t if t.ndim >= n else reshape(t, places[t.ndim](t.shape)) for t in ts)
        return out[0] if len(tensors) == 1 and isinstance(tensors[0], Tensor) else out
    fn.__name__ = name
    fn.__doc__ = f"Each tensor viewed with at least {n} dims (PyTorch's rule for the new ones)."
    return op(Reshape, samples=_atleast_samples, method=True,
              ref=lambda *xs: tuple(ref(*xs)) if len(xs) > 1 else ref(xs[0]))(fn)


def _atleast_samples(rng):
    yield SampleInput((make(rng, ()), make(rng, (3,)), make(rng, (2, 3)), make(rng, (1, 2, 1, 2))),
                      {}, "0d-to-4d")
    yield SampleInput((make(rng, (3,)),), {}, "one")


atleast_1d = _atleast(1, "atleast_1d", {0: lambda s: (1,)}, np.atleast_1d)
atleast_2d = _atleast(2, "atleast_2d", {0: lambda s: (1, 1), 1: lambda s: (1,) + s}, np.atleast_2d)
atleast_3d = _atleast(3, "atleast_3d", {0: lambda s: (1, 1, 1), 1: lambda s: (1,) + s + (1,),
                                        2: lambda s: s + (1,)}, np.atleast_3d)


def _stack_samples(rng):
    yield SampleInput(([make(rng, (2, 3)), make(rng, (2, 1))],), {}, "2d")
    yield SampleInput(([make(rng, (3,)), make(rng, (3,)), make(rng, ())],), {}, "1d-and-0d")


@op(Cat, Reshape, samples=_stack_samples, ref=np.hstack)
def hstack(tensors):
    """Tensors joined column-wise: along dim 0 when all are 1-D, else along dim 1."""
    ts = atleast_1d(tensors_of([tensors], "hstack"))
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def _vstack_samples(rng):
    yield SampleInput(([make(rng, (2, 3)), make(rng, (3,))],), {}, "2d-and-1d")
    yield SampleInput(([make(rng, (1, 2, 2)), make(rng, (3, 2, 2))],), {}, "3d")


@op(Cat, Reshape, samples=_vstack_samples, ref=np.vstack)
def vstack(tensors):
    """Tensors joined row-wise (dim 0) after ``atleast_2d``."""
    return cat(atleast_2d(tensors_of([tensors], "vstack")), 0)


row_stack = vstack


def _dstack_samples(rng):
    yield SampleInput(([make(rng, (2, 3)), make(rng, (2, 3, 2))],), {}, "2d-and-3d")
    yield SampleInput(([make(rng, (3,)), make(rng, (3,))],), {}, "1d")


@op(Cat, Reshape, samples=_dstack_samples, ref=np.dstack)
def dstack(tensors):
    """Tensors joined depth-wise (dim 2) after ``atleast_3d``."""
    return cat(atleast_3d(tensors_of([tensors], "dstack")), 2)


def _column_stack_samples(rng):
    yield SampleInput(([make(rng, (3,)), make(rng, (3, 2)), make(rng, (3,))],), {}, "mixed")
    yield SampleInput(([make(rng, ()), make(rng, ())],), {}, "0d")


@op(Cat, Reshape, samples=_column_stack_samples, ref=np.column_stack)
def column_stack(tensors):
    """0-d and 1-d tensors become columns (n, 1), then all are joined along dim 1."""
    ts = tensors_of([tensors], "column_stack")
    return cat([reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in ts], 1)


# -- splitting ---------------------------------------------------------------------------
def _split_points(indices_or_sections, n, name):
    """Start/stop pairs of PyTorch's tensor_split: ``k`` sections (the first ``n % k``
    one longer), or pieces cut at the given indices (clamped to [0, n])."""
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dtype.kind not in "iu" or indices_or_sections.ndim > 1:
            raise TypeError(f"{name}: a tensor indices_or_sections must be a 0-d or 1-d integer "
                            f"tensor, got {indices_or_sections.dtype} of shape "
                            f"{tuple(indices_or_sections.shape)}")
        indices_or_sections = indices_or_sections.array.tolist()
    if is_int(indices_or_sections):
        k = indices_or_sections
        if k <= 0:
            raise ValueError(f"{name}: number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        cuts = list(itertools.accumulate([q + 1] * r + [q] * (k - r - 1)))
    else:
        cuts = list(indices_or_sections)
        if not all(is_int(c) for c in cuts):
            raise TypeError(f"{name}: indices must be integers, got {cuts}")
    ends = [min(max(c + n if c < 0 else c, 0), n) for c in cuts]
    return list(zip([0] + ends, ends + [n]))


def _tensor_split_samples(rng):
    yield SampleInput((make(rng, (7, 2)), 3), {}, "sections")
    yield SampleInput((make(rng, (2, 5)), [1, 4]), dict(dim=1), "indices")
    yield SampleInput((make(rng, (5,)), [3, 1, 9]), {}, "overlapping-clamped")


@op(Split, GetItem, samples=_tensor_split_samples, method=True,
    ref=lambda x, s, dim=0: tuple(np.array_split(x, s, axis=dim)))
def tensor_split(input, indices_or_sections, dim=0):
    """Pieces of ``input`` along ``dim``: ``k`` near-equal sections, or cut at indices."""
    if input.ndim == 0:
        raise ValueError("tensor_split: expected at least a 1-dimensional tensor")
    d = normalize_dim(dim, input.ndim, "tensor_split")
    points = _split_points(indices_or_sections, input.shape[d], "tensor_split")
    if all(a <= b for a, b in points):         # consecutive pieces: one Split node
        return split(input, [b - a for a, b in points], d) if len(points) > 1 else (input,)
    return tuple(getitem(input, (slice(None),) * d + (slice(a, max(a, b)),)) for a, b in points)


def _split_alias(name, dim_of, min_ndim):
    def fn(input, indices_or_sections):
        if input.ndim < min_ndim:
            raise ValueError(f"{name}: requires a tensor with at least {min_ndim} dimension(s), "
                             f"but got a tensor with {input.ndim} dimensions")
        d = dim_of(input)
        if is_int(indices_or_sections) and indices_or_sections > 0 \
                and input.shape[d] % indices_or_sections:
            raise ValueError(f"{name}: attempted to split along dimension {d}, but the size of the "
                             f"dimension {input.shape[d]} is not divisible by the split_size "
                             f"{indices_or_sections}")
        return tensor_split(input, indices_or_sections, d)
    fn.__name__ = name
    fn.__doc__ = f"tensor_split along dim {name[0]} (sections must divide it evenly)."
    return fn


def _split_alias_samples(shape):
    def gen(rng):
        yield SampleInput((make(rng, shape), 2), {}, "sections")
        yield SampleInput((make(rng, shape), [1]), {}, "indices")
    return gen


hsplit = op(Split, samples=_split_alias_samples((3, 4)), method=True,
            ref=lambda x, s: tuple(np.hsplit(x, s)))(
    _split_alias("hsplit", lambda t: 0 if t.ndim == 1 else 1, 1))
vsplit = op(Split, samples=_split_alias_samples((4, 3)), method=True,
            ref=lambda x, s: tuple(np.vsplit(x, s)))(_split_alias("vsplit", lambda t: 0, 2))
dsplit = op(Split, samples=_split_alias_samples((2, 3, 4)), method=True,
            ref=lambda x, s: tuple(np.dsplit(x, s)))(_split_alias("dsplit", lambda t: 2, 3))


def _split_with_sizes_samples(rng):
    yield SampleInput((make(rng, (6, 2)), [1, 0, 5]), {}, "with-empty")
    yield SampleInput((make(rng, (2, 5)), [2, 3]), dict(dim=-1), "last-dim")


@op(Split, samples=_split_with_sizes_samples, method=True,
    ref=lambda x, s, dim=0: tuple(np.split(x, np.cumsum(s)[:-1], axis=dim)))
def split_with_sizes(input, split_sizes, dim=0):
    sizes = list(split_sizes)
    if not all(is_int(s, 0) for s in sizes):
        raise ValueError(f"split_with_sizes: split_sizes must be non-negative integers, got {sizes}")
    return tuple(split(input, sizes, dim))


# -- rotations and flips -------------------------------------------------------------------
def _rot90_samples(rng):
    yield SampleInput((make(rng, (2, 3)),), {}, "k1")
    yield SampleInput((make(rng, (2, 3, 4)), 2, (2, 0)), {}, "k2-dims")
    yield SampleInput((make(rng, (2, 3)), -1), {}, "k-1")


@op(Flip, Permute, samples=_rot90_samples, method=True,
    ref=lambda x, k=1, dims=(0, 1): np.rot90(x, k, dims))
def rot90(input, k=1, dims=(0, 1)):
    """``input`` rotated by 90 degrees ``k`` times, from the first of ``dims`` towards
    the second."""
    dims = tuple(dims)
    if len(dims) != 2 or input.ndim < 2:
        raise ValueError(f"rot90: expected 2 dims and a tensor with >= 2 dims, got dims {dims} "
                         f"and shape {tuple(input.shape)}")
    a, b = (normalize_dim(d, input.ndim, "rot90") for d in dims)
    if a == b:
        raise ValueError(f"rot90: the two rotation dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (b,)), a, b)
    if k == 2:
        return flip(input, (a, b))
    if k == 3:
        return transpose(flip(input, (a,)), a, b)
    return input.clone()


def _flip_lr_samples(rng):
    yield SampleInput((make(rng, (3, 4)),), {}, "2d")
    yield SampleInput((make(rng, (2, 3, 4)),), {}, "3d")


@op(Flip, samples=_flip_lr_samples, ref=np.fliplr, method=True)
def fliplr(input):
    if input.ndim < 2:
        raise ValueError(f"fliplr: input must be >= 2-d, got shape {tuple(input.shape)}")
    return flip(input, (1,))


@op(Flip, samples=_flip_lr_samples, ref=np.flipud, method=True)
def flipud(input):
    if input.ndim < 1:
        raise ValueError("flipud: input must be >= 1-d, got a 0-d tensor")
    return flip(input, (0,))


# -- block diagonal -----------------------------------------------------------------------
def _block_diag_samples(rng):
    yield SampleInput((make(rng, (2, 3)), make(rng, ()), make(rng, (2,))), {}, "mixed")
    yield SampleInput((make(rng, (2, 2)), make(rng, (1, 0))), {}, "empty-block")


def _block_diag_ref(*xs):
    mats = [np.reshape(x, (1, -1)) if x.ndim < 2 else x for x in xs]
    out = np.zeros((sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)))
    r = c = 0
    for m in mats:
        out[r:r + m.shape[0], c:c + m.shape[1]] = m
        r, c = r + m.shape[0], c + m.shape[1]
    return out


@op(Cat, samples=_block_diag_samples, ref=_block_diag_ref)
def block_diag(*tensors):
    """The tensors (0-d, 1-d as a row, or 2-d) as blocks along a matrix's diagonal."""
    ts = tensors_of(tensors, "block_diag")
    if any(t.ndim > 2 for t in ts):
        raise ValueError(f"block_diag: input tensors must have 2 or fewer dimensions, got shapes "
                         f"{[tuple(t.shape) for t in ts]}")
    if not ts:
        return Tensor._make(np.empty((1, 0)))
    dt = ts[0].dtype
    for t in ts[1:]:
        dt = promote_types(dt, t.dtype)
    mats = [reshape(t.to(dt), (1, -1)) if t.ndim < 2 else t.to(dt) for t in ts]
    width = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        rows.append(pad(m, (left, width - left - m.shape[1])))
        left += m.shape[1]
    return cat(rows, 0)


# -- transposes of matrices -------------------------------------------------------------------
def _matrix_h(self):
    if self.ndim not in (0, 2):
        raise RuntimeError(f"Tensor.H is only supported on matrices (2-D tensors), got a "
                           f"{self.ndim}-D tensor; use .mH for batches of matrices")
    return transpose(self, 0, 1) if self.ndim == 2 else self


def _batch_h(self):
    if self.ndim < 2:
        raise RuntimeError(f"Tensor.mH is only supported on tensors with >= 2 dims, got a "
                           f"{self.ndim}-D tensor")
    return transpose(self, -2, -1)       # the conjugate is the tensor itself: real dtypes only


Tensor.H = property(_matrix_h)
Tensor.mH = property(_batch_h)
adjoint = tensor_method(_batch_h, name="adjoint")


# -- scatter inverses of the views ------------------------------------------------------------
def _written(name, input, src, idx):
    """``input`` with ``src`` written at the basic index ``idx``; src must have exactly
    the shape of that region, as PyTorch's *_scatter ops require."""
    region = np.broadcast_to(np.empty((), np.bool_), input.shape)[idx].shape
    if tuple(src.shape) != region:
        raise ValueError(f"{name}: src must have the shape of the region it replaces, "
                         f"{region}, got {tuple(src.shape)} (input shape {tuple(input.shape)})")
    return IndexPut.apply(input, src, idx)


def _select_scatter_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (3,)), 1, 2), {}, "col")
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (3, 4)), 0, -1), {}, "negative")


def _select_scatter_ref(x, src, dim, index):
    out = x.copy()
    np.moveaxis(out, dim, 0)[index] = src
    return out


@op(IndexPut, samples=_select_scatter_samples, ref=_select_scatter_ref, method=True)
def select_scatter(input, src, dim, index):
    """``input`` with ``src`` written into ``input.select(dim, index)``."""
    return _written("select_scatter", input, src, _selected(input, dim, index, "select_scatter"))


def _slice_scatter_samples(rng):
    yield SampleInput((make(rng, (5, 3)), make(rng, (2, 3))), dict(start=1, end=5, step=2), "step")
    yield SampleInput((make(rng, (2, 4)), make(rng, (2, 4))), dict(dim=1), "whole")


def _slice_scatter_ref(x, src, dim=0, start=None, end=None, step=1):
    out = x.copy()
    np.moveaxis(out, dim, 0)[start:end:step] = np.moveaxis(src, dim, 0)
    return out


@op(IndexPut, samples=_slice_scatter_samples, ref=_slice_scatter_ref, method=True)
def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """``input`` with ``src`` written into ``input[..., start:end:step, ...]`` along ``dim``."""
    d = normalize_dim(dim, input.ndim, "slice_scatter")
    if not is_int(step, 1):
        raise ValueError(f"slice_scatter: step must be a positive integer, got {step!r}")
    return _written("slice_scatter", input, src, (slice(None),) * d + (slice(start, end, step),))


__all__ = ["adjoint", "as_strided", "atleast_1d", "atleast_2d", "atleast_3d", "block_diag",
           "column_stack", "dsplit", "dstack", "fliplr", "flipud", "hsplit", "hstack", "moveaxis",
           "movedim", "narrow", "ravel", "rot90", "row_stack", "select", "select_scatter",
           "slice_scatter", "split_with_sizes", "swapaxes", "swapdims", "tensor_split", "tile",
           "unflatten", "vsplit", "vstack"]
