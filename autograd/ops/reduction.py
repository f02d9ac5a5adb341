"""Reductions over ``dim`` (an int, a tuple, or None for all) with ``keepdim``.

The VJP of a reduction broadcasts the output gradient back over the reduced dims
(``_expand_back``), then weights it: by 1 (sum), 1/N (mean), the softmax
(logsumexp), an indicator of the maxima (max/min), ...
"""
import math
import warnings
from collections import namedtuple

import numpy as np

from ..function import Primitive
from ..tensor import Tensor, tensor_method
from .binary import where
from .formula import FormulaPrimitive, sgn
from .registry import SampleInput, make, op
from .shape import normalize_dim
from ..forward_ad import derived_jvp, linear_jvp
from .batching import BatchedTensor, batched_reduction, dims_batch_rule


def reduce_dims(dim, ndim, name):
    """``dim`` as a sorted tuple of non-negative axes (all axes for None)."""
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(sorted({normalize_dim(d, ndim, name) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{name}: dim {dim} names the same dimension twice")
    return out if ndim else ()         # a 0-d tensor's dim 0 (or -1) is itself: nothing to reduce


def _kept(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g, in_shape, dims, keepdim, m=None):
    """Broadcast a reduction's output gradient (array or tensor) to the input's shape."""
    if not keepdim:
        g = g.reshape(_kept(in_shape, dims))
    return np.broadcast_to(g, in_shape) if m is np else g.expand(in_shape)


def _count(shape, dims):
    return int(np.prod([shape[d] for d in dims])) if dims else 1


def _reduction_samples(extra=(), positive=False):
    low, high = (0.5, 2.0) if positive else (-2.0, 2.0)

    def gen(rng):
        yield SampleInput((make(rng, (3, 4), low, high),), dict(extra), "all")
        yield SampleInput((make(rng, (3, 4), low, high),), dict(extra, dim=1), "dim1")
        yield SampleInput((make(rng, (2, 3, 4), low, high),), dict(extra, dim=(0, 2), keepdim=True), "dims-keep")
        yield SampleInput((make(rng, (4, 3), low, high, noncontig=True),), dict(extra, dim=-1), "noncontig")
        yield SampleInput((make(rng, (), low, high),), dict(extra), "0d")
    return gen


def _np_kwargs(dim, keepdim):
    return dict(axis=None if dim is None else (tuple(dim) if isinstance(dim, (tuple, list)) else dim),
                keepdims=keepdim)


class Sum(FormulaPrimitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        if x.dtype.kind in "bui":               # PyTorch sums integers and bools as int64
            x = x.astype(np.int64)
        return x.sum(axis=dims, keepdims=keepdim)

    def formula(ctx, m, g):                                                    # dx = g
        return _expand_back(g, ctx.in_shape, ctx.dims, ctx.keepdim, m), None, None


@op(Sum, samples=_reduction_samples(), ref=lambda x, dim=None, keepdim=False: np.sum(x, **_np_kwargs(dim, keepdim)),
    method=True)
def sum(input, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Sum.apply(input, reduce_dims(dim, input.ndim, "sum"), keepdim)


class Mean(FormulaPrimitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        if x.dtype.kind != "f":
            raise TypeError(f"mean: input dtype must be floating, got {x.dtype}; use .float() first")
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        return x.mean(axis=dims, keepdims=keepdim)

    def formula(ctx, m, g):                                                    # dx = g / N
        shape, dims = ctx.in_shape, ctx.dims
        return _expand_back(g, shape, dims, ctx.keepdim, m) / _count(shape, dims), None, None


@op(Mean, samples=_reduction_samples(), ref=lambda x, dim=None, keepdim=False: np.mean(x, **_np_kwargs(dim, keepdim)),
    method=True)
def mean(input, dim=None, keepdim=False):
    return Mean.apply(input, reduce_dims(dim, input.ndim, "mean"), keepdim)


def _degrees_of_freedom(shape, dims, correction, name):
    """N - correction; PyTorch warns (and returns nan) when it is <= 0."""
    n = _count(shape, dims) - correction
    if n <= 0:
        warnings.warn(f"{name}(): degrees of freedom is <= 0 (reducing {_count(shape, dims)} "
                      f"element(s) with correction={correction}); the result is nan. Correction "
                      "should be strictly less than the number of elements reduced.",
                      UserWarning, stacklevel=5)
    return n


def _var_array(x, dims, correction, keepdim):
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)    # ours, naming the op, was given
        return x.var(axis=dims, ddof=correction, keepdims=keepdim)


class Var(Primitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        ctx.save_for_backward(x)
        ctx.dims, ctx.correction, ctx.keepdim = dims, correction, keepdim
        ctx.n = _degrees_of_freedom(x.shape, dims, correction, "var")
        return _var_array(x, dims, correction, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        centered = x - x.mean(dim=ctx.dims, keepdim=True)
        factor = 2.0 / ctx.n if ctx.n else math.inf      # C's 2.0 / 0, as PyTorch (-> nan)
        # dx = g * 2 (x - mean) / (N - correction)
        return _expand_back(g, x.shape, ctx.dims, ctx.keepdim) * centered * factor, None, None, None


class Std(Primitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.n = _degrees_of_freedom(x.shape, dims, correction, "std")
        y = np.sqrt(_var_array(x, dims, correction, keepdim))
        # where std == 0 (a constant slice) the gradient is 0, not 0/0 (PyTorch)
        ctx.save_for_backward(x, y, (y == 0).astype(x.dtype))
        return y

    @staticmethod
    def backward(ctx, g):
        x, y, zero = ctx.saved_tensors
        centered = x - x.mean(dim=ctx.dims, keepdim=True)
        factor = 1.0 / ctx.n if ctx.n else math.inf
        # dx = g (x - mean) / ((N - correction) std), 0 where std == 0
        scale = g * (1.0 - zero) / (y + zero)
        return _expand_back(scale, x.shape, ctx.dims, ctx.keepdim) * centered * factor, None, None, None


def _var_ref(x, dim=None, correction=1, keepdim=False):
    return np.var(x, ddof=correction, **_np_kwargs(dim, keepdim))


def _var_samples(rng):
    for s in _reduction_samples()(rng):
        if s.name != "0d":
            yield s
    yield SampleInput((make(rng, (3, 5)),), dict(dim=1, correction=0), "biased")
    yield SampleInput((make(rng, (3, 1)),), dict(dim=0, correction=0), "biased-size1-kept")


def _correction(correction, unbiased):
    return correction if unbiased is None else int(unbiased)


@op(Var, samples=_var_samples, ref=_var_ref, method=True)
def var(input, dim=None, *, correction=1, keepdim=False, unbiased=None):
    return Var.apply(input, reduce_dims(dim, input.ndim, "var"), _correction(correction, unbiased), keepdim)


def _std_samples(rng):
    yield from _var_samples(rng)
    const = make(rng, (2, 3))
    const.array[1] = 0.5                   # a constant row: std 0, gradient 0 (PyTorch)
    yield SampleInput((const,), dict(dim=1), "constant-row", gradgrad=False)


@op(Std, samples=_std_samples, ref=lambda *a, **k: np.sqrt(_var_ref(*a, **k)), method=True)
def std(input, dim=None, *, correction=1, keepdim=False, unbiased=None):
    return Std.apply(input, reduce_dims(dim, input.ndim, "std"), _correction(correction, unbiased), keepdim)


class Amax(Primitive):
    """max/min over dims; ties share the gradient evenly (PyTorch's amax/amin).  A NaN
    is the extremum of its slice, and its gradient goes to the NaN(s), as PyTorch's
    max() does (PyTorch's amax spreads NaN over the slice instead, see README)."""
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dims, keepdim, is_min):
        y = (x.min if is_min else x.max)(axis=dims, keepdims=True)
        hit = (x == y)
        if x.dtype.kind == "f":
            hit |= np.isnan(x) & np.isnan(y)
        ctx.save_for_backward(hit / hit.sum(axis=dims, keepdims=True))
        ctx.in_shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        return y if keepdim else y.reshape([s for i, s in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, g):
        share, = ctx.saved_tensors
        # dx = g share at the extrema, selected (0 elsewhere even for an infinite g)
        g = _expand_back(g, ctx.in_shape, ctx.dims, ctx.keepdim)
        return where(share != 0, g * share, 0.0), None, None, None


class MaxDim(Primitive):
    """max/min along one dim returning (values, indices); the gradient goes to the
    index returned (the first extremum, as PyTorch's CPU kernels do)."""
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dim, keepdim, is_min):
        idx = (np.argmin if is_min else np.argmax)(x, axis=dim, keepdims=True)
        values = np.take_along_axis(x, idx, axis=dim)
        ctx.in_shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        ctx.save_for_backward(idx)
        if not keepdim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        ctx.mark_non_differentiable(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g, _g_idx):
        idx, = ctx.saved_tensors
        if not ctx.keepdim:
            g = g.unsqueeze(ctx.dim)
        zeros = Tensor._make(np.zeros(ctx.in_shape, g.dtype))
        return zeros.scatter_add(ctx.dim, idx, g), None, None, None   # dx = g at argmax


def _max_samples(rng):
    for s in _reduction_samples()(rng):
        yield s
    yield SampleInput((make(rng, (3, 4)), 1), {}, "dim-int")
    yield SampleInput((make(rng, (2, 3, 4)), -1), dict(keepdim=True), "dim-keep")
    tie = make(rng, (2, 3))
    tie.array[:, 1] = tie.array[:, 0]
    yield SampleInput((tie,), {}, "full-with-ties", gradgrad=False)


# What max/min along a dim return, like PyTorch's torch.return_types.max.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _extremum(name, is_min):
    npfn = np.min if is_min else np.max
    argfn = np.argmin if is_min else np.argmax

    def ref(x, dim=None, keepdim=False):
        if isinstance(dim, int):
            return npfn(x, axis=dim, keepdims=keepdim), argfn(x, axis=dim, keepdims=keepdim)
        return npfn(x, **_np_kwargs(dim, keepdim))

    def extremum(input, dim=None, keepdim=False):
        """Full reduction -> value; ``dim`` an int -> (values, indices); a tuple -> values."""
        if isinstance(input, Tensor) and isinstance(dim, Tensor):   # torch.max(a, b)
            return (minimum if is_min else maximum)(input, dim)
        if isinstance(dim, int):
            d = normalize_dim(dim, input.ndim, name)
            _nonempty(input, (d,), name)
            return ValuesIndices(*MaxDim.apply(input, d, keepdim, is_min))
        return Amax.apply(input, _nonempty(input, reduce_dims(dim, input.ndim, name), name),
                          keepdim, is_min)
    extremum.__name__ = name
    return extremum, ref


def maximum(a, b):
    from .binary import maximum as m
    return m(a, b)


def minimum(a, b):
    from .binary import minimum as m
    return m(a, b)


max, _max_ref = _extremum("max", False)
min, _min_ref = _extremum("min", True)
max = op(Amax, MaxDim, samples=_max_samples, ref=_max_ref, method=True, output_index=0)(max)
min = op(Amax, MaxDim, samples=_max_samples, ref=_min_ref, method=True, output_index=0)(min)


def _nonempty(input, dims, name):
    """``dims``, after checking that none has size 0 (a max over nothing has no value)."""
    empty = [d for d in dims if input.shape[d] == 0]
    if empty:
        raise IndexError(f"{name}: cannot reduce over dim(s) {tuple(empty)} of a tensor of "
                         f"shape {tuple(input.shape)}: expected a non-zero size (the reduction "
                         "has no identity)")
    return dims


def amax(input, dim=None, keepdim=False):
    return Amax.apply(input, _nonempty(input, reduce_dims(dim, input.ndim, "amax"), "amax"), keepdim, False)


def amin(input, dim=None, keepdim=False):
    return Amax.apply(input, _nonempty(input, reduce_dims(dim, input.ndim, "amin"), "amin"), keepdim, True)


tensor_method(amax)
tensor_method(amin)


def _arg(name, npfn):
    def arg(input, dim=None, keepdim=False):
        if type(input) is BatchedTensor:
            return batched_reduction(arg, input, dim, keepdim)
        _nonempty(input, reduce_dims(dim, input.ndim, name), name)
        if dim is None:
            out = npfn(input.array.reshape(-1))
            return Tensor._make(np.asarray(out).reshape((1,) * input.ndim if keepdim else ()))
        d = normalize_dim(dim, input.ndim, name)
        return Tensor._make(np.asarray(npfn(input.array, axis=d, keepdims=keepdim)))
    arg.__name__ = name
    return tensor_method(arg)


argmax = _arg("argmax", np.argmax)
argmin = _arg("argmin", np.argmin)


class LogSumExp(Primitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        m = x.max(axis=dims, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)       # all -inf rows give -inf, not nan
        y = np.log(np.exp(x - m).sum(axis=dims, keepdims=True)) + m
        out = y if keepdim else y.reshape([s for i, s in enumerate(x.shape) if i not in dims])
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim = dims, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        y = y.reshape(_kept(x.shape, ctx.dims))
        # dx = g * softmax(x) = g * exp(x - logsumexp(x))
        return _expand_back(g, x.shape, ctx.dims, ctx.keepdim) * (x - y).exp(), None, None


def _lse_ref(x, dim=None, keepdim=False):
    m = np.max(x, axis=_np_kwargs(dim, True)["axis"], keepdims=True)
    return (np.log(np.exp(x - m).sum(**_np_kwargs(dim, True))) + m).reshape(np.sum(x, **_np_kwargs(dim, keepdim)).shape)


def _lse_samples(rng):
    for s in _reduction_samples()(rng):
        if s.name != "0d":
            yield SampleInput(s.args, dict(s.kwargs, dim=s.kwargs.get("dim", -1)), s.name)
    x = make(rng, (2, 3))
    x.array[0, 1] = -np.inf       # exp(-inf) = 0: no gradient there, and none lost elsewhere
    yield SampleInput((x,), dict(dim=1), "minus-inf")


@op(LogSumExp, samples=_lse_samples, ref=_lse_ref, method=True)
def logsumexp(input, dim, keepdim=False):
    return LogSumExp.apply(input, reduce_dims(dim, input.ndim, "logsumexp"), keepdim)


class Prod(Primitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        y = x.prod(axis=dims, keepdims=keepdim)
        ctx.dims, ctx.keepdim = dims, keepdim
        if np.any(x == 0):
            # y / x is 0/0 at zeros: use products of all *other* elements instead
            # (first derivatives only; a constant, see README's known limits).
            ctx.save_for_backward(x, y, _prod_of_others(x, dims))
        else:
            ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        saved = ctx.saved_tensors
        x, y = saved[:2]
        # dx = g * prod / x
        others = saved[2] if len(saved) == 3 else y.reshape(_kept(x.shape, ctx.dims)) / x
        return _expand_back(g, x.shape, ctx.dims, ctx.keepdim) * others, None, None


def _prod_of_others(x, dims):
    moved = np.moveaxis(x, dims, range(len(dims))).reshape((-1,) + tuple(
        s for i, s in enumerate(x.shape) if i not in dims))
    left = np.cumprod(np.concatenate([np.ones_like(moved[:1]), moved[:-1]]), axis=0)
    right = np.cumprod(np.concatenate([np.ones_like(moved[:1]), moved[:0:-1]]), axis=0)[::-1]
    others = (left * right).reshape([x.shape[d] for d in dims] + [s for i, s in enumerate(x.shape) if i not in dims])
    return np.moveaxis(others, range(len(dims)), dims)


def _prod_samples(rng):
    yield from _reduction_samples(positive=True)(rng)
    zero = make(rng, (3, 4), 0.5, 2.0)
    zero.array[1, 2] = 0.0        # the others' product, not 0/0 (first order: see README)
    yield SampleInput((zero,), dict(dim=1), "with-zero", gradgrad=False)


@op(Prod, samples=_prod_samples,
    ref=lambda x, dim=None, keepdim=False: np.prod(x, **_np_kwargs(dim, keepdim)), method=True)
def prod(input, dim=None, keepdim=False):
    return Prod.apply(input, reduce_dims(dim, input.ndim, "prod"), keepdim)


class Norm(FormulaPrimitive):
    """The vector p-norm ``(sum |x|^p)^(1/p)`` over dims for finite p (p = 0 counts the
    non-zero elements), with PyTorch's VJP: 0, not 0/0, at a zero vector or element."""
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, dims, keepdim, p):
        with np.errstate(divide="ignore"):          # negative p: 0^p = inf, norm 0 (PyTorch)
            if p == 0:
                y = (x != 0).sum(axis=dims, keepdims=True).astype(x.dtype)
            elif p == 2:
                y = np.sqrt((x * x).sum(axis=dims, keepdims=True))
            elif p == 1:
                y = np.abs(x).sum(axis=dims, keepdims=True)
            else:
                y = (np.abs(x) ** p).sum(axis=dims, keepdims=True) ** (1.0 / p)
        y = y if keepdim else y.reshape([s for i, s in enumerate(x.shape) if i not in dims])
        ctx.in_shape, ctx.dims, ctx.keepdim, ctx.p = x.shape, dims, keepdim, p
        # Masks are constants; x and y plus their zero masks are safe to divide by.
        ctx.save_for_backward(x, y, (x == 0).astype(x.dtype), (y == 0).astype(x.dtype))
        return y

    def formula(ctx, m, g, x, y, x_zero, y_zero):
        # dx = g sgn(x) |x|^(p-1) / ||x||^(p-1); 0 where x == 0 or ||x|| == 0 (PyTorch)
        shape, dims, keep, p = ctx.in_shape, ctx.dims, ctx.keepdim, ctx.p
        g = _expand_back(g * (1.0 - y_zero), shape, dims, keep, m)
        y = _expand_back(y + y_zero, shape, dims, keep, m)
        if p == 0:
            dx = m.zeros_like(g)                    # piecewise constant
        elif p == 2:
            dx = g * x / y
        elif p == 1:
            dx = g * sgn(m, x)
        else:
            dx = g * sgn(m, x) * abs(x + x_zero) ** (p - 1) * (1.0 - x_zero) / y ** (p - 1)
        return dx, None, None, None


def _norm_ref(x, p=2, dim=None, keepdim=False):
    kw = _np_kwargs(dim, keepdim)
    if p == float("inf"):
        return np.abs(x).max(**kw)
    if p == 0:
        return (x != 0).sum(**kw).astype(x.dtype)
    return (np.abs(x) ** p).sum(**kw) ** (1.0 / p)


def _norm_samples(rng):
    for p in (2, 1, 3, 1.5, 0.5, -1, 0, float("inf")):
        yield SampleInput((make(rng, (3, 4), away=(0, 0.05)),), dict(p=p), f"p{p}")
        yield SampleInput((make(rng, (3, 4), away=(0, 0.05)),), dict(p=p, dim=1, keepdim=True), f"p{p}-dim")
    zero_row = make(rng, (2, 3), away=(0, 0.05))
    zero_row.array[0] = 0.0      # a zero vector: gradient 0 (PyTorch); central differences agree
    for p in (2, 1, 3):
        yield SampleInput((zero_row,), dict(p=p, dim=1), f"p{p}-zero-row", gradgrad=False)


@op(Norm, Amax, samples=_norm_samples, ref=_norm_ref, method=True)
def norm(input, p=2, dim=None, keepdim=False):
    """The vector p-norm over ``dim`` (all elements by default); p = +-inf is the max/min
    of |x|, p = 0 counts the non-zero elements (zero gradient), as in PyTorch."""
    if not isinstance(p, (int, float)) or isinstance(p, bool) or np.isnan(p):
        raise TypeError(f"norm: p must be a number (int or float, not nan), got {p!r}")
    dims = reduce_dims(dim, input.ndim, "norm")
    if input.dtype.kind != "f":
        raise TypeError(f"norm: expected a floating point input, got {input.dtype}")
    if p == float("inf"):
        return amax(input.abs(), dims, keepdim)
    if p == -float("inf"):
        return amin(input.abs(), dims, keepdim)
    return Norm.apply(input, dims, keepdim, float(p))


class Cumsum(Primitive):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return np.cumsum(x, axis=dim, dtype=np.int64 if x.dtype.kind in "bui" else None)

    @staticmethod
    def backward(ctx, g):
        # dx_i = sum_{j >= i} g_j: a reversed cumulative sum
        return g.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim), None


def _cumsum_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 1), {}, "dim1")
    yield SampleInput((make(rng, (2, 3, 4)), 0), {}, "dim0")
    yield SampleInput((make(rng, (5,)), -1), {}, "1d")


@op(Cumsum, samples=_cumsum_samples, ref=lambda x, dim: np.cumsum(x, axis=dim), method=True)
def cumsum(input, dim):
    return Cumsum.apply(input, normalize_dim(dim, input.ndim, "cumsum"))


@tensor_method
def all(input, dim=None, keepdim=False):
    if type(input) is BatchedTensor:
        return batched_reduction(all, input, dim, keepdim)
    return Tensor._make(np.asarray(np.all(input.array, **_np_kwargs(dim, keepdim))))


@tensor_method
def any(input, dim=None, keepdim=False):
    if type(input) is BatchedTensor:
        return batched_reduction(any, input, dim, keepdim)
    return Tensor._make(np.asarray(np.any(input.array, **_np_kwargs(dim, keepdim))))
