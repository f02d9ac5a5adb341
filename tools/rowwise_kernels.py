"""Fused row-wise kernels that lost to NumPy: log-softmax (and its backward) and
cross-entropy from logits.

They call libm's scalar exp and log per element (Numba has no SVML here) while
NumPy's are vectorised, so the library keeps NumPy for these;
``python -m tools.bench_kernels`` times them against their references beside the
row kernels the library does use (autograd/kernels/rowwise.py; its softmax won once
it ran on the vectorising float32 exp of autograd/kernels/special.py).
Same conventions as those: C-contiguous 2-d arrays (rows, n), along the last axis.

  log_softmax  dx = g - exp(y) * sum(g)
  cross_entropy(logits, t) = logsumexp(x) - x[t];  dx = softmax(x) - onehot(t)
"""
import math

import numpy as np
from numba import prange

from autograd.kernels.threads import parallel_kernel


@parallel_kernel
def log_softmax_numba(x):
    r_, n_ = x.shape
    y = np.empty_like(x)
    for r in prange(r_):
        m = -np.inf
        for j in range(n_):
            m = max(m, x[r, j])
        if m == -np.inf:
            m = 0.0
        s = 0.0
        for j in range(n_):
            s += math.exp(x[r, j] - m)
        lse = m + math.log(s)
        for j in range(n_):
            y[r, j] = x[r, j] - lse
    return y


@parallel_kernel
def log_softmax_backward_numba(y, g):
    r_, n_ = y.shape
    dx = np.empty_like(y)
    for r in prange(r_):
        s = 0.0
        for j in range(n_):
            s += g[r, j]
        for j in range(n_):
            dx[r, j] = g[r, j] - math.exp(y[r, j]) * s
    return dx


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
def _max(x):
    m = x.max(axis=1, keepdims=True)
    return np.where(np.isneginf(m), 0, m)


def log_softmax_reference(x):
    z = x - _max(x)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def log_softmax_backward_reference(y, g):
    return g - np.exp(y) * g.sum(axis=1, keepdims=True)


def cross_entropy_reference(x, target):
    rows = np.arange(x.shape[0])
    logp = log_softmax_reference(x)
    dx = np.exp(logp)
    dx[rows, target] -= 1.0
    return -logp[rows, target], dx
