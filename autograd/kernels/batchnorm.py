"""Fused batch normalisation: forward (train and eval) and backward, one channel per task.

Inputs are viewed as (N, C, S) with S = the spatial size (1 for (N, C) inputs); the
statistics of channel c are over its N*S values.  Parallel over channels: each task
owns a channel's statistics and its slice of every output, so there is one writer
per element.  A channel's N*S values (64 KB for ResNet-18 at batch 16, 32x32) stay
in cache between the kernel's passes, so each activation is read from memory once,
where the composed form (mean, subtract, square, mean, rsqrt, multiply, affine:
~10 full passes with temporaries) reads it many times.

    train:  mean, var = batch statistics (biased var);  eval: the running ones
    y = (x - mean) * rstd * w + b,     rstd = 1 / sqrt(var + eps)
    VJP (xhat = (x - mean) * rstd, sums over N and S):
      dw = sum(g * xhat),  db = sum(g)
      train: dx = w * rstd * (g - db / (N*S) - xhat * dw / (N*S))
      eval:  dx = w * rstd * g
Sums are accumulated in float64 whatever the input dtype; the elementwise passes run
in the input's dtype on the channel's coefficients rounded to it.  MobileNet's 15
batch norms at batch 32, one thread: forward 8.5 -> 4.1 ms, backward 9.7 -> 6.3
(PyTorch 2.13: 13.6 and 5.7; issue 32).
"""
import math

import numpy as np
from numba import prange

from . import pick
from .threads import reduction_kernel


@reduction_kernel
def batch_norm_forward_numba(x, w, b, mean, var, eps, train):
    """y = (x - mean) * rstd * w + b for x (N, C, S); with ``train`` the batch
    statistics are computed first and written into mean, var (float64, (C,)).
    One pass for both statistics, on the values shifted by the channel's first one
    (var = mean(d^2) - mean(d)^2 with d = x - x[0, c, 0]: the shift keeps mean(d)
    near the spread, so the difference loses no float64 digits that matter)."""
    n_, c_, s_ = x.shape
    y = np.empty_like(x)
    count = n_ * s_
    for c in prange(c_):
        if train:
            k = float(x[0, c, 0]) if count else 0.0
            s1 = 0.0
            s2 = 0.0
            for n in range(n_):
                for s in range(s_):
                    d = x[n, c, s] - k
                    s1 += d
                    s2 += d * d
            m1 = s1 / max(count, 1)
            mean[c] = k + m1
            var[c] = max(s2 / max(count, 1) - m1 * m1, 0.0)
        # the channel's coefficients in x's dtype: the elementwise pass then runs at
        # x's vector width (in float64 it took as long as the statistics)
        t = x.dtype.type
        mu, scale, shift = t(mean[c]), t(w[c] / math.sqrt(var[c] + eps)), t(b[c])
        for n in range(n_):
            for s in range(s_):
                y[n, c, s] = (x[n, c, s] - mu) * scale + shift
    return y


@reduction_kernel
def batch_norm_backward_numba(g, x, mean, var, w, eps, train):
    """Returns (dx, dw, db) for g, x (N, C, S); see the module docstring."""
    n_, c_, s_ = x.shape
    dx = np.empty_like(x)
    dw = np.empty(c_, x.dtype)
    db = np.empty(c_, x.dtype)
    count = max(n_ * s_, 1)
    for c in prange(c_):
        mu = mean[c]
        rstd = 1.0 / math.sqrt(var[c] + eps)
        sg = 0.0
        sgx = 0.0
        for n in range(n_):
            for s in range(s_):
                gv = g[n, c, s]
                sg += gv
                sgx += gv * (x[n, c, s] - mu)
        sgx *= rstd                          # sum(g * xhat)
        dw[c] = sgx
        db[c] = sg
        t = x.dtype.type                     # coefficients in x's dtype, as the forward's
        k = t(w[c] * rstd)
        if train:                            # dx = k g - k db / m - (x - mean) k rstd dw / m
            mu_, m0, m1 = t(mu), t(k * sg / count), t(k * rstd * sgx / count)
            for n in range(n_):
                for s in range(s_):
                    dx[n, c, s] = k * g[n, c, s] - m0 - (x[n, c, s] - mu_) * m1
        else:
            for n in range(n_):
                for s in range(s_):
                    dx[n, c, s] = k * g[n, c, s]
    return dx, dw, db


# -- NumPy references ---------------------------------------------------------------------
def batch_norm_forward_reference(x, w, b, mean, var, eps, train):
    if train:
        x64 = x.astype(np.float64)
        mean[...] = x64.mean(axis=(0, 2)) if x.size else 0.0
        var[...] = ((x64 - mean[None, :, None]) ** 2).mean(axis=(0, 2)) if x.size else 0.0
    scale = w / np.sqrt(var + eps)
    y = (x - mean[None, :, None]) * scale[None, :, None] + b[None, :, None]
    return y.astype(x.dtype)


def batch_norm_backward_reference(g, x, mean, var, w, eps, train):
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None]) * rstd[None, :, None]
    dw = (g * xhat).sum(axis=(0, 2), dtype=np.float64)
    db = g.sum(axis=(0, 2), dtype=np.float64)
    k = (w * rstd)[None, :, None]
    if train:
        count = max(x.shape[0] * x.shape[2], 1)
        dx = k * (g - (db / count)[None, :, None] - xhat * (dw / count)[None, :, None])
    else:
        dx = k * g
    return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)


batch_norm_forward = pick(batch_norm_forward_numba, batch_norm_forward_reference)
batch_norm_backward = pick(batch_norm_backward_numba, batch_norm_backward_reference)
