"""Array-level convolution: the algorithm chosen per shape, and its drivers.

``conv_forward``, ``conv_input_grad`` and ``conv_weight_grad`` take arrays (2-d form, the
geometry a ``ConvGeometry``) and each runs one of four algorithms, chosen by
``choose_algorithm`` for the correlation it computes:
Winograd F(4x4, 3x3), a GEMM per image for 1x1 convolutions, the direct kernels for
grouped convolutions with few channels per group, or im2col + GEMM.  The thresholds
below were set from ``python -m tools.measure.bench_kernels --conv``.  BLAS is always called
from here, never from inside a Numba parallel region.
"""
import threading
from typing import NamedTuple

import numpy as np

from .conv import col2im, im2col
from .conv_direct import conv_direct, conv_direct_transpose, conv_direct_weight_grad
from .winograd import (grad_transform, input_transform, output_transform,
                       weight_grad_untransform, weight_transform)


class ConvGeometry(NamedTuple):
    """A 2-d convolution's geometry.  The padding is the top / left one: the bottom / right
    padding is implied by the output size, which is how asymmetric ``padding='same'``
    (even kernels) is expressed.  Unpacks in this order into the kernels' arguments."""
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    dilation_h: int
    dilation_w: int
    groups: int


_local = threading.local()


# The bound: each Python thread keeps at most WORKSPACE_BYTES (32 MB) of scratch alive
# between calls (unbounded, W6's im2col columns kept 75 MB); a larger request gets a
# fresh array that is freed after the call.  Winograd runs the batch in chunks of
# images whose V and M take at most WINOGRAD_CHUNK_BYTES, which also keeps them closer
# in cache between transform and GEMM.  16 MB chunks ran as fast as 4 MB ones and
# faster than the whole batch; larger chunks mean fewer hand-overs between the thread
# pools (each chunk is three parallel regions and 16 BLAS calls), and 2 MB chunks make
# the GEMMs too thin (README, "Kernels", for the measurements).
WORKSPACE_BYTES = 32 << 20
WINOGRAD_CHUNK_BYTES = 16 << 20
WINOGRAD_MIN_CHUNK_TILES = 512     # but never so few tiles that the GEMMs turn thin


def _workspace(shape, dtype):
    """A reused (per thread, at most WORKSPACE_BYTES) scratch array for the columns matrix.
    Fresh 10-30 MB arrays cost as much in page faults as the GEMM itself; cols never
    outlive the call."""
    n = int(np.prod(shape))
    dtype = np.dtype(dtype)
    if n * dtype.itemsize > WORKSPACE_BYTES:
        return np.empty(shape, dtype)
    buf = getattr(_local, "buf", None)
    if buf is None or buf.nbytes < n * dtype.itemsize:
        buf = _local.buf = np.empty(max(n * dtype.itemsize, 1), np.uint8)
    return buf[:n * dtype.itemsize].view(dtype).reshape(shape)


def batch_columns(x, kh, kw, geo, oh, ow, fresh=False):
    """im2col of the whole batch into the workspace (a new array if fresh, for columns
    that outlive the call): (C*kh*kw, N, OH*OW)."""
    n_, c_ = x.shape[:2]
    shape = (c_ * kh * kw, n_, oh * ow)
    out = np.empty(shape, x.dtype) if fresh else _workspace(shape, x.dtype)
    return im2col(np.ascontiguousarray(x), kh, kw, *geo[:6], oh, ow, out)


# -- Winograd F(4x4, 3x3) for 3x3 / stride 1 / dilation 1 / groups 1 ------------------
# Serves the forward, the input gradient (a 3x3 stride-1 correlation of g with the
# flipped, transposed weights) and the weight gradient (the adjoint in the transformed
# weights).  Chosen by measurement (README, "Kernels"): on W6's shape each of the
# three takes 40-45% of im2col's time; with few channels or little work (C*O*N*OH*OW
# below ~4M) the extra Numba passes and their hand-offs to BLAS cost as much as the
# GEMM saves, so those stay on im2col.  With few 4x4 tiles the 36 GEMMs are too thin
# for BLAS: ResNet-18's 512-channel 4x4 layer at batch 16 (16 tiles) is 2-5x faster on
# im2col, its 8x8 layer (64 tiles) faster on Winograd.
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_WORK = 1 << 22
WINOGRAD_MIN_TILES = 32
# Grouped convs with at most this many input channels per group (depthwise: 1) run the
# direct kernels: depthwise they are 2-5x faster than im2col with per-group GEMMs, at
# 2 channels per group still faster, from 4 on the GEMMs win (README, "Kernels").
DIRECT_MAX_GROUP_CHANNELS = 2
ALGORITHMS = ("im2col", "winograd", "gemm_1x1", "direct")
FORCE_ALGORITHM = None        # tests pin one algorithm; it is used wherever it applies


def _winograd_applies(kh, kw, geo, dtype):
    sh, sw, _, _, dh, dw, groups = geo
    return (kh == 3 and kw == 3 and sh == sw == dh == dw == groups == 1
            and np.dtype(dtype) in (np.float32, np.float64))


def choose_algorithm(cg, o_, kh, kw, geo, dtype, n_, corr_hw, in_hw, out_hw):
    """The algorithm for one convolution.  cg: input channels per group; corr_hw: the
    output size of the correlation that would run (the input size, for dx); in_hw /
    out_hw: the forward conv's input and output sizes."""
    sh, sw, groups = geo.stride_h, geo.stride_w, geo.groups
    one_by_one = (kh == kw == 1 and geo.pad_top == geo.pad_left == 0 and groups == 1
                  and out_hw == ((in_hw[0] - 1) // sh + 1, (in_hw[1] - 1) // sw + 1))
    applies = {"im2col": True, "direct": True, "gemm_1x1": one_by_one,
               "winograd": _winograd_applies(kh, kw, geo, dtype)}
    if FORCE_ALGORITHM is not None and applies[FORCE_ALGORITHM]:
        return FORCE_ALGORITHM
    if groups > 1 and cg <= DIRECT_MAX_GROUP_CHANNELS:
        return "direct"
    if one_by_one:
        return "gemm_1x1"
    tiles = n_ * ((corr_hw[0] + 3) // 4) * ((corr_hw[1] + 3) // 4)
    if (applies["winograd"] and min(cg, o_) >= WINOGRAD_MIN_CHANNELS and tiles >= WINOGRAD_MIN_TILES
            and cg * o_ * n_ * corr_hw[0] * corr_hw[1] >= WINOGRAD_MIN_WORK):
        return "winograd"
    return "im2col"


def _image_chunks(n_, c_, o_, tiles, dtype):
    """Slices of the batch whose transformed input and product fit the workspace."""
    per_image = 36 * (c_ + o_) * tiles * np.dtype(dtype).itemsize
    step = max(WINOGRAD_CHUNK_BYTES // max(per_image, 1), -(-WINOGRAD_MIN_CHUNK_TILES // tiles))
    step = max(1, min(n_, step))
    return [slice(n0, min(n_, n0 + step)) for n0 in range(0, n_, step)]


def winograd_conv(x, u, ph, pw, oh, ow):
    """3x3 stride-1 correlation of x (N, C, H, W) with the weights whose transform is
    u (36, O, C) (kernels/winograd.py; a transposed view is fine), top/left padding
    (ph, pw) (may be negative), output (N, O, oh, ow).  Runs a chunk of images at a
    time, so the transformed input V and the product M stay within the workspace (and
    in cache between the transform and the GEMM)."""
    n_, c_ = x.shape[:2]
    o_ = u.shape[1]
    th, tw = (oh + 3) // 4, (ow + 3) // 4
    x = np.ascontiguousarray(x)
    y = np.empty((n_, o_, oh, ow), x.dtype)
    for chunk in _image_chunks(n_, c_, o_, th * tw, x.dtype):
        t_ = (chunk.stop - chunk.start) * th * tw
        ws = _workspace((36 * (c_ + o_) * t_,), x.dtype)
        v = input_transform(x[chunk], ph, pw, th, tw, ws[:36 * c_ * t_].reshape(36, c_, t_))
        m = np.matmul(u, v, out=ws[36 * c_ * t_:].reshape(36, o_, t_))
        output_transform(m, y[chunk])
    return y


def winograd_weight_grad(x, g, ph, pw):
    """The adjoint of winograd_conv in w: dU[k] = G~[k] (O, T) @ V[k]^T (T, C) with
    G~ = A g A^T per output tile, summed over chunks of images, then dw = G^T dU G."""
    n_, c_ = x.shape[:2]
    o_, oh, ow = g.shape[1:]
    th, tw = (oh + 3) // 4, (ow + 3) // 4
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g)
    du = np.zeros((36, o_, c_), x.dtype)
    part = np.empty((o_, c_), x.dtype)
    for chunk in _image_chunks(n_, c_, o_, th * tw, x.dtype):
        t_ = (chunk.stop - chunk.start) * th * tw
        ws = _workspace((36 * (c_ + o_) * t_,), x.dtype)
        v = input_transform(x[chunk], ph, pw, th, tw, ws[:36 * c_ * t_].reshape(36, c_, t_))
        gt = grad_transform(g[chunk], th, tw, ws[36 * c_ * t_:].reshape(36, o_, t_))
        for k in range(36):     # 2-d calls through one (O, C) scratch: no (36, O, C) temporary
            du[k] += np.matmul(gt[k], v[k].T, out=part)
    return weight_grad_untransform(du)


# -- 1x1 convolution (no padding, groups 1): a GEMM per image on the (strided) input ----
# No column matrix: with x viewed as (N, C, L), y[n] = W (O, C) @ x[n] is one batched
# matmul whose output is already (N, O, L).  With few pixels an image (MobileNet's 4x4
# layers: L = 16) those N GEMMs are too thin for BLAS, and one GEMM over the batch laid
# out as (C, N*L) wins despite the transposes: 512 -> 512 channels at 4x4, batch 32, one
# thread: forward 3.4 -> 2.1 ms, dW 4.6 -> 2.2 ms; at 8x8 the two are even (issue 32,
# MobileNet's seven pointwise layers timed both ways).
ONE_GEMM_1X1_MAX_PIXELS = 16


def _subsample(x, sh, sw):
    return np.ascontiguousarray(x[:, :, ::sh, ::sw] if sh > 1 or sw > 1 else x)


def _batch_columns(a3):
    """(N, C, L) -> (C, N*L): the batch side by side, the operand of one GEMM."""
    n_, c_, l_ = a3.shape
    return np.ascontiguousarray(a3.transpose(1, 0, 2)).reshape(c_, n_ * l_)


def _from_batch_columns(m, n_):
    """(O, N*L) -> (N, O, L), _batch_columns' inverse."""
    return np.ascontiguousarray(m.reshape(m.shape[0], n_, -1).transpose(1, 0, 2))


def _per_image(a3):
    return a3.shape[2] > ONE_GEMM_1X1_MAX_PIXELS


def gemm_1x1_forward(x, w, sh, sw):
    xs = _subsample(x, sh, sw)
    n_, c_, oh, ow = xs.shape
    w2 = np.ascontiguousarray(w).reshape(w.shape[0], c_)
    x3 = xs.reshape(n_, c_, oh * ow)
    y = np.matmul(w2, x3) if _per_image(x3) else _from_batch_columns(w2 @ _batch_columns(x3), n_)
    return y.reshape(n_, w.shape[0], oh, ow)


def gemm_1x1_input_grad(g, w, sh, sw, h_, w_):
    """dx[n] = W^T @ g[n] at the pixels the forward read, zero elsewhere."""
    n_, o_, oh, ow = g.shape
    wt = np.ascontiguousarray(w.reshape(o_, -1).T)                 # (C, O)
    g3 = np.ascontiguousarray(g).reshape(n_, o_, oh * ow)
    dxs = np.matmul(wt, g3) if _per_image(g3) else _from_batch_columns(wt @ _batch_columns(g3), n_)
    dxs = dxs.reshape(n_, wt.shape[0], oh, ow)
    if sh == sw == 1:
        return dxs
    dx = np.zeros((n_, wt.shape[0], h_, w_), dxs.dtype)
    dx[:, :, ::sh, ::sw] = dxs
    return dx


def gemm_1x1_weight_grad(x, g, sh, sw):
    """dW = sum_n g[n] (O, L) @ x[n]^T (L, C)."""
    xs = _subsample(x, sh, sw)
    n_, c_ = xs.shape[:2]
    o_ = g.shape[1]
    g3, x3 = np.ascontiguousarray(g).reshape(n_, o_, -1), xs.reshape(n_, c_, -1)
    if _per_image(g3):
        return _per_image_weight_grad(g3, x3, (o_, c_, 1, 1))
    dw = np.empty((o_, c_, 1, 1), np.result_type(g3, x3))
    np.matmul(_batch_columns(g3), _batch_columns(x3).T, out=dw.reshape(o_, c_))
    return dw


# The weight-gradient drivers return an array of the weight's shape that owns its data
# (written through a 2-d view, never reshaped afterwards): a view would make the engine
# copy it before keeping it as .grad (ResNet-18: 44 MB a step).
def _per_image_weight_grad(g3, cols_n, shape):
    """sum_n g3[n] (O, L) @ cols_n[n]^T (L, K) as an array of ``shape``, one 2-d GEMM
    per image accumulated in place (a batched matmul would first materialise all N
    (O, K) products)."""
    dw = np.zeros(shape, np.result_type(g3, cols_n))
    dw_ = dw.reshape(g3.shape[1], cols_n.shape[1])
    part = np.empty_like(dw_)
    for n in range(g3.shape[0]):
        dw_ += np.matmul(g3[n], cols_n[n].T, out=part)
    return dw


# -- NumPy drivers on 4-d arrays: one BLAS call per group for the whole batch ---------
# With few output channels and few weights the whole-batch GEMM (O x K) @ (K x N*L)
# runs far below the BLAS rate; one GEMM per image is faster and needs no transpose of
# y or g: about 3x on LeNet's 1 -> 6 conv (150 weights).  From about a thousand
# weights the single GEMM wins again, transposes included: LeNet's 6 -> 16 conv
# (2400 weights, batch 64) forward 0.45 -> 0.34 ms, dx 0.48 -> 0.30, dw 1.6 -> 0.4
# (README, "Kernels").
PER_IMAGE_GEMM_MAX_OUT = 16
ONE_GEMM_MIN_WEIGHTS = 1024


def _per_image_gemms(groups, o_, k):
    return groups == 1 and o_ <= PER_IMAGE_GEMM_MAX_OUT and o_ * k < ONE_GEMM_MIN_WEIGHTS


def conv_forward(x, w, geo, oh, ow):
    """Y[g] = W[g] (Og, Kg) @ cols[g] (Kg, N*L), then (O, N, L) -> (N, O, L)."""
    return conv_forward_and_columns(x, w, geo, oh, ow, False)[0]


def conv_forward_and_columns(x, w, geo, oh, ow, keep_columns):
    """(y, cols): conv_forward's y and, if keep_columns and im2col ran, its columns of
    x, for conv_weight_grad to reuse (else None)."""
    groups = geo.groups
    n_ = x.shape[0]
    o_, cg, kh, kw = w.shape
    if w.dtype != x.dtype:
        w = w.astype(np.result_type(x, w))
        x = x.astype(w.dtype)
    algo = choose_algorithm(cg, o_, kh, kw, geo, x.dtype, n_, (oh, ow), x.shape[2:], (oh, ow))
    if algo == "winograd":
        return winograd_conv(x, weight_transform(np.ascontiguousarray(w)), geo.pad_top,
                             geo.pad_left, oh, ow), None
    if algo == "direct":
        return conv_direct(np.ascontiguousarray(x), np.ascontiguousarray(w), *geo, oh, ow), None
    if algo == "gemm_1x1":
        return gemm_1x1_forward(x, w, geo.stride_h, geo.stride_w), None
    k = cg * kh * kw
    cols = batch_columns(x, kh, kw, geo, oh, ow, keep_columns)     # (groups*k, N, L)
    if _per_image_gemms(groups, o_, k):
        # thin W: one GEMM per image on a strided view of cols, already (N, O, L)
        y = np.matmul(np.ascontiguousarray(w).reshape(o_, k), cols.transpose(1, 0, 2))
        return y.reshape(n_, o_, oh, ow), cols if keep_columns else None
    y = np.matmul(np.ascontiguousarray(w).reshape(groups, o_ // groups, k),
                  cols.reshape(groups, k, n_ * oh * ow))
    return np.ascontiguousarray(y.reshape(o_, n_, oh * ow).transpose(1, 0, 2)).reshape(
        n_, o_, oh, ow), cols if keep_columns else None


def _g_matrix(g, groups):
    """g (N, O, OH, OW) -> (groups, O/groups, N*OH*OW), the GEMM operand layout."""
    n_, o_, oh, ow = g.shape
    return np.ascontiguousarray(g.reshape(n_, o_, oh * ow).transpose(1, 0, 2)).reshape(
        groups, o_ // groups, n_ * oh * ow)


def conv_input_grad(g, w, geo, h_, w_):
    """dx = col2im(W^T G): the adjoint of conv_forward in x (transposed convolution)."""
    sh, sw, ph, pw, dh, dw, groups = geo
    n_, o_, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    dtype = np.result_type(g, w)
    algo = choose_algorithm(cg, o_, kh, kw, geo, dtype, n_, (h_, w_), (h_, w_), (oh, ow))
    if algo == "direct":
        return conv_direct_transpose(np.ascontiguousarray(g, dtype), np.ascontiguousarray(w, dtype),
                                     *geo, h_, w_)
    if algo == "gemm_1x1":
        return gemm_1x1_input_grad(g.astype(dtype, copy=False), np.asarray(w, dtype), sh, sw,
                                   h_, w_)
    if algo == "winograd":
        # stride 1: dx is a 3x3 correlation of g with the flipped, transposed weights,
        # transformed as they are (a (36, C, O) view; no copy of w)
        u = weight_transform(np.ascontiguousarray(w, dtype), flip=True).transpose(0, 2, 1)
        return winograd_conv(g.astype(dtype, copy=False), u, kh - 1 - ph, kw - 1 - pw, h_, w_)
    k = cg * kh * kw
    if _per_image_gemms(groups, o_, k):
        # one GEMM per image, straight into the (k, N, L) columns: no transpose of g
        cols = _workspace((k, n_, oh * ow), dtype)
        np.matmul(np.ascontiguousarray(np.asarray(w, dtype).reshape(o_, k).T),
                  g.astype(dtype, copy=False).reshape(n_, o_, oh * ow),
                  out=cols.transpose(1, 0, 2))
        return col2im(cols, cg, h_, w_, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    # W^T as a view: NumPy (2.4) hands the transposed operand to BLAS as it is; a
    # contiguous copy of ResNet's 512 x 4608 weights took as long as the GEMM
    wt = np.asarray(w, dtype).reshape(groups, o_ // groups, k).transpose(0, 2, 1)
    cols = _workspace((groups, k, n_ * oh * ow), dtype)
    np.matmul(wt, _g_matrix(g.astype(dtype, copy=False), groups), out=cols)
    return col2im(cols.reshape(groups * k, n_, oh * ow), cg * groups, h_, w_, kh, kw,
                  sh, sw, ph, pw, dh, dw, oh, ow)


def conv_weight_grad(x, g, geo, kh, kw, cols=None):
    """dW[g] = G[g] (Og, N*L) @ cols[g]^T (N*L, Kg): the adjoint of conv_forward in w.
    cols: the forward's im2col columns of x if it kept them (conv_forward_and_columns),
    which saves computing them again."""
    groups = geo.groups
    n_, c_ = x.shape[:2]
    o_, oh, ow = g.shape[1:]
    dtype = np.result_type(x, g)
    algo = choose_algorithm(c_ // groups, o_, kh, kw, geo, dtype, n_, (oh, ow), x.shape[2:],
                            (oh, ow))
    if algo == "direct":
        return conv_direct_weight_grad(np.ascontiguousarray(g, dtype),
                                       np.ascontiguousarray(x, dtype), *geo, kh, kw)
    if algo == "gemm_1x1":
        return gemm_1x1_weight_grad(x.astype(dtype, copy=False), g.astype(dtype, copy=False),
                                    geo.stride_h, geo.stride_w)
    if algo == "winograd":
        return winograd_weight_grad(x.astype(dtype, copy=False), g.astype(dtype, copy=False),
                                    geo.pad_top, geo.pad_left)
    k = c_ // groups * kh * kw
    if cols is None:
        cols = batch_columns(x.astype(dtype, copy=False), kh, kw, geo, oh, ow)  # (groups*k, N, L)
    if _per_image_gemms(groups, o_, k):
        g3 = np.ascontiguousarray(g, dtype).reshape(n_, o_, oh * ow)
        return _per_image_weight_grad(g3, cols.transpose(1, 0, 2), (o_, c_, kh, kw))
    cols = cols.reshape(groups, k, n_ * oh * ow)
    dw = np.empty((o_, c_ // groups, kh, kw), dtype)
    if groups == 1 and o_ <= PER_IMAGE_GEMM_MAX_OUT:
        # dW^T = cols (K, N*L) @ G^T (N*L, O): BLAS splits the K rows between threads
        gm = _g_matrix(g.astype(dtype, copy=False), 1)[0]
        np.copyto(dw.reshape(o_, k), np.matmul(cols[0], gm.T).T)
        return dw
    np.matmul(_g_matrix(g.astype(dtype, copy=False), groups), cols.transpose(0, 2, 1),
              out=dw.reshape(groups, o_ // groups, k))
    return dw
