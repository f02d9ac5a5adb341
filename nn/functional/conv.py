"""Convolution and pooling (primitives in ``autograd.ops.conv`` / ``autograd.ops.pool``,
re-exported here under PyTorch's functional names) plus interpolation and the
power/local normalisations built on them."""
import math

import numpy as np

import autograd as ag
from autograd.dtypes import is_int
from autograd.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold
from autograd.ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, lp_pool2d,
                               max_pool1d, max_pool2d)

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "fold", "unfold", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "avg_pool2d", "lp_pool2d", "max_pool1d", "max_pool2d",
           "avg_pool1d", "adaptive_avg_pool1d", "interpolate", "upsample", "local_response_norm",
           "local_contrast_norm"]


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Run as avg_pool2d over (N, C, 1, L)."""
    one = lambda v: (1, v if isinstance(v, int) else v[0])   # noqa: E731
    out = avg_pool2d(input.unsqueeze(-2), one(kernel_size), None if stride is None else one(stride),
                     (0, padding if isinstance(padding, int) else padding[0]), ceil_mode,
                     count_include_pad)
    return out.squeeze(-2)


def adaptive_avg_pool1d(input, output_size):
    size = output_size if isinstance(output_size, int) else output_size[0]
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def _source_index(out_size, in_size, scale, mode, align_corners):
    """Source coordinate of each output position along one axis (PyTorch's formulas):
    nearest: floor(dst * s); linear: (dst + 0.5) s - 0.5 clamped at 0, or
    dst (in-1)/(out-1) with align_corners; s = in/out, or 1/scale_factor when given."""
    dst = np.arange(out_size, dtype=np.float64)
    if mode == "nearest":
        s = in_size / out_size if scale is None else 1.0 / scale
        return np.minimum(np.floor(dst * s).astype(np.int64), in_size - 1)
    if align_corners:
        s = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return dst * s
    s = in_size / out_size if scale is None else 1.0 / scale
    return np.maximum((dst + 0.5) * s - 0.5, 0.0)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, L) / (N, C, H, W) with 'nearest', 'linear' or
    'bilinear' sampling; separable, one index_select (or two and a lerp) per axis."""
    nd = input.ndim - 2
    if nd not in (1, 2):
        raise ValueError(f"interpolate: expected a 3-d or 4-d input (N, C, ...), got shape "
                         f"{tuple(input.shape)}")
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported "
                                  "(nearest, linear, bilinear)")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if mode in ("linear", "bilinear") and nd != {"linear": 1, "bilinear": 2}[mode]:
        raise ValueError(f"interpolate: mode {mode!r} needs a {3 if mode == 'linear' else 4}-d "
                         f"input, got shape {tuple(input.shape)}")
    in_sizes = input.shape[2:]
    if size is not None:
        sizes = (size,) * nd if isinstance(size, int) else tuple(size)
        if len(sizes) != nd or not all(is_int(s, 1) for s in sizes):
            raise ValueError(f"interpolate: size must be a positive int or {nd} positive ints "
                             f"for input {tuple(input.shape)}, got {size!r}")
        scales = (None,) * nd
    else:
        scales = (scale_factor,) * nd if np.isscalar(scale_factor) else tuple(scale_factor)
        if len(scales) != nd or any(not np.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(f"interpolate: scale_factor must be a positive number or {nd} "
                             f"positive numbers for input {tuple(input.shape)}, got {scale_factor!r}")
        sizes = tuple(int(math.floor(n * s)) for n, s in zip(in_sizes, scales))
        if any(s <= 0 for s in sizes):
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} turns input size "
                             f"{tuple(in_sizes)} into {sizes}; expected output sizes > 0")
        if recompute_scale_factor:
            scales = (None,) * nd
    out = input
    for axis, (n_in, n_out, s) in enumerate(zip(in_sizes, sizes, scales)):
        dim = 2 + axis
        src = _source_index(n_out, n_in, s, mode, bool(align_corners))
        if mode == "nearest":
            out = out.index_select(dim, src)
            continue
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        lam = (src - i0).astype(input.dtype).reshape((-1,) + (1,) * (input.ndim - 1 - dim))
        out = out.index_select(dim, i0) * (1 - lam) + out.index_select(dim, i1) * lam
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha/n sum_{c' in window(c)} x_{c'}^2)^beta, the window of n = size
    channels padded by size//2 before and (size-1)//2 after (PyTorch; Krizhevsky 2012)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3 or more dims (N, C, ...), got "
                         f"shape {tuple(input.shape)}")
    c = input.shape[1]
    sq = input * input
    widths = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = ag.pad(sq, widths)
    acc = padded[:, 0:c]
    for j in range(1, size):
        acc = acc + padded[:, j:j + c]
    div = (acc * (alpha / size) + k) ** beta
    return input / div


def local_contrast_norm(input, kernel_size=9, eps=1e-4):
    """Local contrast normalisation (Jarrett et al., 2009) with a box window:
    v = x - mean_{window x all channels}(x);  y = v / max(eps, sqrt(mean_window(v^2))).
    The window is kernel_size x kernel_size (odd), clipped at the border."""
    if input.ndim != 4:
        raise ValueError(f"local_contrast_norm: expected (N, C, H, W), got {tuple(input.shape)}")
    if kernel_size % 2 != 1:
        raise ValueError(f"local_contrast_norm: kernel_size must be odd, got {kernel_size}")
    pad = kernel_size // 2

    def local_mean(t):
        pooled = avg_pool2d(t, kernel_size, 1, pad, count_include_pad=False)
        return pooled.mean(1, keepdim=True)
    v = input - local_mean(input)
    std = local_mean(v * v).sqrt()
    return v / ag.maximum(std, eps)
