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
and columns 2*tx, 2*tx+1 (cropped to odd sizes).  The loops run unit-stride over the
tiles of a tile row and vectorise: a padded row is copied into a line buffer (input)
or split into even / odd columns (gradient) first, and indices that carry an offset
(``t + k``) are unsigned (``U``), because Numba tests every signed index for a
negative value and that test, inside a loop, stops it from vectorising (1.5 against
0.2 ns an element).  Parallel over channels (input) and output channels (output,
gradient), each task looping over the images with its buffers allocated once: every
element written has exactly one writer.  BLAS is never called here.
"""
import numpy as np
from numba import prange
from numba import uint64 as U

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
    # the padded rows / columns that hold image pixels (the rest read as zero)
    r0, q0 = min(max(ph, 0), hp), min(max(pw, 0), 2 * tw + 2)
    r1, q1 = max(min(h_ + ph, hp), r0), max(min(w_ + pw, 2 * tw + 2), q0)
    for c in prange(c_):
        line = np.zeros(2 * tw + 2, x.dtype)      # one padded row (zero outside q0..q1)
        e = np.zeros((4, hp, tw), x.dtype)       # rows outside r0..r1 stay zero
        for n in range(n_):
            # columns first: e[b, r, tx] = (d[r, 2tx : 2tx+4] B)[b]
            for r in range(r0, r1):
                for q in range(U(q1 - q0)):
                    line[U(q0) + q] = x[n, c, r - ph, U(q0 - pw) + q]
                for k in range(tw):
                    e[0, r, k] = line[2 * k] - line[2 * k + 2]
                    e[1, r, k] = line[2 * k + 1] + line[2 * k + 2]
                    e[2, r, k] = line[2 * k + 2] - line[2 * k + 1]
                    e[3, r, k] = line[2 * k + 1] - line[2 * k + 3]
            # then rows: v[4a + b, c, tile] = (B^T e[b, 2ty : 2ty+4, tx])[a]
            for ty in range(th):
                r = 2 * ty
                t = U(n * tiles + ty * tw)
                for b in range(4):
                    for k in range(U(tw)):
                        v[b, c, t + k] = e[b, r, k] - e[b, r + 2, k]
                        v[4 + b, c, t + k] = e[b, r + 1, k] + e[b, r + 2, k]
                        v[8 + b, c, t + k] = e[b, r + 2, k] - e[b, r + 1, k]
                        v[12 + b, c, t + k] = e[b, r + 1, k] - e[b, r + 3, k]
    return v


@parallel_kernel
def output_transform_numba(m, y):
    """m (16, O, N*th*tw) -> y (N, O, oh, ow) = A^T m A per tile, cropped to y's size
    (th, tw = ceil(oh / 2), ceil(ow / 2)); returns y.  Writing into the caller's y
    (a slice of the batch) saves a pass over the output."""
    n_, o_, oh, ow = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles = th * tw
    for o in prange(o_):
        rows = np.empty((2, 2 * tw), m.dtype)    # a tile row's two output rows, uncropped
        for n in range(n_):
            for ty in range(th):
                t = U(n * tiles + ty * tw)
                for k in range(U(tw)):
                    # columns first: fij = (m_i A)[j] for the 4 rows i of the tile, then rows
                    f00 = m[0, o, t + k] + m[1, o, t + k] + m[2, o, t + k]
                    f01 = m[1, o, t + k] - m[2, o, t + k] - m[3, o, t + k]
                    f10 = m[4, o, t + k] + m[5, o, t + k] + m[6, o, t + k]
                    f11 = m[5, o, t + k] - m[6, o, t + k] - m[7, o, t + k]
                    f20 = m[8, o, t + k] + m[9, o, t + k] + m[10, o, t + k]
                    f21 = m[9, o, t + k] - m[10, o, t + k] - m[11, o, t + k]
                    f30 = m[12, o, t + k] + m[13, o, t + k] + m[14, o, t + k]
                    f31 = m[13, o, t + k] - m[14, o, t + k] - m[15, o, t + k]
                    rows[0, 2 * k] = f00 + f10 + f20
                    rows[0, 2 * k + 1] = f01 + f11 + f21
                    rows[1, 2 * k] = f10 - f20 - f30
                    rows[1, 2 * k + 1] = f11 - f21 - f31
                for i in range(min(2, oh - 2 * ty)):
                    for q in range(ow):
                        y[n, o, 2 * ty + i, q] = rows[i, q]
    return y


@parallel_kernel
def grad_transform_numba(g, th, tw, out):
    """g (N, O, OH, OW) -> out (16, O, N*th*tw) = A g_tile A^T per 2x2 tile (zero past
    OH / OW): the adjoint of output_transform, for the weight gradient; returns out."""
    n_, o_, oh, ow = g.shape
    tiles = th * tw
    half = ow // 2
    for o in prange(o_):
        # the zero-padded plane split into even / odd columns (unit-stride loops below);
        # entries past OH / OW are never written and stay zero
        ge = np.zeros((2 * th, tw), g.dtype)
        go = np.zeros((2 * th, tw), g.dtype)
        for n in range(n_):
            for r in range(oh):
                for k in range(half):
                    ge[r, k] = g[n, o, r, 2 * k]
                    go[r, k] = g[n, o, r, 2 * k + 1]
                if ow % 2:
                    ge[r, half] = g[n, o, r, ow - 1]
            for ty in range(th):
                r = 2 * ty
                t = U(n * tiles + ty * tw)
                # rows of A g: (g0, g0 + g1, g0 - g1, -g1); then the same on columns
                for k in range(U(tw)):
                    a = ge[r, k]
                    b = go[r, k]
                    out[0, o, t + k] = a
                    out[1, o, t + k] = a + b
                    out[2, o, t + k] = a - b
                    out[3, o, t + k] = -b
                for k in range(U(tw)):
                    a = ge[r, k] + ge[r + 1, k]
                    b = go[r, k] + go[r + 1, k]
                    out[4, o, t + k] = a
                    out[5, o, t + k] = a + b
                    out[6, o, t + k] = a - b
                    out[7, o, t + k] = -b
                for k in range(U(tw)):
                    a = ge[r, k] - ge[r + 1, k]
                    b = go[r, k] - go[r + 1, k]
                    out[8, o, t + k] = a
                    out[9, o, t + k] = a + b
                    out[10, o, t + k] = a - b
                    out[11, o, t + k] = -b
                for k in range(U(tw)):
                    a = -ge[r + 1, k]
                    b = -go[r + 1, k]
                    out[12, o, t + k] = a
                    out[13, o, t + k] = a + b
                    out[14, o, t + k] = a - b
                    out[15, o, t + k] = -b
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
