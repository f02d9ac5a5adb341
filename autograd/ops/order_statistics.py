"""Order statistics: median, nanmedian, kthvalue, mode, msort, quantile, nanquantile.

Which element is selected is decided on the values by `OrderIndex` (NumPy's
introselect ``argpartition`` or a stable sort, NaN ordered last as PyTorch's), an
integer result with no gradient; the value is then a gather of the input at that
index, so the gradient goes to the selected element (PyTorch's
value_selecting_reduction_backward).  The full reductions ``median()`` and
``nanmedian()`` instead share the gradient evenly among all elements equal to the
result, as PyTorch's evenly_distribute_backward (`SharedMedian`).  Among tied values
the index returned may differ from PyTorch's (both pick an arbitrary one of the
ties for median and kthvalue; see the README).  The three primitives here
(`OrderIndex`, `SharedMedian`, `QuantileRanks`) batch under vmap by their dims.
"""
import numpy as np

from ..function import Primitive
from ..tensor import Tensor
from .batching import batch_as_leading_dim_rule, dims_batch_rule, values_of
from .indexing import Gather, ScatterAdd
from .pointwise import lerp
from .reduction import ValuesIndices
from .registry import SampleInput, make, op
from .scans import check_tensor
from .shape import Permute, Reshape, normalize_dim


def _reduced_dim(input, dim, name):
    """``dim`` made non-negative, after checking it has elements to select from."""
    check_tensor(input, name)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an int, got {dim!r}")
    d = normalize_dim(int(dim), input.ndim, name)
    if input.ndim and input.shape[d] == 0:
        raise IndexError(f"{name}: expected reduction dim {d} to have non-zero size, got a "
                         f"tensor of shape {tuple(input.shape)}")
    return d


def _selected(input, d, statistic, keepdim, k=None):
    """(values, indices) of the element along ``d`` that ``statistic`` selects."""
    if input.ndim == 0:
        return ValuesIndices(input.clone(), Tensor._make(np.zeros((), np.int64)))
    index = OrderIndex.apply(input.detach(), d, statistic, k)
    values = Gather.apply(input, d, index)
    if not keepdim:
        values, index = values.squeeze(d), index.squeeze(d)
    return ValuesIndices(values, index)


def _nan_first_index(x, d):
    """Per slice along d: (has a NaN, index of its first NaN)."""
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    return nan.any(axis=d, keepdims=True), np.argmax(nan, axis=d, keepdims=True)


def _kth_index(x, k, d):
    """Index (kept dim) of the k-th smallest along d (0-based), NaN the largest; where
    the k-th is a NaN, the NaNs count in index order (as PyTorch's)."""
    index = np.take(np.argpartition(x, k, axis=d), [k], axis=d)
    if x.dtype.kind == "f":
        nans = np.isnan(x).sum(axis=d, keepdims=True)
        among_nans = k >= x.shape[d] - nans
        if among_nans.any():
            index = np.where(among_nans, np.take(_sorted_nan_last(x, d), [k], axis=d), index)
    return index


def _per_slice_kth_index(x, ks, d):
    """Index (kept dim) of the ks-th smallest (one k per slice, kept dim) along d, NaN
    last: one introselect for the few distinct ks of the usual case (no NaN: one k),
    a sort beyond."""
    distinct = np.unique(ks)
    order = np.argpartition(x, distinct, axis=d) if distinct.size <= 8 else _sorted_nan_last(x, d)
    return np.take_along_axis(order, ks, d)


def _sorted_nan_last(x, d):
    return np.argsort(x, axis=d, kind="stable")      # NumPy sorts NaN to the end


def _median_index(x, d, _k):
    """The lower median's index; a slice's first NaN where it has one."""
    index = _kth_index(x, (x.shape[d] - 1) // 2, d)
    has_nan, first_nan = _nan_first_index(x, d)
    return np.where(has_nan, first_nan, index)


def _nanmedian_index(x, d, _k):
    """The lower median of the non-NaN values' index (the first NaN's where all are)."""
    kept = x.shape[:d] + (1,) + x.shape[d + 1:]
    valid = (~np.isnan(x)).sum(axis=d, keepdims=True) if x.dtype.kind == "f" else \
        np.full(kept, x.shape[d])
    return _per_slice_kth_index(x, np.maximum(valid - 1, 0) // 2, d)


def _mode_index(x, d, _k):
    """Index (kept dim) of the most frequent value along d; among equally frequent
    values the smallest, and of its occurrences the last (PyTorch).  In the stable
    sort a value's run ends at its last occurrence; NaN != NaN, so each NaN is a run."""
    order = _sorted_nan_last(x, d)
    srt = np.take_along_axis(x, order, d)
    n = x.shape[d]
    positions = np.arange(n).reshape((-1,) + (1,) * (x.ndim - 1 - d))
    starts = np.ones(x.shape, bool)
    starts[(slice(None),) * d + (slice(1, None),)] = \
        np.take(srt, range(1, n), axis=d) != np.take(srt, range(n - 1), axis=d)
    run_start = np.maximum.accumulate(np.where(starts, positions, 0), axis=d)
    run_length = positions - run_start
    best = np.argmax(run_length, axis=d)[(slice(None),) * d + (None,)]   # first longest
    return np.take_along_axis(order, best, d)


_STATISTICS = {"median": _median_index, "nanmedian": _nanmedian_index, "mode": _mode_index,
               "kthvalue": lambda x, d, k: _kth_index(x, k, d),
               "sort": lambda x, d, _k: _sorted_nan_last(x, d)}


class OrderIndex(Primitive):
    """The int64 index along ``dim`` that an order statistic (a key of _STATISTICS)
    selects, dim kept (for "sort", the whole stable order).  Decided on the values, so
    not differentiable; callers pass a detached input and gather the values."""
    batch_rule = dims_batch_rule(1)          # the dim, past the batch dim

    @staticmethod
    def forward(ctx, x, dim, statistic, k):
        index = np.ascontiguousarray(_STATISTICS[statistic](x, dim, k), dtype=np.int64)
        ctx.mark_non_differentiable(index)
        return index

    @staticmethod
    def backward(ctx, g):
        return None, None, None, None

    @staticmethod
    def jvp(ctx, *tangents):
        return None


class SharedMedian(Primitive):
    """The lower median over ``dims`` (NaN where a NaN is; ignoring NaN, NaN where all
    are), its gradient shared evenly among the elements equal to it (PyTorch's
    evenly_distribute_backward): dx = g share, share = mask / mask.sum()."""
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim

    @staticmethod
    def forward(ctx, x, dims, ignore_nan):
        rest = [i for i in range(x.ndim) if i not in dims]
        order = rest + list(dims)
        rows = np.transpose(x, order).reshape([x.shape[i] for i in rest] + [-1]) if x.size else \
            np.empty([x.shape[i] for i in rest] + [0], x.dtype)
        floats = x.dtype.kind == "f"
        if rows.shape[-1] == 0:
            value = np.full(rows.shape[:-1], np.nan, x.dtype if floats else np.float64)
            mask = np.zeros(rows.shape, bool)
        else:
            statistic = _nanmedian_index if ignore_nan else _median_index
            value = np.take_along_axis(rows, statistic(rows, rows.ndim - 1, None), -1)
            mask = rows == value
            if floats:
                mask |= np.isnan(rows) & np.isnan(value)
            value = value[..., 0]
        share = mask / np.maximum(mask.sum(-1, keepdims=True), 1)
        share = np.transpose(share.reshape([x.shape[i] for i in order]), np.argsort(order))
        ctx.dims, ctx.kept = dims, tuple(1 if i in dims else s for i, s in enumerate(x.shape))
        ctx.save_for_backward(share.astype(x.dtype if floats else np.float64))
        return value

    @staticmethod
    def backward(ctx, g):
        share, = ctx.saved_tensors
        return g.reshape(ctx.kept) * share, None, None

    @staticmethod
    def jvp(ctx, t, _dims, _ignore_nan):
        share, = ctx.saved_tensors
        return (t * share).sum(ctx.dims)             # dy = sum(t share)


def _full_median(name, input, ignore_nan):
    if input.dtype.kind != "f" and input.numel() == 0:
        raise IndexError(f"{name}: cannot take the median of an empty integer tensor")
    return SharedMedian.apply(input, tuple(range(input.ndim)), ignore_nan)


def _median_samples(rng):
    yield SampleInput((make(rng, (3, 5)),), {}, "all")
    yield SampleInput((make(rng, (4,)),), {}, "even-count")
    yield SampleInput((make(rng, (3, 5)), 1), {}, "dim1")
    yield SampleInput((make(rng, (4, 3, 2)), 0), dict(keepdim=True), "dim0-keep")
    yield SampleInput((make(rng, (4, 3), noncontig=True), -1), {}, "noncontig")
    yield SampleInput((make(rng, ()),), {}, "0d")
    tie = make(rng, (2, 3))
    tie.array[1, 2] = tie.array[0, 1] = np.median(tie.array)     # the gradient is shared
    yield SampleInput((tie,), {}, "tied-all", gradgrad=False)


def _median_ref(x, dim=None, keepdim=False):
    if dim is None:
        flat = np.sort(x.reshape(-1))
        return flat[(flat.size - 1) // 2]
    srt = np.sort(x, axis=dim)
    return np.take(srt, [(x.shape[dim] - 1) // 2], axis=dim) if keepdim else \
        np.take(srt, (x.shape[dim] - 1) // 2, axis=dim)


def _median(name, ignore_nan, doc):
    def median(input, dim=None, keepdim=False):
        if dim is None:
            check_tensor(input, name)
            return _full_median(name, input, ignore_nan)
        return _selected(input, _reduced_dim(input, dim, name), name, keepdim)
    median.__name__, median.__doc__ = name, doc
    return median


_MEDIAN_PRIMITIVES = (SharedMedian, OrderIndex, Gather, ScatterAdd)
median = op(*_MEDIAN_PRIMITIVES, samples=_median_samples, ref=_median_ref, method=True,
            output_index=0)(_median("median", False, """The lower median: of all
    elements (its gradient shared among the elements equal to it), or along ``dim`` as
    (values, indices).  NaN if a NaN is present."""))
nanmedian = op(*_MEDIAN_PRIMITIVES, samples=_median_samples, ref=_median_ref, method=True,
               output_index=0)(_median("nanmedian", True, """median, ignoring NaN
    (NaN where all are NaN)."""))


# -- kthvalue, mode, msort ----------------------------------------------------------------
def _kthvalue_samples(rng):
    yield SampleInput((make(rng, (3, 5)), 2), {}, "k2")
    yield SampleInput((make(rng, (4, 3)), 4), dict(dim=0, keepdim=True), "dim0-last")
    yield SampleInput((make(rng, (5,)), 1), {}, "1d-first")
    yield SampleInput((make(rng, ()), 1), {}, "0d")


def _kthvalue_ref(x, k, dim=-1, keepdim=False):
    if x.ndim == 0:
        return x
    srt = np.sort(x, axis=dim)
    return np.take(srt, [k - 1] if keepdim else k - 1, axis=dim)


@op(OrderIndex, Gather, ScatterAdd, samples=_kthvalue_samples, ref=_kthvalue_ref, method=True,
    output_index=0)
def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the ``k``-th smallest element (1-based) along ``dim``."""
    d = _reduced_dim(input, dim, "kthvalue")
    n = input.shape[d] if input.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise IndexError(f"kthvalue: k={k!r} is out of range for dimension {d} of size {n}: "
                         f"expected 1 <= k <= {n}")
    return _selected(input, d, "kthvalue", keepdim, int(k) - 1)


def _mode_samples(rng):
    # distinct values only: where a value repeats, moving one copy leaves the mode in
    # place, a kink central differences cannot see through (repeats: tests vs PyTorch)
    yield SampleInput((make(rng, (3, 6)),), {}, "distinct")
    yield SampleInput((make(rng, (4, 3)), 0), dict(keepdim=True), "distinct-dim0")
    yield SampleInput((make(rng, ()),), {}, "0d")


def _mode_ref(x, dim=-1, keepdim=False):
    if x.ndim == 0:
        return x
    moved = np.moveaxis(x, dim, -1)
    out = np.empty(moved.shape[:-1], x.dtype)
    for pos in np.ndindex(out.shape):
        values, counts = np.unique(moved[pos], return_counts=True)
        out[pos] = values[np.argmax(counts)]
    return np.expand_dims(out, dim) if keepdim else out


@op(OrderIndex, Gather, ScatterAdd, samples=_mode_samples, ref=_mode_ref, method=True,
    output_index=0)
def mode(input, dim=-1, keepdim=False):
    """(values, indices) of the most frequent value along ``dim`` (the smallest of equally
    frequent ones; its last occurrence's index)."""
    return _selected(input, _reduced_dim(input, dim, "mode"), "mode", keepdim)


@op(OrderIndex, Gather, samples=lambda rng: iter([SampleInput((make(rng, (4, 3)),), {}, "2d"),
                                                  SampleInput((make(rng, (5,)),), {}, "1d")]),
    ref=lambda x: np.sort(x, axis=0), method=True)
def msort(input):
    """``input`` sorted along its first dim (ascending, NaN last)."""
    check_tensor(input, "msort")
    return _sorted(input, 0) if input.ndim else input.clone()


def _sorted(input, d):
    """``input`` sorted along ``d`` (stable, NaN last): a gather at OrderIndex's order."""
    return Gather.apply(input, d, OrderIndex.apply(input.detach(), d, "sort", None))


# -- quantile, nanquantile ----------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_args(name, input, q, interpolation):
    check_tensor(input, name)
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float or double input, got {input.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{name}: interpolation must be one of {_INTERPOLATIONS}, got "
                         f"{interpolation!r}")
    shape = tuple(q.shape) if isinstance(q, Tensor) else np.shape(q)
    if len(shape) > 1:
        raise ValueError(f"{name}: q must be a scalar or 1-D tensor, got shape {shape}")
    # every sample's q alike under vmap (values_of): a check, never a computation
    values = np.asarray(values_of(q) if isinstance(q, Tensor) else q, dtype=np.float64)
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise ValueError(f"{name}: q values must be in the range [0, 1], got {values.tolist()}")
    return len(shape) == 0


class QuantileRanks(Primitive):
    """Per slice of x (..., n), the affine map q -> rank = q scale + offset to the sorted
    place quantile interpolates at: scale = n - 1 over the slice's values (its non-NaN
    ones, ignoring NaN), offset 0; where the result must be NaN (a NaN in the slice,
    for quantile) scale 0 and offset n - 1, the last sorted place, a NaN (PyTorch's
    rule).  Counts: not differentiable, so q's gradient comes through rank = q scale."""
    batch_rule = batch_as_leading_dim_rule    # each slice (the last dim) on its own

    @staticmethod
    def forward(ctx, x, ignore_nan):
        nan = np.isnan(x)
        n = x.shape[-1] - (nan.sum(-1, keepdims=True) if ignore_nan else 0)
        scale = np.broadcast_to(np.maximum(n - 1, 0), x.shape[:-1] + (1,)).astype(x.dtype)
        offset = np.zeros_like(scale)
        if not ignore_nan:
            has_nan = nan.any(-1, keepdims=True)
            scale[has_nan], offset[has_nan] = 0, x.shape[-1] - 1
        ctx.mark_non_differentiable(scale, offset)
        return scale, offset

    @staticmethod
    def backward(ctx, g_scale, g_offset):
        return None, None

    @staticmethod
    def jvp(ctx, *tangents):
        return None, None


def _quantile(name, ignore_nan, doc):
    def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
        scalar_q = _quantile_args(name, input, q, interpolation)
        if dim is None:
            flat, d = input.reshape(-1), 0
        else:
            d = normalize_dim(dim, input.ndim, name)
            flat = input.reshape(1) if input.ndim == 0 else input
        if flat.shape[d] == 0:
            raise IndexError(f"{name}: expected a non-empty input along the reduced dim, got "
                             f"shape {tuple(input.shape)}")
        moved = flat.movedim(d, -1)
        last = moved.ndim - 1
        values = _sorted(moved, last)                             # (..., n), NaN last
        scale, offset = QuantileRanks.apply(moved.detach(), ignore_nan)
        q = (q.to(input.dtype) if isinstance(q, Tensor) else
             Tensor._make(np.asarray(q, input.dtype))).reshape(-1)
        ranks = q * scale + offset                                # (..., Q)
        fixed = ranks.detach()
        pick = {"lower": fixed.floor, "higher": fixed.ceil, "nearest": fixed.round}.get(interpolation)
        if pick is not None:
            out = values.gather(last, pick().long())
        else:
            below = fixed.floor()
            lo, hi = values.gather(last, below.long()), values.gather(last, fixed.ceil().long())
            weight = 0.5 if interpolation == "midpoint" else ranks - below
            out = lerp(lo, hi, weight)
        out = out.movedim(-1, 0)                                  # (Q, ...)
        if keepdim:
            kept = (1,) * input.ndim if dim is None else \
                tuple(1 if i == d else s for i, s in enumerate(input.shape))
            out = out.reshape((out.shape[0],) + kept)
        return out.reshape(out.shape[1:]) if scalar_q else out
    quantile.__name__, quantile.__doc__ = name, doc
    return quantile


def _quantile_samples(rng):
    yield SampleInput((make(rng, (3, 5)), 0.3), {}, "all")
    yield SampleInput((make(rng, (3, 5)), Tensor._make(np.array([0.0, 0.25, 0.9, 1.0]))),
                      dict(dim=1), "q-tensor-dim1")
    yield SampleInput((make(rng, (4, 3)), 0.6), dict(dim=0, keepdim=True), "dim0-keep")
    yield SampleInput((make(rng, (2, 5)), make(rng, (3,), 0.05, 0.95)), dict(dim=1), "q-requires-grad")
    yield SampleInput((make(rng, (2, 3)), Tensor._make(np.array([0.5]))), dict(keepdim=True),
                      "all-keep")
    for mode in ("lower", "higher", "midpoint", "nearest"):
        yield SampleInput((make(rng, (3, 4)), 0.4), dict(dim=1, interpolation=mode), mode)


def _quantile_ref(x, q, dim=None, keepdim=False, interpolation="linear"):
    return np.quantile(x, q, axis=dim, keepdims=keepdim, method=interpolation)


_QUANTILE_PRIMITIVES = (OrderIndex, QuantileRanks, Gather, ScatterAdd, Permute, Reshape)
quantile = op(*_QUANTILE_PRIMITIVES, samples=_quantile_samples, ref=_quantile_ref,
              method=True)(_quantile("quantile", False, """The ``q``-th quantiles (q a scalar
    or a 1-D tensor, in [0, 1]) of all elements or along ``dim``, interpolated as NumPy's
    ``method``; NaN where a NaN is present.  A tensor q puts its dim first in the result."""))
nanquantile = op(*_QUANTILE_PRIMITIVES, samples=_quantile_samples,
                 ref=lambda x, q, dim=None, keepdim=False, interpolation="linear": np.nanquantile(
                     x, q, axis=dim, keepdims=keepdim, method=interpolation),
                 method=True)(_quantile("nanquantile", True, """quantile, ignoring NaN (NaN
    where all are NaN)."""))

__all__ = ["kthvalue", "median", "mode", "msort", "nanmedian", "nanquantile", "quantile"]
