"""Pooling as autograd primitives whose VJPs are again primitives.

Max pooling routes each output's gradient to the input element that won:
    MaxPool      (out, idx) = max over windows
    PoolScatter  dx = scatter-add of g to idx          (VJP of MaxPool)
    PoolGather   dg = h[idx]                           (VJP of PoolScatter)
and PoolGather's VJP is PoolScatter, so higher derivatives stay on the kernels.
Average pooling is linear: AvgPool's VJP is its adjoint AvgPoolAdjoint (each output
spreads g/divisor over its window) and vice versa.

Windows are separable per axis (see autograd/kernels/pool.py); ``win`` is
``(hs, hn, dh, ws, wn, dw)``.  Arrays are handled as (planes, H, W): every leading
dim is a plane, so batched/unbatched 1-d and 2-d pools share the primitives.
"""
import math

import numpy as np

from ..function import Primitive
from ..kernels.pool import avg_pool, avg_pool_adjoint, max_pool, scatter_add
from ..tensor import Tensor
from .half import via_float32
from .registry import SampleInput, make, op
from ..forward_ad import derived_jvp, linear_jvp
from .batching import all_batched_rule, batch_as_leading_dim_rule


def _planes(a, nd):
    """View ``a`` as (P, H, W); a 1-d pool (nd=1) has H = 1."""
    a = np.ascontiguousarray(a)
    sp = a.shape[a.ndim - nd:]
    return a.reshape((-1,) + ((1,) if nd == 1 else ()) + sp), a.shape[:a.ndim - nd]


class MaxPool(Primitive):
    batch_rule = batch_as_leading_dim_rule    # planes: any leading dims
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, nd, win):
        x3, lead = _planes(x, nd)
        out, idx = max_pool(x3, *win)
        sp = out.shape[2:] if nd == 1 else out.shape[1:]
        out, idx = out.reshape(lead + sp), idx.reshape(lead + sp)
        ctx.in_sp = x.shape[x.ndim - nd:]
        ctx.save_for_backward(idx)
        return out, idx

    @staticmethod
    def backward(ctx, g, _):
        idx, = ctx.saved_tensors
        return PoolScatter.apply(g, idx, ctx.in_sp), None, None   # dx[idx] += g


class PoolScatter(Primitive):
    batch_rule = all_batched_rule
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, g, idx, in_sp):
        ctx.save_for_backward(idx)
        ctx.in_sp = tuple(in_sp)
        nd = len(in_sp)
        n = int(np.prod(g.shape[g.ndim - nd:]))
        out = scatter_add(np.ascontiguousarray(g).reshape(-1, n),
                          np.ascontiguousarray(idx).reshape(-1, n), int(np.prod(in_sp)))
        return out.reshape(g.shape[:g.ndim - nd] + tuple(in_sp))

    @staticmethod
    def backward(ctx, h):
        idx, = ctx.saved_tensors
        return PoolGather.apply(h, idx, len(ctx.in_sp)), None, None   # dg = h[idx]


class PoolGather(Primitive):
    batch_rule = all_batched_rule
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, h, idx, nd):
        ctx.save_for_backward(idx)
        ctx.in_sp = h.shape[h.ndim - nd:]
        n = int(np.prod(ctx.in_sp))
        h2 = np.ascontiguousarray(h).reshape(-1, n)
        return np.take_along_axis(h2, idx.reshape(h2.shape[0], -1), axis=1).reshape(idx.shape)

    @staticmethod
    def backward(ctx, gg):
        idx, = ctx.saved_tensors
        return PoolScatter.apply(gg, idx, ctx.in_sp), None, None     # dh[idx] += gg


class AvgPool(Primitive):
    """y = mean over windows (sum / divisor).  Linear: dx = AvgPoolAdjoint(g)."""
    batch_rule = batch_as_leading_dim_rule
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, win, div):
        ctx.args, ctx.in_sp = (win, div), x.shape[-2:]
        x3, lead = _planes(x, 2)
        y = avg_pool(x3, win[0], win[1], win[3], win[4], div)
        return y.reshape(lead + y.shape[1:])

    @staticmethod
    def backward(ctx, g):
        return AvgPoolAdjoint.apply(g, *ctx.args, ctx.in_sp), None, None


class AvgPoolAdjoint(Primitive):
    """dx[window] += g / divisor.  Linear: its VJP is AvgPool."""
    batch_rule = batch_as_leading_dim_rule
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, g, win, div, in_sp):
        ctx.args = (win, div)
        g3, lead = _planes(g, 2)
        dx = avg_pool_adjoint(g3, in_sp[0], in_sp[1], win[0], win[1], win[3], win[4], div)
        return dx.reshape(lead + tuple(in_sp))

    @staticmethod
    def backward(ctx, h):
        return AvgPool.apply(h, *ctx.args), None, None, None


# -- window geometry and argument checks ---------------------------------------------------
def _ints(name, arg, value, nd):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    value = tuple(int(v) for v in value)
    if len(value) == 1 and nd > 1:
        value = value * nd
    if len(value) != nd:
        raise ValueError(f"{name}: {arg} must be an int or a tuple of {nd} ints, got {value}")
    return value


def _check(name, x, nd):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        what = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
        raise ValueError(f"{name}: expected a {nd + 1}-d or {nd + 2}-d input {what}, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {x.dtype}")
    if 0 in x.shape[x.ndim - nd:]:
        raise ValueError(f"{name}: spatial size of input {tuple(x.shape)} must be non-zero")


def _windows(name, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """Per-axis (start, count) arrays with PyTorch's output size rule."""
    k = _ints(name, "kernel_size", kernel_size, nd)
    s = k if stride is None or stride == () or stride == [] else _ints(name, "stride", stride, nd)
    p, d = _ints(name, "padding", padding, nd), _ints(name, "dilation", dilation, nd)
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"{name}: kernel_size {k}, stride {s} and dilation {d} must be "
                         f"positive and padding {p} non-negative")
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{name}: padding {p} must be at most half of kernel_size {k}")
    axes = []
    for size, ki, si, pi, di in zip(x.shape[x.ndim - nd:], k, s, p, d):
        span = size + 2 * pi - di * (ki - 1) - 1
        if span < 0:
            raise ValueError(f"{name}: kernel_size {k} (dilation {d}) is larger than the padded "
                             f"input (input {tuple(x.shape)}, padding {p})")
        out = (-(-span // si) if ceil_mode else span // si) + 1
        if ceil_mode and (out - 1) * si >= size + pi:   # last window must start inside
            out -= 1
        axes.append((np.arange(out, dtype=np.int64) * si - pi,
                     np.full(out, ki, np.int64), di, size, ki, pi))
    if nd == 1:
        axes.insert(0, (np.zeros(1, np.int64), np.ones(1, np.int64), 1, 1, 1, 0))
    return axes


def _win(axes):
    (hs, hn, dh, *_), (ws, wn, dw, *_) = axes
    return (hs, hn, dh, ws, wn, dw)


def _adaptive_windows(name, x, output_size):
    osz = (output_size,) * 2 if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(osz) != 2:
        raise ValueError(f"{name}: output_size must be an int or a pair, got {output_size!r}")
    osz = tuple(int(n if o is None else o) for o, n in zip(osz, x.shape[-2:]))
    if min(osz) < 1:
        raise ValueError(f"{name}: output_size {osz} must be positive (input {tuple(x.shape)})")
    axes = []
    for size, o in zip(x.shape[-2:], osz):
        r = np.arange(o, dtype=np.int64)
        start = (r * size) // o                     # floor(i*H/OH)
        end = -((-(r + 1) * size) // o)             # ceil((i+1)*H/OH)
        axes.append((start, end - start, 1))
    return axes


def _as_output(out, idx, return_indices):
    return (out, idx) if return_indices else out


# -- NumPy references (padded copies + strided taps; independent of the kernels) -------------
def _pair(v, n=2):
    return (v,) * n if np.isscalar(v) else tuple(v)


def _ref_taps(x, k, s, p, d, ceil_mode, fill):
    """(N.., taps, OH, OW) of every window tap, padding filled with ``fill``, plus coords."""
    h_, w_ = x.shape[-2:]
    outs = []
    for size, ki, si, pi, di in zip((h_, w_), k, s, p, d):
        span = size + 2 * pi - di * (ki - 1) - 1
        o = (math.ceil(span / si) if ceil_mode else span // si) + 1
        outs.append(o - 1 if ceil_mode and (o - 1) * si >= size + pi else o)
    (oh, ow) = outs
    need = [(o - 1) * si + di * (ki - 1) + 1 for o, si, di, ki in zip(outs, s, d, k)]
    xp = np.full(x.shape[:-2] + (max(need[0], h_ + 2 * p[0]), max(need[1], w_ + 2 * p[1])),
                 fill, x.dtype)
    xp[..., p[0]:p[0] + h_, p[1]:p[1] + w_] = x
    taps, coords = [], []
    for i in range(k[0]):
        for j in range(k[1]):
            taps.append(xp[..., i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
                           j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]])
            coords.append(((np.arange(oh) * s[0] - p[0] + i * d[0])[:, None],
                           (np.arange(ow) * s[1] - p[1] + j * d[1])[None, :]))
    return np.stack(taps, axis=-3), coords


def max_pool2d_reference(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    taps, coords = _ref_taps(x, k, s, _pair(padding), _pair(dilation), ceil_mode, -np.inf)
    a = np.argmax(taps, axis=-3)
    out = np.take_along_axis(taps, a[..., None, :, :], axis=-3)[..., 0, :, :]
    flat = np.stack([np.broadcast_to(r * x.shape[-1] + c, a.shape[-2:]) for r, c in coords])
    oh, ow = a.shape[-2:]
    idx = flat[a, np.arange(oh)[:, None], np.arange(ow)[None, :]]
    return (out, idx) if return_indices else out


def max_pool1d_reference(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    one = lambda v, dflt: (dflt, v if np.isscalar(v) else v[0])
    r = max_pool2d_reference(x[..., None, :], one(kernel_size, 1),
                             None if stride is None else one(stride, 1), one(padding, 0),
                             one(dilation, 1), ceil_mode, True)
    out, idx = r[0][..., 0, :], r[1][..., 0, :]
    return (out, idx) if return_indices else out


def avg_pool2d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                         count_include_pad=True, divisor_override=None):
    k = _pair(kernel_size)
    s, p = (k if stride is None else _pair(stride)), _pair(padding)
    total = _ref_taps(x, k, s, p, (1, 1), ceil_mode, 0.0)[0].sum(axis=-3)
    if divisor_override:
        return total / divisor_override
    h_, w_ = x.shape[-2:]
    if count_include_pad:     # taps inside input + padding (not beyond the padding)
        ones = _ref_taps(np.ones((h_ + 2 * p[0], w_ + 2 * p[1])), k, s, (0, 0), (1, 1),
                         ceil_mode, 0.0)[0].sum(axis=0)[:total.shape[-2], :total.shape[-1]]
    else:                     # taps inside the input
        ones = _ref_taps(np.ones((h_, w_)), k, s, p, (1, 1), ceil_mode, 0.0)[0].sum(axis=0)
    return total / ones


def _adaptive_ref(x, output_size, reduce):
    osz = _pair(output_size)
    osz = tuple(n if o is None else o for o, n in zip(osz, x.shape[-2:]))
    h_, w_ = x.shape[-2:]
    out = np.empty(x.shape[:-2] + osz, x.dtype)
    for i in range(osz[0]):
        for j in range(osz[1]):
            r = slice(i * h_ // osz[0], -(-(i + 1) * h_ // osz[0]))
            c = slice(j * w_ // osz[1], -(-(j + 1) * w_ // osz[1]))
            out[..., i, j] = reduce(x[..., r, c], axis=(-2, -1))
    return out


def adaptive_avg_pool2d_reference(x, output_size):
    return _adaptive_ref(x, output_size, np.mean)


def adaptive_max_pool2d_reference(x, output_size, return_indices=False):
    return _adaptive_ref(x, output_size, np.max)


def lp_pool2d_reference(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    k = _pair(kernel_size)
    # PyTorch's definition: (avg_pool2d(x^p) * kH*kW)^(1/p)
    avg = avg_pool2d_reference(x ** norm_type, k, stride, 0, ceil_mode)
    return (avg * (k[0] * k[1])) ** (1.0 / norm_type)


# -- samples (small: the registry sweep runs gradgradcheck on each) ------------------------
def _max_pool2d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4, 4)), 2), {}, "k2")
    yield SampleInput((make(rng, (1, 2, 5, 7)), 2), {}, "k2-odd")             # 2x2 kernel
    yield SampleInput((make(rng, (1, 2, 5, 7)), 2), dict(ceil_mode=True), "k2-ceil")
    yield SampleInput((make(rng, (1, 2, 6, 5)), 3), dict(stride=2, padding=1, ceil_mode=True),
                      "pad-ceil")
    yield SampleInput((make(rng, (2, 5, 5), noncontig=True), (2, 3)),
                      dict(stride=(1, 2), dilation=(2, 1), return_indices=True),
                      "unbatched-dilation-noncontig")


def _max_pool1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 7)), 3), dict(stride=2, padding=1), "pad")
    yield SampleInput((make(rng, (3, 8)), 2), dict(dilation=2, ceil_mode=True, stride=3,
                                                   return_indices=True), "unbatched-ceil")


def _avg_pool2d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4, 4)), 2), {}, "k2")
    yield SampleInput((make(rng, (1, 2, 5, 7)), 2), {}, "k2-odd")             # 2x2 kernel
    yield SampleInput((make(rng, (1, 2, 5, 7)), 2), dict(ceil_mode=True), "k2-ceil")
    yield SampleInput((make(rng, (1, 2, 6, 5)), 3),
                      dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                      "pad-ceil-exclude")
    yield SampleInput((make(rng, (2, 5, 6), noncontig=True), (3, 2)),
                      dict(stride=(1, 3), padding=1, ceil_mode=True), "include-pad-ceil")
    yield SampleInput((make(rng, (1, 2, 4, 4)), 2), dict(stride=1, divisor_override=3),
                      "divisor")


def _lp_pool2d_samples(rng):
    yield SampleInput((make(rng, (2, 2, 4, 5), 0.5, 2.0), 2, 2), {}, "p2")
    yield SampleInput((make(rng, (1, 2, 5, 5), 0.5, 2.0), 3, (2, 3)), dict(stride=1), "p3")


def _adaptive_samples(rng):
    yield SampleInput((make(rng, (2, 3, 5, 7)), (3, 4)), {}, "overlapping")
    yield SampleInput((make(rng, (1, 2, 4, 4)), 1), {}, "global")
    yield SampleInput((make(rng, (2, 5, 6), noncontig=True), (2, None)), {}, "unbatched-none")


# -- public API ------------------------------------------------------------------------------
@op(MaxPool, PoolScatter, PoolGather, samples=_max_pool2d_samples, ref=max_pool2d_reference,
    output_index=0)
@via_float32
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over (kH, kW) windows; indices are flat offsets h*W + w within each plane."""
    _check("max_pool2d", input, 2)
    axes = _windows("max_pool2d", input, 2, kernel_size, stride, padding, dilation, ceil_mode)
    return _as_output(*MaxPool.apply(input, 2, _win(axes)), return_indices)


@op(MaxPool, PoolScatter, PoolGather, samples=_max_pool1d_samples, ref=max_pool1d_reference,
    output_index=0)
@via_float32
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    _check("max_pool1d", input, 1)
    axes = _windows("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode)
    return _as_output(*MaxPool.apply(input, 1, _win(axes)), return_indices)


@op(AvgPool, AvgPoolAdjoint, samples=_avg_pool2d_samples, ref=avg_pool2d_reference)
@via_float32
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    name = "avg_pool2d"
    _check(name, input, 2)
    axes = _windows(name, input, 2, kernel_size, stride, padding, 1, ceil_mode)
    counts = []
    for start, count, _, size, k, p in axes:
        # PyTorch: with count_include_pad the window is clipped to input + padding,
        # otherwise to the input itself.
        hi = np.minimum(start + k, size + p) if count_include_pad else np.minimum(start + k, size)
        counts.append(hi - (start if count_include_pad else np.maximum(start, 0)))
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{name}: divisor_override must be non-zero")
        div = np.full((len(counts[0]), len(counts[1])), float(divisor_override))
    else:
        div = np.outer(counts[0], counts[1]).astype(np.float64)
    return AvgPool.apply(input, _win(axes), div.astype(input.dtype))


@op(AvgPool, AvgPoolAdjoint, samples=_lp_pool2d_samples, ref=lp_pool2d_reference)
@via_float32
def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling (sum over the window of x^p)^(1/p), PyTorch's definition
    (avg_pool2d(x^p) * kH*kW)^(1/p); p=2 is L2 pooling.  Composed from primitives."""
    _check("lp_pool2d", input, 2)
    k = _ints("lp_pool2d", "kernel_size", kernel_size, 2)
    avg = avg_pool2d(input ** norm_type, k, stride, 0, ceil_mode)
    # PyTorch's form: relu's VJP selects, so an all-zero window gets 0, not 0 * inf
    return (avg.sign() * avg.abs().relu() * float(k[0] * k[1])) ** (1.0 / norm_type)


@op(AvgPool, AvgPoolAdjoint, samples=_adaptive_samples, ref=adaptive_avg_pool2d_reference)
@via_float32
def adaptive_avg_pool2d(input, output_size):
    """Mean over windows [floor(i*H/OH), ceil((i+1)*H/OH)) per axis."""
    _check("adaptive_avg_pool2d", input, 2)
    (hs, hn, _), (ws, wn, _) = _adaptive_windows("adaptive_avg_pool2d", input, output_size)
    div = np.outer(hn, wn).astype(input.dtype)
    return AvgPool.apply(input, (hs, hn, 1, ws, wn, 1), div)


@op(MaxPool, PoolScatter, PoolGather, samples=_adaptive_samples,
    ref=adaptive_max_pool2d_reference, output_index=0)
@via_float32
def adaptive_max_pool2d(input, output_size, return_indices=False):
    _check("adaptive_max_pool2d", input, 2)
    (hs, hn, _), (ws, wn, _) = _adaptive_windows("adaptive_max_pool2d", input, output_size)
    return _as_output(*MaxPool.apply(input, 2, (hs, hn, 1, ws, wn, 1)), return_indices)
