"""Indexing: ``x[idx]``, ``x[idx] = v``, gather/scatter/scatter_add, index_select,
index_add, masked_fill.

``x[idx]``'s VJP scatters the gradient into zeros with *addition*, so an index
repeated in an integer array receives the sum of its gradients.  That scatter is
linear and its VJP is the gather ``g[idx]`` again.
"""
import numpy as np

from ..function import Primitive
from ..kernels.index import index_add_rows
from ..tensor import Tensor, tensor_method
from .binary import where
from .registry import SampleInput, make, op
from .pad import pad
from .shape import normalize_dim
from ..forward_ad import derived_jvp, linear_jvp
from .batching import BatchedTensor, batch_operand, dims_batch_rule, per_sample, values_of


def _index_array(i):
    if type(i) is BatchedTensor:
        raise RuntimeError("indexing: the index tensor is batched (inside vmap): one index per "
                           "sample is not supported by x[idx]; use gather, take_along_dim or "
                           "index_select, which batch")
    if isinstance(i, Tensor):
        i = i.array
    if isinstance(i, list):
        i = np.asarray(i)
    if isinstance(i, np.ndarray) and i.dtype.kind not in "bui":
        raise IndexError(f"indexing: tensors used as indices must be integer or bool, got {i.dtype}")
    return i


def convert_index(idx):
    """Tensors/lists inside an index become arrays; returns (index, is_basic)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    items = tuple(_index_array(i) for i in items)
    basic = not builtin_any(isinstance(i, np.ndarray) for i in items)
    return (items if isinstance(idx, tuple) else items[0]), basic


builtin_any = any


def batch_index(idx):
    """``idx`` for a value with a leading batch dim, and where the batch dim lands in the
    result.  The batch is a leading full slice; NumPy puts the dims of advanced indices
    (arrays, and ints among them) first when they are not adjacent, which the leading
    slice leaves so only where they already were: the batch then follows them."""
    items = idx if isinstance(idx, tuple) else (idx,)
    arrays = builtin_any(isinstance(i, np.ndarray) for i in items)
    adv = [k for k, i in enumerate(items)
           if isinstance(i, np.ndarray) or (arrays and isinstance(i, (int, np.integer)))]
    batch_idx = (slice(None),) + items
    if not adv or adv == list(range(adv[0], adv[-1] + 1)):
        return batch_idx, 0
    shapes = [(int(np.count_nonzero(items[k])),) if getattr(items[k], "dtype", None) == bool
              else np.shape(items[k]) for k in adv]
    return batch_idx, len(np.broadcast_shapes(*shapes))


def _index_error(name, shape, idx, err):
    return IndexError(f"{name}: {err} (tensor of shape {tuple(shape)}, index {_describe(idx)})")


def _describe(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return "[" + ", ".join(f"array{i.shape}" if isinstance(i, np.ndarray) else repr(i) for i in items) + "]"


class GetItem(Primitive):
    @staticmethod
    def batch_rule(b, x, idx, basic):
        batch_idx, at = batch_index(idx)
        y = GetItem.apply(x, batch_idx, basic)
        return y if at == 0 else y.movedim(at, 0)
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, idx, basic):
        ctx.in_shape, ctx.idx, ctx.basic = x.shape, idx, basic
        try:
            return x[idx]
        except IndexError as e:
            raise _index_error("getitem", x.shape, idx, e) from None

    @staticmethod
    def backward(ctx, g):
        return IndexAddZeros.apply(g, ctx.in_shape, ctx.idx, ctx.basic), None, None


class IndexAddZeros(Primitive):
    """zeros(shape) with g added at idx: the VJP of ``x[idx]``."""
    @staticmethod
    def batch_rule(b, g, shape, idx, basic):
        batch_idx, at = batch_index(idx)
        return IndexAddZeros.apply(g if at == 0 else g.movedim(0, at), (b.size,) + tuple(shape),
                                   batch_idx, basic)
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, g, shape, idx, basic):
        ctx.idx, ctx.basic = idx, basic
        out = np.zeros(shape, g.dtype)
        if basic:
            out[idx] = g
        elif type(idx) is np.ndarray and idx.dtype.kind in "iu" and len(shape) >= 1 and g.size:
            # Rows picked by one integer array (an embedding lookup): the compiled scatter.
            rows = int(np.prod(shape[1:], dtype=np.int64))
            index_add_rows(out.reshape(shape[0], rows), idx.reshape(-1).astype(np.int64, copy=False),
                           np.ascontiguousarray(g).reshape(-1, rows))
        else:
            np.add.at(out, idx, g)
        return out

    @staticmethod
    def backward(ctx, gg):
        return GetItem.apply(gg, ctx.idx, ctx.basic), None, None, None   # d(scatter)* = gather


def _getitem_samples(rng):
    yield SampleInput((make(rng, (4, 5)), 1), {}, "int")
    yield SampleInput((make(rng, (4, 5)), (slice(None, None, -2), slice(1, 4))), {}, "neg-step")
    yield SampleInput((make(rng, (2, 3, 4)), (Ellipsis, None, 1)), {}, "ellipsis-none")
    yield SampleInput((make(rng, (5, 3)), np.array([0, 2, 2, 4])), {}, "repeated-int-array")
    x = make(rng, (3, 4))
    yield SampleInput((x, x.array > 0), {}, "bool-mask")
    yield SampleInput((make(rng, (4, 3), noncontig=True), (slice(1, 3), np.array([2, 0]))), {}, "mixed")


@op(GetItem, samples=_getitem_samples, ref=lambda x, idx: x[idx], method="__getitem__")
def getitem(input, idx):
    idx, basic = convert_index(idx)
    out = GetItem.apply(input, idx, basic)
    if basic and out._base is not None:
        out._view = (input, idx)          # lets in-place ops on the view update input
    return out


def _index_add_samples(rng):
    yield SampleInput((make(rng, (4, 3)), (5, 3), np.array([0, 2, 2, 4]), False), {}, "repeated")
    yield SampleInput((make(rng, (2, 2)), (4, 5), (slice(1, 3), slice(0, 2)), True), {}, "basic")
    yield SampleInput((make(rng, (2, 3, 5)), (4, 5), np.array([[0, -1, 0], [3, 3, 1]]), False),
                      {}, "embedding-rows")


def _index_add_ref(g, shape, idx, basic):
    out = np.zeros(shape)
    np.add.at(out, idx, g)
    return out


@op(IndexAddZeros, samples=_index_add_samples, ref=_index_add_ref)
def index_add_zeros(grad, shape, idx, basic):
    """The VJP of indexing (exposed for the op registry's sweep)."""
    return IndexAddZeros.apply(grad, shape, idx, basic)


class IndexPut(Primitive):
    """``out = x.copy(); out[idx] = v`` — the out-of-place core of ``x[idx] = v``."""
    @staticmethod
    def batch_rule(b, x, v, idx):
        x = x if b.batched[0] else b.expand(x)
        batch_idx, at = batch_index(idx)
        if isinstance(v, Tensor):       # v broadcasts to x[idx] per sample: align, then place
            rank = np.broadcast_to(np.empty((), x.array.dtype), x.shape[1:])[idx].ndim
            v = v if b.batched[1] else b.expand(v)
            v = v.reshape((b.size,) + (1,) * (rank - v.ndim + 1) + tuple(v.shape[1:]))
            v = v if at == 0 else v.movedim(0, at)
        return IndexPut.apply(x, v, batch_idx)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, v, idx):
        out = x.copy()
        try:
            out[idx] = v
        except IndexError as e:
            raise _index_error("setitem", x.shape, idx, e) from None
        except ValueError:
            raise ValueError(f"setitem: value of shape {np.shape(v)} cannot be broadcast to the "
                             f"indexed region of shape {x[idx].shape} (tensor shape {x.shape})") from None
        keep = np.ones(x.shape, x.dtype)
        keep[idx] = 0
        ctx.save_for_backward(keep)
        ctx.idx, ctx.v_shape = idx, np.shape(v)
        return out

    @staticmethod
    def backward(ctx, g):
        keep, = ctx.saved_tensors
        dv = None
        if ctx.needs_input_grad[1]:
            dv = g[ctx.idx].sum_to(ctx.v_shape)     # dv = g over the written region
        return g * keep, dv, None                   # dx = g outside the region


def _setitem_samples(rng):
    yield SampleInput((make(rng, (4, 5)), make(rng, (5,)), 1), {}, "row")
    yield SampleInput((make(rng, (4, 5)), make(rng, (2, 1)), (slice(0, 2), slice(1, 4))), {}, "broadcast-block")
    yield SampleInput((make(rng, (4, 3)), make(rng, (2, 3)), np.array([3, 0])), {}, "int-array")


# Registered as "setitem" (it is ``x[idx] = v``'s core): "index_put" is PyTorch's
# index_put(input, indices, values, accumulate), in indexing_more.py.
@op(IndexPut, samples=_setitem_samples, ref=lambda x, v, idx: _put_ref(x, v, idx), name="setitem")
def index_put(input, value, idx):
    """Out-of-place ``input[idx] = value``; ``x[idx] = v`` on a tensor uses it in place."""
    idx, _ = convert_index(idx)
    return IndexPut.apply(input, value, idx)


def _put_ref(x, v, idx):
    out = x.copy()
    out[idx] = v
    return out


class Gather(Primitive):
    @staticmethod
    def batch_rule(b, x, dim, index):
        return Gather.apply(batch_operand(b, x, 0), dim + 1, batch_operand(b, index, 2))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.in_shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)
        return np.take_along_axis(x[_leading(index.shape, x.shape, dim)], index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        zeros = Tensor._make(np.zeros(ctx.in_shape, g.dtype))
        return zeros.scatter_add(ctx.dim, index, g), None, None   # dx = g added at index


def _leading(index_shape, shape, dim):
    """PyTorch lets index be smaller than input outside ``dim``: use the leading block."""
    return tuple(slice(None) if d == dim else slice(0, index_shape[d]) for d in range(len(shape)))


def _grid(index, dim):
    """The places a scatter along ``dim`` writes: ``index`` along dim, position elsewhere."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def _block(index_shape):
    """The leading block of src that a scatter reads: src may be larger than index in
    every dim."""
    return tuple(slice(0, n) for n in index_shape)


class ScatterAdd(Primitive):
    @staticmethod
    def batch_rule(b, x, dim, index, src):
        return ScatterAdd.apply(batch_operand(b, x, 0), dim + 1, batch_operand(b, index, 2),
                                batch_operand(b, src, 3))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dim, index, src):
        ctx.dim, ctx.src_shape = dim, src.shape
        ctx.save_for_backward(index)
        out = x.copy()
        np.add.at(out, _grid(index, dim), src[_block(index.shape)])
        return out

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        dsrc = None
        if ctx.needs_input_grad[3]:
            dsrc = _gathered_back(g, ctx.dim, index, ctx.src_shape)   # dsrc = g read back at index
        return g, None, None, dsrc                      # dx = g


def _check_index(name, input, dim, index, src=None):
    """PyTorch's rules for gather/scatter: index has input's ndim, integer values in
    range along ``dim``, and is no larger than input outside ``dim`` nor than src."""
    d = normalize_dim(dim, input.ndim, name)
    if index.ndim != input.ndim:
        raise ValueError(f"{name}: index must have the same number of dimensions as input "
                         f"({input.ndim}, shape {tuple(input.shape)}), got index shape {tuple(index.shape)}")
    _check_values(name, index, input.shape[d], d, input.shape)
    for i in range(input.ndim):
        if i != d and index.shape[i] > input.shape[i]:
            raise ValueError(f"{name}: index shape {tuple(index.shape)} is larger than input shape "
                             f"{tuple(input.shape)} in dim {i}")
        if isinstance(src, Tensor) and index.shape[i] > src.shape[i]:
            raise ValueError(f"{name}: index shape {tuple(index.shape)} is larger than src shape "
                             f"{tuple(src.shape)} in dim {i}")
    return d


def _check_values(name, index, size, d, shape):
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor, got {index.dtype}")
    values = values_of(index)            # every sample's, under vmap
    if values.size and (values.min() < 0 or values.max() >= size):
        raise IndexError(f"{name}: index values must be in [0, {size}) for dim {d} of "
                         f"input shape {tuple(shape)}; got min {values.min()}, max {values.max()}")


def _check_same_dtype(name, input, src, what):
    if isinstance(src, Tensor) and src.dtype != input.dtype:
        raise TypeError(f"{name}: input ({input.dtype}) and {what} ({src.dtype}) must have the "
                        "same dtype")


def _gather_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 1, Tensor._make(rng.integers(0, 4, (3, 2)))), {}, "dim1")
    yield SampleInput((make(rng, (3, 4)), 0, Tensor._make(rng.integers(0, 3, (5, 4)))), {}, "dim0-repeats")


@op(Gather, ScatterAdd, samples=_gather_samples,
    ref=lambda x, dim, index: np.take_along_axis(x[_leading(index.shape, x.shape, dim)], index, axis=dim),
    method=True)
def gather(input, dim, index):
    index = index if isinstance(index, Tensor) else Tensor(index)
    d = _check_index("gather", input, dim, index)
    return Gather.apply(input, d, index)


def _scatter_add_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 1, Tensor._make(rng.integers(0, 4, (3, 2))), make(rng, (3, 2))), {}, "dim1")
    yield SampleInput((make(rng, (3, 4)), 0, Tensor._make(rng.integers(0, 3, (2, 4))), make(rng, (3, 5))), {}, "src-larger")


def _scatter_add_ref(x, dim, index, src):
    out = x.copy()
    np.add.at(out, _grid(index, dim), src[_block(index.shape)])
    return out


@op(ScatterAdd, Gather, samples=_scatter_add_samples, ref=_scatter_add_ref, method=True)
def scatter_add(input, dim, index, src):
    index = index if isinstance(index, Tensor) else Tensor(index)
    d = _check_index("scatter_add", input, dim, index, src)
    return ScatterAdd.apply(input, d, index, src)


class Scatter(Primitive):
    """``out = x.copy(); out[index along dim] = src`` (an array, or a number)."""
    @staticmethod
    def batch_rule(b, x, dim, index, src):
        if np.ndim(src) or isinstance(src, Tensor):
            src = batch_operand(b, src, 3)
        return Scatter.apply(batch_operand(b, x, 0), dim + 1, batch_operand(b, index, 2), src)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dim, index, src):
        ctx.dim, ctx.src_shape = dim, np.shape(src)
        ctx.save_for_backward(index)
        out = x.copy()
        out[_grid(index, dim)] = src[_block(index.shape)] if np.ndim(src) else src
        return out

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        dsrc = None
        if ctx.needs_input_grad[3]:
            dsrc = _gathered_back(g, ctx.dim, index, ctx.src_shape)     # dsrc = g read at index
        return Scatter.apply(g, ctx.dim, index, 0.0), None, None, dsrc  # dx = g, 0 where written


def _gathered_back(g, dim, index, shape):
    """``g`` gathered at ``index``, padded with zeros to ``shape``: where src was larger
    than index, the unread rest gets zero gradient."""
    out = gather(g, dim, index)
    if out.shape != shape:
        out = pad(out, sum(((0, s - d) for s, d in zip(shape[::-1], out.shape[::-1])), ()))
    return out


def _scatter_samples(rng):
    # No index repeats along dim: where two src elements hit one place, the survivor is
    # unspecified (as in PyTorch), and so is the derivative.
    yield SampleInput((make(rng, (3, 4)), 1, Tensor._make(np.array([[3, 0], [1, 2], [0, 3]])),
                       make(rng, (3, 2))), {}, "dim1")
    yield SampleInput((make(rng, (3, 4)), 0, Tensor._make(np.array([[2, 0, 1, 0], [0, 1, 2, 2]])),
                       make(rng, (3, 5))), {}, "src-larger")
    yield SampleInput((make(rng, (2, 3)), -1, Tensor._make(np.array([[1], [0]])), 2.5), {}, "value")


def _scatter_ref(x, dim, index, src=None, value=None):
    out = x.copy()
    src = value if src is None else src
    out[_grid(index, dim)] = src[_block(index.shape)] if np.ndim(src) else src
    return out


@op(Scatter, Gather, samples=_scatter_samples, ref=_scatter_ref, method=True)
def scatter(input, dim, index, src=None, value=None, reduce=None):
    """``input`` with ``src`` (a tensor, or the number ``value``) written at ``index``
    along ``dim``, as PyTorch's scatter; ``reduce="add"`` is scatter_add."""
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor or a number) and value")
    src = value if src is None else src
    if reduce is not None:
        if reduce != "add" or not isinstance(src, Tensor):
            raise ValueError(f"scatter: reduce={reduce!r} is not supported; use scatter_add for "
                             "reduce='add' with a tensor src, or scatter_reduce")
        return scatter_add(input, dim, index, src)
    index = index if isinstance(index, Tensor) else Tensor(index)
    d = _check_index("scatter", input, dim, index, src)
    _check_same_dtype("scatter", input, src, "src")
    if not isinstance(src, Tensor):
        src = np.asarray(src, input.dtype).item()
    return Scatter.apply(input, d, index, src)


class IndexAdd(Primitive):
    """``out = x.copy(); out[..., index[i], ...] += source[..., i, ...]`` along ``dim``."""
    @staticmethod
    def batch_rule(b, x, dim, index, source):
        x, source = batch_operand(b, x, 0), batch_operand(b, source, 3)
        if not b.batched[2]:
            return IndexAdd.apply(x, dim + 1, index, source)
        # one index per sample: a scatter_add of source along dim at index, spread over
        # source's other dims
        at = [1] * source.ndim
        at[0], at[dim + 1] = b.size, index.shape[1]
        spread = index.reshape(at).expand(tuple(source.shape))
        return ScatterAdd.apply(x, dim + 1, spread, source)
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dim, index, source):
        ctx.dim = dim
        ctx.save_for_backward(index)
        # The compiled row scatter-add works on (rows, row size): move dim to the front.
        out = np.moveaxis(x, dim, 0).copy()
        row = int(np.prod(out.shape[1:], dtype=np.int64))
        rows = np.ascontiguousarray(np.moveaxis(source, dim, 0)).reshape(len(index), row)
        index_add_rows(out.reshape(len(out), row), index.astype(np.int64, copy=False), rows)
        return np.ascontiguousarray(np.moveaxis(out, 0, dim))

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        dsource = index_select(g, ctx.dim, index) if ctx.needs_input_grad[3] else None
        return g, None, None, dsource               # dx = g, dsource = g at index along dim


def _index_add_samples_public(rng):
    yield SampleInput((make(rng, (4, 3)), 0, Tensor._make(np.array([3, 0, 3])), make(rng, (3, 3))),
                      {}, "rows-repeated")
    yield SampleInput((make(rng, (2, 5, 3)), 1, Tensor._make(np.array([4, 1])), make(rng, (2, 2, 3))),
                      dict(alpha=-0.5), "middle-dim-alpha")
    yield SampleInput((make(rng, (4, 3), noncontig=True), -1, Tensor._make(np.array([0, 0])),
                       make(rng, (4, 2))), {}, "noncontig-last-dim")


def _index_add_public_ref(x, dim, index, source, alpha=1):
    out = np.moveaxis(x.copy(), dim, 0)
    np.add.at(out, index, np.moveaxis(source, dim, 0) * alpha)
    return np.moveaxis(out, 0, dim)


@op(IndexAdd, GetItem, samples=_index_add_samples_public, ref=_index_add_public_ref, method=True)
def index_add(input, dim, index, source, alpha=1):
    """``input`` with ``alpha * source`` added at the positions ``index`` along ``dim``
    (repeated indices accumulate), as PyTorch's index_add."""
    index = index if isinstance(index, Tensor) else Tensor(index)
    d = normalize_dim(dim, input.ndim, "index_add")
    if index.ndim > 1:
        raise ValueError(f"index_add: index must be 1-D, got shape {tuple(index.shape)}")
    _check_values("index_add", index, input.shape[d], d, input.shape)
    if not isinstance(source, Tensor):
        raise TypeError(f"index_add: source must be a tensor, got {type(source).__name__}")
    _check_same_dtype("index_add", input, source, "source")
    expected = input.shape[:d] + (index.numel(),) + input.shape[d + 1:]
    if source.shape != expected:
        raise ValueError(f"index_add: source must have shape {expected} (input {tuple(input.shape)} "
                         f"with dim {d} of size len(index) = {index.numel()}), got {tuple(source.shape)}")
    return IndexAdd.apply(input, d, index.reshape(-1), source if alpha == 1 else source * alpha)


def _index_select_samples(rng):
    yield SampleInput((make(rng, (4, 3)), 0, np.array([3, 0, 3])), {}, "rows-repeated")
    yield SampleInput((make(rng, (2, 5)), 1, np.array([4, 1])), {}, "cols")


@op(GetItem, samples=_index_select_samples, method=True,
    ref=lambda x, dim, index: np.take(x, index, axis=dim))
def index_select(input, dim, index):
    index = index.array if isinstance(index, Tensor) else np.asarray(index)
    if index.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
    d = normalize_dim(dim, input.ndim, "index_select")
    return getitem(input, (slice(None),) * d + (index,))


def _masked_fill_samples(rng):
    x = make(rng, (3, 4))
    yield SampleInput((x, x.array > 0.5, -1.5), {}, "mask")
    yield SampleInput((make(rng, (2, 3)), np.array([True, False, True]), 0.0), {}, "broadcast-mask")


@op(samples=_masked_fill_samples, method=True, ref=lambda x, mask, value: np.where(mask, value, x))
def masked_fill(input, mask, value):
    mask = mask if isinstance(mask, Tensor) else np.asarray(mask)   # a tensor is saved as itself
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype}")
    if isinstance(value, Tensor):
        return where(mask, value, input)
    return where(mask, np.asarray(value, input.dtype), input)


class SortOrder(Primitive):
    """The int64 order that sorts ``x`` along ``dim`` (stable, as PyTorch's
    sort(stable=True); descending keeps equal elements in order; NaN sorts above +inf),
    its first ``k`` positions along dim where ``k`` is given (topk).  Decided on the
    values, so not differentiable: callers pass a detached input and gather."""
    batch_rule = dims_batch_rule(1)          # the dim, past the batch dim

    @staticmethod
    def forward(ctx, x, dim, descending, k):
        if descending and x.dtype.kind == "f" and np.isnan(x).any():
            order = np.lexsort((-x, ~np.isnan(x)), axis=dim)     # NaN first when descending
        else:
            if descending and x.dtype.kind in "ub":
                x = x.astype(np.int64)                  # -x of an unsigned or bool array wraps
            order = np.argsort(-x if descending else x, axis=dim, kind="stable")
        if k is not None:
            order = order[(slice(None),) * dim + (slice(0, k),)]
        order = np.ascontiguousarray(order, dtype=np.int64)
        ctx.mark_non_differentiable(order)
        return order

    @staticmethod
    def backward(ctx, g):
        return None, None, None, None

    @staticmethod
    def jvp(ctx, *tangents):
        return None


def _sort_order(input, dim, descending, k=None, name="sort"):
    """(dim made non-negative, SortOrder's index tensor)."""
    d = normalize_dim(dim, input.ndim, name)
    return d, SortOrder.apply(input.detach(), d, descending, k)


def _sort_samples(rng):
    yield SampleInput((make(rng, (3, 5)),), {}, "last-dim")
    yield SampleInput((make(rng, (4, 3)),), dict(dim=0, descending=True), "dim0-descending")
    yield SampleInput((make(rng, (6,)),), dict(descending=True), "1d")


def _sort_ref(x, dim=-1, descending=False):
    idx = np.argsort(-x if descending else x, axis=dim, kind="stable")
    return np.take_along_axis(x, idx, axis=dim), idx


@op(SortOrder, Gather, samples=_sort_samples, ref=_sort_ref, method=True, output_index=0)
def sort(input, dim=-1, descending=False):
    """(values, indices) sorted along ``dim``; values are differentiable (a gather)."""
    from .reduction import ValuesIndices
    d, index = _sort_order(input, dim, descending)
    return ValuesIndices(Gather.apply(input, d, index), index)


@tensor_method
def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (stable in any case)."""
    return _sort_order(input, dim, descending, name="argsort")[1]


@tensor_method
def nonzero(input, as_tuple=False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one index
    tensor per dim with ``as_tuple=True`` (what ``where(condition)`` returns)."""
    if as_tuple:
        return where(input)
    idx = np.nonzero(np.atleast_1d(input.array))
    return Tensor._make(np.stack(idx, axis=1).astype(np.int64))


def _topk_samples(rng):
    yield SampleInput((make(rng, (3, 5)), 2), {}, "largest")
    yield SampleInput((make(rng, (5, 3)), 3), dict(dim=0, largest=False), "smallest-dim0")


def _topk_ref(x, k, dim=-1, largest=True):
    values, idx = _sort_ref(x, dim, descending=largest)
    take = [slice(None)] * x.ndim
    take[dim] = slice(0, k)
    return values[tuple(take)], idx[tuple(take)]


@op(SortOrder, Gather, samples=_topk_samples, ref=_topk_ref, method=True, output_index=0)
def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim`` as (values, indices)."""
    from .reduction import ValuesIndices
    d = normalize_dim(dim, input.ndim, "topk")
    size = input.shape[d] if input.ndim else 1
    if not 0 <= k <= size:
        raise ValueError(f"topk: k={k} is out of range for dim {d} of size {size} "
                         f"(tensor of shape {tuple(input.shape)})")
    _, index = _sort_order(input, d, largest, k, "topk")
    return ValuesIndices(Gather.apply(input, d, index), index)
