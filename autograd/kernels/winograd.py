"""Winograd F(4x4, 3x3) (Lavin & Gray 2015) for 3x3, stride-1 convolution.

A 3x3 correlation producing a 4x4 output tile from a 6x6 input tile d is
``Y = A^T [(G g G^T) * (B^T d B)] A`` (``*`` elementwise), 36 multiplies instead of
144.  Across channels the elementwise products become 36 independent GEMMs, one per
transformed position: ``M[k] = U[k] (O, C) @ V[k] (C, T)``, T = N * tiles.  So a
convolution is
    input transform   V[k, c, t] = (B^T d_{n,c,tile} B)[k]     (these kernels)
    weight transform  U[k, o, c] = (G g_{o,c} G^T)[k]           (NumPy, small)
    36 GEMMs          M = U @ V                                  (np.matmul -> BLAS)
    output transform  y[n, o, tile] = A^T M[:, o, t] A           (these kernels)
4x fewer multiply-adds than im2col + GEMM.  The weight gradient is the adjoint in U:
dU[k] = (A g A^T)[k] (O, T) @ V[k]^T (T, C) (grad_transform below), then
dw = G^T dU G.  Against F(2x2, 3x3) (16 products per 2x2 tile) it runs 2.25 products
per output pixel instead of 4, so the GEMMs, V and M are 0.56x the size; that
matters because the GEMMs have K = C (64 in ResNet's first stage), where OpenBLAS runs
at about half its large-matrix rate.  On W6 the forward went from 13.5 to about 10 ms
(README, "Kernels").  The price is accuracy: the constants reach 8 (A) and 1/24 (G),
so float32 results differ from the exact sum by about 1e-5 of the output's scale,
a few times F(2x2, 3x3)'s (the tests bound it against the float64 direct sum).

Points 0, +-1, +-2 and infinity:
    B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
           [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

Tiles: t = (n * th + ty) * tw + tx; tile (ty, tx) reads input rows 4*ty - ph .. +5
and columns 4*tx - pw .. +5 (outside the image: zero; ph/pw may be negative, which
the input-gradient use needs when padding > 2) and covers output rows 4*ty .. +3 and
columns 4*tx .. +3 (cropped).  An image's tiles are contiguous in V and M, so each
pass runs over all of them at once: W6 has only 8 tiles a row, too short a loop to
vectorise well.  For that the image is first split into phases (row / column modulo
4) and the result scattered back.  Indices that carry an offset (``t0 + s``) are
unsigned (``U``), because Numba tests every signed index for a negative value and
that test, inside a loop, stops it from vectorising (1.5 against 0.2 ns an element);
the constants are float32, so float32 kernels stay float32.  Parallel over channels
(input) and output channels (output, gradient), each task looping over the images
with its buffers allocated once: every element written has exactly one writer.  BLAS
is never called here.
"""
import numpy as np
from numba import prange
from numba import uint64 as U

from . import pick
from .threads import parallel_kernel

BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], np.float64)
GG = np.einsum("ai,bj->abij", G, G).reshape(36, 9)      # G (x) G

_2, _4, _5, _8 = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


def weight_transform(w, flip=False):
    """w (O, C, 3, 3) -> U (36, O, C) = G w G^T per (o, c), in w's dtype; with flip, of
    w rotated by 180 degrees (w[:, :, ::-1, ::-1], the input gradient's weights)."""
    o_, c_ = w.shape[:2]
    # U[(a, b), (o, c)] = sum_ij G[a, i] G[b, j] w[o, c, i, j]: one (36, 9) @ (9, O*C) GEMM;
    # the rotation reverses the 9 taps, so it reverses GG's columns
    gg = GG[:, ::-1] if flip else GG
    u = np.matmul(gg.astype(w.dtype), w.reshape(o_ * c_, 9).T)
    return u.reshape(36, o_, c_)


@parallel_kernel
def input_transform_numba(x, ph, pw, th, tw, v):
    """x (N, C, H, W) -> v (36, C, N*th*tw) = B^T d B of every 6x6 tile; returns v.
    Each image is first split into phases, q[R % 4, j, (R // 4) * tw + tx] =
    d[R, 4tx + j] for the six columns j of a tile (R: the padded image's row)."""
    n_, c_, h_, w_ = x.shape
    hp, wp = 4 * th + 2, 4 * tw + 2
    tiles = th * tw
    # the padded rows / columns that hold image pixels (the rest read as zero)
    r0, q0 = min(max(ph, 0), hp), min(max(pw, 0), wp)
    r1, q1 = max(min(h_ + ph, hp), r0), max(min(w_ + pw, wp), q0)
    for c in prange(c_):
        line = np.zeros(4 * tw + 4, x.dtype)              # one padded row, zero outside q0..q1
        q = np.zeros((4, 6, (th + 1) * tw), x.dtype)      # rows outside r0..r1 stay zero
        e = np.empty((6, 4, (th + 1) * tw), x.dtype)      # e[b, R % 4, ...] = (d[R, tile] B)[b]
        for n in range(n_):
            for r in range(r0, r1):
                for k in range(U(q1 - q0)):
                    line[U(q0) + k] = x[n, c, r - ph, U(q0 - pw) + k]
                base = U((r // 4) * tw)
                for j in range(6):
                    for k in range(U(tw)):
                        q[r % 4, j, base + k] = line[4 * k + U(j)]
            # columns first, for all four row phases at once
            for i in range(4):
                for s in range(U((th + 1) * tw)):
                    d0, d1, d2 = q[i, 0, s], q[i, 1, s], q[i, 2, s]
                    d3, d4, d5 = q[i, 3, s], q[i, 4, s], q[i, 5, s]
                    e[0, i, s] = _4 * d0 - _5 * d2 + d4
                    e[1, i, s] = d3 + d4 - _4 * (d1 + d2)
                    e[2, i, s] = _4 * (d1 - d2) - d3 + d4
                    e[3, i, s] = _2 * (d3 - d1) - d2 + d4
                    e[4, i, s] = _2 * (d1 - d3) - d2 + d4
                    e[5, i, s] = _4 * d1 - _5 * d3 + d5
            # then rows: tile row ty's rows 4ty .. 4ty+5 are phases 0-3 at ty, 0-1 at ty+1
            t0 = U(n * tiles)
            down = U(tw)
            for b in range(6):
                for s in range(U(tiles)):
                    d0, d1, d2 = e[b, 0, s], e[b, 1, s], e[b, 2, s]
                    d3, d4, d5 = e[b, 3, s], e[b, 0, s + down], e[b, 1, s + down]
                    v[b, c, t0 + s] = _4 * d0 - _5 * d2 + d4
                    v[6 + b, c, t0 + s] = d3 + d4 - _4 * (d1 + d2)
                    v[12 + b, c, t0 + s] = _4 * (d1 - d2) - d3 + d4
                    v[18 + b, c, t0 + s] = _2 * (d3 - d1) - d2 + d4
                    v[24 + b, c, t0 + s] = _2 * (d1 - d3) - d2 + d4
                    v[30 + b, c, t0 + s] = _4 * d1 - _5 * d3 + d5
    return v


@parallel_kernel
def output_transform_numba(m, y):
    """m (36, O, N*th*tw) -> y (N, O, oh, ow) = A^T m A per tile, cropped to y's size
    (th, tw = ceil(oh / 4), ceil(ow / 4)); returns y, written through an image-sized
    buffer of phases that is then scattered into it."""
    n_, o_, oh, ow = y.shape
    th, tw = (oh + 3) // 4, (ow + 3) // 4
    tiles = th * tw
    for o in prange(o_):
        f = np.empty((6, 4, tiles), m.dtype)     # A^T along each of the 6 rows of a tile
        out = np.empty((4, 4, tiles), m.dtype)   # out[i, j, tile]: pixel (4ty + i, 4tx + j)
        for n in range(n_):
            t0 = U(n * tiles)
            for i in range(6):
                r = 6 * i
                for s in range(U(tiles)):
                    m0, m1, m2 = m[r, o, t0 + s], m[r + 1, o, t0 + s], m[r + 2, o, t0 + s]
                    m3, m4, m5 = m[r + 3, o, t0 + s], m[r + 4, o, t0 + s], m[r + 5, o, t0 + s]
                    f[i, 0, s] = m0 + m1 + m2 + m3 + m4
                    f[i, 1, s] = m1 - m2 + _2 * (m3 - m4)
                    f[i, 2, s] = m1 + m2 + _4 * (m3 + m4)
                    f[i, 3, s] = m1 - m2 + _8 * (m3 - m4) + m5
            for j in range(4):
                for s in range(U(tiles)):
                    f0, f1, f2 = f[0, j, s], f[1, j, s], f[2, j, s]
                    f3, f4, f5 = f[3, j, s], f[4, j, s], f[5, j, s]
                    out[0, j, s] = f0 + f1 + f2 + f3 + f4
                    out[1, j, s] = f1 - f2 + _2 * (f3 - f4)
                    out[2, j, s] = f1 + f2 + _4 * (f3 + f4)
                    out[3, j, s] = f1 - f2 + _8 * (f3 - f4) + f5
            for r in range(oh):
                s0 = U((r // 4) * tw)
                for q in range(U(ow)):
                    y[n, o, r, q] = out[r % 4, q % U(4), s0 + q // U(4)]
    return y


@parallel_kernel
def grad_transform_numba(g, th, tw, out):
    """g (N, O, OH, OW) -> out (36, O, N*th*tw) = A g_tile A^T per 4x4 tile (zero past
    OH / OW): the adjoint of output_transform, for the weight gradient; returns out.
    A's rows are A^T's columns: (g0, g0+g1+g2+g3, g0-g1+g2-g3, g0+2g1+4g2+8g3,
    g0-2g1+4g2-8g3, g3)."""
    n_, o_, oh, ow = g.shape
    tiles = th * tw
    for o in prange(o_):
        gp = np.zeros((4, 4, tiles), g.dtype)    # gp[i, j, tile] = g[4ty + i, 4tx + j]
        e = np.empty((6, 4, tiles), g.dtype)     # A down each tile's 4 columns
        for n in range(n_):
            for r in range(oh):
                s0 = U((r // 4) * tw)
                for q in range(U(ow)):
                    gp[r % 4, q % U(4), s0 + q // U(4)] = g[n, o, r, q]
            for j in range(4):
                for s in range(U(tiles)):
                    g0, g1, g2, g3 = gp[0, j, s], gp[1, j, s], gp[2, j, s], gp[3, j, s]
                    e[0, j, s] = g0
                    e[1, j, s] = g0 + g1 + g2 + g3
                    e[2, j, s] = g0 - g1 + g2 - g3
                    e[3, j, s] = g0 + _2 * g1 + _4 * g2 + _8 * g3
                    e[4, j, s] = g0 - _2 * g1 + _4 * g2 - _8 * g3
                    e[5, j, s] = g3
            t0 = U(n * tiles)
            for a in range(6):
                for s in range(U(tiles)):
                    g0, g1, g2, g3 = e[a, 0, s], e[a, 1, s], e[a, 2, s], e[a, 3, s]
                    out[6 * a, o, t0 + s] = g0
                    out[6 * a + 1, o, t0 + s] = g0 + g1 + g2 + g3
                    out[6 * a + 2, o, t0 + s] = g0 - g1 + g2 - g3
                    out[6 * a + 3, o, t0 + s] = g0 + _2 * g1 + _4 * g2 + _8 * g3
                    out[6 * a + 4, o, t0 + s] = g0 - _2 * g1 + _4 * g2 - _8 * g3
                    out[6 * a + 5, o, t0 + s] = g3
    return out


def _pad_index(size, pad, n):
    """Image coordinate of padded-grid position 0..n-1, or -1 (a zero border) outside."""
    idx = np.arange(n) - pad
    return np.where((idx >= 0) & (idx < size), idx, -1)


def input_transform_reference(x, ph, pw, th, tw, v):
    n_, c_, h_, w_ = x.shape
    xp = np.zeros((n_, c_, h_ + 1, w_ + 1), x.dtype)      # index -1 hits the zero border
    xp[:, :, :h_, :w_] = x
    hi = _pad_index(h_, ph, 4 * th + 2)
    wi = _pad_index(w_, pw, 4 * tw + 2)
    rows = hi[4 * np.arange(th)[:, None] + np.arange(6)[None, :]]      # (th, 6)
    cols = wi[4 * np.arange(tw)[:, None] + np.arange(6)[None, :]]      # (tw, 6)
    d = xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]       # (n, c, th, tw, 6, 6)
    bt = BT.astype(x.dtype)
    u = np.einsum("ai,nctuij,bj->abcntu", bt, d, bt)
    v[...] = u.reshape(36, c_, n_ * th * tw)
    return v


def output_transform_reference(m, y):
    n_, o_, oh, ow = y.shape
    th, tw = -(-oh // 4), -(-ow // 4)
    at = AT.astype(m.dtype)
    mm = m.reshape(6, 6, o_, n_, th, tw)
    full = np.einsum("ai,ijontu,bj->notaub", at, mm, at).reshape(n_, o_, 4 * th, 4 * tw)
    y[...] = full[:, :, :oh, :ow]
    return y


def grad_transform_reference(g, th, tw, out):
    n_, o_, oh, ow = g.shape
    gp = np.zeros((n_, o_, 4 * th, 4 * tw), g.dtype)
    gp[:, :, :oh, :ow] = g
    at = AT.astype(g.dtype)
    u = np.einsum("ia,notiuj,jb->abontu", at, gp.reshape(n_, o_, th, 4, tw, 4), at)
    out[...] = u.reshape(36, o_, n_ * th * tw)
    return out


def weight_grad_untransform(du):
    """du (36, O, C) -> dw (O, C, 3, 3) = G^T du G per (o, c): the adjoint of weight_transform."""
    _, o_, c_ = du.shape
    dw = np.empty((o_, c_, 3, 3), du.dtype)       # owns its data (see conv_drivers)
    np.matmul(du.reshape(36, o_ * c_).T, GG.astype(du.dtype), out=dw.reshape(o_ * c_, 9))
    return dw


input_transform = pick(input_transform_numba, input_transform_reference)
output_transform = pick(output_transform_numba, output_transform_reference)
grad_transform = pick(grad_transform_numba, grad_transform_reference)
