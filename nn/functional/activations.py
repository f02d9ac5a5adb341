"""Activation functions.  The primitives live in ``autograd.ops.activation``; this
adds PyTorch's functional names and arguments.  ``inplace=True`` is accepted for
source compatibility but computes out of place (the result is identical and the
tape stays simple)."""
import autograd as ag
from autograd.ops.activation import elu as _elu, gelu, hardtanh as _hardtanh, leaky_relu as _leaky_relu, \
    log_softmax as _log_softmax, relu as _relu, silu as _silu, softmax as _softmax, softplus

__all__ = ["relu", "relu6", "leaky_relu", "prelu", "elu", "sigmoid", "tanh", "silu", "swish",
           "gelu", "softplus", "softmax", "log_softmax", "softmin", "hardtanh", "logsigmoid",
           "softsign", "tanhshrink", "mish"]


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
