"""Fused row-wise kernels: softmax, log-softmax and layer norm, forward and backward.

Each works on a C-contiguous 2-d array (rows, n) along the last axis (callers move
the reduced axis last and flatten the rest).  NumPy needs 4-6 full passes over
memory with temporaries for these; a fused kernel reads each row once into cache,
so it wins when rows are large enough that the passes are memory-bound.  These are
the ones that beat NumPy in ``python -m tools.measure.bench_kernels`` (README, Benchmarks);
softmax and log-softmax do since they run on the float32 exp of kernels/special.py
(log-softmax takes libm's log once per row), while a cross-entropy kernel on libm's
exp and log still loses to NumPy and lives in tools/measure/rowwise_kernels.py for that
comparison.  They are reduction kernels (threads.py): their row sums and maxima
vectorise.

VJPs (g = dL/dy, per row):
  softmax      dx = y * (g - sum(g * y))
  log_softmax  dx = g - exp(y) * sum(g)
  layer_norm   xhat = (x - mu) * rstd, y = xhat * w + b;
               dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * w
"""
import math

import numba
import numpy as np
from numba import prange

from . import pick
from .special import exp_neg
from .threads import reduction_kernel


@numba.njit(cache=True, inline="always")
def _row_max(x, r, n_):
    """Row r's maximum, the shift of exp(x - max); 0 for an all -inf row, where any
    shift gives 0 / 0 (NaN), as in PyTorch, and -inf would give NaN from inf - inf."""
    m = x.dtype.type(-np.inf)
    for j in range(n_):
        m = max(m, x[r, j])
    return x.dtype.type(0) if m == -np.inf else m


@reduction_kernel
def softmax_numba(x):
    """Each row's softmax in one kernel: its maximum, exp(x - max) on the float32 exp
    that vectorises (kernels/special.py) summed on the way, then one scaling pass.  An
    all -inf row gives NaN (0 / 0), as PyTorch's does."""
    r_, n_ = x.shape
    y = np.empty_like(x)
    for r in prange(r_):
        m = _row_max(x, r, n_)
        s = 0.0
        for j in range(n_):
            e = exp_neg(m - x[r, j])
            y[r, j] = e
            s += e
        inv = x.dtype.type(1.0 / s) if s > 0 else x.dtype.type(np.nan)
        for j in range(n_):
            y[r, j] *= inv
    return y


@reduction_kernel
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


@reduction_kernel
def log_softmax_numba(x):
    """Each row's x - max - log(sum(exp(x - max))): the exp on the vectorising float32
    form (kernels/special.py), libm's log once per row.  An all -inf row gives NaN."""
    r_, n_ = x.shape
    y = np.empty_like(x)
    for r in prange(r_):
        m = _row_max(x, r, n_)
        s = 0.0
        for j in range(n_):
            s += exp_neg(m - x[r, j])
        shift = x.dtype.type(m + math.log(s)) if s > 0 else x.dtype.type(np.nan)
        for j in range(n_):
            y[r, j] = x[r, j] - shift
    return y


@reduction_kernel
def log_softmax_backward_numba(y, g):
    """dx = g - exp(y) sum(g); y <= 0, so exp(y) is the float32 form's exp(-(-y))."""
    r_, n_ = y.shape
    dx = np.empty_like(y)
    for r in prange(r_):
        s = 0.0
        for j in range(n_):
            s += g[r, j]
        for j in range(n_):
            dx[r, j] = g[r, j] - exp_neg(-y[r, j]) * s
    return dx


@reduction_kernel
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


@reduction_kernel
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


# -- NumPy references ------------------------------------------------------------------------
def softmax_reference(x):
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - np.where(np.isneginf(m), 0, m))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward_reference(y, g):
    return y * (g - (g * y).sum(axis=1, keepdims=True))


def log_softmax_reference(x):
    m = x.max(axis=1, keepdims=True)
    z = x - np.where(np.isneginf(m), 0, m)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


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


# What the library uses.
softmax = pick(softmax_numba, softmax_reference)
softmax_backward = pick(softmax_backward_numba, softmax_backward_reference)
log_softmax = pick(log_softmax_numba, log_softmax_reference)
log_softmax_backward = pick(log_softmax_backward_numba, log_softmax_backward_reference)
layer_norm = pick(layer_norm_numba, layer_norm_reference)
layer_norm_backward = pick(layer_norm_backward_numba, layer_norm_backward_reference)
