"""Convolution and pooling (primitives in ``autograd.ops.conv`` / ``autograd.ops.pool``,
re-exported here under PyTorch's functional names) plus interpolation and the
power/local normalisations built on them."""
import autograd as ag
from autograd.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold
from autograd.ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, lp_pool2d,
                               max_pool1d, max_pool2d)
from autograd.ops.pool_nd import adaptive_avg_pool1d, avg_pool1d
from autograd.ops.upsample import interpolate  # every mode (autograd/ops/upsample.py)

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "fold", "unfold", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "avg_pool2d", "lp_pool2d", "max_pool1d", "max_pool2d",
           "avg_pool1d", "adaptive_avg_pool1d", "interpolate", "upsample", "local_response_norm",
           "local_contrast_norm"]


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
