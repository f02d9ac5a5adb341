"""Resampling: ``interpolate`` in every PyTorch mode, and the pixel / channel shuffles.

Each interpolation mode is separable, so it runs one axis at a time as a sum of
gathered taps, ``y = sum_t w_t x[i_t]`` along the axis, with PyTorch's source
coordinates (aten/src/ATen/native/UpSample.h):
    nearest        src = floor(dst * s)                s = in/out, or 1/scale_factor
    nearest-exact  src = floor((dst + 0.5) * s)
    linear         src = (dst + 0.5) s - 0.5 clamped at 0, or dst (in-1)/(out-1)
                   with align_corners; taps floor(src), floor(src)+1 (clamped)
    cubic          the same src, not clamped; four taps floor(src)-1 .. +2 clamped to
                   the border, Keys' cubic convolution weights with A = -0.75
    area           adaptive average pooling to the output size.
One ``Resample`` node per axis runs the taps in a kernel (its VJP is the adjoint,
which scatters back); integer inputs (nearest only) take index_select.
The shuffles are reshapes and permutes.
"""
import math

import numpy as np

from ..dtypes import is_int
from ..forward_ad import linear_jvp
from ..function import Primitive
from ..kernels.resample import resample, resample_adjoint
from ..tensor import Tensor
from .batching import dims_batch_rule
from .half import via_float32
from .indexing import GetItem
from .pool import AvgPool, AvgPoolAdjoint, adaptive_avg_pool2d
from .pool_nd import adaptive_avg_pool1d, adaptive_avg_pool3d
from .registry import SampleInput, make, op
from .shape import Permute, Reshape

_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2,
          "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75


def _cubic_weights(t):
    """Keys' weights of the taps at offsets -1, 0, 1, 2 for fractional position t."""
    a = _CUBIC_A
    near = lambda u: ((a + 2) * u - (a + 3)) * u * u + 1            # noqa: E731  |u| <= 1
    far = lambda u: ((a * u - 5 * a) * u + 8 * a) * u - 4 * a        # noqa: E731  1 < |u| < 2
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _source(n_out, n_in, scale, mode, align_corners, dtype):
    """Source coordinate of each output position along one axis (PyTorch's formulas, in
    its precision: float for the nearest modes, the input's float type otherwise)."""
    ct = np.float32 if mode in ("nearest", "nearest-exact") else dtype
    dst = np.arange(n_out, dtype=ct)
    if align_corners and mode not in ("nearest", "nearest-exact"):
        return dst * ct((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    s = ct(n_in / n_out if scale is None else 1.0 / scale)
    if mode in ("nearest", "nearest-exact"):
        src = np.floor((dst + ct(0.5)) * s if mode == "nearest-exact" else dst * s)
        return np.minimum(src.astype(np.int64), n_in - 1)
    src = (dst + ct(0.5)) * s - ct(0.5)
    return src if mode == "bicubic" else np.maximum(src, ct(0.0))


def _aa_filter(mode, x):
    """The antialias filters of PyTorch's _upsample_*_aa: the triangle, or the cubic
    convolution with A = -0.5 (not the -0.75 of plain bicubic)."""
    x = np.abs(x)
    if mode == "bilinear":
        return np.maximum(1 - x, 0)
    a = -0.5
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0))


def _antialias_taps(n_out, n_in, scale, mode, align_corners, dtype):
    """PyTorch's _compute_indices_min_size_weights_aa: when shrinking by s >= 1 the
    filter widens by s; output i averages inputs xmin .. xmin + xsize - 1 around
    center s (i + 0.5), the weights normalised to sum 1."""
    if align_corners:
        s = dtype((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        s = dtype(n_in / n_out if scale is None else 1.0 / scale)
    half = dtype(1.0 if mode == "bilinear" else 2.0)
    support = half * s if s >= 1 else half
    width = int(math.ceil(support)) * 2 + 1
    invscale = dtype(1.0) / s if s >= 1 else dtype(1.0)
    center = s * (np.arange(n_out, dtype=dtype) + dtype(0.5))
    xmin = np.maximum((center - support + dtype(0.5)).astype(np.int64), 0)
    xsize = np.clip(np.minimum((center + support + dtype(0.5)).astype(np.int64), n_in) - xmin,
                    0, width)
    j = np.arange(width)[:, None]
    w = np.where(j < xsize, _aa_filter(mode, ((j + xmin - center + dtype(0.5)) * invscale)
                                       .astype(dtype)), 0).astype(dtype)
    total = w.sum(0)
    w = np.where(total != 0, w / np.where(total != 0, total, 1), w).astype(dtype)
    return list(zip(np.minimum(j + xmin, n_in - 1), w))


def _taps(n_out, n_in, scale, mode, align_corners, dtype):
    """[(indices, weights)] of one axis: each output is sum_t x[indices_t] * weights_t."""
    src = _source(n_out, n_in, scale, mode, align_corners, dtype)
    if src.dtype.kind == "i":
        return [(src, None)]
    base = np.floor(src)
    t = src - base
    base = base.astype(np.int64)
    if mode == "bicubic":
        return [(np.clip(base + off, 0, n_in - 1), w.astype(dtype))
                for off, w in zip((-1, 0, 1, 2), _cubic_weights(t))]
    lo = np.minimum(base, n_in - 1)
    return [(lo, (1 - t).astype(dtype)), (np.minimum(lo + 1, n_in - 1), t.astype(dtype))]


def _copies_axis(mode, nd, n_in, n_out, scale):
    """PyTorch copies an axis whose size does not change in the linear modes and in 2-d
    nearest; elsewhere only without a scale_factor (where its formula is the identity)."""
    return n_in == n_out and (mode in ("linear", "bilinear", "trilinear") or scale is None or
                              (mode == "nearest" and nd == 2))


class Resample(Primitive):
    """y = sum_t w[t] x[idx[t]] along ``axis`` (kernels/resample.py).  Linear: its VJP
    is the adjoint, ResampleAdjoint, whose VJP is Resample again."""
    jvp = linear_jvp
    batch_rule = dims_batch_rule(1)

    @staticmethod
    def forward(ctx, x, axis, idx, w):
        ctx.args, ctx.n_in = (axis, idx, w), x.shape[axis]
        y = resample(_rows(x, axis), idx, w)
        return y.reshape(x.shape[:axis] + (idx.shape[1],) + x.shape[axis + 1:])

    @staticmethod
    def backward(ctx, g):
        return ResampleAdjoint.apply(g, *ctx.args, ctx.n_in), None, None, None


class ResampleAdjoint(Primitive):
    """dx[idx[t]] += w[t] g along ``axis``: Resample's VJP, itself linear."""
    jvp = linear_jvp
    batch_rule = dims_batch_rule(1)

    @staticmethod
    def forward(ctx, g, axis, idx, w, n_in):
        ctx.args = (axis, idx, w)
        dx = resample_adjoint(_rows(g, axis), idx, w, n_in)
        return dx.reshape(g.shape[:axis] + (n_in,) + g.shape[axis + 1:])

    @staticmethod
    def backward(ctx, h):
        return Resample.apply(h, *ctx.args), None, None, None, None


def _rows(a, axis):
    """``a`` as (A, n, B) around ``axis``, contiguous for the kernels."""
    a = np.ascontiguousarray(a)
    size = lambda dims: int(np.prod(dims, dtype=np.int64))       # noqa: E731
    return a.reshape(size(a.shape[:axis]), a.shape[axis], size(a.shape[axis + 1:]))


def _resample_axis(x, dim, taps):
    if x.dtype.kind != "f":              # nearest on integers: a gather, no weights
        (idx, _), = taps
        return x.index_select(dim, idx)
    idx = np.stack([i for i, _ in taps])
    w = np.stack([np.ones(len(i), x.dtype) if wt is None else wt.astype(x.dtype)
                  for i, wt in taps])
    return Resample.apply(x, dim, idx, w)


def _sizes_and_scales(name, x, nd, size, scale_factor, recompute_scale_factor):
    in_sizes = tuple(x.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{name}: give exactly one of size and scale_factor")
    if size is not None:
        sizes = (size,) * nd if is_int(size) else tuple(size)
        if len(sizes) != nd or not all(is_int(s, 1) for s in sizes):
            raise ValueError(f"{name}: size must be a positive int or {nd} positive ints for "
                             f"input {tuple(x.shape)}, got {size!r}")
        return sizes, (None,) * nd
    scales = (scale_factor,) * nd if np.isscalar(scale_factor) else tuple(scale_factor)
    if len(scales) != nd or any(not np.isfinite(s) or s <= 0 for s in scales):
        raise ValueError(f"{name}: scale_factor must be a positive number or {nd} positive "
                         f"numbers for input {tuple(x.shape)}, got {scale_factor!r}")
    sizes = tuple(int(math.floor(n * s)) for n, s in zip(in_sizes, scales))
    if any(s <= 0 for s in sizes):
        raise ValueError(f"{name}: scale_factor {scale_factor!r} turns input size "
                         f"{in_sizes} into {sizes}; expected output sizes > 0")
    return sizes, ((None,) * nd if recompute_scale_factor else tuple(float(s) for s in scales))


# -- NumPy reference: PyTorch's loops, written per output element (independent of the taps) ---
def _ref_axis(x, axis, n_out, scale, mode, align_corners, antialias=False):
    n_in = x.shape[axis]
    x = np.moveaxis(x, axis, -1)
    out = np.empty(x.shape[:-1] + (n_out,), x.dtype)
    for j in range(n_out):
        s_rel = (n_in / n_out if scale is None else 1.0 / scale)
        if antialias:      # PyTorch's loop: a widened filter, weights normalised
            s_aa = ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0) if align_corners else s_rel
            half = 1.0 if mode == "bilinear" else 2.0
            support = half * s_aa if s_aa >= 1 else half
            center = s_aa * (j + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), n_in)
            ws = [float(_aa_filter(mode, (i - center + 0.5) / (s_aa if s_aa >= 1 else 1.0)))
                  for i in range(lo, hi)]
            total = sum(ws) or 1.0
            out[..., j] = sum(x[..., i] * (w / total) for i, w in zip(range(lo, hi), ws))
            continue
        if mode == "nearest":
            out[..., j] = x[..., min(int(math.floor(j * s_rel)), n_in - 1)]
            continue
        if mode == "nearest-exact":
            out[..., j] = x[..., min(int(math.floor((j + 0.5) * s_rel)), n_in - 1)]
            continue
        if align_corners:
            src = j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = (j + 0.5) * s_rel - 0.5
            src = src if mode == "bicubic" else max(src, 0.0)
        i0 = int(math.floor(src))
        t = src - i0
        at = lambda i: x[..., min(max(i, 0), n_in - 1)]    # noqa: E731  border-clamped access
        if mode == "bicubic":
            out[..., j] = sum(at(i0 + o) * w for o, w in zip((-1, 0, 1, 2), _cubic_weights(t)))
        else:
            out[..., j] = at(i0) * (1 - t) + at(i0 + 1) * t
    return np.moveaxis(out, -1, axis)


def _area_ref(x, sizes):
    out = x
    for axis, m in enumerate(sizes):
        n = out.shape[2 + axis]
        out = np.stack([np.take(out, range(i * n // m, -(-(i + 1) * n // m)), 2 + axis)
                        .mean(2 + axis) for i in range(m)], 2 + axis)
    return out


def interpolate_reference(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                          recompute_scale_factor=None, antialias=False):
    nd = x.ndim - 2
    if size is not None:
        sizes, scales = ((size,) * nd if np.isscalar(size) else tuple(size)), (None,) * nd
    else:
        scales = (scale_factor,) * nd if np.isscalar(scale_factor) else tuple(scale_factor)
        sizes = tuple(int(math.floor(n * s)) for n, s in zip(x.shape[2:], scales))
        scales = (None,) * nd if recompute_scale_factor else scales
    if mode == "area":
        return _area_ref(x, sizes)
    for axis in range(nd):
        n_in, scale = x.shape[2 + axis], scales[axis]
        if _copies_axis(mode, nd, n_in, sizes[axis], scale):
            continue
        if mode == "nearest" and nd == 2 and sizes[axis] == 2 * n_in:
            scale = None
        x = _ref_axis(x, 2 + axis, sizes[axis], scale, mode, bool(align_corners), antialias)
    return x


def _interpolate_samples(rng):
    yield SampleInput((make(rng, (2, 3, 5)),), dict(size=8, mode="linear"), "linear-up")
    yield SampleInput((make(rng, (1, 2, 5, 6)),), dict(scale_factor=(0.6, 1.5), mode="bilinear",
                                                       align_corners=True), "bilinear-corners")
    yield SampleInput((make(rng, (1, 2, 4, 5)),), dict(size=(7, 3), mode="bicubic"), "bicubic")
    yield SampleInput((make(rng, (1, 2, 3, 4, 3)),), dict(scale_factor=1.7, mode="trilinear"),
                      "trilinear-scale")
    yield SampleInput((make(rng, (2, 2, 5, 7)),), dict(size=(3, 4), mode="area"), "area")
    yield SampleInput((make(rng, (1, 2, 3, 4, 5)),), dict(size=(2, 5, 4), mode="nearest"),
                      "nearest-3d")
    yield SampleInput((make(rng, (1, 2, 5, 3)),), dict(scale_factor=1.5, mode="nearest-exact"),
                      "nearest-exact")
    yield SampleInput((make(rng, (1, 2, 7, 6)),), dict(size=(3, 4), mode="bilinear",
                                                       antialias=True), "bilinear-antialias")
    yield SampleInput((make(rng, (1, 1, 9, 4)),), dict(scale_factor=(0.4, 1.5), mode="bicubic",
                                                       antialias=True, align_corners=True),
                      "bicubic-antialias-corners")


def _pixel_shuffle_samples(rng):
    yield SampleInput((make(rng, (2, 8, 2, 3)), 2), {}, "r2")
    yield SampleInput((make(rng, (9, 2, 2), noncontig=True), 3), {}, "unbatched-r3-noncontig")


def _pixel_unshuffle_samples(rng):
    yield SampleInput((make(rng, (2, 2, 4, 6)), 2), {}, "r2")
    yield SampleInput((make(rng, (1, 3, 3), noncontig=True), 3), {}, "unbatched-r3-noncontig")


def _channel_shuffle_samples(rng):
    yield SampleInput((make(rng, (2, 6, 3, 2)), 3), {}, "g3")
    yield SampleInput((make(rng, (2, 4, 5)), 2), {}, "1d")


def _pixel_shuffle_ref(x, r):
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = np.moveaxis(y, (-4, -3), (-3, -1))             # (..., C, H, r, W, r)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def _pixel_unshuffle_ref(x, r):
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = np.moveaxis(y, (-3, -1), (-4, -3))             # (..., C, r, r, H/r, W/r)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def _channel_shuffle_ref(x, groups):
    n, c = x.shape[:2]
    return x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)


# -- public API --------------------------------------------------------------------------------
@op(Resample, ResampleAdjoint, GetItem, AvgPool, AvgPoolAdjoint, samples=_interpolate_samples,
    ref=interpolate_reference)
@via_float32
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, L) / (N, C, H, W) / (N, C, D, H, W) in any of
    PyTorch's modes (see the module docstring for the coordinates)."""
    name = "interpolate"
    if not isinstance(input, Tensor) or input.ndim not in (3, 4, 5):
        raise ValueError(f"{name}: expected a 3-d, 4-d or 5-d input (N, C, ...), got shape "
                         f"{tuple(getattr(input, 'shape', ()))}")
    nd = input.ndim - 2
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if _MODES[mode] is None and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if _MODES[mode] not in (None, nd):
        raise ValueError(f"{name}: mode {mode!r} needs a {_MODES[mode] + 2}-d input, got shape "
                         f"{tuple(input.shape)}")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"{name}: anti-alias option is restricted to bilinear and bicubic "
                         f"modes and requires a 4-D tensor as input, got mode {mode!r}")
    if input.dtype.kind != "f" and mode not in ("nearest", "nearest-exact"):
        raise TypeError(f"{name}: mode {mode!r} needs a floating point input, got {input.dtype}")
    sizes, scales = _sizes_and_scales(name, input, nd, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[nd - 1](input, sizes)
    ct = np.float32 if input.dtype.kind != "f" or input.dtype.itemsize < 4 else input.dtype.type
    out = input
    for axis, (n_in, n_out, s) in enumerate(zip(input.shape[2:], sizes, scales)):
        if _copies_axis(mode, nd, n_in, n_out, s):
            continue
        if mode == "nearest" and nd == 2 and n_out == 2 * n_in:
            s = None       # PyTorch's 2-d nearest halves the index, whatever the scale_factor
        taps = (_antialias_taps if antialias else _taps)(n_out, n_in, s, mode,
                                                         bool(align_corners), ct)
        out = _resample_axis(out, 2 + axis, taps)
    return out


def _shuffle_factor(name, x, factor, what="upscale_factor"):
    if not is_int(factor, 1):
        raise ValueError(f"{name}: {what} must be a positive integer, got {factor!r}")
    if not isinstance(x, Tensor) or x.ndim < 3:
        raise ValueError(f"{name}: expected an input of at least 3 dims (*, C, H, W), got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    return int(factor)


@op(Reshape, Permute, samples=_pixel_shuffle_samples, ref=_pixel_shuffle_ref)
def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each r x r block of outputs comes from r^2
    channels (Shi et al., 2016)."""
    r = _shuffle_factor("pixel_shuffle", input, upscale_factor)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: channels {c} of input {tuple(input.shape)} must be "
                         f"divisible by upscale_factor^2 = {r * r}")
    k = len(lead)
    y = input.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


@op(Reshape, Permute, samples=_pixel_unshuffle_samples, ref=_pixel_unshuffle_ref)
def pixel_unshuffle(input, downscale_factor):
    """The inverse of pixel_shuffle: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = _shuffle_factor("pixel_unshuffle", input, downscale_factor, "downscale_factor")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height {h} and width {w} of input "
                         f"{tuple(input.shape)} must be divisible by downscale_factor {r}")
    k = len(lead)
    y = input.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


@op(Reshape, Permute, samples=_channel_shuffle_samples, ref=_channel_shuffle_ref)
def channel_shuffle(input, groups):
    """(N, C, *) with C = g k: channel i k + j goes to j g + i (ShuffleNet)."""
    if not is_int(groups, 1):
        raise ValueError(f"channel_shuffle: groups must be a positive integer, got {groups!r}")
    if not isinstance(input, Tensor) or input.ndim < 3 or input.shape[1] % groups:
        raise ValueError(f"channel_shuffle: expected an input (N, C, *) of at least 3 dims with "
                         f"C divisible by groups={groups}, got shape "
                         f"{tuple(getattr(input, 'shape', ()))}")
    n, c = input.shape[:2]
    y = input.reshape(n, groups, c // groups, *input.shape[2:]).transpose(1, 2)
    return y.reshape(*input.shape)
