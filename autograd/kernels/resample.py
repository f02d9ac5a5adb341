"""Separable resampling along one axis: the kernels behind interpolate's linear, cubic
and nearest modes, with their NumPy references.

An input viewed as (A, n_in, B) (A: the dims before the axis, B: the dims after) maps
to (A, n_out, B) by taps: output j reads input rows idx[t, j] with weights w[t, j],
    y[a, j, b] = sum_t w[t, j] x[a, idx[t, j], b],
and the adjoint scatters g back, dx[a, idx[t, j], b] += w[t, j] g[a, j, b].  Both run
parallel over A, so no two threads write one row; the inner loop over B is contiguous.
The taps are summed in order t = 0, 1, .. with the weight applied to each (as PyTorch's
kernels do), so 0-weight taps of an inf still give NaN as in PyTorch.
"""
import numpy as np
from numba import prange

from . import pick
from .threads import parallel_kernel


@parallel_kernel
def resample_numba(x, idx, w):
    a_, _, b_ = x.shape
    taps, n_out = idx.shape
    y = np.empty((a_, n_out, b_), x.dtype)
    for a in prange(a_):
        for j in range(n_out):
            for b in range(b_):
                y[a, j, b] = w[0, j] * x[a, idx[0, j], b]
            for t in range(1, taps):
                wt, src = w[t, j], idx[t, j]
                for b in range(b_):
                    y[a, j, b] += wt * x[a, src, b]
    return y


@parallel_kernel
def resample_adjoint_numba(g, idx, w, n_in):
    a_, n_out, b_ = g.shape
    taps = idx.shape[0]
    dx = np.zeros((a_, n_in, b_), g.dtype)
    for a in prange(a_):
        for j in range(n_out):
            for t in range(taps):
                wt, dst = w[t, j], idx[t, j]
                for b in range(b_):
                    dx[a, dst, b] += wt * g[a, j, b]
    return dx


def resample_reference(x, idx, w):
    y = w[0][None, :, None] * x[:, idx[0], :]
    for t in range(1, idx.shape[0]):
        y = y + w[t][None, :, None] * x[:, idx[t], :]
    return y.astype(x.dtype, copy=False)


def resample_adjoint_reference(g, idx, w, n_in):
    dx = np.zeros((g.shape[0], n_in, g.shape[2]), g.dtype)
    for t in range(idx.shape[0]):
        np.add.at(dx, (slice(None), idx[t]), w[t][None, :, None] * g)
    return dx


resample = pick(resample_numba, resample_reference)
resample_adjoint = pick(resample_adjoint_numba, resample_adjoint_reference)
