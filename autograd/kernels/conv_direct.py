"""Direct convolution kernels: loops over kernel taps, no column matrix and no GEMM.

For grouped convolutions with few channels per group (depthwise: one input channel
per output), im2col copies the input kh*kw times to feed GEMMs too thin to run near
the BLAS rate; looping over taps instead does the same multiply-adds on planes that
stay in cache.  One task per channel: it lays out that channel's planes of the whole
batch once, padded and split by stride phase, so that the taps are long unit-stride
loops over the whole batch, three taps a loop (an axpy for the forward and input
gradient, dot products for the weight gradient), that vectorise however small the planes are
(MobileNet's 4x4 and 8x8 ones included) and whatever the stride:

    planes[a, b, n, u, t] = x_pad[n, c, u*sh + a, t*sw + b]   (hq x wq per phase, 0 outside x)
    output (n, yo, t) at k = n*hq*wq + yo*wq + t              (t < ow; the gap stays unused)
    tap (i, j) reads phase ((i*dh) % sh, (j*dw) % sw) at k + (i*dh)//sh * wq + (j*dw)//sw

    forward     y[n, o]  += w[o, ci, i, j] * x[n, c](shifted by tap)   parallel over o
    transpose   dx[n, c] += w[o, ci, i, j] * g[n, o](shifted back)      parallel over c
    weight grad dw[o, ci, i, j] = sum over n, pixels of g[n, o] * x[n, c](shifted)
                                                                        parallel over (o, ci)
with c = group(o) * C/groups + ci.  Every element is written by one task; the
transpose gathers (each phase plane from g shifted back by its taps), so it writes
once per output too.  Offsets are unsigned: Numba tests a signed index for a negative
value, and with a computed offset that test stays in the loop and stops it from
vectorising (conv.py's im2col says the same); the copies into and out of the layout
are indexed flat for the same reason.  Geometry arguments are as in conv.py (top/left
padding; the output size carries bottom/right padding).  MobileNet's seven depthwise
layers at batch 32, one thread, CPU clock (PyTorch 2.13 per layer in brackets):
forward 12.4 -> 7.3 ms (6.0), input gradient 13.3 -> 8.4 (6.5), weight gradient
12.9 -> 7.2 (6.2); the layout copies had been scalar, 5-d indexed loops and took
half the time (issue 32).
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
    (into_planes), or the inside of such planes written back into x[:, c].  Both C-
    contiguous, indexed flat and unsigned so that each row copy vectorises."""
    sh, sw, n_, hq, wq = planes.shape
    c_, h_, w_ = x.shape[1:]
    xf = x.reshape(-1)
    pf = planes.reshape(-1)
    for a in range(sh):
        u0, u1 = _phase_range(a, sh, ph, h_, hq)
        for b in range(sw):
            t0, t1 = _phase_range(b, sw, pw, w_, wq)
            for n in range(n_):
                for u in range(u0, u1):
                    xs = U(((n * c_ + c) * h_ + u * sh + a - ph) * w_ + t0 * sw + b - pw)
                    ps = U((((a * sw + b) * n_ + n) * hq + u) * wq + t0)
                    if into_planes:
                        for t in range(U(t1 - t0)):
                            pf[ps + t] = xf[xs + t * U(sw)]
                    else:
                        for t in range(U(t1 - t0)):
                            xf[xs + t * U(sw)] = pf[ps + t]


@numba.njit(cache=True)
def _gapped_copy(g, o, wq, istride, flat, into_flat):
    """flat[n * istride + yo * wq + t] <-> g[n, o, yo, t] (C-contiguous g): an output
    channel into the batch layout (into_flat; the gaps keep their zeros) or back."""
    n_, o_, oh, ow = g.shape
    gf = g.reshape(-1)
    for n in range(n_):
        for yo in range(oh):
            gs = U(((n * o_ + o) * oh + yo) * ow)
            fs = U(n * istride + yo * wq)
            if into_flat:
                for t in range(U(ow)):
                    flat[fs + t] = gf[gs + t]
            else:
                for t in range(U(ow)):
                    gf[gs + t] = flat[fs + t]


@numba.njit(cache=True)
def _tap_table(kh, kw, sh, sw, dh, dw, wq):
    """(phase, offset) of every tap t = i * kw + j: output k reads phase plane
    (i*dh) % sh * sw + (j*dw) % sw at k + offset."""
    phase = np.empty(kh * kw, np.int64)
    off = np.empty(kh * kw, np.uint64)
    for i in range(kh):
        for j in range(kw):
            phase[i * kw + j] = (i * dh) % sh * sw + (j * dw) % sw
            off[i * kw + j] = U((i * dh) // sh * wq + (j * dw) // sw)
    return phase, off


# Taps go three at a time through one loop over the batch layout: a pass per tap read
# and wrote the (L2-sized) accumulator nine times for a 3x3 kernel.
@numba.njit(cache=True)
def _axpy_taps(out, at, src, wv, base, t0, cnt, length):
    """out[at + k] += sum of wv[t] * src[k + base[t]] over taps t0 <= t < t0 + cnt
    (cnt <= 3), for k < length."""
    w0, b0 = wv[t0], base[t0]
    if cnt == 1:
        for k in range(U(length)):
            out[at + k] += w0 * src[k + b0]
        return
    w1, b1 = wv[t0 + 1], base[t0 + 1]
    if cnt == 2:
        for k in range(U(length)):
            out[at + k] += w0 * src[k + b0] + w1 * src[k + b1]
        return
    w2, b2 = wv[t0 + 2], base[t0 + 2]
    for k in range(U(length)):
        out[at + k] += w0 * src[k + b0] + w1 * src[k + b1] + w2 * src[k + b2]


@numba.njit(cache=True)
def _dot_taps(gf, src, base, t0, cnt, length, acc):
    """acc[t] += sum over k < length of gf[k] * src[k + base[t]], taps t0 <= t < t0 + cnt
    (cnt <= 3) in one pass."""
    s0 = s1 = s2 = acc.dtype.type(0)
    b0, b1, b2 = base[t0], base[t0 + min(1, cnt - 1)], base[t0 + min(2, cnt - 1)]
    if cnt == 1:
        for k in range(U(length)):
            s0 += gf[k] * src[k + b0]
    elif cnt == 2:
        for k in range(U(length)):
            s0 += gf[k] * src[k + b0]
            s1 += gf[k] * src[k + b1]
    else:
        for k in range(U(length)):
            s0 += gf[k] * src[k + b0]
            s1 += gf[k] * src[k + b1]
            s2 += gf[k] * src[k + b2]
    acc[t0] += s0
    if cnt > 1:
        acc[t0 + 1] += s1
    if cnt > 2:
        acc[t0 + 2] += s2


@parallel_kernel
def conv_direct_numba(x, w, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    """y (N, O, oh, ow) = grouped correlation of x (N, C, H, W) with w (O, C/groups, kh, kw)."""
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    og = o_ // groups
    hq, wq, istride, total = _batch_layout(n_, oh, ow, sh, sw, kh, kw, dh, dw)
    phase, off = _tap_table(kh, kw, sh, sw, dh, dw, wq)
    base = phase.astype(np.uint64) * U(n_ * istride) + off      # offsets into the flat planes
    y = np.empty((n_, o_, oh, ow), x.dtype)
    for o in prange(o_):
        c0 = (o // og) * cg
        xp = np.zeros((sh, sw, n_, hq, wq), x.dtype)
        out = np.zeros(total, x.dtype)
        for ci in range(cg):
            _padded_copy(x, c0 + ci, ph, pw, xp, True)
            wv = w[o, ci].reshape(-1)
            for t0 in range(0, kh * kw, 3):
                _axpy_taps(out, U(0), xp.reshape(-1), wv, base, t0, min(3, kh * kw - t0), total)
        _gapped_copy(y, o, wq, istride, out, False)
    return y


@parallel_kernel
def conv_direct_transpose_numba(g, w, sh, sw, ph, pw, dh, dw, groups, h_, w_):
    """dx (N, C, h_, w_): the adjoint of conv_direct in x, for g (N, O, oh, ow).  Each
    phase plane gathers from g shifted back by its taps' offsets: g sits in a buffer
    after ``lead`` zeros (the largest offset), so a shift never reads before it."""
    n_, o_, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    og = o_ // groups
    c_ = cg * groups
    hq, wq, istride, total = _batch_layout(n_, oh, ow, sh, sw, kh, kw, dh, dw)
    plane = n_ * istride
    phase, off = _tap_table(kh, kw, sh, sw, dh, dw, wq)
    lead = off.max() if kh * kw else U(0)
    dx = np.zeros((n_, c_, h_, w_), g.dtype)
    for c in prange(c_):
        grp = c // cg
        ci = c % cg
        dxp = np.zeros((sh, sw, n_, hq, wq), g.dtype)  # padded planes; borders are dropped
        gpad = np.zeros(lead + plane, g.dtype)
        wv = np.empty(kh * kw, g.dtype)
        shift = np.empty(kh * kw, np.uint64)
        for oi in range(og):
            o = grp * og + oi
            _gapped_copy(g, o, wq, istride, gpad[lead:], True)
            for p in range(sh * sw):
                cnt = 0                          # this phase's taps, three at a time
                for t in range(kh * kw):
                    if phase[t] == p:
                        wv[cnt] = w[o, ci, t // kw, t % kw]
                        shift[cnt] = lead - off[t]
                        cnt += 1
                for t0 in range(0, cnt, 3):
                    _axpy_taps(dxp.reshape(-1), U(p * plane), gpad, wv, shift, t0,
                               min(3, cnt - t0), plane)
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
    phase, off = _tap_table(kh, kw, sh, sw, dh, dw, wq)
    base = phase.astype(np.uint64) * U(n_ * istride) + off
    dwt = np.zeros((o_, cg, kh, kw), x.dtype)
    for p in prange(o_ * cg):
        o = p // cg
        ci = p % cg
        xp = np.zeros((sh, sw, n_, hq, wq), x.dtype)
        gf = np.zeros(total, x.dtype)
        _padded_copy(x, (o // og) * cg + ci, ph, pw, xp, True)
        _gapped_copy(g, o, wq, istride, gf, True)
        acc = dwt[o, ci].reshape(-1)
        for t0 in range(0, kh * kw, 3):
            _dot_taps(gf, xp.reshape(-1), base, t0, min(3, kh * kw - t0), total, acc)
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
