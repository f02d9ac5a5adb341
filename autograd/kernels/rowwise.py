"""Fused row-wise kernels: softmax, log-softmax, layer norm, cross-entropy from logits.

Each works on a C-contiguous 2-d array (rows, n) along the last axis (callers move
the reduced axis last and flatten the rest).  NumPy needs 4-6 full passes over
memory with temporaries for these; a fused kernel reads each row once into cache,
so it wins when rows are large enough that the passes are memory-bound.
``python -m tools.bench_kernels`` measures both.  On 2 cores (float32, 4096x1000 and
12608x384) the kernels win for layer_norm (4-5x), layer_norm backward (5-6x) and
softmax backward (3x); they LOSE for softmax, log_softmax, log_softmax backward and
cross_entropy (0.5-0.8x), because Numba has no SIMD exp here (no SVML) while NumPy's
exp is vectorised.  The library should use only the winners.

VJPs (g = dL/dy, per row):
  softmax      dx = y * (g - sum(g * y))
  log_softmax  dx = g - exp(y) * sum(g)
  layer_norm   xhat = (x - mu) * rstd, y = xhat * w + b;
               dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * w
  cross_entropy(logits, t) = logsumexp(x) - x[t];  dx = softmax(x) - onehot(t)
"""
import math

import numpy as np
from numba import prange

from . import pick
from .threads import parallel_kernel


@parallel_kernel
def softmax_numba(x):
    r_, n_ = x.shape
    y = np.empty_like(x)
    for r in prange(r_):
        m = -np.inf
        for j in range(n_):
            m = max(m, x[r, j])
        if m == -np.inf:           # an all -inf row: avoid inf - inf
            m = 0.0
        s = 0.0
        for j in range(n_):
            e = math.exp(x[r, j] - m)
            y[r, j] = e
            s += e
        inv = 1.0 / s
        for j in range(n_):
            y[r, j] *= inv
    return y


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
def softmax_backward_numba(y, g):
    r_, n_ = y.shape
    dx = np.empty_like(y)
    for r in prange(r_):
        s = 0.0
        for j in range(n_):
            s += g[r, j] * y[r, j]
        for j in range(n_):
            dx[r, j] = y[r, j] * (g[r, j] - s)
    return dx


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
def layer_norm_numba(x, w, b, eps):
    """Returns (y, xhat, rstd); w, b are (n,) arrays (ones/zeros when absent)."""
    r_, n_ = x.shape
    y = np.empty_like(x)
    xhat = np.empty_like(x)
    rstd = np.empty(r_, x.dtype)
    for r in prange(r_):
        mu = 0.0
        for j in range(n_):
            mu += x[r, j]
        mu /= n_
        var = 0.0
        for j in range(n_):
            d = x[r, j] - mu
            var += d * d
        inv = 1.0 / math.sqrt(var / n_ + eps)
        rstd[r] = inv
        for j in range(n_):
            h = (x[r, j] - mu) * inv
            xhat[r, j] = h
            y[r, j] = h * w[j] + b[j]
    return y, xhat, rstd


@parallel_kernel
def layer_norm_backward_numba(g, xhat, rstd, w):
    """dx only; dw = sum_rows(g * xhat) and db = sum_rows(g) are plain NumPy sums."""
    r_, n_ = g.shape
    dx = np.empty_like(g)
    for r in prange(r_):
        a = 0.0
        c = 0.0
        for j in range(n_):
            gw = g[r, j] * w[j]
            a += gw
            c += gw * xhat[r, j]
        a /= n_
        c /= n_
        for j in range(n_):
            dx[r, j] = rstd[r] * (g[r, j] * w[j] - a - xhat[r, j] * c)
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


def softmax_reference(x):
    e = np.exp(x - _max(x))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax_reference(x):
    z = x - _max(x)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_backward_reference(y, g):
    return y * (g - (g * y).sum(axis=1, keepdims=True))


def log_softmax_backward_reference(y, g):
    return g - np.exp(y) * g.sum(axis=1, keepdims=True)


def layer_norm_reference(x, w, b, eps):
    mu = x.mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    return xhat * w + b, xhat, rstd[:, 0].astype(x.dtype)


def layer_norm_backward_reference(g, xhat, rstd, w):
    gw = g * w
    return rstd[:, None] * (gw - gw.mean(axis=1, keepdims=True)
                            - xhat * (gw * xhat).mean(axis=1, keepdims=True))


def cross_entropy_reference(x, target):
    rows = np.arange(x.shape[0])
    logp = log_softmax_reference(x)
    dx = np.exp(logp)
    dx[rows, target] -= 1.0
    return -logp[rows, target], dx


# What the library uses: the kernels that beat NumPy in tools.bench_kernels.  The
# softmax, log-softmax (and its backward) and cross-entropy kernels lost to NumPy's
# vectorised exp, so the library keeps NumPy there; they stay here, tested against
# their references, for that comparison.
softmax_backward = pick(softmax_backward_numba, softmax_backward_reference)
layer_norm = pick(layer_norm_numba, layer_norm_reference)
layer_norm_backward = pick(layer_norm_backward_numba, layer_norm_backward_reference)
