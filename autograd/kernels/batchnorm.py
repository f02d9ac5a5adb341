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
Sums are accumulated in float64 whatever the input dtype.
"""
import math

import numpy as np
from numba import prange

from . import pick
from .threads import reduction_kernel


@reduction_kernel
def batch_norm_forward_numba(x, w, b, mean, var, eps, train):
    """y = (x - mean) * rstd * w + b for x (N, C, S); with ``train`` the batch
    statistics are computed first and written into mean, var (float64, (C,))."""
    n_, c_, s_ = x.shape
    y = np.empty_like(x)
    count = n_ * s_
    for c in prange(c_):
        if train:
            acc = 0.0
            for n in range(n_):
                for s in range(s_):
                    acc += x[n, c, s]
            mu = acc / max(count, 1)
            acc = 0.0
            for n in range(n_):
                for s in range(s_):
                    d = x[n, c, s] - mu
                    acc += d * d
            mean[c] = mu
            var[c] = acc / max(count, 1)
        mu = mean[c]
        scale = w[c] / math.sqrt(var[c] + eps)
        shift = b[c]
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
        k = w[c] * rstd
        if train:
            mg = sg / count
            mgx = sgx / count
            for n in range(n_):
                for s in range(s_):
                    xh = (x[n, c, s] - mu) * rstd
                    dx[n, c, s] = k * (g[n, c, s] - mg - xh * mgx)
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
