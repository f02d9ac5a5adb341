"""The spatial family beyond 2-d (issue 27): 3-d and transposed convolutions, 1-d / 3-d
pooling, un-pooling, fractional max pooling, the shuffles, sampling grids and the
channel dropouts.  The ops live in autograd/ops (conv_nd, pool_nd, unpool, upsample,
grid_sample); this module gives them PyTorch's functional names."""
import warnings

from autograd.ops.conv_nd import conv3d, conv_transpose1d, conv_transpose3d
from autograd.ops.grid_sampling import affine_grid, grid_sample
from autograd.ops.pool_nd import (adaptive_avg_pool3d, adaptive_max_pool1d, adaptive_max_pool3d,
                                  avg_pool3d, lp_pool1d, lp_pool3d, max_pool3d)
from autograd.ops.unpool import (fractional_max_pool2d, fractional_max_pool3d, max_unpool1d,
                                 max_unpool2d, max_unpool3d)
from autograd.ops.upsample import channel_shuffle, interpolate, pixel_shuffle, pixel_unshuffle

from .linear import _alpha_dropout, _check_p, _dropout

__all__ = ["conv3d", "conv_transpose1d", "conv_transpose3d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool3d", "avg_pool3d", "lp_pool1d", "lp_pool3d",
           "max_pool3d", "channel_shuffle", "native_channel_shuffle", "pixel_shuffle",
           "pixel_unshuffle", "upsample_nearest", "upsample_bilinear", "dropout3d",
           "feature_alpha_dropout", "affine_grid", "grid_sample", "fractional_max_pool2d",
           "fractional_max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d"]

native_channel_shuffle = channel_shuffle


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated in PyTorch for ``interpolate(..., mode='nearest')``; it warns the same."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated in PyTorch for ``interpolate(..., mode='bilinear', align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _channel_mask_shape(name, input, nd):
    """One draw per (N, C) of a batched input, per C of an unbatched one."""
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected a {nd + 1}-d or {nd + 2}-d input, got shape "
                         f"{tuple(input.shape)}")
    return tuple(input.shape[:input.ndim - nd]) + (1,) * nd


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W), scaling the rest by 1/(1-p)."""
    _check_p(p)
    shape = _channel_mask_shape("dropout3d", input, 3)
    if not training or p == 0.0:
        return input
    return _dropout(input, p, shape)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """alpha_dropout with one draw per channel: (N, C, *) masks of shape (N, C, 1, ...)."""
    _check_p(p)
    if input.ndim < 2:
        raise ValueError(f"feature_alpha_dropout: expected an input (N, C, *) of at least 2 "
                         f"dims, got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    return _alpha_dropout(input, p, tuple(input.shape[:2]) + (1,) * (input.ndim - 2))
