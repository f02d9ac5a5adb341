"""Direct convolution kernels: loops over kernel taps, no column matrix and no GEMM.

For a layer with few channels (LeNet's 1 -> 6 and 6 -> 16, 5x5) or with groups
(depthwise: one input channel per output), im2col copies the input kh*kw times
to feed GEMMs too thin to run near the BLAS rate; looping over taps instead does
the same multiply-adds on planes that stay in L1/L2.  Each kernel's innermost loop
runs along an output row as ``out[:] += w * in[:]`` (an axpy, which vectorises
without reassociating sums), with the valid range of every tap precomputed
(``_valid_range``), so padding costs no branch.

    forward     y[n, o]  += w[o, ci, i, j] * x[n, c](shifted by tap)   parallel over (n, o)
    transpose   dx[n, c] += w[o, ci, i, j] * g[n, o](scattered by tap) parallel over (n, c)
    weight grad dw[o, ci, i, j] = sum over n, rows of g[n, o] * x[n, c](shifted)
                                                                        parallel over (o, ci)
with c = group(o) * C/groups + ci.  Every element is written by one task.  The
weight gradient sums each tap's products into a row buffer first and the buffer at
the end, so its inner loop is an axpy too.  Geometry arguments are as in conv.py
(top/left padding; the output size carries bottom/right padding).
"""
import numpy as np
from numba import prange

from . import pick
from .conv import _valid_range, _window_index
from .threads import parallel_kernel


@parallel_kernel
def conv_direct_numba(x, w, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    """y (N, O, oh, ow) = grouped correlation of x (N, C, H, W) with w (O, C/groups, kh, kw)."""
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    og = o_ // groups
    y = np.zeros((n_, o_, oh, ow), x.dtype)
    for p in prange(n_ * o_):
        n = p // o_
        o = p % o_
        c0 = (o // og) * cg
        for ci in range(cg):
            for i in range(kh):
                ylo, yhi = _valid_range(i * dh, sh, ph, h_, oh)
                for j in range(kw):
                    xlo, xhi = _valid_range(j * dw, sw, pw, w_, ow)
                    wv = w[o, ci, i, j]
                    off = j * dw - pw
                    for yo in range(ylo, yhi):
                        yr = y[n, o, yo, xlo:xhi]
                        xr = x[n, c0 + ci, yo * sh - ph + i * dh, xlo * sw + off::sw]
                        for t in range(xhi - xlo):
                            yr[t] += wv * xr[t]
    return y


@parallel_kernel
def conv_direct_transpose_numba(g, w, sh, sw, ph, pw, dh, dw, groups, h_, w_):
    """dx (N, C, h_, w_): the adjoint of conv_direct in x, for g (N, O, oh, ow)."""
    n_, o_, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    og = o_ // groups
    c_ = cg * groups
    dx = np.zeros((n_, c_, h_, w_), g.dtype)
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        grp = c // cg
        ci = c % cg
        for oi in range(og):
            o = grp * og + oi
            for i in range(kh):
                ylo, yhi = _valid_range(i * dh, sh, ph, h_, oh)
                for j in range(kw):
                    xlo, xhi = _valid_range(j * dw, sw, pw, w_, ow)
                    wv = w[o, ci, i, j]
                    off = j * dw - pw
                    for yo in range(ylo, yhi):
                        gr = g[n, o, yo, xlo:xhi]
                        dr = dx[n, c, yo * sh - ph + i * dh, xlo * sw + off::sw]
                        for t in range(xhi - xlo):
                            dr[t] += wv * gr[t]
    return dx


@parallel_kernel
def conv_direct_weight_grad_numba(g, x, sh, sw, ph, pw, dh, dw, groups, kh, kw):
    """dw (O, C/groups, kh, kw): the adjoint of conv_direct in w.  (g first: its size
    decides between the serial and the parallel twin.)"""
    n_, c_, h_, w_ = x.shape
    _, o_, oh, ow = g.shape
    cg = c_ // groups
    og = o_ // groups
    dwt = np.zeros((o_, cg, kh, kw), x.dtype)
    for p in prange(o_ * cg):
        o = p // cg
        ci = p % cg
        c = (o // og) * cg + ci
        acc = np.empty(ow, x.dtype)
        for i in range(kh):
            ylo, yhi = _valid_range(i * dh, sh, ph, h_, oh)
            for j in range(kw):
                xlo, xhi = _valid_range(j * dw, sw, pw, w_, ow)
                off = j * dw - pw
                acc[:] = 0
                for n in range(n_):
                    for yo in range(ylo, yhi):
                        gr = g[n, o, yo, xlo:xhi]
                        xr = x[n, c, yo * sh - ph + i * dh, xlo * sw + off::sw]
                        for t in range(xhi - xlo):
                            acc[t] += gr[t] * xr[t]
                dwt[o, ci, i, j] = acc.sum()
    return dwt


# -- NumPy references: gather every tap's window, then one einsum ------------------------
def _taps(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """x (N, C, H, W) -> (N, C, kh, kw, oh, ow): the input under every tap (0 in padding)."""
    n_, c_, h_, w_ = x.shape
    hi = _window_index(h_, kh, sh, ph, dh, oh)
    wi = _window_index(w_, kw, sw, pw, dw, ow)
    xp = np.zeros((n_, c_, h_ + 1, w_ + 1), x.dtype)      # index -1 hits the zero border
    xp[:, :, :h_, :w_] = x
    return xp[:, :, hi[:, None, :, None], wi[None, :, None, :]]


def conv_direct_reference(x, w, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    n_ = x.shape[0]
    o_, cg, kh, kw = w.shape
    t = _taps(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow).reshape(n_, groups, cg, kh, kw, oh, ow)
    y = np.einsum("ngcijyx,gocij->ngoyx", t, w.reshape(groups, o_ // groups, cg, kh, kw))
    return y.reshape(n_, o_, oh, ow).astype(x.dtype)


def conv_direct_transpose_reference(g, w, sh, sw, ph, pw, dh, dw, groups, h_, w_):
    n_, o_, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    hi = _window_index(h_, kh, sh, ph, dh, oh)            # (kh, oh)
    wi = _window_index(w_, kw, sw, pw, dw, ow)            # (kw, ow)
    # every (tap, output pixel) sends w * g to input pixel (hi, wi); -1 lands in a dropped border
    contrib = np.einsum("ngoyx,gocij->ngcijyx", g.reshape(n_, groups, o_ // groups, oh, ow),
                        w.reshape(groups, o_ // groups, cg, kh, kw))
    dx = np.zeros((n_, groups, cg, h_ + 1, w_ + 1), g.dtype)
    for i in range(kh):
        for j in range(kw):
            np.add.at(dx, (slice(None), slice(None), slice(None), hi[i][:, None], wi[j][None, :]),
                      contrib[:, :, :, i, j])
    return dx[..., :h_, :w_].reshape(n_, groups * cg, h_, w_)


def conv_direct_weight_grad_reference(g, x, sh, sw, ph, pw, dh, dw, groups, kh, kw):
    n_, c_ = x.shape[:2]
    _, o_, oh, ow = g.shape
    cg = c_ // groups
    t = _taps(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow).reshape(n_, groups, cg, kh, kw, oh, ow)
    dwt = np.einsum("ngoyx,ngcijyx->gocij", g.reshape(n_, groups, o_ // groups, oh, ow), t)
    return dwt.reshape(o_, cg, kh, kw).astype(x.dtype)


conv_direct = pick(conv_direct_numba, conv_direct_reference)
conv_direct_transpose = pick(conv_direct_transpose_numba, conv_direct_transpose_reference)
conv_direct_weight_grad = pick(conv_direct_weight_grad_numba, conv_direct_weight_grad_reference)
