"""Fractional max pooling's window maxima: a kernel and its NumPy reference.

x is (P, D, H, W) (2-d pooling has D = 1); window (a, b, c) of plane p covers
[sd[p, a], + kd) x [sh[p, b], + kh) x [sw[p, c], + kw).  Each returns the flat index
(d * H + h) * W + w of the winner, PyTorch's rule: scanning in (d, h, w) order from a
best of -inf, a value replaces the best if it is larger or NaN, so the first maximum
wins, or the last NaN (and a window of -inf keeps its first position).
"""
import numpy as np
from numba import prange

from . import pick
from .threads import parallel_kernel


@parallel_kernel
def fractional_argmax_numba(x, sd, sh, sw, kd, kh, kw):
    p_, _, h_, w_ = x.shape
    od, oh, ow = sd.shape[1], sh.shape[1], sw.shape[1]
    idx = np.empty((p_, od, oh, ow), np.int64)
    for p in prange(p_):
        for a in range(od):
            for b in range(oh):
                for c in range(ow):
                    d0, h0, w0 = sd[p, a], sh[p, b], sw[p, c]
                    best = -np.inf
                    arg = (d0 * h_ + h0) * w_ + w0
                    for i in range(kd):
                        for j in range(kh):
                            for m in range(kw):
                                v = x[p, d0 + i, h0 + j, w0 + m]
                                if v > best or v != v:
                                    best = v
                                    arg = ((d0 + i) * h_ + h0 + j) * w_ + w0 + m
                    idx[p, a, b, c] = arg
    return idx


def fractional_argmax_reference(x, sd, sh, sw, kd, kh, kw):
    p_, _, h_, w_ = x.shape
    # flat index of every tap of every window: (P, OD, OH, OW, kd, kh, kw)
    pos = [(s[:, :, None] + np.arange(k)) for s, k in ((sd, kd), (sh, kh), (sw, kw))]
    flat = ((pos[0][:, :, None, None, :, None, None] * h_ +
             pos[1][:, None, :, None, None, :, None]) * w_ +
            pos[2][:, None, None, :, None, None, :])
    flat = flat.reshape(flat.shape[:4] + (-1,))
    vals = np.take_along_axis(x.reshape(p_, -1), flat.reshape(p_, -1), 1).reshape(flat.shape)
    nan = np.isnan(vals)
    first_max = np.argmax(np.where(nan, -np.inf, vals), axis=-1)
    last_nan = vals.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    win = np.where(nan.any(-1), last_nan, first_max)
    return np.take_along_axis(flat, win[..., None], -1)[..., 0]


fractional_argmax = pick(fractional_argmax_numba, fractional_argmax_reference)
