"""Scans along one dim: cumprod, cummax, cummin, logcumsumexp (cumsum is in reduction.py).

cumprod and logcumsumexp are NumPy's ufunc accumulations (``np.cumprod``,
``np.logaddexp.accumulate``), vectorised over the other dims; cummax/cummin, which
need the running arg-max too, and cumprod's VJP, a reverse linear recurrence, are
Numba kernels (autograd/kernels/scan.py, each with its NumPy reference).
"""
import math

import numpy as np

from ..forward_ad import derived_jvp
from ..function import Primitive
from ..kernels import scan as kernels
from ..tensor import Tensor
from .batching import dims_batch_rule
from .formula import FormulaPrimitive, tensor_namespace
from .indexing import ScatterAdd
from .reduction import ValuesIndices
from .registry import SampleInput, make, op
from .shape import normalize_dim


def check_tensor(t, name, what="input"):
    """A TypeError naming the op where ``t`` is not a Tensor (shared by the reduction
    family's modules: scans, order_statistics, statistics, calculus, ...)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor as {what}, got {type(t).__name__}")


def _scan_dim(input, dim, name):
    check_tensor(input, name)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an int, got {dim!r}")
    return normalize_dim(int(dim), input.ndim, name)


def _scanned(primitive, input, d):
    """``primitive`` along ``d``; a 0-d input is scanned as one element, as PyTorch."""
    if input.ndim == 0:
        return primitive.apply(input.reshape(1), 0).reshape(())
    return primitive.apply(input, d)


def _rows(a, d):
    """``a`` with dim d moved last, as a C-contiguous (rows, n) array."""
    moved = np.moveaxis(a, d, -1)
    return np.ascontiguousarray(moved).reshape(math.prod(moved.shape[:-1]), a.shape[d]), moved.shape


def _unrows(a, moved_shape, d):
    return np.moveaxis(a.reshape(moved_shape), -1, d)


def _scan_samples(positive=False):
    low, high = (0.5, 1.5) if positive else (-2.0, 2.0)

    def gen(rng):
        yield SampleInput((make(rng, (3, 4), low, high), 1), {}, "dim1")
        yield SampleInput((make(rng, (2, 3, 4), low, high), 0), {}, "dim0")
        yield SampleInput((make(rng, (5,), low, high), -1), {}, "1d")
        yield SampleInput((make(rng, (4, 3), low, high, noncontig=True), 0), {}, "noncontig")
        yield SampleInput((make(rng, (), low, high), 0), {}, "0d")
        yield SampleInput((make(rng, (2, 0), low, high), 1), {}, "empty")
    return gen


# -- cumprod ------------------------------------------------------------------------------
def _shifted(m, t, d, step, fill):
    """t_{i - step} along d (step = 1: the previous element, -1: the next), ``fill``
    where that falls outside; for arrays (m = NumPy) or tensors."""
    n = t.shape[d]
    keep = tuple(slice(None) for _ in range(d)) + ((slice(0, n - 1),) if step > 0 else (slice(1, n),))
    dtype = t.dtype if m is np else t.array.dtype
    edge = np.full(tuple(t.shape[:d]) + (min(n, 1),) + tuple(t.shape[d + 1:]), fill, dtype)
    if m is np:
        body = t[keep]
        return np.concatenate([edge, body] if step > 0 else [body, edge], axis=d)
    edge = Tensor._make(edge)
    body = t[keep]
    return m.cat([edge, body] if step > 0 else [body, edge], d)


def _linear_scan(m, g, a, d):
    """r_i = g_i + a_i r_{i+1} along d (the kernel on arrays, the primitive on tensors)."""
    if m is not np:
        return ReverseLinearScan.apply(g, a, d)
    g_rows, moved_shape = _rows(g, d)
    return _unrows(kernels.reverse_linear_scan(g_rows, _rows(a, d)[0]), moved_shape, d)


class ReverseLinearScan(FormulaPrimitive):
    """r_i = g_i + a_i r_{i+1} along ``dim`` (r_last = g_last, a_last unused), linear in
    g: cumprod's VJP (autograd/kernels/scan.py).  With u = dL/dr, the adjoint s_i =
    u_i + a_{i-1} s_{i-1} is the same scan run backwards (on the flipped inputs):
    dg = s, da_i = s_i r_{i+1}.  Tangent: dr = scan(dg + da_i r_{i+1}, a)."""

    @staticmethod
    def forward(ctx, g, a, dim):
        ctx.dim = dim
        r = _linear_scan(np, g, a, dim)
        ctx.save_for_backward(a, r)
        return r

    def formula(ctx, m, u, a, r):
        d = ctx.dim
        s = m.flip(_linear_scan(m, m.flip(u, d), m.flip(_shifted(m, a, d, 1, 0), d), d), d)
        return s, s * _shifted(m, r, d, -1, 0), None

    @staticmethod
    def jvp(ctx, dg, da, _dim):
        a, r = ctx.saved_tensors
        terms = [t for t in (dg, None if da is None else
                              da * _shifted(tensor_namespace(), r, ctx.dim, -1, 0))
                 if t is not None]
        rhs = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        return ReverseLinearScan.apply(rhs, a, ctx.dim)

    @staticmethod
    def batch_rule(b, g, a, dim):
        g = g if b.batched[0] else b.expand(g)
        a = a if b.batched[1] else b.expand(a)
        return ReverseLinearScan.apply(g, a, dim + 1)


def _linear_scan_samples(rng):
    yield SampleInput((make(rng, (3, 5)), make(rng, (3, 5)), 1), {}, "dim1")
    yield SampleInput((make(rng, (4, 2, 3)), make(rng, (4, 2, 3)), 0), {}, "dim0")
    a = make(rng, (6,))
    a.array[[1, 3]] = 0.0                  # zeros cut the recurrence; nothing divides by them
    yield SampleInput((make(rng, (6,)), a, 0), {}, "zeros-in-a")


def _linear_scan_ref(g, a, dim):
    r = np.moveaxis(np.array(g, copy=True), dim, -1)
    a = np.moveaxis(a, dim, -1)
    for i in range(r.shape[-1] - 2, -1, -1):
        r[..., i] += a[..., i] * r[..., i + 1]
    return np.moveaxis(r, -1, dim)


@op(ReverseLinearScan, samples=_linear_scan_samples, ref=_linear_scan_ref)
def reverse_linear_scan(g, a, dim):
    """r_i = g_i + a_i r_{i+1} along ``dim`` (cumprod's VJP; registered for the sweep)."""
    return ReverseLinearScan.apply(g, a, normalize_dim(dim, g.ndim, "reverse_linear_scan"))


class Cumprod(FormulaPrimitive):
    """y_j = prod_{i <= j} x_i, so dx_i = sum_{j >= i} g_j prod_{l <= j, l != i} x_l =
    y_{i-1} r_i with r_i = g_i + x_{i+1} r_{i+1} (the reverse linear scan): no division,
    so zeros need no special case and every derivative order is exact there."""
    jvp = derived_jvp
    batch_rule = dims_batch_rule(1)          # the dim, past the batch dim

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = np.cumprod(x, axis=dim, dtype=np.int64 if x.dtype.kind in "bui" else None)
        ctx.save_for_backward(x, y)
        return y

    def formula(ctx, m, g, x, y):
        d = ctx.dim
        before = _shifted(m, y, d, 1, 1)                   # prod_{l < i} x_l
        return before * _linear_scan(m, g, _shifted(m, x, d, -1, 0), d), None


def _cumprod_samples(rng):
    yield from _scan_samples(positive=False)(rng)
    one_zero = make(rng, (3, 5), 0.5, 1.5)
    one_zero.array[0, 2] = 0.0           # a zero: dx at it and after it (PyTorch's rule)
    one_zero.array[2, 0] = 0.0
    yield SampleInput((one_zero, 1), {}, "one-zero")
    two_zeros = make(rng, (6,), 0.5, 1.5)
    two_zeros.array[[1, 4]] = 0.0        # second zero: y is 0 from the first on
    yield SampleInput((two_zeros, 0), {}, "two-zeros")


@op(Cumprod, ReverseLinearScan, samples=_cumprod_samples, method=True,
    ref=lambda x, dim, dtype=None: np.cumprod(x, axis=dim).reshape(x.shape))
def cumprod(input, dim, *, dtype=None):
    """The cumulative product along ``dim`` (integers and bools as int64, as PyTorch)."""
    d = _scan_dim(input, dim, "cumprod")
    if dtype is not None:
        input = input.to(dtype)
    return _scanned(Cumprod, input, d)


# -- cummax, cummin -----------------------------------------------------------------------
class CumExtremum(Primitive):
    """(values, indices) of the running max (min) along ``dim``: indices of the last of
    tied extrema, NaN kept once seen (autograd/kernels/scan.py).  The values are x at
    the indices, so dx = g added at them (PyTorch's cummaxmin_backward) and the tangent
    is the tangent gathered there."""
    batch_rule = dims_batch_rule(1)          # the dim, past the batch dim

    @staticmethod
    def forward(ctx, x, dim, is_min):
        rows, moved_shape = _rows(x, dim)
        values, index = kernels.running_extremum(rows, is_min)
        values, index = _unrows(values, moved_shape, dim), _unrows(index, moved_shape, dim)
        ctx.dim = dim
        ctx.save_for_backward(index)
        ctx.mark_non_differentiable(index)
        return values, index

    @staticmethod
    def vjp(ctx, g, _g_index):
        index, = ctx.saved_arrays
        d = ctx.dim
        g_rows, moved_shape = _rows(g, d)
        return _unrows(kernels.scatter_rows(g_rows, _rows(index, d)[0]), moved_shape, d), None, None

    @staticmethod
    def backward(ctx, g, _g_index):
        index, = ctx.saved_tensors
        zeros = Tensor._make(np.zeros(index.shape, g.dtype))
        return zeros.scatter_add(ctx.dim, index, g), None, None     # dx = g added at index

    @staticmethod
    def jvp(ctx, t, _dim, _is_min):
        index, = ctx.saved_tensors
        return t.gather(ctx.dim, index), None                       # dy = t at index


def _running_extremum(name, is_min):
    def scan(input, dim):
        d = _scan_dim(input, dim, name)
        if input.ndim == 0:
            values, index = CumExtremum.apply(input.reshape(1), 0, is_min)
            return ValuesIndices(values.reshape(()), index.reshape(()))
        return ValuesIndices(*CumExtremum.apply(input, d, is_min))
    scan.__name__ = name
    scan.__doc__ = (f"(values, indices) of the running {'min' if is_min else 'max'} along "
                    "``dim``; the gradient goes to the index (the last of tied extrema).")
    return scan


def _cumextremum_ref(is_min):
    def ref(x, dim):
        acc = (np.minimum if is_min else np.maximum).accumulate
        return acc(x, axis=dim) if x.ndim else x
    return ref


cummax = op(CumExtremum, ScatterAdd, samples=_scan_samples(), ref=_cumextremum_ref(False),
            method=True, output_index=0)(_running_extremum("cummax", False))
cummin = op(CumExtremum, ScatterAdd, samples=_scan_samples(), ref=_cumextremum_ref(True),
            method=True, output_index=0)(_running_extremum("cummin", True))


# -- logcumsumexp -------------------------------------------------------------------------
def _logcumsumexp_array(x, dim):
    with np.errstate(invalid="ignore"):      # -inf - -inf inside logaddexp: the result is -inf
        return np.logaddexp.accumulate(x, axis=dim)


def _reverse_logcumsumexp(m, a, d):
    if m is np:
        return np.flip(_logcumsumexp_array(np.flip(a, d), d), d)
    return m.flip(m.logcumsumexp(m.flip(a, d), d), d)


class LogCumSumExp(FormulaPrimitive):
    """y_j = log sum_{i <= j} exp x_i, so dx_i = sum_{j >= i} g_j exp(x_i - y_j).  The sum
    is taken in log space, positive and negative g apart (PyTorch's and TensorFlow's
    rule): dx = exp(x + rlcse(log g+ - y)) - exp(x + rlcse(log g- - y)), rlcse the
    reversed logcumsumexp, log 0 the dtype's lowest finite value."""
    batch_rule = dims_batch_rule(1)          # the dim, past the batch dim

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = _logcumsumexp_array(x, dim)
        ctx.save_for_backward(x, y)
        return y

    def formula(ctx, m, g, x, y):
        d = ctx.dim
        log_pos, log_neg = _log_parts(m, g)
        with np.errstate(over="ignore"):       # lowest + x < lowest: -inf, exp(-inf) = 0
            pos = m.exp(_reverse_logcumsumexp(m, log_pos - y, d) + x)
            neg = m.exp(_reverse_logcumsumexp(m, log_neg - y, d) + x)
        return pos - neg, None

    @staticmethod
    def jvp(ctx, t, _dim):
        # dy_j = sum_{i <= j} exp(x_i - y_j) t_i, in log space as above (the split of a
        # tangent into its signs is linear in it; a rule derived from the VJP is not: its
        # log|g| has no derivative at the g = 0 it is derived at)
        x, y = ctx.saved_tensors
        log_pos, log_neg = _log_parts(tensor_namespace(), t)
        return (logcumsumexp(x + log_pos, ctx.dim) - y).exp() - \
            (logcumsumexp(x + log_neg, ctx.dim) - y).exp()


def _log_parts(m, g):
    """log of g's positive and negative parts, log 0 the lowest finite value."""
    lowest = float(np.finfo(g.dtype).min)
    return (m.where(g > 0, m.log(m.where(g > 0, g, 1.0)), lowest),
            m.where(g < 0, m.log(m.where(g < 0, -g, 1.0)), lowest))


def _logcumsumexp_samples(rng):
    yield from _scan_samples()(rng)
    big = make(rng, (2, 4), 500.0, 700.0)     # exp overflows; the log-space sum does not
    yield SampleInput((big, 1), {}, "large")
    minus_inf = make(rng, (2, 4))
    minus_inf.array[0, 2] = -np.inf            # exp(-inf) = 0: adds nothing, no gradient
    yield SampleInput((minus_inf, 1), {}, "minus-inf", gradgrad=False)


@op(LogCumSumExp, samples=_logcumsumexp_samples, method=True,
    ref=lambda x, dim: np.logaddexp.accumulate(x.reshape(x.shape or 1), axis=dim).reshape(x.shape))
def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along ``dim``, computed without overflow."""
    d = _scan_dim(input, dim, "logcumsumexp")
    if input.dtype.kind != "f":
        raise TypeError(f"logcumsumexp: expected a floating point input, got {input.dtype}")
    return _scanned(LogCumSumExp, input, d)


__all__ = ["cummax", "cummin", "cumprod", "logcumsumexp"]
