"""Convolution as three primitives that are each other's VJPs, plus unfold / fold.

For a fixed geometry, ``y = conv(x, w)`` is bilinear.  Write ``A_w x = conv(x, w)``
and ``B_x w = conv(x, w)``.  Then
    Convolution           y  = conv(x, w)
    ConvolutionTranspose  dx = A_w^T g        (input gradient = transposed conv)
    ConvolutionWeightGrad dw = B_x^T g        (weight gradient = correlation of x and g)
and the VJPs of the last two are again these three primitives (see each backward),
so any order of derivative through a convolution stays on the fast kernels.

The primitives work on 1-d (N, C, L) and 2-d (N, C, H, W) arrays; 1-d is run as
2-d with H = 1.  The geometry is a ``ConvGeometry`` (strides, top/left padding,
dilations, groups); bottom/right padding is implied by the output size, which
is how asymmetric ``padding='same'`` (even kernels) is expressed.
The convolution and its transpose take the bias (added in place on the output).
The array work, and which algorithm runs for which shape, is in
autograd/kernels/conv_drivers.py.
"""
import numpy as np

from ..function import Primitive
from ..kernels.conv import col2im
from ..kernels.conv_drivers import (ConvGeometry, batch_columns, conv_forward,
                                    conv_forward_and_columns, conv_input_grad, conv_weight_grad)
from ..tensor import Tensor
from .formula import channel_sums
from .half import via_float32
from .registry import SampleInput, make, op
from ..forward_ad import linear_jvp, multilinear_jvp
from .autocast import lower_precision
from .batching import fold_batch_rule


def _as4d(a):
    return a[:, :, None, :] if a.ndim == 3 else a


# -- primitives -------------------------------------------------------------------------
# conv1d runs as conv2d with height 1: _spatial gives a tensor's 2-d spatial size and
# _like_input drops the unit height again for 1-d inputs.
def _spatial(t):
    return (1,) * (t.ndim == 3) + tuple(t.shape[2:])


def _like_input(y, ndim):
    return y[:, :, 0, :] if ndim == 3 else y


def _plus_bias(y, b):
    """y (N, O, ...) + b (O,) broadcast over the batch and spatial axes, in place on the
    fresh output unless b's dtype would promote it."""
    if b is None:
        return y
    b = b.reshape((1, -1) + (1,) * (y.ndim - 2))
    if np.result_type(y, b) != y.dtype:
        return y + b
    y += b
    return y


def _bias_grad(ctx, g):
    """db = g summed over the batch and spatial axes, when the bias needs it."""
    return g.sum(dim=(0,) + tuple(range(2, g.ndim))) if ctx.needs_input_grad[2] else None


def _channels_by_batch(t):
    """A batched (B, N, C, ...) value as (N, B*C, ...): sample b's channels form groups."""
    B, N, C = t.shape[:3]
    return t.transpose(0, 1).reshape((N, B * C) + tuple(t.shape[3:]))


def _conv_batched(b, x, w, bias, geo, out_hw):
    """The batching rule of a convolution (or its transpose) of x (N, C, ...) with the
    weight w (first dim matched to x's channels' groups): a batch of inputs alone folds
    into N; batched weights (or bias) make the batch groups, each sample's channels
    convolved with its own weights, in one call."""
    B = b.size
    xb, wb, bb = b.batched[:3]
    if not (wb or bb):
        N = x.shape[1]
        y = b.cls.apply(x.reshape((B * N,) + tuple(x.shape[2:])), w, bias, geo, out_hw)
        return y.reshape((B, N) + tuple(y.shape[1:]))
    x = _channels_by_batch(x if xb else b.expand(x))
    w = w if wb else b.expand(w)
    w = w.reshape((B * w.shape[1],) + tuple(w.shape[2:]))
    if bias is not None:
        bias = (bias if bb else b.expand(bias)).reshape(-1)
    y = b.cls.apply(x, w, bias, geo._replace(groups=geo.groups * B), out_hw)   # (N, B*O, ...)
    return y.reshape((y.shape[0], B, -1) + tuple(y.shape[2:])).transpose(0, 1)


class Convolution(Primitive):
    """y = A_w x + b.  VJP: dx = A_w^T g (a transposed convolution); dw = B_x^T g;
    db = g summed over all but the channel axis.  The bias is added in place on the
    output (one node and no extra pass, as PyTorch's convolution takes its bias).
    When the weight needs a gradient and im2col ran, its columns are saved for the
    array VJP's dw (LeNet: two of its four im2col passes a step)."""
    @staticmethod
    def batch_rule(b, x, w, bias, geo, out_hw):
        return _conv_batched(b, x, w, bias, geo, out_hw)
    jvp = multilinear_jvp(2)     # in x and w; the bias adds

    @staticmethod
    def forward(ctx, x, w, b, geo, out_hw):
        ctx.geo = geo
        y, cols = conv_forward_and_columns(_as4d(x), _as4d(w), geo, *out_hw,
                                           ctx.needs_input_grad[1])
        ctx.save_for_backward(x, w, cols)
        return _like_input(_plus_bias(y, b), x.ndim)

    @staticmethod
    def backward(ctx, g):
        x, w, _ = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        dx = ConvolutionTranspose.apply(g, w, None, ctx.geo, _spatial(x)) if nx else None
        dw = ConvolutionWeightGrad.apply(x, g, ctx.geo, _spatial(w)) if nw else None
        return dx, dw, _bias_grad(ctx, g), None, None

    @staticmethod
    def vjp(ctx, g):
        x, w, cols = ctx.saved_arrays
        nx, nw, nb = ctx.needs_input_grad[:3]
        g4 = _as4d(g)
        dx = (_like_input(conv_input_grad(g4, _as4d(w), ctx.geo, *_spatial(x)), x.ndim)
              if nx else None)
        dw = (_like_input(conv_weight_grad(_as4d(x), g4, ctx.geo, *_spatial(w), cols), w.ndim)
              if nw else None)
        db = channel_sums(g) if nb else None
        return dx, dw, db, None, None


class ConvolutionTranspose(Primitive):
    """z = A_w^T g + b.  VJP: dg = A_w dz = conv(dz, w); dw = B_dz^T g = weight_grad(dz, g);
    db = dz summed over all but the channel axis."""
    @staticmethod
    def batch_rule(b, g, w, bias, geo, out_hw):
        return _conv_batched(b, g, w, bias, geo, out_hw)
    jvp = multilinear_jvp(2)     # in x and w; the bias adds

    @staticmethod
    def forward(ctx, g, w, b, geo, out_hw):
        ctx.geo = geo
        ctx.save_for_backward(g, w)
        z = _plus_bias(conv_input_grad(_as4d(g), _as4d(w), geo, *out_hw), b)
        return _like_input(z, g.ndim)

    @staticmethod
    def backward(ctx, dz):
        g, w = ctx.saved_tensors
        ng, nw = ctx.needs_input_grad[:2]
        dg = Convolution.apply(dz, w, None, ctx.geo, _spatial(g)) if ng else None
        dw = ConvolutionWeightGrad.apply(dz, g, ctx.geo, _spatial(w)) if nw else None
        return dg, dw, _bias_grad(ctx, dz), None, None


class ConvolutionWeightGrad(Primitive):
    """v = B_x^T g.  VJP with h = dL/dv: dx = A_h^T g = conv_transpose(g, h); dg = conv(x, h)."""
    @staticmethod
    def batch_rule(b, x, g, geo, k_hw):
        # one weight gradient per sample: the batch becomes groups of both operands
        B = b.size
        x, g = [_channels_by_batch(t if k else b.expand(t)) for t, k in zip((x, g), b.batched)]
        dw = ConvolutionWeightGrad.apply(x, g, geo._replace(groups=geo.groups * B), k_hw)
        return dw.reshape((B, -1) + tuple(dw.shape[1:]))
    jvp = multilinear_jvp()

    @staticmethod
    def forward(ctx, x, g, geo, k_hw):
        ctx.geo = geo
        ctx.save_for_backward(x, g)
        return _like_input(conv_weight_grad(_as4d(x), _as4d(g), geo, *k_hw), x.ndim)

    @staticmethod
    def backward(ctx, h):
        x, g = ctx.saved_tensors
        nx, ng = ctx.needs_input_grad[:2]
        dx = ConvolutionTranspose.apply(g, h, None, ctx.geo, _spatial(x)) if nx else None
        dg = Convolution.apply(x, h, None, ctx.geo, _spatial(g)) if ng else None
        return dx, dg, None, None


class Unfold(Primitive):
    """cols = im2col(x).  VJP: dx = fold(dcols) (col2im is im2col's adjoint)."""
    batch_rule = fold_batch_rule
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, k_hw, geo, out_hw):
        ctx.args, ctx.in_hw = (k_hw, geo, out_hw), x.shape[2:]
        # fresh columns: with N = 1 the transpose below is the array itself, and the
        # workspace would be overwritten by the next convolution
        cols = batch_columns(x, *k_hw, geo, *out_hw, fresh=True)           # (C*k, N, L)
        return np.ascontiguousarray(cols.transpose(1, 0, 2))       # PyTorch's (N, C*k, L)

    @staticmethod
    def backward(ctx, g):
        k_hw, geo, out_hw = ctx.args
        return Fold.apply(g, ctx.in_hw, k_hw, geo, out_hw), None, None, None


class Fold(Primitive):
    """x = col2im(cols).  VJP: dcols = unfold(dx)."""
    batch_rule = fold_batch_rule
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, cols, in_hw, k_hw, geo, out_hw):
        ctx.args = (k_hw, geo, out_hw)
        c_ = cols.shape[1] // (k_hw[0] * k_hw[1])
        return col2im(np.ascontiguousarray(cols.transpose(1, 0, 2)), c_, *in_hw, *k_hw,
                      *geo[:6], *out_hw)

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
        return ConvGeometry(1, stride[0], 0, pads[0][0], 1, dilation[0], groups), (1,) + out
    return ConvGeometry(stride[0], stride[1], pads[0][0], pads[1][0], dilation[0], dilation[1],
                        groups), out


def _check_bias(name, bias, channels):
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (channels,)):
        raise ValueError(f"{name}: bias must be a 1-d tensor of {channels} elements, got "
                         f"{getattr(bias, 'shape', bias)}")
    return bias


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


def transpose_geometry(name, x, w, stride, padding, output_padding, groups, dilation, nd):
    """A transposed convolution's checked (stride, padding, output_padding, dilation)
    tuples and its output size, for ``nd`` spatial dims (input and weight checked)."""
    s, p = _tuple(name, "stride", stride, nd), _tuple(name, "padding", padding, nd)
    op_, d = (_tuple(name, "output_padding", output_padding, nd),
              _tuple(name, "dilation", dilation, nd))
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op_) < 0:
        raise ValueError(f"{name}: stride {s} and dilation {d} must be positive, padding {p} "
                         f"and output_padding {op_} non-negative")
    if any(o >= max(si, di) for o, si, di in zip(op_, s, d)):
        raise ValueError(f"{name}: output_padding {op_} must be smaller than stride {s} or "
                         f"dilation {d}")
    if not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{name}: in_channels {x.shape[1]} must be divisible by groups="
                         f"{groups} (input {tuple(x.shape)})")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"{name}: weight {tuple(w.shape)} expects {w.shape[0]} input channels, "
                         f"but input {tuple(x.shape)} has {x.shape[1]}")
    out = tuple((n - 1) * si - 2 * pi + di * (k - 1) + oi + 1 for n, si, pi, di, k, oi
                in zip(x.shape[2:], s, p, d, w.shape[2:], op_))
    if min(out) < 1:
        raise ValueError(f"{name}: output size {out} is not positive (input {tuple(x.shape)}, "
                         f"weight {tuple(w.shape)}, padding {p})")
    return s, p, op_, d, out


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
@lower_precision
@via_float32
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation over (N, C, H, W), weight (out, in/groups, kH, kW), as in PyTorch."""
    def run(x):
        geo, out_hw = _conv_geometry("conv2d", x, weight, stride, padding, dilation, groups, 2)
        b = _check_bias("conv2d", bias, weight.shape[0])
        return Convolution.apply(x, weight, b, geo, out_hw)
    return _batched("conv2d", input, 2, run)


@op(Convolution, ConvolutionTranspose, ConvolutionWeightGrad, samples=_conv1d_samples,
    ref=conv1d_reference)
@lower_precision
@via_float32
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation over (N, C, L), weight (out, in/groups, k)."""
    def run(x):
        geo, out_hw = _conv_geometry("conv1d", x, weight, stride, padding, dilation, groups, 1)
        b = _check_bias("conv1d", bias, weight.shape[0])
        return Convolution.apply(x, weight, b, geo, out_hw)
    return _batched("conv1d", input, 1, run)


@op(ConvolutionTranspose, Convolution, ConvolutionWeightGrad,
    samples=_conv_transpose2d_samples, ref=conv_transpose2d_reference)
@lower_precision
@via_float32
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
        s, p, op_, d, out = transpose_geometry(name, x, weight, stride, padding, output_padding,
                                               groups, dilation, 2)
        geo = ConvGeometry(s[0], s[1], p[0], p[1], d[0], d[1], groups)
        b = _check_bias(name, bias, weight.shape[1] * groups)
        return ConvolutionTranspose.apply(x, weight, b, geo, out)
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
    return k, ConvGeometry(s[0], s[1], p[0], p[1], d[0], d[1], 1), out


@op(Unfold, Fold, samples=_unfold_samples, ref=unfold_reference)
@via_float32
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C*kH*kW, L), one column per sliding window."""
    _check_input("unfold", input, 2)
    k, geo, out = _unfold_geometry("unfold", input, kernel_size, dilation, padding, stride,
                                   input.shape[2:])
    return Unfold.apply(input, k, geo, out)


@op(Fold, Unfold, samples=_fold_samples, ref=fold_reference)
@via_float32
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
