"""``nn.utils.fusion``: fold an eval-mode BatchNorm into the convolution or linear layer
before it, as PyTorch's.  With s = bn.weight / sqrt(running_var + eps):
  W' = W * s (per output channel; per input channel of a transposed convolution)
  b' = (b - running_mean) * s + bn.bias
"""
import copy

import numpy as np

from autograd.grad_mode import no_grad

from .parameter import Parameter


def _array(t, like):
    return np.zeros_like(like) if t is None else t.array


def _check_eval(name, layer, bn):
    if layer.training or bn.training:
        raise ValueError(f"{name}: fusion only for eval (call .eval() on both modules first)")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"{name}: the BatchNorm must track running statistics")


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """The fused (weight, bias) Parameters (module docstring)."""
    rm, rv = bn_rm.array, bn_rv.array
    scale = (1.0 if bn_w is None else bn_w.array) / np.sqrt(rv + bn_eps)
    shift = 0.0 if bn_b is None else bn_b.array
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (conv_w.ndim - 2)
    bias_dtype = np.dtype(conv_b.dtype if conv_b is not None else conv_w.dtype)
    w = (conv_w.array * scale.reshape(shape)).astype(np.dtype(conv_w.dtype))
    b = ((_array(conv_b, rm) - rm) * scale + shift).astype(bias_dtype)
    return (Parameter(w, requires_grad=conv_w.requires_grad),
            Parameter(b, requires_grad=True if conv_b is None else conv_b.requires_grad))


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of ``conv`` computing bn(conv(x)) of the eval-mode modules."""
    _check_eval("fuse_conv_bn_eval", conv, bn)
    fused = copy.deepcopy(conv)
    with no_grad():
        fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean,
                                                        bn.running_var, bn.eps, bn.weight, bn.bias,
                                                        transpose)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    rm, rv = bn_rm.array, bn_rv.array
    scale = bn_w.array / np.sqrt(rv + bn_eps)
    bias_dtype = np.dtype(linear_b.dtype if linear_b is not None else linear_w.dtype)
    w = linear_w.array * scale[:, None].astype(np.dtype(linear_w.dtype))
    b = ((_array(linear_b, rm) - rm) * scale + bn_b.array).astype(bias_dtype)
    return (Parameter(w, requires_grad=linear_w.requires_grad),
            Parameter(b, requires_grad=True if linear_b is None else linear_b.requires_grad))


def fuse_linear_bn_eval(linear, bn):
    """A copy of ``linear`` computing bn(linear(x)) of the eval-mode modules."""
    _check_eval("fuse_linear_bn_eval", linear, bn)
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise ValueError("fuse_linear_bn_eval: to fuse, linear.out_features == bn.num_features or "
                         f"bn.num_features == 1; got {linear.out_features} and {bn.num_features}")
    fused = copy.deepcopy(linear)
    with no_grad():
        fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean,
                                                          bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused
