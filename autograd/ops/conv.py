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
import numpy as np

from ..function import Function
from ..kernels.conv import col2im, im2col
from ..tensor import Tensor
from .registry import SampleInput, make, op

# Samples processed per im2col block: a block of columns (~4 MB) stays in cache
# between im2col and the BLAS call that consumes it.  The im2col kernels are
# serial on purpose: alternating a Numba-parallel region with multi-threaded BLAS
# on the same cores made both spin-wait on each other (measured 1.7x slower).
_BLOCK_BYTES = 4 << 20


def _blocks(n, per_sample_bytes):
    b = max(1, _BLOCK_BYTES // max(1, per_sample_bytes))
    return [(i, min(n, i + b)) for i in range(0, n, b)]


def _as4d(a):
    return a[:, :, None, :] if a.ndim == 3 else a


# -- NumPy drivers on 4-d arrays ------------------------------------------------------
def conv_forward(x, w, geo, oh, ow):
    """y[n, g*Og + o] = W[g, o, :] @ cols[n, g, :, :]."""
    sh, sw, ph, pw, dh, dw, groups = geo
    x = np.ascontiguousarray(x)
    n_ = x.shape[0]
    o_, cg, kh, kw = w.shape
    k = cg * kh * kw
    wm = np.ascontiguousarray(w).reshape(groups, o_ // groups, k)
    out = np.empty((n_, groups, o_ // groups, oh * ow), np.result_type(x, w))
    for a, b in _blocks(n_, x.shape[1] * kh * kw * oh * ow * x.itemsize):
        cols = im2col(x[a:b], kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        np.matmul(wm, cols.reshape(b - a, groups, k, oh * ow), out=out[a:b])
    return out.reshape(n_, o_, oh, ow)


def conv_input_grad(g, w, geo, h_, w_):
    """dx = col2im(W^T g): the adjoint of conv_forward in x (transposed convolution)."""
    sh, sw, ph, pw, dh, dw, groups = geo
    n_, o_, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    c_ = cg * groups
    wt = np.ascontiguousarray(w).reshape(groups, o_ // groups, cg * kh * kw).transpose(0, 2, 1)
    gm = np.ascontiguousarray(g).reshape(n_, groups, o_ // groups, oh * ow)
    dx = np.empty((n_, c_, h_, w_), np.result_type(g, w))
    for a, b in _blocks(n_, c_ * kh * kw * oh * ow * dx.itemsize):
        cols = np.matmul(wt, gm[a:b]).reshape(b - a, c_ * kh * kw, oh * ow)
        dx[a:b] = col2im(cols, c_, h_, w_, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    return dx


def conv_weight_grad(x, g, geo, kh, kw):
    """dw[g] = sum_n g[n, g] @ cols[n, g]^T: the adjoint of conv_forward in w."""
    sh, sw, ph, pw, dh, dw, groups = geo
    x = np.ascontiguousarray(x)
    n_, c_ = x.shape[:2]
    _, o_, oh, ow = g.shape
    k = c_ // groups * kh * kw
    gm = np.ascontiguousarray(g).reshape(n_, groups, o_ // groups, oh * ow)
    dw_ = np.zeros((groups, o_ // groups, k), np.result_type(x, g))
    for a, b in _blocks(n_, c_ * kh * kw * oh * ow * x.itemsize):
        cols = im2col(x[a:b], kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
        cols = cols.reshape(b - a, groups, k, oh * ow).transpose(0, 1, 3, 2)
        dw_ += np.matmul(gm[a:b], cols).sum(axis=0)
    return dw_.reshape(o_, c_ // groups, kh, kw)


# -- primitives -------------------------------------------------------------------------
class Convolution(Function):
    @staticmethod
    def forward(ctx, x, w, geo, out_hw):
        ctx.geo, ctx.in_hw = geo, x.shape[2:]
        ctx.save_for_backward(x, w)
        y = conv_forward(_as4d(x), _as4d(w), geo, *out_hw)
        return y[:, :, 0, :] if x.ndim == 3 else y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        hw = (1,) * (x.ndim == 3) + tuple(ctx.in_hw)
        kw = (1,) * (w.ndim == 3) + tuple(w.shape[2:])
        dx = ConvolutionTranspose.apply(g, w, ctx.geo, hw) if nx else None   # dx = A_w^T g
        dw = ConvolutionWeightGrad.apply(x, g, ctx.geo, kw) if nw else None  # dw = B_x^T g
        return dx, dw, None, None


class ConvolutionTranspose(Function):
    """z = A_w^T g.  VJP: dg = A_w dz = conv(dz, w); dw = B_dz^T g = weight_grad(dz, g)."""

    @staticmethod
    def forward(ctx, g, w, geo, out_hw):
        ctx.geo = geo
        ctx.save_for_backward(g, w)
        z = conv_input_grad(_as4d(g), _as4d(w), geo, *out_hw)
        return z[:, :, 0, :] if g.ndim == 3 else z

    @staticmethod
    def backward(ctx, dz):
        g, w = ctx.saved_tensors
        ng, nw = ctx.needs_input_grad[:2]
        g_hw = (1,) * (g.ndim == 3) + tuple(g.shape[2:])
        k_hw = (1,) * (w.ndim == 3) + tuple(w.shape[2:])
        dg = Convolution.apply(dz, w, ctx.geo, g_hw) if ng else None
        dw = ConvolutionWeightGrad.apply(dz, g, ctx.geo, k_hw) if nw else None
        return dg, dw, None, None


class ConvolutionWeightGrad(Function):
    """v = B_x^T g.  VJP with h = dL/dv: dx = A_h^T g = conv_transpose(g, h); dg = conv(x, h)."""

    @staticmethod
    def forward(ctx, x, g, geo, k_hw):
        ctx.geo = geo
        ctx.save_for_backward(x, g)
        v = conv_weight_grad(_as4d(x), _as4d(g), geo, *k_hw)
        return v[:, :, 0, :] if x.ndim == 3 else v

    @staticmethod
    def backward(ctx, h):
        x, g = ctx.saved_tensors
        nx, ng = ctx.needs_input_grad[:2]
        x_hw = (1,) * (x.ndim == 3) + tuple(x.shape[2:])
        g_hw = (1,) * (g.ndim == 3) + tuple(g.shape[2:])
        dx = ConvolutionTranspose.apply(g, h, ctx.geo, x_hw) if nx else None
        dg = Convolution.apply(x, h, ctx.geo, g_hw) if ng else None
        return dx, dg, None, None


class Unfold(Function):
    """cols = im2col(x).  VJP: dx = fold(dcols) (col2im is im2col's adjoint)."""

    @staticmethod
    def forward(ctx, x, k_hw, geo, out_hw):
        ctx.args, ctx.in_hw = (k_hw, geo, out_hw), x.shape[2:]
        sh, sw, ph, pw, dh, dw, _ = geo
        return im2col(np.ascontiguousarray(x), *k_hw, sh, sw, ph, pw, dh, dw, *out_hw)

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
        return col2im(np.ascontiguousarray(cols), c_, *in_hw, *k_hw, sh, sw, ph, pw, dh, dw,
                      *out_hw)

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
