"""Pooling kernels: direct loops over windows, parallel over image planes.

Every pooling op is described by separable windows: along each axis, output ``o``
reads input positions ``start[o] + t*step`` for ``t < count[o]``; positions outside
``[0, size)`` are padding and are skipped.  Regular pooling has ``start = o*s - p``
and a constant count; adaptive pooling has variable windows.  Inputs are (P, H, W)
with P = all leading dims flattened, so 1-d, 2-d, batched and unbatched calls share
one compiled kernel per dtype.

Max-pool indices are flat offsets ``h*W + w`` within a plane, as in PyTorch.  The
scatter kernels parallelise over planes so overlapping windows (stride < kernel),
whose gradients add into the same pixel, are never written by two threads.
Direct loops beat im2col-style approaches here: pooling does O(1) work per input
element, so the only cost is memory traffic, and a direct loop reads x once.
"""
import numba
import numpy as np
from numba import prange

from . import pick
from .threads import parallel_kernel


@numba.njit(cache=True)
def _tap_range(start, count, step, size):
    """Taps t in [lo, hi) of a window whose positions start + t*step lie inside [0, size)."""
    lo = 0 if start >= 0 else (-start + step - 1) // step
    hi = count if start + (count - 1) * step < size else (size - 1 - start) // step + 1
    return min(lo, count), max(min(hi, count), 0)


@parallel_kernel
def max_pool_numba(x, hs, hn, dh, ws, wn, dw):
    p_, h_, w_ = x.shape
    oh, ow = hs.shape[0], ws.shape[0]
    out = np.empty((p_, oh, ow), x.dtype)
    idx = np.empty((p_, oh, ow), np.int64)
    # each window's taps inside the image, computed once: no bounds test in the scan
    hlo, hhi = np.empty(oh, np.int64), np.empty(oh, np.int64)
    wlo, whi = np.empty(ow, np.int64), np.empty(ow, np.int64)
    for y in range(oh):
        hlo[y], hhi[y] = _tap_range(hs[y], hn[y], dh, h_)
    for xo in range(ow):
        wlo[xo], whi[xo] = _tap_range(ws[xo], wn[xo], dw, w_)
    for p in prange(p_):
        for y in range(oh):
            for xo in range(ow):
                if hlo[y] >= hhi[y] or wlo[xo] >= whi[xo]:      # only padding: empty window
                    out[p, y, xo] = -np.inf
                    idx[p, y, xo] = -1
                    continue
                hi0 = hs[y] + hlo[y] * dh
                wi0 = ws[xo] + wlo[xo] * dw
                best = x[p, hi0, wi0]
                arg = hi0 * w_ + wi0
                for i in range(hlo[y], hhi[y]):
                    hi = hs[y] + i * dh
                    for j in range(wlo[xo], whi[xo]):
                        wi = ws[xo] + j * dw
                        v = x[p, hi, wi]
                        # first maximum in scan order; NaN wins and sticks (as np.argmax).
                        # Selects, not branches: on real activations a branch on v > best
                        # mispredicts about every other window (2x slower)
                        take = (v > best) | ((v != v) & (best == best))
                        best = v if take else best
                        arg = hi * w_ + wi if take else arg
                out[p, y, xo] = best
                idx[p, y, xo] = arg
    return out, idx


@parallel_kernel
def max_pool_2x2_numba(x, oh, ow):
    """max_pool_numba for 2x2 windows at stride 2 without padding or dilation (the usual
    ``MaxPool2d(2)``): the same outputs and indices, with the four taps written out, so
    that the loop over a row's windows vectorises (2x faster on LeNet's pools and W7)."""
    p_, h_, w_ = x.shape
    out = np.empty((p_, oh, ow), x.dtype)
    idx = np.empty((p_, oh, ow), np.int64)
    for p in prange(p_):
        for y in range(oh):
            r0, r1 = x[p, 2 * y], x[p, 2 * y + 1]
            orow, irow = out[p, y], idx[p, y]
            base = 2 * y * w_
            for xo in range(ow):
                # scan order a, b (top row), c, d; first maximum wins, a NaN wins and sticks
                best = r0[2 * xo]
                arg = base + 2 * xo
                v = r0[2 * xo + 1]
                take = (v > best) | ((v != v) & (best == best))
                best = v if take else best
                arg = base + 2 * xo + 1 if take else arg
                v = r1[2 * xo]
                take = (v > best) | ((v != v) & (best == best))
                best = v if take else best
                arg = base + w_ + 2 * xo if take else arg
                v = r1[2 * xo + 1]
                take = (v > best) | ((v != v) & (best == best))
                best = v if take else best
                arg = base + w_ + 2 * xo + 1 if take else arg
                orow[xo] = best
                irow[xo] = arg
    return out, idx


def _is_2x2_stride_2(hs, hn, dh, ws, wn, dw):
    return all(len(s) and dil == 1 and (n == 2).all() and (s == 2 * np.arange(len(s))).all()
               for s, n, dil in ((hs, hn, dh), (ws, wn, dw)))


def max_pool_kernels(x, hs, hn, dh, ws, wn, dw):
    """The 2x2 / stride-2 kernel where it applies, else the general one."""
    if _is_2x2_stride_2(hs, hn, dh, ws, wn, dw) and 2 * len(hs) <= x.shape[1] \
            and 2 * len(ws) <= x.shape[2]:
        return max_pool_2x2_numba(x, len(hs), len(ws))
    return max_pool_numba(x, hs, hn, dh, ws, wn, dw)


@parallel_kernel
def avg_pool_numba(x, hs, hn, ws, wn, div):
    p_, h_, w_ = x.shape
    oh, ow = hs.shape[0], ws.shape[0]
    out = np.empty((p_, oh, ow), x.dtype)
    for p in prange(p_):
        for y in range(oh):
            h0 = max(hs[y], 0)
            h1 = min(hs[y] + hn[y], h_)
            for xo in range(ow):
                w0 = max(ws[xo], 0)
                w1 = min(ws[xo] + wn[xo], w_)
                acc = 0.0
                for hi in range(h0, h1):
                    for wi in range(w0, w1):
                        acc += x[p, hi, wi]
                out[p, y, xo] = acc / div[y, xo]
    return out


@parallel_kernel
def avg_pool_adjoint_numba(g, h_, w_, hs, hn, ws, wn, div):
    p_, oh, ow = g.shape
    dx = np.zeros((p_, h_, w_), g.dtype)
    for p in prange(p_):
        for y in range(oh):
            h0 = max(hs[y], 0)
            h1 = min(hs[y] + hn[y], h_)
            for xo in range(ow):
                w0 = max(ws[xo], 0)
                w1 = min(ws[xo] + wn[xo], w_)
                v = g[p, y, xo] / div[y, xo]
                for hi in range(h0, h1):
                    for wi in range(w0, w1):
                        dx[p, hi, wi] += v
    return dx


@parallel_kernel
def scatter_add_numba(g, idx, size):
    p_, n_ = g.shape
    out = np.zeros((p_, size), g.dtype)
    for p in prange(p_):
        for t in range(n_):
            k = idx[p, t]
            if k >= 0 and k < size:      # -1 marks an empty window: nothing to route
                out[p, k] += g[p, t]
    return out


# -- NumPy references: one vectorised step per output position ---------------------------
def _taps(start, count, step, size):
    t = start + np.arange(count) * step
    return t[(t >= 0) & (t < size)]


def max_pool_reference(x, hs, hn, dh, ws, wn, dw):
    p_, h_, w_ = x.shape
    out = np.empty((p_, len(hs), len(ws)), x.dtype)
    idx = np.empty((p_, len(hs), len(ws)), np.int64)
    for y in range(len(hs)):
        rows = _taps(hs[y], hn[y], dh, h_)
        for xo in range(len(ws)):
            cols = _taps(ws[xo], wn[xo], dw, w_)
            flat = (rows[:, None] * w_ + cols[None, :]).ravel()       # row-major scan order
            vals = x.reshape(p_, h_ * w_)[:, flat]
            a = np.argmax(vals, axis=1)
            out[:, y, xo] = vals[np.arange(p_), a]
            idx[:, y, xo] = flat[a]
    return out, idx


def _avg_slices(y, xo, hs, hn, ws, wn, h_, w_):
    return (slice(max(hs[y], 0), min(hs[y] + hn[y], h_)),
            slice(max(ws[xo], 0), min(ws[xo] + wn[xo], w_)))


def avg_pool_reference(x, hs, hn, ws, wn, div):
    p_, h_, w_ = x.shape
    out = np.empty((p_, len(hs), len(ws)), x.dtype)
    for y in range(len(hs)):
        for xo in range(len(ws)):
            r, c = _avg_slices(y, xo, hs, hn, ws, wn, h_, w_)
            out[:, y, xo] = x[:, r, c].sum(axis=(1, 2)) / div[y, xo]
    return out


def avg_pool_adjoint_reference(g, h_, w_, hs, hn, ws, wn, div):
    dx = np.zeros((g.shape[0], h_, w_), g.dtype)
    for y in range(len(hs)):
        for xo in range(len(ws)):
            r, c = _avg_slices(y, xo, hs, hn, ws, wn, h_, w_)
            dx[:, r, c] += (g[:, y, xo] / div[y, xo])[:, None, None]
    return dx


def scatter_add_reference(g, idx, size):
    out = np.zeros((g.shape[0], size), g.dtype)
    keep = (idx >= 0) & (idx < size)
    rows = np.broadcast_to(np.arange(g.shape[0])[:, None], g.shape)
    np.add.at(out, (rows[keep], idx[keep]), g[keep])
    return out


max_pool = pick(max_pool_kernels, max_pool_reference)
avg_pool = pick(avg_pool_numba, avg_pool_reference)
avg_pool_adjoint = pick(avg_pool_adjoint_numba, avg_pool_adjoint_reference)
scatter_add = pick(scatter_add_numba, scatter_add_reference)
