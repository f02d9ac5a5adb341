"""ReLU as kernels: the forward ``y = max(x, 0)`` with its mask ``x > 0 (or NaN)`` in one
pass (NumPy takes three: compare, invert, maximum), and the gradient ``dx = g where
the mask, else 0``.

NumPy's ``np.where(mask, g, 0)`` branches on every element, and on a ReLU's mask
(half the activations positive, in no order) the branch predictor misses about
every other time, which makes it about 10x slower than a multiply (README, "Kernels").  A multiply is not the same function (an infinite g times 0 is NaN,
where PyTorch gives 0).  The loops below compile to branch-free selects.
"""
import numpy as np
from numba import prange

from . import pick
from .threads import streaming_kernel


@streaming_kernel
def _relu_flat(x, y, positive):
    for i in prange(x.size):
        v = x[i]
        p = not v <= 0                 # NaN is positive: it passes its gradient (PyTorch)
        positive[i] = p
        y[i] = v if p else 0           # np.maximum(x, 0): NaN stays, -0.0 becomes 0


def relu_with_mask_numba(x):
    """(max(x, 0), the mask not x <= 0), both of x's shape."""
    if x.dtype not in (np.float32, np.float64):
        return relu_with_mask_reference(x)             # float16 (no Numba type), integers
    x = np.require(x, requirements="C")
    y, positive = np.empty_like(x), np.empty(x.shape, np.bool_)
    _relu_flat(x.reshape(-1), y.reshape(-1), positive.reshape(-1))
    return y, positive


def relu_with_mask_reference(x):
    return np.maximum(x, 0), ~(x <= 0)


@streaming_kernel
def _select_flat(g, positive, out):
    for i in prange(g.size):
        out[i] = g[i] if positive[i] else 0


def relu_grad_numba(g, positive):
    """g where ``positive`` (bool, g's shape), else 0, in g's dtype."""
    if g.dtype not in (np.float32, np.float64) or g.shape != positive.shape:
        return relu_grad_reference(g, positive)       # float16 (no Numba type) or broadcast
    # np.require, not ascontiguousarray: the latter turns 0-d arrays into 1-d ones.
    g = np.require(g, requirements="C")
    out = np.empty_like(g)
    _select_flat(g.reshape(-1), np.require(positive, requirements="C").reshape(-1),
                 out.reshape(-1))
    return out


def relu_grad_reference(g, positive):
    return np.where(positive, g, 0.0)


relu_with_mask = pick(relu_with_mask_numba, relu_with_mask_reference)
relu_grad = pick(relu_grad_numba, relu_grad_reference)
