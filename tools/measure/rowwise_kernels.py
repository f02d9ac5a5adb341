"""A fused row-wise kernel that lost to NumPy: cross-entropy from logits, with its
gradient.

It calls libm's scalar exp and log per element (Numba has no SVML here) while
NumPy's are vectorised, so the library does not use it;
``python -m tools.measure.bench_kernels`` times it against its reference beside the row
kernels the library does use (autograd/kernels/rowwise.py; softmax and log-softmax
won once they ran on the vectorising float32 exp of autograd/kernels/special.py).
Same conventions as those: C-contiguous 2-d arrays (rows, n), along the last axis.

  cross_entropy(logits, t) = logsumexp(x) - x[t];  dx = softmax(x) - onehot(t)
"""
import math

import numpy as np
from numba import prange

from autograd.kernels.rowwise import log_softmax_reference
from autograd.kernels.threads import parallel_kernel


@parallel_kernel
def cross_entropy_numba(x, target):
    """Per-row loss logsumexp(x) - x[t] and the gradient softmax(x) - onehot(t)."""
    r_, n_ = x.shape
    loss = np.empty(r_, x.dtype)
    dx = np.empty_like(x)
    for r in prange(r_):
        m = -np.inf
        for j in range(n_):
            m = max(m, x[r, j])
        s = 0.0
        for j in range(n_):
            e = math.exp(x[r, j] - m)
            dx[r, j] = e
            s += e
        loss[r] = m + math.log(s) - x[r, target[r]]
        inv = 1.0 / s
        for j in range(n_):
            dx[r, j] *= inv
        dx[r, target[r]] -= 1.0
    return loss, dx


# -- NumPy references ------------------------------------------------------------------------
def cross_entropy_reference(x, target):
    rows = np.arange(x.shape[0])
    logp = log_softmax_reference(x)      # the library's (autograd/kernels/rowwise.py)
    dx = np.exp(logp)
    dx[rows, target] -= 1.0
    return -logp[rows, target], dx
