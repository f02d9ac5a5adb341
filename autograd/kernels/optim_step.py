"""Fused optimizer steps: one pass over a parameter updates it and its state buffers.

PyTorch's ``fused``/``foreach`` idea.  The NumPy reference of an SGD or Adam step runs
5-12 whole-array operations per parameter, each a pass over memory with a temporary;
a kernel reads each element of the parameter, its gradient and its buffers once and
writes them once.  Each kernel works on flat (1-d, C-contiguous) arrays of one dtype,
with the scalars given in that dtype, so float32 arithmetic stays float32 as in the
reference (hence keep = 1 - dampening, keep1 = 1 - beta1, keep2 = 1 - beta2 are computed
by the caller: Numba would promote 1 - float32 to float64); the reference functions take
arrays of any shape.  Both update ``param``
and the buffers in place and follow PyTorch's documented algorithms:

  SGD:  d = -g if maximize else g;  d += weight_decay * p
        b = d (first step) or momentum * b + keep * d               (momentum != 0)
        d = d + momentum * b if nesterov else b                      (momentum != 0)
        p -= lr * d
  Adam: d = -g if maximize else g;  d += weight_decay * p   (L2, Adam)
        p *= decay                  (decoupled weight decay, AdamW: decay = 1 - lr wd)
        m += keep1 (d - m);  v = beta2 v + keep2 d^2;  v_max = max(v_max, v)
        p -= step_size * m / (sqrt(v or v_max) / bias_correction2_sqrt + eps)

One kernel call per parameter, from the optimizer's loop over its parameters, measured
against one call over Numba typed lists of all parameters (README, "Optimizers"):
building the typed lists costs more per step than the per-call dispatch.
"""
import math

import numpy as np
from numba import prange

from . import pick
from .threads import parallel_kernel, streaming_kernel


@streaming_kernel
def sgd_numba(param, grad, buf, lr, weight_decay, momentum, keep, nesterov, maximize,
              first_step):
    """``buf`` is the momentum buffer (any array when momentum == 0: it is not touched);
    ``keep`` is 1 - dampening."""
    for i in prange(param.size):
        d = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            b = d if first_step else momentum * buf[i] + keep * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        param[i] = param[i] - lr * d


@parallel_kernel
def adam_numba(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, keep1, beta2, keep2, eps,
               weight_decay, decay, step_size, bias_correction2_sqrt, amsgrad, maximize):
    """``keep1``, ``keep2`` are 1 - beta1, 1 - beta2; ``weight_decay`` is Adam's L2 term,
    ``decay`` AdamW's factor (1 when unused); ``max_exp_avg_sq`` is any array unless
    ``amsgrad``."""
    for i in prange(param.size):
        d = -grad[i] if maximize else grad[i]
        p = param[i]
        if weight_decay != 0:
            d = d + weight_decay * p
        m = exp_avg[i] + keep1 * (d - exp_avg[i])
        exp_avg[i] = m
        v = beta2 * exp_avg_sq[i] + keep2 * d * d
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] = p * decay - step_size * (m / (math.sqrt(v) / bias_correction2_sqrt + eps))


# -- NumPy references ------------------------------------------------------------------------
def sgd_reference(param, grad, buf, lr, weight_decay, momentum, keep, nesterov, maximize,
                  first_step):
    d = -grad if maximize else grad
    if weight_decay != 0:
        d = d + weight_decay * param
    if momentum != 0:
        if first_step:
            buf[...] = d
        else:
            buf *= momentum
            buf += keep * d
        d = d + momentum * buf if nesterov else buf
    param -= lr * d


def adam_reference(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, keep1, beta2, keep2, eps,
                   weight_decay, decay, step_size, bias_correction2_sqrt, amsgrad, maximize):
    d = -grad if maximize else grad
    if weight_decay != 0:
        d = d + weight_decay * param
    if decay != 1:
        param *= decay
    exp_avg += keep1 * (d - exp_avg)        # lerp: m + (1-b1)(g-m) == b1 m + (1-b1) g
    exp_avg_sq *= beta2
    exp_avg_sq += keep2 * d * d
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        denom = np.sqrt(max_exp_avg_sq)
    else:
        denom = np.sqrt(exp_avg_sq)
    denom /= bias_correction2_sqrt
    denom += eps
    param -= step_size * (exp_avg / denom)


# The dtypes the kernels are compiled for; other parameters take the references.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

sgd_step = pick(sgd_numba, sgd_reference)
adam_step = pick(adam_numba, adam_reference)
