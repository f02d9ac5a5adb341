"""Direct convolution kernels: loops over kernel taps, no column matrix and no GEMM.

For grouped convolutions with few channels per group (depthwise: one input channel
per output), im2col copies the input kh*kw times to feed GEMMs too thin to run near
the BLAS rate; looping over taps instead does the same multiply-adds on planes that
stay in cache.  One task per channel: it lays out that channel's planes of the whole
batch once, padded and split by stride phase, so that every tap is ONE long
unit-stride loop over the batch (an axpy for the forward and input gradient, a dot
product for the weight gradient) that vectorises however small the planes are
(MobileNet's 4x4 and 8x8 ones included) and whatever the stride:

    planes[a, b, n, u, t] = x_pad[n, c, u*sh + a, t*sw + b]   (hq x wq per phase, 0 outside x)
    output (n, yo, t) at k = n*hq*wq + yo*wq + t              (t < ow; the gap stays unused)
    tap (i, j) reads phase ((i*dh) % sh, (j*dw) % sw) at k + (i*dh)//sh * wq + (j*dw)//sw

    forward     y[n, o]  += w[o, ci, i, j] * x[n, c](shifted by tap)   parallel over o
    transpose   dx[n, c] += w[o, ci, i, j] * g[n, o](scattered by tap) parallel over c
    weight grad dw[o, ci, i, j] = sum over n, pixels of g[n, o] * x[n, c](shifted)
                                                                        parallel over (o, ci)
with c = group(o) * C/groups + ci.  Every element is written by one task.  Offsets are
unsigned: Numba tests a signed index for a negative value, and with a computed offset
that test stays in the loop and stops it from vectorising (conv.py's im2col says the
same).  Geometry arguments are as in conv.py (top/left padding; the output size
carries bottom/right padding).  MobileNet's seven depthwise layers at batch 32, one
thread: forward 30 -> 17 ms, input gradient 27 -> 20, weight gradient 31 -> 18
(README, "Kernels").
"""
import numba
import numpy as np
from numba import prange
from numba import uint64 as U

from . import pick
from .conv import _window_index
from .threads import parallel_kernel, reduction_kernel


@numba.njit(cache=True)
def _batch_layout(n_, oh, ow, sh, sw, kh, kw, dh, dw):
    """(hq, wq, istride, total) of the flat layout in the module docstring."""
    hq = -(-((oh - 1) * sh + (kh - 1) * dh + 1) // sh)      # padded height / sh
    wq = -(-((ow - 1) * sw + (kw - 1) * dw + 1) // sw)      # padded width / sw
    return hq, wq, hq * wq, max(0, (n_ - 1) * hq * wq + (oh - 1) * wq + ow)    # 0: empty batch


@numba.njit(cache=True)
def _phase_range(b, s, p, size, count):
    """The t < count whose padded coordinate t s + b is inside x: 0 <= t s + b - p < size."""
    return max(0, -(-(p - b) // s)), min(count, -(-(size + p - b) // s))


@numba.njit(cache=True)
def _padded_copy(x, c, ph, pw, planes, into_planes):
    """planes[r % sh, q % sw, n, r // sh, q // sw] <-> x[n, c, r - ph, q - pw] for the
    padded coordinates (r, q) inside x: the planes x[:, c] padded and split by phase
    (into_planes), or the inside of such planes written back into x[:, c]."""
    sh, sw, n_, hq, wq = planes.shape
    h_, w_ = x.shape[2:]
    for a in range(sh):
        u0, u1 = _phase_range(a, sh, ph, h_, hq)
        for b in range(sw):
            t0, t1 = _phase_range(b, sw, pw, w_, wq)
            for n in range(n_):
                for u in range(u0, u1):
                    r = u * sh + a - ph
                    for t in range(t0, t1):
                        if into_planes:
                            planes[a, b, n, u, t] = x[n, c, r, t * sw + b - pw]
                        else:
                            x[n, c, r, t * sw + b - pw] = planes[a, b, n, u, t]


@numba.njit(cache=True)
def _load_outputs(g, o, wq, istride, dst):
    """dst[n * istride + yo * wq + t] = g[n, o, yo, t]; the gaps keep their zeros."""
    n_, _, oh, ow = g.shape
    for n in range(n_):
        for yo in range(oh):
            for t in range(ow):
                dst[n * istride + yo * wq + t] = g[n, o, yo, t]


@numba.njit(cache=True)
def _tap(i, j, sh, sw, dh, dw, wq):
    """(row phase, column phase, offset) of tap (i, j): output k reads its phase plane
    at k + offset."""
    return (i * dh) % sh, (j * dw) % sw, U((i * dh) // sh * wq + (j * dw) // sw)


@parallel_kernel
def conv_direct_numba(x, w, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    """y (N, O, oh, ow) = grouped correlation of x (N, C, H, W) with w (O, C/groups, kh, kw)."""
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    og = o_ // groups
    hq, wq, istride, total = _batch_layout(n_, oh, ow, sh, sw, kh, kw, dh, dw)
    y = np.empty((n_, o_, oh, ow), x.dtype)
    for o in prange(o_):
        c0 = (o // og) * cg
        xp = np.zeros((sh, sw, n_, hq, wq), x.dtype)
        out = np.zeros(total, x.dtype)
        for ci in range(cg):
            _padded_copy(x, c0 + ci, ph, pw, xp, True)
            for i in range(kh):
                for j in range(kw):
                    wv = w[o, ci, i, j]
                    a, b, off = _tap(i, j, sh, sw, dh, dw, wq)
                    src = xp[a, b].reshape(-1)
                    for k in range(U(total)):
                        out[k] += wv * src[k + off]
        for n in range(n_):
            for yo in range(oh):
                for t in range(ow):
                    y[n, o, yo, t] = out[n * istride + yo * wq + t]
    return y


@parallel_kernel
def conv_direct_transpose_numba(g, w, sh, sw, ph, pw, dh, dw, groups, h_, w_):
    """dx (N, C, h_, w_): the adjoint of conv_direct in x, for g (N, O, oh, ow)."""
    n_, o_, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    og = o_ // groups
    c_ = cg * groups
    hq, wq, istride, total = _batch_layout(n_, oh, ow, sh, sw, kh, kw, dh, dw)
    dx = np.zeros((n_, c_, h_, w_), g.dtype)
    for c in prange(c_):
        grp = c // cg
        ci = c % cg
        dxp = np.zeros((sh, sw, n_, hq, wq), g.dtype)  # padded planes; borders are dropped
        gf = np.zeros(total, g.dtype)
        for oi in range(og):
            o = grp * og + oi
            _load_outputs(g, o, wq, istride, gf)
            for i in range(kh):
                for j in range(kw):
                    wv = w[o, ci, i, j]
                    a, b, off = _tap(i, j, sh, sw, dh, dw, wq)
                    dst = dxp[a, b].reshape(-1)
                    for k in range(U(total)):
                        dst[k + off] += wv * gf[k]
        _padded_copy(dx, c, ph, pw, dxp, False)
    return dx


@reduction_kernel
def conv_direct_weight_grad_numba(g, x, sh, sw, ph, pw, dh, dw, groups, kh, kw):
    """dw (O, C/groups, kh, kw): the adjoint of conv_direct in w, a dot product per tap
    (reassociated: see threads.Kernel).  (g first: its size decides between the serial
    and the parallel twin.)"""
    n_, c_, h_, w_ = x.shape
    _, o_, oh, ow = g.shape
    cg = c_ // groups
    og = o_ // groups
    hq, wq, istride, total = _batch_layout(n_, oh, ow, sh, sw, kh, kw, dh, dw)
    dwt = np.zeros((o_, cg, kh, kw), x.dtype)
    for p in prange(o_ * cg):
        o = p // cg
        ci = p % cg
        xp = np.zeros((sh, sw, n_, hq, wq), x.dtype)
        gf = np.zeros(total, x.dtype)
        _padded_copy(x, (o // og) * cg + ci, ph, pw, xp, True)
        _load_outputs(g, o, wq, istride, gf)
        for i in range(kh):
            for j in range(kw):
                a, b, off = _tap(i, j, sh, sw, dh, dw, wq)
                src = xp[a, b].reshape(-1)
                acc = dwt[o, ci, i, j]
                for k in range(U(total)):
                    acc += gf[k] * src[k + off]
                dwt[o, ci, i, j] = acc
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
