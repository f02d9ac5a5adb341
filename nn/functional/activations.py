"""Activation functions.  The primitives live in ``autograd.ops.activation``; this
adds PyTorch's functional names and arguments.  ``inplace=True`` is accepted for
source compatibility but computes out of place (the result is identical and the
tape stays simple)."""
import numpy as np

import autograd as ag
from autograd.creation import default_generator
from autograd.ops import activation_piecewise as _pw
from autograd.ops.inplace import inplace as _inplace
from autograd.ops.activation import elu as _elu, gelu, hardtanh as _hardtanh, leaky_relu as _leaky_relu, \
    log_softmax as _log_softmax, relu as _relu, silu as _silu, softmax as _softmax, softplus

__all__ = ["relu", "relu6", "leaky_relu", "prelu", "elu", "sigmoid", "tanh", "silu", "swish",
           "gelu", "softplus", "softmax", "log_softmax", "softmin", "hardtanh", "logsigmoid",
           "softsign", "tanhshrink", "mish", "selu", "celu", "hardsigmoid", "hardswish",
           "hardshrink", "softshrink", "threshold", "glu", "rrelu", "relu_", "elu_",
           "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_", "rrelu_"]


def relu(input, inplace=False):
    return _relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _leaky_relu(input, negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return _elu(input, alpha)


def silu(input, inplace=False):
    return _silu(input)


def swish(input, beta=1.0):
    """x * sigmoid(beta x) (Ramachandran et al., 2017); beta may be a tensor."""
    return input * (input * beta).sigmoid()


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _hardtanh(input, min_val, max_val)


def relu6(input, inplace=False):
    return _hardtanh(input, 0.0, 6.0)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x); weight has 1 or C (= input.shape[1]) entries."""
    if weight.ndim != 1 or (weight.shape[0] != 1 and (input.ndim < 2 or weight.shape[0] != input.shape[1])):
        raise ValueError(f"prelu: weight of shape {tuple(weight.shape)} must have 1 element or "
                         f"one per channel of input {tuple(input.shape)}")
    w = weight
    if input.ndim >= 2 and weight.shape[0] != 1:
        w = weight.reshape((weight.shape[0],) + (1,) * (input.ndim - 2))
    return ag.where(input.array > 0, input, w * input)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _log_softmax(input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(-input, dim, dtype)


def logsigmoid(input):
    """log sigmoid(x) = -softplus(-x), stable for large |x|."""
    return -softplus(-input)


def softsign(input):
    return input / (1 + input.abs())


def tanhshrink(input):
    return input - input.tanh()


def mish(input, inplace=False):
    return input * softplus(input).tanh()


def selu(input, inplace=False):
    return _pw.selu(input)


def celu(input, alpha=1.0, inplace=False):
    return _pw.celu(input, alpha)


def hardsigmoid(input, inplace=False):
    return _pw.hardsigmoid(input)


def hardswish(input, inplace=False):
    return _pw.hardswish(input)


def hardshrink(input, lambd=0.5):
    return _pw.hardshrink(input, lambd)


def softshrink(input, lambd=0.5):
    return _pw.softshrink(input, lambd)


def threshold(input, threshold, value, inplace=False):
    return _pw.threshold(input, threshold, value)


def glu(input, dim=-1):
    return _pw.glu(input, dim)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU (Xu et al., 2015): in training each x <= 0 is multiplied
    by its own slope drawn from U(lower, upper) (from the default generator, a constant
    of the graph), in evaluation by the mean slope (lower + upper) / 2."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower <= upper, received lower={lower}, "
                         f"upper={upper}")
    if not training:
        return _leaky_relu(input, (lower + upper) / 2)
    slopes = default_generator().uniform(lower, upper, input.shape).astype(input.dtype)
    return input * ag.tensor(np.where(input.array <= 0, slopes, 1.0).astype(input.dtype))


# PyTorch's in-place forms: the result is written into ``input``, which is returned (a
# leaf that requires grad is refused, and nodes that saved the old value see it changed).
def _in_place(name, fn):
    def method(input, *args, **kwargs):
        return _inplace(input, name, lambda t: fn(t, *args, **kwargs))
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place {fn.__name__}: writes the result into ``input`` and returns it."
    return method


relu_ = _in_place("relu_", relu)
elu_ = _in_place("elu_", elu)
leaky_relu_ = _in_place("leaky_relu_", leaky_relu)
hardtanh_ = _in_place("hardtanh_", hardtanh)
selu_ = _in_place("selu_", selu)
celu_ = _in_place("celu_", celu)
threshold_ = _in_place("threshold_", threshold)
rrelu_ = _in_place("rrelu_", rrelu)
