"""More indexing: take and put on the flattened tensor, take_along_dim, PyTorch's
index_put / index_copy / index_fill / index_reduce, masked_select and masked_scatter,
and scatter_reduce with every reduction (and their in-place ``_`` forms).

All but ``scatter_reduce`` are compositions of indexing's primitives (gather,
scatter, index_add, the setitem core), whose VJPs are each other.  Index values are
checked on every sample's values and made non-negative by tensor ops, and the
indices reach the primitives as tensors, so under vmap each sample keeps its own
index and the primitives' batching rules run the op once for the whole batch.
``scatter_reduce`` is one primitive: its forward is NumPy's unbuffered ``ufunc.at``
(a segmented reduction), and its VJP follows PyTorch's (FunctionsManual.cpp,
scatter_reduce_backward): ties of amax/amin share the gradient equally; prod divides
the result by each factor, with the zeros handled by recomputing the product without
them.
"""
import numpy as np

from ..forward_ad import derived_jvp
from ..function import Primitive
from ..tensor import Tensor
from .binary import Where, where
from .indexing import (Gather, GetItem, IndexAdd, IndexPut, Scatter, _block, _check_index,
                       _check_same_dtype, _check_values, _gathered_back, _grid, _leading, gather,
                       getitem, index_add)
from .inplace import _method as in_place_method
from .batching import BatchedTensor, batch_operand, values_of
from .registry import SampleInput, make, op
from .shape import Expand, expand, normalize_dim, reshape


def _index_tensor(index, name):
    index = index if isinstance(index, Tensor) else Tensor(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor, got {index.dtype}")
    return index


def _positions(index, size, name, what, negative=True):
    """``index`` (an integer tensor, possibly batched; negative counts from the end where
    ``negative``) checked against ``size`` and made non-negative, as an int64 tensor: a
    tensor op, so that under vmap each sample keeps its own index."""
    values = values_of(index)            # every sample's, under vmap
    low = -size if negative else 0
    if values.size and (values.min() < low or values.max() >= size):
        raise IndexError(f"{name}: index out of range {what}: values must be in [{low}, {size}), "
                         f"got min {values.min()}, max {values.max()}")
    index = index.to(np.int64)
    return index % size if negative and values.size and values.min() < 0 else index


def _spread(index, d, shape):
    """A 1-D ``index`` along dim ``d`` as a scatter's index of ``shape`` (the same
    position for every element of a slice)."""
    at = [1] * len(shape)
    at[d] = index.shape[0]
    return expand(reshape(index, at), shape)


# -- take, put, take_along_dim -------------------------------------------------------------
def _take_samples(rng):
    yield SampleInput((make(rng, (3, 4)), Tensor._make(np.array([[0, 11], [-1, 0]]))), {}, "2d-negative")
    yield SampleInput((make(rng, (4, 3), noncontig=True), Tensor._make(np.array([5, 5, 2]))), {},
                      "noncontig-repeated")


@op(Gather, samples=_take_samples, ref=lambda x, i: np.take(x, i), method=True)
def take(input, index):
    """The elements of ``input`` as if flattened, at ``index`` (result in index's shape)."""
    index = _index_tensor(index, "take")
    n = input.numel()
    pos = _positions(index, n, "take", f"for a tensor of {n} elements")
    return reshape(Gather.apply(reshape(input, (-1,)), 0, reshape(pos, (-1,))), index.shape)


def _put_samples(rng):
    yield SampleInput((make(rng, (2, 3)), Tensor._make(np.array([4, -6])), make(rng, (2,))), {}, "set")
    yield SampleInput((make(rng, (2, 3)), Tensor._make(np.array([[1, 1], [0, 5]])), make(rng, (2, 2))),
                      dict(accumulate=True), "accumulate-repeated")


def _put_ref(x, index, source, accumulate=False):
    out = x.copy().reshape(-1)
    if accumulate:
        np.add.at(out, index.reshape(-1), source.reshape(-1))
    else:
        out[index.reshape(-1)] = source.reshape(-1)
    return out.reshape(x.shape)


@op(Scatter, IndexAdd, samples=_put_samples, ref=_put_ref, method=True)
def put(input, index, source, accumulate=False):
    """``input`` with ``source`` written (or, with accumulate, added) at the flat
    positions ``index``; index and source have the same number of elements."""
    index = _index_tensor(index, "put")
    if index.numel() != source.numel():
        raise ValueError(f"put: index ({index.numel()} elements) and source ({source.numel()} "
                         "elements) must have the same number of elements")
    n = input.numel()
    pos = reshape(_positions(index, n, "put", f"for a tensor of {n} elements"), (-1,))
    flat, values = reshape(input, (-1,)), reshape(source, (-1,))
    if accumulate:
        out = index_add(flat, 0, pos, values)
    else:
        out = Scatter.apply(flat, 0, pos, values)
    return reshape(out, input.shape)


def _take_along_samples(rng):
    yield SampleInput((make(rng, (3, 4)), Tensor._make(np.array([[0], [3], [1]]))), dict(dim=1), "dim1")
    yield SampleInput((make(rng, (3, 4)), Tensor._make(np.array([[2, 0, 1, 1]]))), dict(dim=0),
                      "broadcast-index")
    yield SampleInput((make(rng, (3, 1)), Tensor._make(np.array([[0, 0], [0, 0], [0, 0]]))),
                      dict(dim=0), "broadcast-input")
    yield SampleInput((make(rng, (2, 3)), Tensor._make(np.array([5, 0]))), {}, "flat")


def _take_along_ref(x, idx, dim=None):
    if dim is None:
        return np.take_along_axis(x.reshape(-1), idx.reshape(-1), 0)
    shape = list(np.broadcast_shapes(x.shape, idx.shape))
    xs, ids = list(shape), list(shape)
    xs[dim], ids[dim] = x.shape[dim], idx.shape[dim]
    return np.take_along_axis(np.broadcast_to(x, xs), np.broadcast_to(idx, ids), dim)


@op(Gather, Expand, samples=_take_along_samples, ref=_take_along_ref, method=True)
def take_along_dim(input, indices, dim=None):
    """The elements of ``input`` at ``indices`` along ``dim`` (gather, with input and
    indices broadcast in the other dims); without dim, of the flattened tensors."""
    indices = _index_tensor(indices, "take_along_dim")
    if dim is None:
        return gather(reshape(input, (-1,)), 0, reshape(indices, (-1,)))
    d = normalize_dim(dim, input.ndim, "take_along_dim")
    if indices.ndim != input.ndim:
        raise ValueError(f"take_along_dim: input ({tuple(input.shape)}) and indices "
                         f"({tuple(indices.shape)}) must have the same number of dims")
    rest = lambda s: s[:d] + (1,) + s[d + 1:]           # noqa: E731
    try:
        common = list(np.broadcast_shapes(rest(input.shape), rest(indices.shape)))
    except ValueError:
        raise ValueError(f"take_along_dim: input of shape {tuple(input.shape)} and indices of "
                         f"shape {tuple(indices.shape)} cannot be broadcast outside dim {d}") from None
    with_dim = lambda n: tuple(common[:d] + [n] + common[d + 1:])    # noqa: E731
    _check_values("take_along_dim", indices, input.shape[d], d, input.shape)
    return gather(expand(input, with_dim(input.shape[d])), d,
                  expand(indices, with_dim(indices.shape[d])).contiguous())


# -- index_put, index_copy, index_fill ------------------------------------------------------
def _index_put_rows(input, indices):
    """(the row positions, the index shape, the number of indexed dims): ``indices``
    (integer tensors, possibly batched, or bool masks, each over as many dims as it
    has) name places in input's first len(indices) dims; the positions are those
    places' numbers in row-major order over those dims, as one int64 tensor of the
    indices' broadcast shape."""
    items = []
    for i in indices:
        i = i if isinstance(i, Tensor) else Tensor(np.asarray(i))
        if i.dtype == np.bool_:
            if type(i) is BatchedTensor:
                raise RuntimeError("index_put: a bool mask index is batched (inside vmap): each "
                                   "sample would write a different number of places; use where")
            items.extend(Tensor._make(a) for a in np.nonzero(i.array))
        elif i.dtype.kind in "iu":
            items.append(i)
        else:
            raise IndexError(f"index_put: indices must be integer or bool tensors, got {i.dtype}")
    if len(items) > input.ndim:
        raise IndexError(f"index_put: too many indices ({len(items)}) for a tensor of shape "
                         f"{tuple(input.shape)}")
    try:
        shape = np.broadcast_shapes(*[tuple(i.shape) for i in items])
    except ValueError:
        raise IndexError(f"index_put: indices of shapes {[tuple(i.shape) for i in items]} cannot "
                         "be broadcast together") from None
    rows = Tensor._make(np.zeros((), np.int64))      # no indices: the one place
    for k, i in enumerate(items):       # rows = (...(i0 n1 + i1) n2 + i2 ...)
        n = input.shape[k]
        pos = _positions(i, n, "index_put", f"for dim {k} of size {n}")
        rows = pos if k == 0 else rows * n + pos
    return reshape(expand(rows, shape), (-1,)), shape, len(items)


def _index_put_samples(rng):
    yield SampleInput((make(rng, (4, 3)), (Tensor._make(np.array([3, 0])),), make(rng, (2, 3))), {}, "rows")
    yield SampleInput((make(rng, (3, 4)), (Tensor._make(np.array([0, 2, 0])), Tensor._make(np.array([1, 3, 1]))),
                       make(rng, (3,))), dict(accumulate=True), "points-accumulate-repeated")
    yield SampleInput((make(rng, (3, 4)), (Tensor._make(np.array([1, 2])),), make(rng, (4,))),
                      dict(accumulate=True), "broadcast-values")


def _index_put_ref(x, indices, values, accumulate=False):
    out = x.copy()
    idx = tuple(np.asarray(i.array if isinstance(i, Tensor) else i) for i in indices)
    if accumulate:
        np.add.at(out, idx, np.broadcast_to(values, out[idx].shape))
    else:
        out[idx] = values
    return out


@op(Scatter, IndexAdd, samples=_index_put_samples, ref=_index_put_ref, method=True)
def index_put(input, indices, values, accumulate=False):
    """``input`` with ``values`` written (accumulate: added, repeats summing) at
    ``input[indices]``, ``indices`` a tuple of integer or bool tensors: a scatter (an
    index_add) along the rows of input seen as (places of the indexed dims, rest)."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put: indices must be a tuple of tensors, got {type(indices).__name__}")
    rows, shape, m = _index_put_rows(input, indices)
    rest = tuple(input.shape[m:])
    region = tuple(shape) + rest
    values = values if isinstance(values, Tensor) else Tensor._make(np.asarray(values, input.dtype))
    try:
        np.broadcast_shapes(tuple(values.shape), region)
    except ValueError:
        raise ValueError(f"index_put: values of shape {tuple(values.shape)} cannot be broadcast to "
                         f"the indexed region of shape {region} (tensor shape {tuple(input.shape)})") from None
    places = (rows.shape[0],) + rest
    values = reshape(expand(values.to(input.dtype), region), places)
    table = reshape(input, (int(np.prod(input.shape[:m], dtype=np.int64)),) + rest)
    if accumulate:
        out = IndexAdd.apply(table, 0, rows, values)
    else:
        out = Scatter.apply(table, 0, _spread(rows, 0, places), values)
    return reshape(out, input.shape)


def _along_dim(name, input, dim, index, negative=False):
    """(dim, ``index`` as a 1-D int64 tensor of positions along it): 0-d or 1-d, in
    range; negative values count from the end only where PyTorch allows it
    (index_fill)."""
    index = _index_tensor(index, name)
    d = normalize_dim(dim, input.ndim, name)
    if index.ndim > 1:
        raise ValueError(f"{name}: index must be 0-d or 1-d, got shape {tuple(index.shape)}")
    n = input.shape[d] if input.ndim else 1
    return d, reshape(_positions(index, n, name, f"for dim {d} of size {n}", negative), (-1,))


def _index_copy_samples(rng):
    yield SampleInput((make(rng, (4, 3)), 0, Tensor._make(np.array([3, 0])), make(rng, (2, 3))), {}, "rows")
    yield SampleInput((make(rng, (2, 5)), -1, Tensor._make(np.array([4, 1, 2])), make(rng, (2, 3))),
                      {}, "last-dim")


def _index_copy_ref(x, dim, index, source):
    out = np.moveaxis(x.copy(), dim, 0)
    out[index] = np.moveaxis(source, dim, 0)
    return np.moveaxis(out, 0, dim)


@op(Scatter, samples=_index_copy_samples, ref=_index_copy_ref, method=True)
def index_copy(input, dim, index, source):
    """``input`` with ``source``'s slices i written at ``index[i]`` along ``dim``."""
    d, pos = _along_dim("index_copy", input, dim, index)
    expected = input.shape[:d] + (pos.shape[0],) + input.shape[d + 1:]
    if tuple(source.shape) != expected:
        raise ValueError(f"index_copy: source must have shape {expected} (input {tuple(input.shape)} "
                         f"with dim {d} of size len(index)), got {tuple(source.shape)}")
    return Scatter.apply(input, d, _spread(pos, d, expected), source)


def _index_fill_samples(rng):
    yield SampleInput((make(rng, (4, 3)), 0, Tensor._make(np.array([3, 0])), -1.5), {}, "number")
    yield SampleInput((make(rng, (2, 5)), 1, Tensor._make(np.array([4, 4])), make(rng, ())), {},
                      "tensor-value")


def _index_fill_ref(x, dim, index, value):
    out = np.moveaxis(x.copy(), dim, 0)
    out[index] = value
    return np.moveaxis(out, 0, dim)


@op(Scatter, Where, samples=_index_fill_samples, ref=_index_fill_ref, method=True)
def index_fill(input, dim, index, value):
    """``input`` with ``value`` (a number or a 0-d tensor) at ``index`` along ``dim``."""
    d, pos = _along_dim("index_fill", input, dim, index, negative=True)
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"index_fill: value must be a number or a 0-d tensor, got shape "
                         f"{tuple(value.shape)}")
    # A mask of the filled places along d: each place once, however often index repeats
    # it (value's gradient sums g over the places).
    n = input.shape[d] if input.ndim else 1
    chosen = Scatter.apply(Tensor._make(np.zeros(n, np.bool_)), 0, pos, True)
    mask = reshape(chosen, (n,) + (1,) * (input.ndim - d - 1)) if input.ndim else reshape(chosen, ())
    value = value.to(input.dtype) if isinstance(value, Tensor) else np.asarray(value, input.dtype)
    return where(mask, value, input)


# -- masked_select, masked_scatter ------------------------------------------------------------
def _bool_mask(mask, name):
    mask = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{name}: mask must be a bool tensor, got {mask.dtype}")
    return mask


def _masked_select_samples(rng):
    x = make(rng, (3, 4))
    yield SampleInput((x, x.array > 0), {}, "same-shape")
    yield SampleInput((make(rng, (3, 1)), np.array([True, False, True, True])), {}, "broadcast")


@op(GetItem, Expand, samples=_masked_select_samples, method=True,
    ref=lambda x, mask: np.broadcast_to(x, np.broadcast_shapes(x.shape, mask.shape))[
        np.broadcast_to(mask, np.broadcast_shapes(x.shape, mask.shape))])
def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` is True (both broadcast), as a 1-D tensor."""
    mask = _bool_mask(mask, "masked_select")
    try:
        shape = np.broadcast_shapes(tuple(input.shape), mask.shape)
    except ValueError:
        raise ValueError(f"masked_select: input of shape {tuple(input.shape)} and mask of shape "
                         f"{mask.shape} cannot be broadcast together") from None
    return getitem(expand(input, shape), np.broadcast_to(mask, shape))


def _masked_scatter_samples(rng):
    x = make(rng, (3, 4))
    yield SampleInput((x, x.array > 0, make(rng, (12,))), {}, "same-shape")
    yield SampleInput((make(rng, (2, 3)), np.array([True, False, True]), make(rng, (3, 3))), {},
                      "broadcast-mask-longer-source")


def _masked_scatter_ref(x, mask, source):
    out = x.copy()
    m = np.broadcast_to(mask, x.shape)
    out[m] = source.reshape(-1)[:m.sum()]
    return out


@op(IndexPut, GetItem, samples=_masked_scatter_samples, ref=_masked_scatter_ref, method=True)
def masked_scatter(input, mask, source):
    """``input`` with the first elements of ``source`` (in order) written where ``mask``
    (broadcast to input) is True."""
    mask = _bool_mask(mask, "masked_scatter")
    try:
        mask = np.broadcast_to(mask, np.broadcast_shapes(tuple(input.shape), mask.shape))
    except ValueError:
        raise ValueError(f"masked_scatter: mask of shape {mask.shape} cannot be broadcast to input "
                         f"of shape {tuple(input.shape)}") from None
    if mask.shape != input.shape:
        input = expand(input, mask.shape)
    n = int(mask.sum())
    if source.numel() < n:
        raise ValueError(f"masked_scatter: source has {source.numel()} elements, fewer than the "
                         f"{n} True elements of the mask")
    return IndexPut.apply(input, getitem(reshape(source, (-1,)), slice(0, n)), mask)


# -- scatter_reduce and index_reduce -----------------------------------------------------------
_REDUCES = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum,
            "amin": np.minimum}


def _identity(reduce, dtype):
    """The value a reduction starts from when the input's own value is left out."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    return -big if reduce == "amax" else big


def _count_at(shape, dim, index, mask):
    """How many True entries of ``mask`` (index's shape) a scatter along dim sends to
    each place of ``shape``."""
    out = np.zeros(shape, np.int64)
    np.add.at(out, _grid(index, dim), mask)
    return out


def _at(a, dim, index):
    """The array ``a`` gathered at ``index`` along ``dim`` (index may be smaller)."""
    return np.take_along_axis(a[_leading(index.shape, a.shape, dim)], index, dim)


def _padded(mask, shape):
    """A bool mask over src's leading block, widened to src's shape with False."""
    out = np.zeros(shape, np.bool_)
    out[_block(mask.shape)] = mask
    return out


class ScatterReduce(Primitive):
    """``out = x`` with ``src`` reduced into the places ``index`` names along ``dim``
    (including x's own value unless include_self is False)."""
    @staticmethod
    def batch_rule(b, x, dim, index, src, reduce, include_self):
        return ScatterReduce.apply(batch_operand(b, x, 0), dim + 1, batch_operand(b, index, 2),
                                   batch_operand(b, src, 3), reduce, include_self)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce, include_self):
        ctx.dim, ctx.reduce, ctx.include_self = dim, reduce, include_self
        grid = _grid(index, dim)
        out = x.copy()
        hit = _count_at(x.shape, dim, index, 1)             # how many src elements reach each place
        if not include_self:
            out[grid] = _identity(reduce, x.dtype)
        _REDUCES[reduce].at(out, grid, src[_block(index.shape)])
        count = np.maximum(hit + include_self, 1)
        if reduce == "mean":
            out = out // count if out.dtype.kind in "iub" else out / count.astype(out.dtype)
        ctx.save_for_backward(x, index, src, out, (hit == 0).astype(x.dtype), count.astype(x.dtype))
        return out

    @staticmethod
    def backward(ctx, g):
        x, index, src, result, untouched, count = ctx.saved_tensors
        dim, reduce, include_self = ctx.dim, ctx.reduce, ctx.include_self
        at_src = lambda t: _gathered_back(t, dim, index, src.shape)    # noqa: E731  (t read at index)
        if reduce in ("sum", "mean"):
            share = g / count if reduce == "mean" else g               # d mean / d term = 1 / count
            dx, dsrc = (share if include_self else g * untouched), at_src(share)
        elif reduce == "prod":
            dx, dsrc = _prod_grads(g, x, dim, index, src, result, include_self, untouched, at_src)
        else:
            # The places that hold the extreme share g equally (PyTorch's rule).  As in
            # PyTorch, an input equal to the extreme counts as a share even when
            # include_self=False leaves it out (its own share is then dropped).
            x_hit = x.array == result.array
            s_hit = src.array[_block(index.shape)] == _at(result.array, dim, index.array)
            ties = x_hit + _count_at(x.shape, dim, index.array, s_hit)
            share = g / Tensor._make(np.maximum(ties, 1).astype(x.dtype))
            if not include_self:
                x_hit &= untouched.array.astype(bool)
            dx = share * Tensor._make(x_hit.astype(x.dtype))
            dsrc = at_src(share) * Tensor._make(_padded(s_hit, src.shape).astype(x.dtype))
        return dx, None, None, dsrc, None, None


def _prod_grads(g, x, dim, index, src, result, include_self, untouched, at_src):
    """PyTorch's prod VJP: d out / d factor = the product of the other factors: the
    result over the factor where that is not 0, else the product reduced again with
    the zero replaced by 1 (non-zero only where it is its group's one zero)."""
    one = np.ones((), x.dtype)
    if include_self:
        masked_x = where(x.array == 0, one, x)
        dx = g * scatter_reduce(masked_x, dim, index, src, "prod") / masked_x
    else:
        dx = g * untouched
    s_zero = src.array == 0
    zeros = _count_at(x.shape, dim, index.array, s_zero[_block(index.shape)])
    single = s_zero & _padded(_at(zeros, dim, index.array) == 1, src.shape)
    without = scatter_reduce(x, dim, index, where(single, one, src), "prod", include_self=include_self)
    dsrc = where(single, at_src(g * without), at_src(g * result) / where(s_zero, one, src))
    return dx, dsrc


def _scatter_reduce_samples(rng):
    index = Tensor._make(np.array([[0, 2, 0, 0], [1, 2, 2, 0]]))
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            yield SampleInput((make(rng, (3, 4), low=0.5, high=2), 0, index,
                               make(rng, (2, 5), low=0.5, high=2), reduce),
                              dict(include_self=include_self), f"{reduce}-self{include_self}")
    yield SampleInput((make(rng, (2, 3)), 1, Tensor._make(np.array([[2, 2], [0, 1]])), make(rng, (2, 2)),
                       "amax"), {}, "dim1")
    zero = make(rng, (2, 3), low=0.5, high=2)
    zero.array[0, 1] = 0.0             # prod's gradient where one factor is 0
    yield SampleInput((make(rng, (2, 2), low=0.5, high=2), 1, Tensor._make(np.array([[0, 0, 1], [1, 1, 1]])),
                       zero, "prod"), {}, "prod-one-zero")


def _scatter_reduce_ref(x, dim, index, src, reduce, include_self=True):
    out = x.astype(np.float64)
    groups = {}
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        groups.setdefault(tuple(target), []).append(src[pos])
    fns = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}
    for target, values in groups.items():
        out[target] = fns[reduce](values + ([x[target]] if include_self else []))
    return out


@op(ScatterReduce, Gather, samples=_scatter_reduce_samples, ref=_scatter_reduce_ref, method=True)
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``input`` with each element of ``src`` reduced into the place ``index`` names
    along ``dim``; ``reduce`` is "sum", "prod", "mean", "amax" or "amin", and
    ``include_self`` says whether input's own value takes part."""
    if reduce not in _REDUCES:
        raise ValueError(f"scatter_reduce: reduce must be one of {sorted(_REDUCES)}, got {reduce!r}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce: src must be a tensor, got {type(src).__name__}")
    index = _index_tensor(index, "scatter_reduce")
    d = _check_index("scatter_reduce", input, dim, index, src)
    _check_same_dtype("scatter_reduce", input, src, "src")
    return ScatterReduce.apply(input, d, index, src, reduce, bool(include_self))


def _index_reduce_samples(rng):
    for reduce in ("prod", "mean", "amax", "amin"):
        yield SampleInput((make(rng, (3, 2), low=0.5, high=2), 0, Tensor._make(np.array([2, 0, 2])),
                           make(rng, (3, 2), low=0.5, high=2), reduce), {}, reduce)
    yield SampleInput((make(rng, (2, 4), low=0.5, high=2), 1, Tensor._make(np.array([3, 3])),
                       make(rng, (2, 2), low=0.5, high=2), "mean"), dict(include_self=False), "no-self")


def _index_reduce_ref(x, dim, index, source, reduce, include_self=True):
    along = [1] * x.ndim
    along[dim] = -1
    idx = np.broadcast_to(index.reshape(along), source.shape)
    return _scatter_reduce_ref(x, dim, idx, source, reduce, include_self)


@op(ScatterReduce, samples=_index_reduce_samples, ref=_index_reduce_ref, method=True)
def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """``input`` with ``source``'s slice i reduced into the slice ``index[i]`` along
    ``dim``; ``reduce`` is "prod", "mean", "amax" or "amin" (scatter_reduce with the
    index broadcast along the other dims)."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ValueError(f"index_reduce: reduce must be 'prod', 'mean', 'amax' or 'amin', got {reduce!r}")
    d, pos = _along_dim("index_reduce", input, dim, index)
    expected = input.shape[:d] + (pos.shape[0],) + input.shape[d + 1:]
    if tuple(source.shape) != expected:
        raise ValueError(f"index_reduce: source must have shape {expected} (input {tuple(input.shape)} "
                         f"with dim {d} of size len(index)), got {tuple(source.shape)}")
    return scatter_reduce(input, d, _spread(pos, d, expected).contiguous(), source, reduce,
                          include_self=include_self)


# -- in-place forms ------------------------------------------------------------------------
for _name, _fn in [("index_put_", index_put), ("index_copy_", index_copy),
                   ("index_fill_", index_fill), ("masked_scatter_", masked_scatter),
                   ("scatter_reduce_", scatter_reduce), ("index_reduce_", index_reduce),
                   ("put_", put)]:
    in_place_method(_name, _fn)


__all__ = ["index_copy", "index_fill", "index_put", "index_reduce", "masked_scatter",
           "masked_select", "put", "scatter_reduce", "take", "take_along_dim"]
