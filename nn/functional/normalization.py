"""Batch, layer, group and instance normalisation, composed from primitive ops
(so gradients of every order follow) except layer norm, a fused primitive.
Running statistics are updated in NumPy, outside the tape, as PyTorch does."""
import numpy as np

from autograd.dtypes import is_int
from autograd.grad_mode import current_scope
from autograd.ops.normalization import layer_norm  # noqa: F401  (one fused primitive)

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


def _update_running(running, stat, momentum):
    running.data[...] = (1 - momentum) * running.data + momentum * stat
    running._version.value += 1


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over the batch and spatial dims.  Training:
    batch statistics, and running_* <- (1 - momentum) running_* + momentum * batch stat
    (unbiased variance, as PyTorch); eval: the running statistics."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm{_where()}: expected input of shape (N, C, ...), got "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm{_where()}: expected {name} of shape ({c},) for input "
                             f"{tuple(input.shape)} with {c} channels, got {tuple(t.shape)}")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"batch_norm{_where()}: expected more than 1 value per channel when "
                             f"training, got input size {tuple(input.shape)}")
        y, mean, var = _normalize(input, dims, eps)
        if running_mean is not None:
            _update_running(running_mean, mean.data.reshape(c), momentum)
        if running_var is not None:
            _update_running(running_var, var.data.reshape(c) * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"batch_norm{_where()}: running_mean and running_var are needed "
                             "in eval mode")
        inv = 1.0 / np.sqrt(running_var.data.astype(np.float64) + eps)
        scale = inv.astype(input.dtype).reshape(shape)
        y = (input - running_mean.data.reshape(shape)) * scale
    return _affine(y, weight, bias, shape)


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
            _update_running(running_mean, mean.data.reshape(-1, c).mean(0), momentum)
        if running_var is not None:
            _update_running(running_var, var.data.reshape(-1, c).mean(0) * count / (count - 1),
                            momentum)
    else:
        inv = (1.0 / np.sqrt(running_var.data + eps)).astype(input.dtype).reshape(shape)
        y = (input - running_mean.data.reshape(shape)) * inv
    return _affine(y, weight, bias, shape)
