"""Batch, layer, group and instance normalisation, composed from primitive ops
(so gradients of every order follow) except layer and batch norm, fused primitives.
Running statistics are updated in NumPy, outside the tape, as PyTorch does."""
import numpy as np

from autograd.dtypes import is_int
from autograd.grad_mode import current_scope
from autograd.ops.normalization import (  # noqa: F401  (fused primitives)
    batch_norm, layer_norm, update_running_stat)

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm"]


def _where():
    s = current_scope()
    return f" in '{s}'" if s else ""


def _normalize(x, dims, eps):
    """(x - mean) / sqrt(var + eps) over dims (biased variance); also returns mean, var."""
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(dims, keepdim=True)
    return xc * (var + eps).rsqrt(), mean, var


def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise ValueError(f"rms_norm{_where()}: expected input with trailing shape {normalized_shape}, "
                         f"got {tuple(input.shape)}")
    dims = tuple(range(input.ndim - k, input.ndim))
    eps = np.finfo(input.dtype).eps if eps is None else eps
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of num_groups channel groups over (channels in group, spatial)."""
    if not is_int(num_groups, 1):
        raise ValueError(f"group_norm{_where()}: num_groups must be a positive integer, got {num_groups!r}")
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ValueError(f"group_norm{_where()}: expected input (N, C, ...) with C divisible by "
                         f"num_groups={num_groups}, got {tuple(input.shape)}")
    n, c = input.shape[:2]
    grouped = input.reshape(n, num_groups, -1)
    y, _, _ = _normalize(grouped, (2,), eps)
    y = y.reshape(input.shape)
    return _affine(y, weight, bias, (1, c) + (1,) * (input.ndim - 2))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane over its spatial dims."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm{_where()}: expected (N, C, ...) with spatial dims, got "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    shape = (1, c) + (1,) * (input.ndim - 2)
    if use_input_stats:
        dims = tuple(range(2, input.ndim))
        count = int(np.prod(input.shape[2:]))
        if count <= 1:
            raise ValueError(f"instance_norm{_where()}: expected more than 1 spatial element when "
                             f"training, got input size {tuple(input.shape)}")
        y, mean, var = _normalize(input, dims, eps)
        if running_mean is not None:
            update_running_stat(running_mean, mean.array.reshape(-1, c).mean(0), momentum)
        if running_var is not None:
            update_running_stat(running_var, var.array.reshape(-1, c).mean(0) * count / (count - 1),
                            momentum)
    else:
        inv = (1.0 / np.sqrt(running_var.array + eps)).astype(input.dtype).reshape(shape)
        y = (input - running_mean.array.reshape(shape)) * inv
    return _affine(y, weight, bias, shape)
