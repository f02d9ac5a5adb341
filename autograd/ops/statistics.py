"""Statistics composed of the reductions: aminmax, nansum, nanmean, std_mean, var_mean,
count_nonzero, dist, renorm, cov, corrcoef; and the counting ops histc, bincount,
unique, unique_consecutive, which are not differentiable (integer or count results,
as PyTorch's).

Every differentiable op here is a composition of primitives that carry their own
VJPs and tangent rules (sum, mean, var, std, amax, norm, where, matmul, ...), so
none defines a Primitive; the registry sweep checks each end to end.
"""
import math
import warnings
from collections import namedtuple

import numpy as np

from ..forward_ad import elementwise_jvp
from ..tensor import Tensor, tensor_method
from .batching import elementwise_batch_rule, values_of
from .binary import where
from .formula import FormulaPrimitive
from .linalg import MatMul
from .reduction import (Amax, Mean, Norm, Std, Sum, Var, amax, amin, mean, norm, reduce_dims,
                        std, sum, var)
from .registry import SampleInput, make, op
from .scans import check_tensor
from .shape import normalize_dim

MinMax = namedtuple("MinMax", ["min", "max"])        # torch.return_types.aminmax


def _np_axis(dim):
    return None if dim is None else tuple(dim) if isinstance(dim, (tuple, list)) else dim


def _stat_samples(rng):
    yield SampleInput((make(rng, (3, 4)),), {}, "all")
    yield SampleInput((make(rng, (3, 4)),), dict(dim=1), "dim1")
    yield SampleInput((make(rng, (2, 3, 4)),), dict(dim=(0, 2), keepdim=True), "dims-keep")
    yield SampleInput((make(rng, (4, 3), noncontig=True),), dict(dim=-1), "noncontig")


# -- aminmax, count_nonzero -----------------------------------------------------------------
def _aminmax_samples(rng):
    yield SampleInput((make(rng, (3, 4)),), {}, "all")
    yield SampleInput((make(rng, (3, 4)),), dict(dim=1), "dim1")
    yield SampleInput((make(rng, (2, 3)),), dict(dim=0, keepdim=True), "dim0-keep")
    yield SampleInput((make(rng, ()),), {}, "0d")


@op(Amax, samples=_aminmax_samples, method=True,
    ref=lambda x, dim=None, keepdim=False: (np.min(x, axis=dim, keepdims=keepdim),
                                            np.max(x, axis=dim, keepdims=keepdim)))
def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) of all elements or along the int ``dim``; ties share the gradient, as
    amin and amax."""
    check_tensor(input, "aminmax")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise TypeError(f"aminmax: dim must be an int or None, got {dim!r}")
    if input.numel() == 0 and (dim is None or input.shape[normalize_dim(dim, input.ndim, "aminmax")] == 0):
        raise IndexError(f"aminmax: cannot reduce over an empty dimension (shape "
                         f"{tuple(input.shape)}, dim={dim}): the reduction has no identity")
    return MinMax(amin(input, dim, keepdim), amax(input, dim, keepdim))


@tensor_method
def count_nonzero(input, dim=None):
    """The number of non-zero elements (over ``dim``, an int or a tuple), as int64."""
    check_tensor(input, "count_nonzero")
    dims = reduce_dims(dim, input.ndim, "count_nonzero")
    return Tensor._make(np.asarray(np.count_nonzero(input.array, axis=dims), np.int64))


# -- NaN-ignoring reductions --------------------------------------------------------------
def _nan_samples(rng):
    yield from _stat_samples(rng)
    x = make(rng, (3, 4))
    x.array[0, 1] = x.array[2, 3] = np.nan       # ignored; their gradient is 0
    x.array[1, :] = np.nan
    yield SampleInput((x,), dict(dim=0), "with-nan")


class NanZeroed(FormulaPrimitive):
    """(x with NaN replaced by 0, 1 where x is not NaN): the two halves of the NaN-
    ignoring reductions.  dx = g where x is not NaN, else 0; the indicator is a count."""
    batch_rule = elementwise_batch_rule

    @staticmethod
    def forward(ctx, x):
        nan = np.isnan(x)
        kept = (~nan).astype(x.dtype)
        ctx.save_for_backward(nan)
        ctx.mark_non_differentiable(kept)
        return np.where(nan, 0, x), kept

    def formula(ctx, m, g, _g_kept, nan):
        return m.where(nan, 0.0, g)

    @staticmethod
    def jvp(ctx, t):
        nan, = ctx.saved_tensors
        return where(nan, 0.0, t), None


@op(NanZeroed, Sum, samples=_nan_samples, method=True,
    ref=lambda x, dim=None, keepdim=False: np.nansum(x, axis=_np_axis(dim), keepdims=keepdim))
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """sum, NaN counted as 0 (their gradient is 0)."""
    check_tensor(input, "nansum")
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind == "f":
        input = NanZeroed.apply(input)[0]
    return sum(input, dim, keepdim)


@op(NanZeroed, Sum, samples=_nan_samples, method=True,
    ref=lambda x, dim=None, keepdim=False: _quiet(np.nanmean, x, axis=_np_axis(dim),
                                                  keepdims=keepdim))
def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """mean of the non-NaN elements (NaN where there are none)."""
    check_tensor(input, "nanmean")
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"nanmean: expected a floating point input, got {input.dtype}")
    zeroed, kept = NanZeroed.apply(input)
    with np.errstate(divide="ignore", invalid="ignore"):   # no elements: 0 * (1 / 0) = NaN
        # times 1 / count, a constant: the backward's g / 0 then warns of nothing
        return sum(zeroed, dim, keepdim) * (1.0 / sum(kept, dim, keepdim))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


# -- std_mean, var_mean ----------------------------------------------------------------------
def _moments(name, spread):
    def spread_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
        check_tensor(input, name)
        if isinstance(dim, bool):               # std_mean(x, False): PyTorch's unbiased overload
            dim, unbiased = None, dim
        if correction is None:
            correction = 1
        return spread(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased), \
            mean(input, dim, keepdim)
    spread_mean.__name__ = name
    spread_mean.__doc__ = (f"({spread.__name__}, mean) over ``dim``, with {spread.__name__}'s "
                           "correction (1 by default, Bessel's).")
    return spread_mean


def _moments_ref(spread):
    def ref(x, dim=None, keepdim=False, correction=1):
        axis = _np_axis(dim)
        return spread(x, axis=axis, ddof=correction, keepdims=keepdim), \
            np.mean(x, axis=axis, keepdims=keepdim)
    return ref


def _moment_samples(rng):
    yield from _stat_samples(rng)
    yield SampleInput((make(rng, (3, 5)),), dict(dim=1, correction=0), "biased")


std_mean = op(Std, Mean, samples=_moment_samples, ref=_moments_ref(np.std))(_moments("std_mean", std))
var_mean = op(Var, Mean, samples=_moment_samples, ref=_moments_ref(np.var))(_moments("var_mean", var))


# -- dist, renorm -----------------------------------------------------------------------------
def _dist_samples(rng):
    for p in (2, 1, 3.5, 0, float("inf")):
        yield SampleInput((make(rng, (3, 4)), make(rng, (3, 4))), dict(p=p), f"p{p}")
    yield SampleInput((make(rng, (2, 3)), make(rng, (3,))), {}, "broadcast")


def _dist_ref(x, y, p=2):
    d = np.abs(x - y).reshape(-1)
    if p == 0:
        return np.asarray(float(np.count_nonzero(d)))
    return d.max() if p == float("inf") else (d ** p).sum() ** (1.0 / p)


@op(Norm, Amax, samples=_dist_samples, ref=_dist_ref, method=True)
def dist(input, other, p=2):
    """The p-norm of ``input - other`` (broadcast), as a 0-d tensor."""
    check_tensor(input, "dist")
    check_tensor(other, "dist", "other")
    return norm(input - other, p)


def _renorm_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 2, 0, 1.0), {}, "p2-rows")
    yield SampleInput((make(rng, (2, 3, 4)), 1, 1, 2.0), {}, "p1-dim1")
    yield SampleInput((make(rng, (4, 3), noncontig=True), 3, -1, 0.8), {}, "p3-noncontig")
    yield SampleInput((make(rng, (3, 2), 0.01, 0.1), 2, 0, 5.0), {}, "below-maxnorm")


def _renorm_ref(x, p, dim, maxnorm):
    others = tuple(i for i in range(x.ndim) if i != dim % x.ndim)
    n = (np.abs(x) ** p).sum(axis=others, keepdims=True) ** (1.0 / p)
    return x * np.where(n > maxnorm, maxnorm / (n + 1e-7), 1.0)


class RenormFactor(FormulaPrimitive):
    """renorm's scale of a slice of norm n: maxnorm / (n + 1e-7) where n > maxnorm, else 1
    (PyTorch's); d/dn = -maxnorm / (n + 1e-7)^2 there, else 0."""
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, n, maxnorm):
        above = n > maxnorm
        ctx.maxnorm = maxnorm
        ctx.save_for_backward(n, above)
        return np.where(above, maxnorm / (n + 1e-7), 1.0).astype(n.dtype)

    def formula(ctx, m, g, n, above):
        return m.where(above, -g * ctx.maxnorm / ((n + 1e-7) * (n + 1e-7)), 0.0), None


@op(Norm, RenormFactor, samples=_renorm_samples, ref=_renorm_ref, method=True)
def renorm(input, p, dim, maxnorm):
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled to norm maxnorm
    (as PyTorch: by maxnorm / (norm + 1e-7)); the gradient goes through the norm."""
    check_tensor(input, "renorm")
    d = normalize_dim(dim, input.ndim, "renorm")
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not p > 0:
        raise ValueError(f"renorm: expected a positive norm order p, got {p!r}")
    if not isinstance(maxnorm, (int, float)) or maxnorm < 0:
        raise ValueError(f"renorm: expected maxnorm >= 0, got {maxnorm!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"renorm: expected a floating point input, got {input.dtype}")
    others = tuple(i for i in range(input.ndim) if i != d)
    return input * RenormFactor.apply(norm(input, p, others, keepdim=True), float(maxnorm))


# -- cov, corrcoef --------------------------------------------------------------------------
def _observations(name, input):
    check_tensor(input, name)
    if input.ndim > 2:
        raise ValueError(f"{name}: expected input to have two or fewer dimensions (variables "
                         f"by observations), got shape {tuple(input.shape)}")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    return x if x.dtype.kind == "f" else x.float()


def _weights(name, w, what, n, integer):
    if w is None:
        return None
    check_tensor(w, name, what)
    if w.ndim > 1 or w.numel() != n:
        raise ValueError(f"{name}: expected {what} to be a 1-D tensor with as many elements as "
                         f"there are observations ({n}), got shape {tuple(w.shape)}")
    if integer and w.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected {what} to have an integral dtype, got {w.dtype}")
    if (values_of(w) < 0).any():                 # a check over every sample under vmap
        raise ValueError(f"{name}: {what} cannot be negative")
    return w.reshape(-1)


def cov_matrix(name, input, correction=1, fweights=None, aweights=None):
    """The covariance of the rows of ``input`` (NumPy's np.cov with ddof=correction)."""
    x = _observations(name, input)
    n = x.shape[1]
    fw = _weights(name, fweights, "fweights", n, integer=True)
    aw = _weights(name, aweights, "aweights", n, integer=False)
    w = fw.to(x.dtype) if fw is not None else None
    if aw is not None:
        w = aw if w is None else w * aw
    if w is None:
        avg, w_sum = mean(x, 1), Tensor._make(np.asarray(float(n), x.dtype))
        factor = w_sum - correction
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
        factor = w_sum - correction if aw is None or correction == 0 else \
            w_sum - correction * (w * aw).sum() / w_sum
    if (values_of(factor) <= 0).any():
        warnings.warn(f"{name}: degrees of freedom <= 0 for the given correction "
                      f"({correction}); the result is inf or nan", UserWarning, stacklevel=3)
        factor = factor.clamp(min=0.0)             # PyTorch's: 0 degrees of freedom
    centered = x - avg.unsqueeze(1)
    weighted = centered if w is None else centered * w
    with np.errstate(divide="ignore", invalid="ignore"):
        return (weighted @ centered.mT / factor).squeeze()


def _cov_samples(rng):
    yield SampleInput((make(rng, (3, 6)),), {}, "3-vars")
    yield SampleInput((make(rng, (5,)),), {}, "1-var")
    yield SampleInput((make(rng, (2, 5)),), dict(correction=0), "biased")
    yield SampleInput((make(rng, (2, 4)),), dict(fweights=Tensor._make(np.array([1, 3, 2, 1]))),
                      "fweights")
    yield SampleInput((make(rng, (2, 4)),), dict(aweights=make(rng, (4,), 0.5, 2.0)), "aweights")
    yield SampleInput((make(rng, (2, 4)),), dict(fweights=Tensor._make(np.array([2, 1, 1, 3])),
                                                 aweights=make(rng, (4,), 0.5, 2.0)), "both")


def _cov_ref(x, correction=1, fweights=None, aweights=None):
    return np.cov(x, ddof=correction, fweights=fweights, aweights=aweights)


@op(MatMul, Mean, Sum, samples=_cov_samples, ref=_cov_ref, method=True)
def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables in the rows of ``input`` (observations in
    its columns), with integer frequency and float observation weights, as PyTorch."""
    return cov_matrix("cov", input, correction, fweights, aweights)


@op(MatMul, Mean, samples=lambda rng: iter([SampleInput((make(rng, (3, 6)),), {}, "3-vars"),
                                            SampleInput((make(rng, (2, 4)),), {}, "2-vars")]),
    ref=np.corrcoef, method=True)
def corrcoef(input):
    """Pearson's correlation coefficients of the rows of ``input``, clipped to [-1, 1]."""
    c = cov_matrix("corrcoef", input)
    if c.ndim == 0:
        return c / c
    sd = c.diagonal().sqrt()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (c / sd.unsqueeze(1) / sd.unsqueeze(0)).clamp(-1.0, 1.0)


# -- counting: not differentiable ------------------------------------------------------------
@tensor_method
def histc(input, bins=100, min=0, max=0):
    """Counts of the elements in ``bins`` equal bins over [min, max] (the data's range
    when both are 0; widened by 1 each way when empty); outside elements are ignored."""
    check_tensor(input, "histc")
    if input.dtype.kind != "f":
        raise TypeError(f"histc: expected a floating point input, got {input.dtype}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins <= 0:
        raise ValueError(f"histc: bins must be a positive integer, got {bins!r}")
    x = input.array.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"histc: range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise ValueError(f"histc: max must be larger than min, got min={min}, max={max}")
    inside = x[(x >= lo) & (x <= hi)]
    index = ((inside - lo) * (bins / (hi - lo))).astype(np.int64)
    index[index == bins] = bins - 1                           # x == max: the last bin
    return Tensor._make(np.bincount(index, minlength=bins).astype(input.dtype))


@tensor_method
def bincount(input, weights=None, minlength=0):
    """Counts (or summed ``weights``) of each value in a 1-D non-negative integer tensor."""
    check_tensor(input, "bincount")
    if input.ndim != 1 or input.dtype.kind not in "iub":
        raise ValueError(f"bincount: expected a 1-D integer tensor, got shape "
                         f"{tuple(input.shape)} and dtype {input.dtype}")
    if input.numel() and int(input.array.min()) < 0:
        raise ValueError("bincount: input values must be non-negative")
    if weights is None:
        return Tensor._make(np.bincount(input.array, minlength=minlength).astype(np.int64))
    check_tensor(weights, "bincount", "weights")
    if tuple(weights.shape) != tuple(input.shape):
        raise ValueError(f"bincount: weights must have the shape of input {tuple(input.shape)}, "
                         f"got {tuple(weights.shape)}")
    w = weights.array
    out_dtype = w.dtype if w.dtype.kind == "f" else np.float64
    return Tensor._make(np.bincount(input.array, w, minlength=minlength).astype(out_dtype))


def _unique_result(values, inverse, counts, return_inverse, return_counts):
    out = (Tensor._make(values),)
    if return_inverse:
        out += (Tensor._make(inverse.astype(np.int64)),)
    if return_counts:
        out += (Tensor._make(counts.astype(np.int64)),)
    return out[0] if len(out) == 1 else out


@tensor_method
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted; NaNs each distinct, last), or distinct slices along
    ``dim``, with the inverse indices and counts on request."""
    check_tensor(input, "unique")
    x = input.array
    if dim is None:
        values, inverse, counts = np.unique(x.reshape(-1), return_inverse=True,
                                            return_counts=True, equal_nan=False)
        inverse = inverse.reshape(x.shape)
    else:
        d = normalize_dim(dim, input.ndim, "unique")
        values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    return _unique_result(values, inverse, counts, return_inverse, return_counts)


@tensor_method
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """One of each run of equal consecutive values (or slices along ``dim``), with the
    inverse indices and the run lengths on request."""
    check_tensor(input, "unique_consecutive")
    x = input.array
    if dim is None:
        flat = x.reshape(-1)
        starts = np.ones(flat.shape, bool)
        starts[1:] = flat[1:] != flat[:-1]
        values, shape = flat[starts], x.shape
    else:
        d = normalize_dim(dim, input.ndim, "unique_consecutive")
        moved = np.moveaxis(x, d, 0).reshape(x.shape[d], math.prod(x.shape) // max(x.shape[d], 1))
        starts = np.ones(moved.shape[0], bool)
        starts[1:] = (moved[1:] != moved[:-1]).any(axis=1)
        values, shape = np.compress(starts, x, axis=d), (x.shape[d],)
    inverse = (np.cumsum(starts) - 1).reshape(shape) if return_inverse else None
    counts = np.diff(np.append(np.flatnonzero(starts), starts.size)) if return_counts else None
    return _unique_result(values, inverse, counts, return_inverse, return_counts)


__all__ = ["aminmax", "bincount", "corrcoef", "count_nonzero", "cov", "dist", "histc",
           "nanmean", "nansum", "renorm", "std_mean", "unique", "unique_consecutive", "var_mean"]
