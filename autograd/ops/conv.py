"""Convolution as three primitives that are each other's VJPs, plus unfold / fold.

For a fixed geometry, ``y = conv(x, w)`` is bilinear.  Write ``A_w x = conv(x, w)``
and ``B_x w = conv(x, w)``.  Then
    Convolution           y  = conv(x, w)
    ConvolutionTranspose  dx = A_w^T g        (input gradient = transposed conv)
    ConvolutionWeightGrad dw = B_x^T g        (weight gradient = correlation of x and g)
and the VJPs of the last two are again these three primitives (see each backward),
so any order of derivative through a convolution stays on the fast kernels.

The primitives work on 1-d (N, C, L) and 2-d (N, C, H, W) arrays; 1-d is run as
2-d with H = 1.  Geometry ``geo = (sh, sw, ph, pw, dh, dw, groups)`` where ph/pw are
the *top/left* padding; bottom/right padding is implied by the output size, which
is how asymmetric ``padding='same'`` (even kernels) is expressed.
Bias is added with ordinary tensor ops (its gradient is a sum; not worth a kernel).
"""
import threading

import numpy as np

from ..function import Function
from ..kernels.conv import col2im, im2col
from ..kernels.conv_direct import conv_direct, conv_direct_transpose, conv_direct_weight_grad
from ..kernels.winograd import (grad_transform, input_transform, output_transform,
                                weight_grad_untransform, weight_transform)
from ..tensor import Tensor
from .registry import SampleInput, make, op

_local = threading.local()


# The per-thread scratch kept alive between calls is capped (it was up to 75 MB): larger
# requests get a fresh array that is freed after the call.  Winograd runs the batch in
# chunks of images whose V and M take at most WINOGRAD_CHUNK_BYTES, which also keeps
# them closer in cache between transform and GEMM: measured (CPU time, 1 thread, x
# 32x64x32x32, best of 3 runs) forward / dx / dw 38.3 / 37.1 / 43.9 ms on the whole batch
# (67 MB), 28.7 / 28.9 / 34.2 with 16 MB chunks and 29.0 / 27.7 / 33.9 with 4 MB; the
# larger chunks mean fewer hand-overs between the thread pools (each chunk is three
# parallel regions and 16 BLAS calls), which on a loaded machine cost more than a little
# cache.  2 MB chunks were slower (thinner GEMMs).
WORKSPACE_BYTES = 32 << 20
WINOGRAD_CHUNK_BYTES = 16 << 20
WINOGRAD_MIN_CHUNK_TILES = 2048    # but never so few tiles that the 16 GEMMs turn thin


def _workspace(shape, dtype):
    """A reused (per thread) scratch array for the columns matrix.  Fresh 10-100 MB
    arrays cost as much in page faults as the GEMM itself; cols never outlive the call."""
    n = int(np.prod(shape))
    dtype = np.dtype(dtype)
    if n * dtype.itemsize > WORKSPACE_BYTES:
        return np.empty(shape, dtype)
    buf = getattr(_local, "buf", None)
    if buf is None or buf.nbytes < n * dtype.itemsize:
        buf = _local.buf = np.empty(max(n * dtype.itemsize, 1), np.uint8)
    return buf[:n * dtype.itemsize].view(dtype).reshape(shape)


def _as4d(a):
    return a[:, :, None, :] if a.ndim == 3 else a


def _cols(x, kh, kw, geo, oh, ow):
    """im2col of the whole batch into the workspace: (C*kh*kw, N, OH*OW)."""
    sh, sw, ph, pw, dh, dw, _ = geo
    n_, c_ = x.shape[:2]
    ws = _workspace((c_ * kh * kw, n_, oh * ow), x.dtype)
    return im2col(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ws)


# -- Winograd F(2x2, 3x3) for 3x3 / stride 1 / dilation 1 / groups 1 ------------------
# Serves the forward, the input gradient (a 3x3 stride-1 correlation of g with the
# flipped, transposed weights) and the weight gradient (the adjoint in the transformed
# weights).  Chosen by measurement (2 cores, float32 and float64): on x 32x64x32x32,
# w 64x64x3x3 each of the three takes ~40-45 ms against ~55-65 ms with im2col
# (tools.bench conv2d_fwd 65 -> 45 ms, conv2d_fwd_bwd 181 -> 133 ms, medians of 5);
# with few channels or little work (C*O*N*OH*OW below ~4M) the extra Numba passes and
# their hand-offs to BLAS cost as much as the GEMM saves, so those stay on im2col.
# Of the remaining time, ~10 ms per call is BLAS slowed by the Numba (OpenMP) threads
# still spinning after the transform (GOMP_SPINCOUNT=1000 removes it).
# With few 2x2 tiles the 16 GEMMs are too thin for BLAS: ResNet-18's 512-channel 4x4
# layer at batch 16 (64 tiles) ran 13.5 / 21.5 / 14.6 ms (forward / dx / dw, 1 thread)
# on im2col against 16.7 / 24.2 / 20.8 on Winograd; at 8x8 (256 tiles) Winograd wins
# 12.0 / 13.5 / 14.4 against 16.4 / 20.5 / 16.0.
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_WORK = 1 << 22
WINOGRAD_MIN_TILES = 128
# Grouped convs with at most this many input channels per group (depthwise: 1) run the
# direct kernels; measured (1 thread, x 16x64x32x32, 3x3): depthwise 5.9 / 6.8 / 7.4 ms
# (forward / dx / dw) against 17.5 / 30.8 / 15.7 with im2col and per-group GEMMs; at 2
# channels per group 18 / 18 / 19 against 23 / 25 / 24; from 4 on the GEMMs win.
DIRECT_MAX_GROUP_CHANNELS = 2
ALGORITHMS = ("im2col", "winograd", "gemm_1x1", "direct")
FORCE_ALGORITHM = None        # tests pin one algorithm; it is used wherever it applies


def _winograd_applies(kh, kw, geo, dtype):
    sh, sw, _, _, dh, dw, groups = geo
    return (kh == 3 and kw == 3 and sh == sw == dh == dw == groups == 1
            and np.dtype(dtype) in (np.float32, np.float64))


def _algorithm(cg, o_, kh, kw, geo, dtype, n_, corr_hw, in_hw, out_hw):
    """The algorithm for one convolution.  cg: input channels per group; corr_hw: the
    output size of the correlation that would run (the input size, for dx); in_hw /
    out_hw: the forward conv's input and output sizes."""
    sh, sw, ph, pw, _, _, groups = geo
    one_by_one = (kh == kw == 1 and ph == pw == 0 and groups == 1
                  and out_hw == ((in_hw[0] - 1) // sh + 1, (in_hw[1] - 1) // sw + 1))
    applies = {"im2col": True, "direct": True, "gemm_1x1": one_by_one,
               "winograd": _winograd_applies(kh, kw, geo, dtype)}
    if FORCE_ALGORITHM is not None and applies[FORCE_ALGORITHM]:
        return FORCE_ALGORITHM
    if groups > 1 and cg <= DIRECT_MAX_GROUP_CHANNELS:
        return "direct"
    if one_by_one:
        return "gemm_1x1"
    tiles = n_ * ((corr_hw[0] + 1) // 2) * ((corr_hw[1] + 1) // 2)
    if (applies["winograd"] and min(cg, o_) >= WINOGRAD_MIN_CHANNELS and tiles >= WINOGRAD_MIN_TILES
            and cg * o_ * n_ * corr_hw[0] * corr_hw[1] >= WINOGRAD_MIN_WORK):
        return "winograd"
    return "im2col"


def _image_chunks(n_, c_, o_, tiles, dtype):
    """Slices of the batch whose transformed input and product fit the workspace."""
    per_image = 16 * (c_ + o_) * tiles * np.dtype(dtype).itemsize
    step = max(WINOGRAD_CHUNK_BYTES // max(per_image, 1), -(-WINOGRAD_MIN_CHUNK_TILES // tiles))
    step = max(1, min(n_, step))
    return [slice(n0, min(n_, n0 + step)) for n0 in range(0, n_, step)]


def winograd_conv(x, w, ph, pw, oh, ow):
    """3x3 stride-1 correlation of x (N, C, H, W) with w (O, C, 3, 3), top/left
    padding (ph, pw) (may be negative), output (N, O, oh, ow); see kernels/winograd.py.
    Runs a chunk of images at a time, so the transformed input V and the product M
    stay within the workspace (and in cache between the transform and the GEMM)."""
    n_, c_ = x.shape[:2]
    o_ = w.shape[0]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    x = np.ascontiguousarray(x)
    u = weight_transform(np.ascontiguousarray(w))                 # (16, O, C)
    y = np.empty((n_, o_, oh, ow), x.dtype)
    for chunk in _image_chunks(n_, c_, o_, th * tw, x.dtype):
        nc = chunk.stop - chunk.start
        t_ = nc * th * tw
        ws = _workspace((16 * (c_ + o_) * t_,), x.dtype)
        v = input_transform(x[chunk], ph, pw, th, tw, ws[:16 * c_ * t_].reshape(16, c_, t_))
        m = np.matmul(u, v, out=ws[16 * c_ * t_:].reshape(16, o_, t_))
        y[chunk] = output_transform(m, nc, th, tw)[:, :, :oh, :ow]
    return y


def winograd_weight_grad(x, g, ph, pw):
    """The adjoint of winograd_conv in w: dU[k] = G~[k] (O, T) @ V[k]^T (T, C) with
    G~ = A g A^T per output tile, summed over chunks of images, then dw = G^T dU G."""
    n_, c_ = x.shape[:2]
    o_, oh, ow = g.shape[1:]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g)
    du = np.zeros((16, o_, c_), x.dtype)
    part = np.empty((o_, c_), x.dtype)
    for chunk in _image_chunks(n_, c_, o_, th * tw, x.dtype):
        t_ = (chunk.stop - chunk.start) * th * tw
        ws = _workspace((16 * (c_ + o_) * t_,), x.dtype)
        v = input_transform(x[chunk], ph, pw, th, tw, ws[:16 * c_ * t_].reshape(16, c_, t_))
        gt = grad_transform(g[chunk], th, tw, ws[16 * c_ * t_:].reshape(16, o_, t_))
        for k in range(16):     # 2-d calls: batched matmul on a transposed operand skips BLAS
            du[k] += np.matmul(gt[k], v[k].T, out=part)
    return weight_grad_untransform(du)


# -- 1x1 convolution (no padding, groups 1): a GEMM per image on the (strided) input ----
# No column matrix: with x viewed as (N, C, L), y[n] = W (O, C) @ x[n] is one batched
# matmul whose output is already (N, O, L).
def _subsample(x, sh, sw):
    return np.ascontiguousarray(x[:, :, ::sh, ::sw]) if sh > 1 or sw > 1 else np.ascontiguousarray(x)


def gemm_1x1_forward(x, w, sh, sw):
    xs = _subsample(x, sh, sw)
    n_, c_, oh, ow = xs.shape
    y = np.matmul(np.ascontiguousarray(w).reshape(w.shape[0], c_), xs.reshape(n_, c_, oh * ow))
    return y.reshape(n_, w.shape[0], oh, ow)


def gemm_1x1_input_grad(g, w, sh, sw, h_, w_):
    """dx[n] = W^T @ g[n] at the pixels the forward read, zero elsewhere."""
    n_, o_, oh, ow = g.shape
    wt = np.ascontiguousarray(w.reshape(o_, -1).T)                 # (C, O)
    dxs = np.matmul(wt, np.ascontiguousarray(g).reshape(n_, o_, oh * ow)).reshape(
        n_, wt.shape[0], oh, ow)
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
    return _per_image_weight_grad(np.ascontiguousarray(g).reshape(n_, o_, -1),
                                  xs.reshape(n_, c_, -1)).reshape(o_, c_, 1, 1)


def _per_image_weight_grad(g3, cols_n):
    """sum_n g3[n] (O, L) @ cols_n[n]^T (L, K), one 2-d GEMM per image (NumPy's batched
    matmul on a transposed operand skips BLAS)."""
    dw_ = np.zeros((g3.shape[1], cols_n.shape[1]), np.result_type(g3, cols_n))
    part = np.empty_like(dw_)
    for n in range(g3.shape[0]):
        dw_ += np.matmul(g3[n], cols_n[n].T, out=part)
    return dw_


# -- NumPy drivers on 4-d arrays: one BLAS call per group for the whole batch ---------
# With few output channels the whole-batch GEMM (O x K) @ (K x N*L) runs far below the
# BLAS rate; one GEMM per image is faster and needs no transpose of y or g: measured
# (1 thread) on LeNet's 1 -> 6 5x5 conv at batch 64, forward 0.35 against 0.96 ms, dx
# 0.37 against 1.0, dw 0.39 against 1.43; its 6 -> 16 conv about even; at 128 outputs
# (ResNet) the single GEMM wins the forward (5.4 against 6.3 ms).
PER_IMAGE_GEMM_MAX_OUT = 16


def conv_forward(x, w, geo, oh, ow):
    """Y[g] = W[g] (Og, Kg) @ cols[g] (Kg, N*L), then (O, N, L) -> (N, O, L)."""
    groups = geo[6]
    n_ = x.shape[0]
    o_, cg, kh, kw = w.shape
    if w.dtype != x.dtype:
        w = w.astype(np.result_type(x, w))
        x = x.astype(w.dtype)
    algo = _algorithm(cg, o_, kh, kw, geo, x.dtype, n_, (oh, ow), x.shape[2:], (oh, ow))
    if algo == "winograd":
        return winograd_conv(x, w, geo[2], geo[3], oh, ow)
    if algo == "direct":
        return conv_direct(np.ascontiguousarray(x), np.ascontiguousarray(w), *geo, oh, ow)
    if algo == "gemm_1x1":
        return gemm_1x1_forward(x, w, geo[0], geo[1])
    k = cg * kh * kw
    cols = _cols(x, kh, kw, geo, oh, ow)                          # (groups*k, N, L)
    if groups == 1 and o_ <= PER_IMAGE_GEMM_MAX_OUT:
        # thin W: one GEMM per image on a strided view of cols, already (N, O, L)
        y = np.matmul(np.ascontiguousarray(w).reshape(o_, k), cols.transpose(1, 0, 2))
        return y.reshape(n_, o_, oh, ow)
    y = np.matmul(np.ascontiguousarray(w).reshape(groups, o_ // groups, k),
                  cols.reshape(groups, k, n_ * oh * ow))
    return np.ascontiguousarray(y.reshape(o_, n_, oh * ow).transpose(1, 0, 2)).reshape(
        n_, o_, oh, ow)


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
    algo = _algorithm(cg, o_, kh, kw, geo, dtype, n_, (h_, w_), (h_, w_), (oh, ow))
    if algo == "direct":
        return conv_direct_transpose(np.ascontiguousarray(g, dtype), np.ascontiguousarray(w, dtype),
                                     *geo, h_, w_)
    if algo == "gemm_1x1":
        return gemm_1x1_input_grad(g.astype(dtype, copy=False), np.asarray(w, dtype), sh, sw,
                                   h_, w_)
    if algo == "winograd":
        # stride 1: dx is a 3x3 correlation of g with the flipped, transposed weights
        wf = np.asarray(w, dtype)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        return winograd_conv(g.astype(dtype, copy=False), wf, kh - 1 - ph, kw - 1 - pw,
                             h_, w_)
    k = cg * kh * kw
    if groups == 1 and o_ <= PER_IMAGE_GEMM_MAX_OUT:
        # one GEMM per image, straight into the (k, N, L) columns: no transpose of g
        cols = _workspace((k, n_, oh * ow), dtype)
        np.matmul(np.ascontiguousarray(np.asarray(w, dtype).reshape(o_, k).T),
                  g.astype(dtype, copy=False).reshape(n_, o_, oh * ow),
                  out=cols.transpose(1, 0, 2))
        return col2im(cols, cg, h_, w_, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    # contiguous W^T: NumPy's batched matmul falls back to a slow non-BLAS loop on a
    # transposed operand (measured 9 ms instead of <1 ms for LeNet's second conv)
    wt = np.ascontiguousarray(np.asarray(w, dtype).reshape(groups, o_ // groups, k)
                              .transpose(0, 2, 1))
    cols = _workspace((groups, k, n_ * oh * ow), dtype)
    np.matmul(wt, _g_matrix(g.astype(dtype, copy=False), groups), out=cols)
    return col2im(cols.reshape(groups * k, n_, oh * ow), cg * groups, h_, w_, kh, kw,
                  sh, sw, ph, pw, dh, dw, oh, ow)


def conv_weight_grad(x, g, geo, kh, kw):
    """dW[g] = G[g] (Og, N*L) @ cols[g]^T (N*L, Kg): the adjoint of conv_forward in w."""
    groups = geo[6]
    n_, c_ = x.shape[:2]
    o_, oh, ow = g.shape[1:]
    dtype = np.result_type(x, g)
    algo = _algorithm(c_ // groups, o_, kh, kw, geo, dtype, n_, (oh, ow), x.shape[2:], (oh, ow))
    if algo == "direct":
        return conv_direct_weight_grad(np.ascontiguousarray(g, dtype),
                                       np.ascontiguousarray(x, dtype), *geo, kh, kw)
    if algo == "gemm_1x1":
        return gemm_1x1_weight_grad(x.astype(dtype, copy=False), g.astype(dtype, copy=False),
                                    geo[0], geo[1])
    if algo == "winograd":
        return winograd_weight_grad(x.astype(dtype, copy=False), g.astype(dtype, copy=False),
                                    geo[2], geo[3])
    k = c_ // groups * kh * kw
    cols = _cols(x.astype(dtype, copy=False), kh, kw, geo, oh, ow)      # (groups*k, N, L)
    if groups == 1 and o_ <= PER_IMAGE_GEMM_MAX_OUT:
        g3 = np.ascontiguousarray(g, dtype).reshape(n_, o_, oh * ow)
        return _per_image_weight_grad(g3, cols.transpose(1, 0, 2)).reshape(o_, c_, kh, kw)
    cols = cols.reshape(groups, k, n_ * oh * ow)
    dw_ = np.matmul(_g_matrix(g.astype(dtype, copy=False), groups), cols.transpose(0, 2, 1))
    return dw_.reshape(o_, c_ // groups, kh, kw)


# -- primitives -------------------------------------------------------------------------
# conv1d runs as conv2d with height 1: _spatial gives a tensor's 2-d spatial size and
# _like_input drops the unit height again for 1-d inputs.
def _spatial(t):
    return (1,) * (t.ndim == 3) + tuple(t.shape[2:])


def _like_input(y, ndim):
    return y[:, :, 0, :] if ndim == 3 else y


class Convolution(Function):
    """y = A_w x.  VJP: dx = A_w^T g (a transposed convolution); dw = B_x^T g."""

    @staticmethod
    def forward(ctx, x, w, geo, out_hw):
        ctx.geo = geo
        ctx.save_for_backward(x, w)
        return _like_input(conv_forward(_as4d(x), _as4d(w), geo, *out_hw), x.ndim)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        dx = ConvolutionTranspose.apply(g, w, ctx.geo, _spatial(x)) if nx else None
        dw = ConvolutionWeightGrad.apply(x, g, ctx.geo, _spatial(w)) if nw else None
        return dx, dw, None, None


class ConvolutionTranspose(Function):
    """z = A_w^T g.  VJP: dg = A_w dz = conv(dz, w); dw = B_dz^T g = weight_grad(dz, g)."""

    @staticmethod
    def forward(ctx, g, w, geo, out_hw):
        ctx.geo = geo
        ctx.save_for_backward(g, w)
        return _like_input(conv_input_grad(_as4d(g), _as4d(w), geo, *out_hw), g.ndim)

    @staticmethod
    def backward(ctx, dz):
        g, w = ctx.saved_tensors
        ng, nw = ctx.needs_input_grad[:2]
        dg = Convolution.apply(dz, w, ctx.geo, _spatial(g)) if ng else None
        dw = ConvolutionWeightGrad.apply(dz, g, ctx.geo, _spatial(w)) if nw else None
        return dg, dw, None, None


class ConvolutionWeightGrad(Function):
    """v = B_x^T g.  VJP with h = dL/dv: dx = A_h^T g = conv_transpose(g, h); dg = conv(x, h)."""

    @staticmethod
    def forward(ctx, x, g, geo, k_hw):
        ctx.geo = geo
        ctx.save_for_backward(x, g)
        return _like_input(conv_weight_grad(_as4d(x), _as4d(g), geo, *k_hw), x.ndim)

    @staticmethod
    def backward(ctx, h):
        x, g = ctx.saved_tensors
        nx, ng = ctx.needs_input_grad[:2]
        dx = ConvolutionTranspose.apply(g, h, ctx.geo, _spatial(x)) if nx else None
        dg = Convolution.apply(x, h, ctx.geo, _spatial(g)) if ng else None
        return dx, dg, None, None


class Unfold(Function):
    """cols = im2col(x).  VJP: dx = fold(dcols) (col2im is im2col's adjoint)."""

    @staticmethod
    def forward(ctx, x, k_hw, geo, out_hw):
        ctx.args, ctx.in_hw = (k_hw, geo, out_hw), x.shape[2:]
        cols = _cols(x, *k_hw, geo, *out_hw)                       # (C*k, N, L)
        return np.ascontiguousarray(cols.transpose(1, 0, 2))       # PyTorch's (N, C*k, L)

    @staticmethod
    def backward(ctx, g):
        k_hw, geo, out_hw = ctx.args
        return Fold.apply(g, ctx.in_hw, k_hw, geo, out_hw), None, None, None


class Fold(Function):
    """x = col2im(cols).  VJP: dcols = unfold(dx)."""

    @staticmethod
    def forward(ctx, cols, in_hw, k_hw, geo, out_hw):
        ctx.args = (k_hw, geo, out_hw)
        sh, sw, ph, pw, dh, dw, _ = geo
        c_ = cols.shape[1] // (k_hw[0] * k_hw[1])
        return col2im(np.ascontiguousarray(cols.transpose(1, 0, 2)), c_, *in_hw, *k_hw,
                      sh, sw, ph, pw, dh, dw, *out_hw)

    @staticmethod
    def backward(ctx, g):
        k_hw, geo, out_hw = ctx.args
        return Unfold.apply(g, k_hw, geo, out_hw), None, None, None, None


# -- argument checking -------------------------------------------------------------------
def _tuple(name, arg, value, nd):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    value = tuple(int(v) for v in value)
    if len(value) != nd:
        raise ValueError(f"{name}: {arg} must be an int or a tuple of {nd} ints, got {value}")
    return value


def _out_size(size, k, s, pad_total, d):
    return (size + pad_total - d * (k - 1) - 1) // s + 1


def _check_input(name, x, nd, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")
    if x.ndim != nd + 2:
        layout = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
        raise ValueError(f"{name}: expected a {nd + 2}-d {what} {layout}, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be floating point, got {x.dtype}")


def _conv_geometry(name, x, w, stride, padding, dilation, groups, nd):
    """Validate a conv call; return (geo, out_hw) for the primitives (2-d form)."""
    _check_input(name, x, nd)
    _check_input(name, w, nd, "weight")
    if x.dtype != w.dtype:
        raise TypeError(f"{name}: input dtype {x.dtype} and weight dtype {w.dtype} differ "
                        f"(input {tuple(x.shape)}, weight {tuple(w.shape)})")
    stride = _tuple(name, "stride", stride, nd)
    dilation = _tuple(name, "dilation", dilation, nd)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: stride {stride} and dilation {dilation} must be positive")
    c_in, sizes, ks = x.shape[1], x.shape[2:], w.shape[2:]
    if c_in % groups or w.shape[0] % groups:
        raise ValueError(f"{name}: in_channels {c_in} and out_channels {w.shape[0]} must both "
                         f"be divisible by groups={groups} (input {tuple(x.shape)}, weight "
                         f"{tuple(w.shape)})")
    if w.shape[1] * groups != c_in:
        raise ValueError(f"{name}: weight {tuple(w.shape)} with groups={groups} expects "
                         f"{w.shape[1] * groups} input channels, but input {tuple(x.shape)} "
                         f"has {c_in}")
    eff = [d * (k - 1) + 1 for d, k in zip(dilation, ks)]
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        elif padding == "same":
            if max(stride) != 1:
                raise ValueError(f"{name}: padding='same' needs stride 1, got {stride}")
            pads = [((e - 1) // 2, e - 1 - (e - 1) // 2) for e in eff]
        else:
            raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                             f"got {padding!r}")
    else:
        pads = [(p, p) for p in _tuple(name, "padding", padding, nd)]
        if min(p for p, _ in pads) < 0:
            raise ValueError(f"{name}: padding must be non-negative, got {padding}")
    for size, e, (p0, p1) in zip(sizes, eff, pads):
        if e > size + p0 + p1:
            raise ValueError(f"{name}: kernel size {tuple(ks)} (dilated {tuple(eff)}) is larger "
                             f"than the padded input (input {tuple(x.shape)}, padding "
                             f"{[p for p, _ in pads]})")
    out = tuple(_out_size(n, k, s, p0 + p1, d)
                for n, k, s, (p0, _), (_, p1), d in zip(sizes, ks, stride, pads, pads, dilation))
    if nd == 1:
        return (1, stride[0], 0, pads[0][0], 1, dilation[0], groups), (1,) + out
    return (stride[0], stride[1], pads[0][0], pads[1][0], dilation[0], dilation[1], groups), out


def _add_bias(name, y, bias):
    if bias is None:
        return y
    if not isinstance(bias, Tensor) or bias.shape != (y.shape[1],):
        raise ValueError(f"{name}: bias must be a 1-d tensor of {y.shape[1]} elements, got "
                         f"{getattr(bias, 'shape', bias)}")
    return y + bias.reshape((1, -1) + (1,) * (y.ndim - 2))


def _batched(name, x, nd, fn):
    """PyTorch accepts unbatched input (C, *spatial): run it as a batch of one."""
    if isinstance(x, Tensor) and x.ndim == nd + 1:
        y = fn(x.reshape((1,) + tuple(x.shape)))
        return y.reshape(tuple(y.shape[1:]))
    return fn(x)


# -- NumPy references: direct sums over kernel taps (no im2col), independent of the kernels
def _pads_ref(padding, ks, dilation, nd):
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        return [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(ks, dilation)]
    p = (padding,) * nd if np.isscalar(padding) else padding
    return [(q, q) for q in p]


def conv2d_reference(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    s = (stride,) * 2 if np.isscalar(stride) else stride
    d = (dilation,) * 2 if np.isscalar(dilation) else dilation
    pads = _pads_ref(padding, w.shape[2:], d, 2)
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    n_, c_, h_, w_ = xp.shape
    o_, cg, kh, kw = w.shape
    oh, ow = (h_ - d[0] * (kh - 1) - 1) // s[0] + 1, (w_ - d[1] * (kw - 1) - 1) // s[1] + 1
    y = np.zeros((n_, groups, o_ // groups, oh, ow), np.result_type(x, w))
    for i in range(kh):
        for j in range(kw):
            win = xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
                     j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]]
            y += np.einsum("ngcyx,goc->ngoyx", win.reshape(n_, groups, cg, oh, ow),
                           w[:, :, i, j].reshape(groups, o_ // groups, cg))
    y = y.reshape(n_, o_, oh, ow)
    return y if bias is None else y + bias[:, None, None]


def conv1d_reference(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    two = lambda v, h: v if isinstance(v, str) else (h, v if np.isscalar(v) else v[0])
    y = conv2d_reference(x[:, :, None], w[:, :, None], bias, two(stride, 1),
                         two(padding, 0), two(dilation, 1), groups)
    return y[:, :, 0]


def conv_transpose2d_reference(x, w, bias=None, stride=1, padding=0, output_padding=0,
                               groups=1, dilation=1):
    pair = lambda v: (v, v) if np.isscalar(v) else tuple(v)
    s, p, op_, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    n_, c_, h_, w_ = x.shape
    _, og, kh, kw = w.shape
    full = [(h_ - 1) * s[0] + d[0] * (kh - 1) + 1 + op_[0], (w_ - 1) * s[1] + d[1] * (kw - 1) + 1 + op_[1]]
    y = np.zeros((n_, groups, og, *full), np.result_type(x, w))
    xg = x.reshape(n_, groups, c_ // groups, h_, w_)
    wg = w.reshape(groups, c_ // groups, og, kh, kw)
    for i in range(kh):      # every input pixel scatters w[:, :, i, j] * x to its tap
        for j in range(kw):
            y[:, :, :, i * d[0]:i * d[0] + s[0] * (h_ - 1) + 1:s[0],
              j * d[1]:j * d[1] + s[1] * (w_ - 1) + 1:s[1]] += \
                np.einsum("ngcyx,gco->ngoyx", xg, wg[:, :, :, i, j])
    y = y.reshape(n_, groups * og, *full)[:, :, p[0]:full[0] - p[0], p[1]:full[1] - p[1]]
    return y if bias is None else y + bias[:, None, None]


def unfold_reference(x, kernel_size, dilation=1, padding=0, stride=1):
    pair = lambda v: (v, v) if np.isscalar(v) else tuple(v)
    k, d, p, s = pair(kernel_size), pair(dilation), pair(padding), pair(stride)
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    oh = (xp.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (xp.shape[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    taps = [xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
               j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]]
            for i in range(k[0]) for j in range(k[1])]
    return np.stack(taps, 2).reshape(x.shape[0], -1, oh * ow)


def fold_reference(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    pair = lambda v: (v, v) if np.isscalar(v) else tuple(v)
    (h_, w_), k, d, p, s = pair(output_size), pair(kernel_size), pair(dilation), pair(padding), \
        pair(stride)
    oh = (h_ + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w_ + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    n_ = cols.shape[0]
    c6 = cols.reshape(n_, -1, k[0], k[1], oh, ow)
    xp = np.zeros((n_, c6.shape[1], h_ + 2 * p[0], w_ + 2 * p[1]), cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
               j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]] += c6[:, :, i, j]
    return xp[:, :, p[0]:p[0] + h_, p[1]:p[1] + w_]


# -- samples (small: the registry sweep runs gradgradcheck on each) ------------------------
def _conv2d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 5, 5)), make(rng, (4, 3, 3, 3)), make(rng, (4,))),
                      dict(padding=1), "pad1-bias")
    yield SampleInput((make(rng, (2, 4, 6, 5)), make(rng, (4, 2, 2, 3))),
                      dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2), "groups2")
    yield SampleInput((make(rng, (1, 3, 5, 5), noncontig=True), make(rng, (3, 1, 3, 3))),
                      dict(padding="same", groups=3), "depthwise-same-noncontig")
    yield SampleInput((make(rng, (2, 2, 7, 6)), make(rng, (3, 2, 2, 2))),
                      dict(stride=3), "stride>kernel")
    yield SampleInput((make(rng, (1, 2, 5, 4)), make(rng, (2, 2, 2, 2)), make(rng, (2,))),
                      dict(padding="same"), "even-kernel-same")


def _conv1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 7)), make(rng, (4, 3, 3)), make(rng, (4,))),
                      dict(padding=1, stride=2), "pad-stride")
    yield SampleInput((make(rng, (1, 4, 8), noncontig=True), make(rng, (4, 1, 2))),
                      dict(padding="same", dilation=3, groups=4), "depthwise-same-dilated")


def _conv_transpose2d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4, 4)), make(rng, (3, 2, 3, 3)), make(rng, (2,))),
                      dict(stride=2, padding=1, output_padding=1), "stride2-outpad")
    yield SampleInput((make(rng, (1, 4, 3, 5)), make(rng, (4, 1, 2, 3))),
                      dict(stride=(1, 2), dilation=(2, 1), groups=2), "groups-dilation")


def _unfold_samples(rng):
    yield SampleInput((make(rng, (2, 2, 5, 4)), (2, 3)),
                      dict(padding=1, stride=(2, 1)), "pad-stride")
    yield SampleInput((make(rng, (1, 3, 6, 6), noncontig=True), 2),
                      dict(dilation=2, stride=3), "dilation-noncontig")


def _fold_samples(rng):
    yield SampleInput((make(rng, (2, 2 * 6, 4 * 3)), (5, 4), (2, 3)),
                      dict(padding=1, stride=(2, 1)), "pad-stride")
    yield SampleInput((make(rng, (1, 4, 9)), (4, 4), 2), {}, "overlapping")


# -- public API ------------------------------------------------------------------------------
@op(Convolution, ConvolutionTranspose, ConvolutionWeightGrad, samples=_conv2d_samples,
    ref=conv2d_reference)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation over (N, C, H, W), weight (out, in/groups, kH, kW), as in PyTorch."""
    def run(x):
        geo, out_hw = _conv_geometry("conv2d", x, weight, stride, padding, dilation, groups, 2)
        return _add_bias("conv2d", Convolution.apply(x, weight, geo, out_hw), bias)
    return _batched("conv2d", input, 2, run)


@op(Convolution, ConvolutionTranspose, ConvolutionWeightGrad, samples=_conv1d_samples,
    ref=conv1d_reference)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation over (N, C, L), weight (out, in/groups, k)."""
    def run(x):
        geo, out_hw = _conv_geometry("conv1d", x, weight, stride, padding, dilation, groups, 1)
        return _add_bias("conv1d", Convolution.apply(x, weight, geo, out_hw), bias)
    return _batched("conv1d", input, 1, run)


@op(ConvolutionTranspose, Convolution, ConvolutionWeightGrad,
    samples=_conv_transpose2d_samples, ref=conv_transpose2d_reference)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """The adjoint of conv2d in its input; weight (in, out/groups, kH, kW) as in PyTorch."""
    name = "conv_transpose2d"

    def run(x):
        _check_input(name, x, 2)
        _check_input(name, weight, 2, "weight")
        if x.dtype != weight.dtype:
            raise TypeError(f"{name}: input dtype {x.dtype} and weight dtype {weight.dtype} "
                            f"differ (input {tuple(x.shape)}, weight {tuple(weight.shape)})")
        s, p = _tuple(name, "stride", stride, 2), _tuple(name, "padding", padding, 2)
        op_, d = _tuple(name, "output_padding", output_padding, 2), _tuple(name, "dilation", dilation, 2)
        if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op_) < 0:
            raise ValueError(f"{name}: stride {s} and dilation {d} must be positive, padding "
                             f"{p} and output_padding {op_} non-negative")
        if any(o >= max(si, di) for o, si, di in zip(op_, s, d)):
            raise ValueError(f"{name}: output_padding {op_} must be smaller than stride {s} "
                             f"or dilation {d}")
        if not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
            raise ValueError(f"{name}: in_channels {x.shape[1]} must be divisible by groups="
                             f"{groups} (input {tuple(x.shape)})")
        if weight.shape[0] != x.shape[1]:
            raise ValueError(f"{name}: weight {tuple(weight.shape)} expects {weight.shape[0]} "
                             f"input channels, but input {tuple(x.shape)} has {x.shape[1]}")
        out = tuple((n - 1) * si - 2 * pi + di * (k - 1) + oi + 1 for n, si, pi, di, k, oi
                    in zip(x.shape[2:], s, p, d, weight.shape[2:], op_))
        if min(out) < 1:
            raise ValueError(f"{name}: output size {out} is not positive (input "
                             f"{tuple(x.shape)}, weight {tuple(weight.shape)}, padding {p})")
        geo = (s[0], s[1], p[0], p[1], d[0], d[1], groups)
        return _add_bias(name, ConvolutionTranspose.apply(x, weight, geo, out), bias)
    return _batched(name, input, 2, run)


def _unfold_geometry(name, x, kernel_size, dilation, padding, stride, in_hw):
    k, d = _tuple(name, "kernel_size", kernel_size, 2), _tuple(name, "dilation", dilation, 2)
    p, s = _tuple(name, "padding", padding, 2), _tuple(name, "stride", stride, 2)
    if min(k) < 1 or min(d) < 1 or min(s) < 1 or min(p) < 0:
        raise ValueError(f"{name}: kernel_size {k}, dilation {d} and stride {s} must be "
                         f"positive and padding {p} non-negative")
    out = tuple(_out_size(n, ki, si, 2 * pi, di) for n, ki, si, pi, di in zip(in_hw, k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"{name}: kernel {k} (dilation {d}) is larger than the padded input "
                         f"{tuple(in_hw)} with padding {p} (input {tuple(x.shape)})")
    return k, (s[0], s[1], p[0], p[1], d[0], d[1], 1), out


@op(Unfold, Fold, samples=_unfold_samples, ref=unfold_reference)
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C*kH*kW, L), one column per sliding window."""
    _check_input("unfold", input, 2)
    k, geo, out = _unfold_geometry("unfold", input, kernel_size, dilation, padding, stride,
                                   input.shape[2:])
    return Unfold.apply(input, k, geo, out)


@op(Fold, Unfold, samples=_fold_samples, ref=fold_reference)
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of unfold: (N, C*kH*kW, L) -> (N, C, *output_size), overlaps summed."""
    if not isinstance(input, Tensor) or input.ndim != 3:
        raise ValueError(f"fold: expected a 3-d input (N, C*kH*kW, L), got shape "
                         f"{tuple(getattr(input, 'shape', ()))}")
    hw = _tuple("fold", "output_size", output_size, 2)
    k, geo, out = _unfold_geometry("fold", input, kernel_size, dilation, padding, stride, hw)
    if input.shape[1] % (k[0] * k[1]) or input.shape[2] != out[0] * out[1]:
        raise ValueError(f"fold: input {tuple(input.shape)} does not match kernel {k} and "
                         f"output_size {hw}: expected C*{k[0] * k[1]} rows and "
                         f"{out[0]}*{out[1]} = {out[0] * out[1]} blocks")
    return Fold.apply(input, hw, k, geo, out)
