"""im2col / col2im: the two data-movement kernels behind convolution, unfold and fold.

A 2-d convolution is a matrix product once every receptive field is laid out as a
column.  The kernels use the layout ``cols[(c, i, j), n, (oh, ow)] =
x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]``, i.e. a (C*kh*kw, N*OH*OW) matrix, so the
whole batch is ONE BLAS call per group: ``Y = W @ cols`` (forward), ``dW = G @ cols^T``
(weight gradient) and ``dcols = W^T @ G`` then ``col2im`` (input gradient).
``col2im`` is the adjoint of ``im2col``: it scatter-adds each entry back to its pixel.

A fresh columns array costs as much in page faults as the GEMM itself, hence the
reused workspace (conv_drivers.py).  Alternating a Numba parallel region with BLAS
per sample made the two thread pools spin against each other, so there is one
hand-over per call (im2col on Numba threads, then GEMM on BLAS threads)
and BLAS is never called from inside a prange; the pools' cooperation is
autograd/kernels/threads.py's job.  Figures: README, "Kernels" and "Benchmarks".

Padding is handled inside the kernels (out-of-range pixels read as zero / are
dropped): no padded copy of the input.  im2col parallelises over rows of cols and
col2im over (n, c) image planes, so every output element has exactly one writer.
"""
import numba
import numpy as np
from numba import prange
from numba import uint64 as U

from . import pick
from .threads import parallel_kernel


@numba.njit(cache=True)
def _valid_range(k_off, s, p, size, out):
    """Output positions o in [lo, hi) whose input coordinate o*s - p + k_off is inside [0, size)."""
    lo = 0
    start = k_off - p
    if start < 0:
        lo = min((-start + s - 1) // s, out)
    hi = out
    last = size - 1 - start          # need o*s <= last
    if last < 0:
        hi = 0
    elif last // s + 1 < out:
        hi = last // s + 1
    if hi < lo:
        hi = lo
    return lo, hi


@parallel_kernel
def im2col_numba(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols):
    """Fill ``cols`` (C*kh*kw, N, OH*OW) from x (N, C, H, W), both C-contiguous; returns cols."""
    n_, c_, h_, w_ = x.shape
    k2 = kh * kw
    l_ = oh * ow
    xf = x.reshape(-1)                 # flat indexing: the row copies vectorise
    cf = cols.reshape(-1)
    for r in prange(c_ * k2):
        c = r // k2
        i = (r // kw) % kh
        j = r % kw
        ylo, yhi = _valid_range(i * dh, sh, ph, h_, oh)
        xlo, xhi = _valid_range(j * dw, sw, pw, w_, ow)
        off = j * dw - pw
        for n in range(n_):
            base = (r * n_ + n) * l_
            cf[base:base + ylo * ow] = 0               # output rows that read vertical padding
            cf[base + yhi * ow:base + l_] = 0
            src = (n * c_ + c) * h_ * w_ + off
            for y in range(ylo, yhi):
                d0 = U(base + y * ow)
                s0 = U(src + (y * sh - ph + i * dh) * w_ + xlo * sw)
                # unsigned offsets: Numba tests every signed index for a negative value,
                # and with a computed offset that test stays in the loop and stops it
                # from vectorising (7x slower)
                for t in range(U(xlo)):
                    cf[d0 + t] = 0
                d1 = d0 + U(xlo)
                if sw == 1:                            # branch-free, unit-stride interior
                    for t in range(U(xhi - xlo)):
                        cf[d1 + t] = xf[s0 + t]
                else:
                    for t in range(U(xhi - xlo)):
                        cf[d1 + t] = xf[s0 + t * U(sw)]
                for t in range(U(xhi), U(ow)):
                    cf[d0 + t] = 0
    return cols


@parallel_kernel
def col2im_numba(cols, c_, h_, w_, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Adjoint of im2col: C-contiguous cols (C*kh*kw, N, OH*OW) -> x (N, C, H, W), overlaps
    summed."""
    n_ = cols.shape[1]
    k2 = kh * kw
    l_ = oh * ow
    x = np.zeros((n_, c_, h_, w_), cols.dtype)
    xf = x.reshape(-1)
    cf = cols.reshape(-1)
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        for i in range(kh):
            ylo, yhi = _valid_range(i * dh, sh, ph, h_, oh)
            for j in range(kw):
                xlo, xhi = _valid_range(j * dw, sw, pw, w_, ow)
                src = ((c * k2 + i * kw + j) * n_ + n) * l_
                dst = p * h_ * w_ + j * dw - pw
                for y in range(ylo, yhi):
                    s0 = U(src + y * ow + xlo)                 # unsigned: see im2col
                    d0 = U(dst + (y * sh - ph + i * dh) * w_ + xlo * sw)
                    if sw == 1:
                        for t in range(U(xhi - xlo)):
                            xf[d0 + t] += cf[s0 + t]
                    else:
                        for t in range(U(xhi - xlo)):
                            xf[d0 + t * U(sw)] += cf[s0 + t]
    return x


def _window_index(size, k, s, p, d, out):
    """Input coordinate of (kernel tap, output position) along one axis, -1 if in padding."""
    idx = (np.arange(out) * s - p)[None, :] + (np.arange(k) * d)[:, None]   # (k, out)
    return np.where((idx >= 0) & (idx < size), idx, -1)


def im2col_reference(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols):
    n_, c_, h_, w_ = x.shape
    hi = _window_index(h_, kh, sh, ph, dh, oh)           # (kh, oh)
    wi = _window_index(w_, kw, sw, pw, dw, ow)           # (kw, ow)
    xp = np.zeros((n_, c_, h_ + 1, w_ + 1), x.dtype)     # index -1 hits the zero border
    xp[:, :, :h_, :w_] = x
    g = xp[:, :, hi[:, None, :, None], wi[None, :, None, :]]   # (n, c, kh, kw, oh, ow)
    cols[...] = g.reshape(n_, c_ * kh * kw, oh * ow).transpose(1, 0, 2)
    return cols


def col2im_reference(cols, c_, h_, w_, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    n_ = cols.shape[1]
    hi = _window_index(h_, kh, sh, ph, dh, oh)
    wi = _window_index(w_, kw, sw, pw, dw, ow)
    flat = (hi[:, None, :, None] * (w_ + 1) + wi[None, :, None, :])    # (kh, kw, oh, ow)
    flat = np.where((hi[:, None, :, None] < 0) | (wi[None, :, None, :] < 0), -1, flat)
    xp = np.zeros((n_ * c_, (h_ + 1) * (w_ + 1)), cols.dtype)
    src = cols.transpose(1, 0, 2).reshape(n_ * c_, kh * kw * oh * ow)
    idx = np.broadcast_to(flat.reshape(-1), src.shape)
    keep = idx >= 0
    rows = np.broadcast_to(np.arange(n_ * c_)[:, None], src.shape)
    np.add.at(xp, (rows[keep], idx[keep]), src[keep])
    return xp.reshape(n_, c_, h_ + 1, w_ + 1)[:, :, :h_, :w_].copy()


im2col = pick(im2col_numba, im2col_reference)
col2im = pick(col2im_numba, col2im_reference)
