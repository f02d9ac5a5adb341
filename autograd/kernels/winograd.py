"""Winograd F(2x2, 3x3) transforms (Lavin & Gray 2015) for 3x3, stride-1 convolution.

A 3x3 correlation producing a 2x2 output tile from a 4x4 input tile d is
``Y = A^T [(G g G^T) * (B^T d B)] A`` (``*`` elementwise), 16 multiplies instead of
36.  Across channels the elementwise products become 16 independent GEMMs, one per
transformed position: ``M[k] = U[k] (O, C) @ V[k] (C, T)``, T = N * tiles.  So a
convolution is
    input transform   V[k, c, t] = (B^T d_{n,c,tile} B)[k]     (these kernels)
    weight transform  U[k, o, c] = (G g_{o,c} G^T)[k]           (NumPy, small)
    16 GEMMs          M = U @ V                                  (np.matmul -> BLAS)
    output transform  y[n, o, tile] = A^T M[:, o, t] A           (these kernels)
2.25x fewer multiply-adds than im2col + GEMM, and V is 16/9 the size of the
im2col columns over 4 pixels per tile, i.e. 4/9 of it.  The weight gradient is the
adjoint in U: dU[k] = (A g A^T)[k] (O, T) @ V[k]^T (T, C) (grad_transform below),
then dw = G^T dU G.

Tiles: t = (n * th + ty) * tw + tx; tile (ty, tx) reads input rows 2*ty - ph .. +3
and columns 2*tx - pw .. +3 (outside the image: zero; ph/pw may be negative, which
the input-gradient use needs when padding > 2) and writes output rows 2*ty, 2*ty+1
and columns 2*tx, 2*tx+1 (the caller crops odd sizes).  The input and gradient
transforms first split each zero-padded plane into even / odd columns so that their
loops run unit-stride over the tiles of a tile row and vectorise (measured on x
32x64x32x32, 2 cores: input transform 14 -> 8 ms, gradient transform 22 -> 7 ms
against per-tile scalar loops).  Parallel over (n, c) planes (input) and (n, o)
planes (output, gradient): every element written has exactly one writer.  BLAS is
never called here.
"""
import numpy as np
from numba import prange

from . import pick
from .threads import parallel_kernel

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)
GG = np.einsum("ai,bj->abij", G, G).reshape(16, 9)      # G (x) G


def weight_transform(w):
    """w (O, C, 3, 3) -> U (16, O, C) = G w G^T per (o, c), in w's dtype."""
    o_, c_ = w.shape[:2]
    # U[(a, b), (o, c)] = sum_ij G[a, i] G[b, j] w[o, c, i, j]: one (16, 9) @ (9, O*C) GEMM
    u = np.matmul(GG.astype(w.dtype), w.reshape(o_ * c_, 9).T)
    return u.reshape(16, o_, c_)


@parallel_kernel
def input_transform_numba(x, ph, pw, th, tw, v):
    """x (N, C, H, W) -> v (16, C, N*th*tw) = B^T d B of every 4x4 tile; returns v."""
    n_, c_, h_, w_ = x.shape
    hp = 2 * th + 2
    tiles = th * tw
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        # the padded plane, split into even / odd columns so that every loop below is
        # unit-stride over tiles (and vectorises): ev[r, k] = d[r, 2k], od[r, k] = d[r, 2k+1]
        ev = np.zeros((hp, tw + 1), x.dtype)
        od = np.zeros((hp, tw + 1), x.dtype)
        line = np.zeros(2 * tw + 2, x.dtype)         # one padded row; its columns 0..q0-1
        q0 = min(max(pw, 0), 2 * tw + 2)             # and q1.. stay zero
        q1 = max(min(w_ + pw, 2 * tw + 2), q0)
        for r in range(max(ph, 0), min(hp, h_ + ph)):
            seg = line[q0:q1]
            src = x[n, c, r - ph, q0 - pw:q1 - pw]
            for q in range(q1 - q0):
                seg[q] = src[q]
            er, orow = ev[r], od[r]
            for k in range(tw + 1):
                er[k] = line[2 * k]
                orow[k] = line[2 * k + 1]
        # columns first: e[b, r, tx] = (d[r, 2tx : 2tx+4] B)[b]
        e = np.empty((4, hp, tw), x.dtype)
        for r in range(hp):
            for k in range(tw):
                e[0, r, k] = ev[r, k] - ev[r, k + 1]
                e[1, r, k] = od[r, k] + ev[r, k + 1]
                e[2, r, k] = ev[r, k + 1] - od[r, k]
                e[3, r, k] = od[r, k] - od[r, k + 1]
        # then rows: v[4a + b, c, tile] = (B^T e[b, 2ty : 2ty+4, tx])[a].  Rows of v as
        # views indexed by k alone: a computed offset in the index (t + k) brings Numba's
        # negative-index test into the loop, which then does not vectorise
        for ty in range(th):
            r = 2 * ty
            t = n * tiles + ty * tw
            for b in range(4):
                e0, e1, e2, e3 = e[b, r], e[b, r + 1], e[b, r + 2], e[b, r + 3]
                v0, v1 = v[b, c, t:t + tw], v[4 + b, c, t:t + tw]
                v2, v3 = v[8 + b, c, t:t + tw], v[12 + b, c, t:t + tw]
                for k in range(tw):
                    v0[k] = e0[k] - e2[k]
                    v1[k] = e1[k] + e2[k]
                    v2[k] = e2[k] - e1[k]
                    v3[k] = e1[k] - e3[k]
    return v


@parallel_kernel
def output_transform_numba(m, y):
    """m (16, O, N*th*tw) -> y (N, O, oh, ow) = A^T m A per tile, cropped to y's size
    (th, tw = ceil(oh / 2), ceil(ow / 2)); returns y.  Writing into the caller's y
    (a slice of the batch) saves a pass over the output."""
    n_, o_, oh, ow = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles = th * tw
    for p in prange(n_ * o_):
        n = p // o_
        o = p % o_
        row0 = np.empty(2 * tw, m.dtype)     # a tile row's two output rows, uncropped
        row1 = np.empty(2 * tw, m.dtype)
        for ty in range(th):
            r = 2 * ty
            t = n * tiles + ty * tw
            # the 16 rows of m for this tile row, as views (see input_transform)
            m0, m1, m2, m3 = (m[0, o, t:t + tw], m[1, o, t:t + tw], m[2, o, t:t + tw],
                              m[3, o, t:t + tw])
            m4, m5, m6, m7 = (m[4, o, t:t + tw], m[5, o, t:t + tw], m[6, o, t:t + tw],
                              m[7, o, t:t + tw])
            m8, m9, m10, m11 = (m[8, o, t:t + tw], m[9, o, t:t + tw], m[10, o, t:t + tw],
                                m[11, o, t:t + tw])
            m12, m13, m14, m15 = (m[12, o, t:t + tw], m[13, o, t:t + tw], m[14, o, t:t + tw],
                                  m[15, o, t:t + tw])
            for k in range(tw):
                # columns first: fij = (m_i A)[j] for the 4 rows i of the tile, then rows
                f00 = m0[k] + m1[k] + m2[k]
                f01 = m1[k] - m2[k] - m3[k]
                f10 = m4[k] + m5[k] + m6[k]
                f11 = m5[k] - m6[k] - m7[k]
                f20 = m8[k] + m9[k] + m10[k]
                f21 = m9[k] - m10[k] - m11[k]
                f30 = m12[k] + m13[k] + m14[k]
                f31 = m13[k] - m14[k] - m15[k]
                row0[2 * k] = f00 + f10 + f20
                row0[2 * k + 1] = f01 + f11 + f21
                row1[2 * k] = f10 - f20 - f30
                row1[2 * k + 1] = f11 - f21 - f31
            y0 = y[n, o, r]
            for q in range(ow):
                y0[q] = row0[q]
            if r + 1 < oh:
                y1 = y[n, o, r + 1]
                for q in range(ow):
                    y1[q] = row1[q]
    return y


@parallel_kernel
def grad_transform_numba(g, th, tw, out):
    """g (N, O, OH, OW) -> out (16, O, N*th*tw) = A g_tile A^T per 2x2 tile (zero past
    OH / OW): the adjoint of output_transform, for the weight gradient; returns out."""
    n_, o_, oh, ow = g.shape
    tiles = th * tw
    for p in prange(n_ * o_):
        n = p // o_
        o = p % o_
        # zero-padded plane split into even / odd columns (unit-stride loops below)
        ge = np.zeros((2 * th, tw), g.dtype)
        go = np.zeros((2 * th, tw), g.dtype)
        for r in range(oh):
            for k in range(tw):
                if 2 * k < ow:
                    ge[r, k] = g[n, o, r, 2 * k]
                if 2 * k + 1 < ow:
                    go[r, k] = g[n, o, r, 2 * k + 1]
        for ty in range(th):
            r = 2 * ty
            t = n * tiles + ty * tw
            ge0, ge1, go0, go1 = ge[r], ge[r + 1], go[r], go[r + 1]
            # rows of A g: (g0, g0 + g1, g0 - g1, -g1); then the same on columns.  Rows of
            # out as views (see input_transform)
            for a in range(4):
                q0, q1 = out[4 * a, o, t:t + tw], out[4 * a + 1, o, t:t + tw]
                q2, q3 = out[4 * a + 2, o, t:t + tw], out[4 * a + 3, o, t:t + tw]
                for k in range(tw):
                    if a == 0:
                        ev, od = ge0[k], go0[k]
                    elif a == 1:
                        ev, od = ge0[k] + ge1[k], go0[k] + go1[k]
                    elif a == 2:
                        ev, od = ge0[k] - ge1[k], go0[k] - go1[k]
                    else:
                        ev, od = -ge1[k], -go1[k]
                    q0[k] = ev
                    q1[k] = ev + od
                    q2[k] = ev - od
                    q3[k] = -od
    return out


def _pad_index(size, pad, n):
    """Image coordinate of padded-grid position 0..n-1, or -1 (a zero border) outside."""
    idx = np.arange(n) - pad
    return np.where((idx >= 0) & (idx < size), idx, -1)


def input_transform_reference(x, ph, pw, th, tw, v):
    n_, c_, h_, w_ = x.shape
    xp = np.zeros((n_, c_, h_ + 1, w_ + 1), x.dtype)      # index -1 hits the zero border
    xp[:, :, :h_, :w_] = x
    hi = _pad_index(h_, ph, 2 * th + 2)
    wi = _pad_index(w_, pw, 2 * tw + 2)
    rows = hi[2 * np.arange(th)[:, None] + np.arange(4)[None, :]]      # (th, 4)
    cols = wi[2 * np.arange(tw)[:, None] + np.arange(4)[None, :]]      # (tw, 4)
    d = xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]       # (n, c, th, tw, 4, 4)
    bt = BT.astype(x.dtype)
    u = np.einsum("ai,nctuij,bj->abcntu", bt, d, bt)
    v[...] = u.reshape(16, c_, n_ * th * tw)
    return v


def output_transform_reference(m, y):
    n_, o_, oh, ow = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    at = AT.astype(m.dtype)
    mm = m.reshape(4, 4, o_, n_, th, tw)
    full = np.einsum("ai,ijontu,bj->notaub", at, mm, at).reshape(n_, o_, 2 * th, 2 * tw)
    y[...] = full[:, :, :oh, :ow]
    return y


def grad_transform_reference(g, th, tw, out):
    n_, o_, oh, ow = g.shape
    gp = np.zeros((n_, o_, 2 * th, 2 * tw), g.dtype)
    gp[:, :, :oh, :ow] = g
    at = AT.astype(g.dtype)
    u = np.einsum("ai,notaub,bj->ijontu", at, gp.reshape(n_, o_, th, 2, tw, 2), at)
    out[...] = u.reshape(16, o_, n_ * th * tw)
    return out


def weight_grad_untransform(du):
    """du (16, O, C) -> dw (O, C, 3, 3) = G^T du G per (o, c): the adjoint of weight_transform."""
    _, o_, c_ = du.shape
    dw = np.matmul(GG.T.astype(du.dtype), du.reshape(16, o_ * c_))      # (9, O*C)
    return np.ascontiguousarray(dw.T).reshape(o_, c_, 3, 3)


input_transform = pick(input_transform_numba, input_transform_reference)
output_transform = pick(output_transform_numba, output_transform_reference)
grad_transform = pick(grad_transform_numba, grad_transform_reference)
