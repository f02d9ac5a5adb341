"""conv3d, conv_transpose1d and conv_transpose3d, composed from the 2-d convolution
primitives (autograd/ops/conv.py), so every rule (VJP, double backward, JVP) is theirs.

conv3d folds the depth taps into channels: the KD depth-shifted slices of x are
stacked beside each group's channels and one conv2d runs over a batch of N * OD
images with a weight of KD * C/groups input channels,
    y[n, :, od] = sum_kd conv2d(x[n, :, od*sd + kd*dd - pd], w[:, :, kd]).
conv_transpose3d is its adjoint: one conv_transpose2d over N * D images produces
every (depth tap, output channel) plane, and ``fold`` (col2im along depth) adds each
tap's plane into output depth i*sd + kd*dd (a permute when stride = kernel: the taps
do not overlap), then the depth padding is cropped.
conv_transpose1d is conv_transpose2d with a unit height.
"""
import numpy as np

from ..tensor import Tensor
from .conv import (Convolution, ConvolutionTranspose, ConvolutionWeightGrad, Fold, Unfold,
                   _check_bias, _tuple, conv2d, conv_transpose2d, fold, transpose_geometry)
from .registry import SampleInput, make, op
from .pad import pad
from .shape import stack

_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _check(name, x, nd, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")
    if x.ndim != nd + 2:
        raise ValueError(f"{name}: expected a {nd + 2}-d {what} {_LAYOUT[nd]} (or an unbatched "
                         f"{nd + 1}-d input), got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be floating point, got {x.dtype}")


def _check_pair(name, x, w, nd):
    _check(name, x, nd)
    _check(name, w, nd, "weight")
    if x.dtype != w.dtype:
        raise TypeError(f"{name}: input dtype {x.dtype} and weight dtype {w.dtype} differ "
                        f"(input {tuple(x.shape)}, weight {tuple(w.shape)})")


def _unbatched(x, nd, fn):
    """PyTorch accepts an unbatched (C, *spatial) input: run it as a batch of one."""
    if isinstance(x, Tensor) and x.ndim == nd + 1:
        y = fn(x.unsqueeze(0))
        return y.squeeze(0)
    return fn(x)


def _pads(name, padding, k, s, d, nd):
    """(before, after) padding per axis, PyTorch's 'same' / 'valid' included."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "same":
            if max(s) != 1:
                raise ValueError(f"{name}: padding='same' needs stride 1, got {s}")
            eff = [di * (ki - 1) for ki, di in zip(k, d)]
            return [(e // 2, e - e // 2) for e in eff]
        raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got "
                         f"{padding!r}")
    p = _tuple(name, "padding", padding, nd)
    if min(p) < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding}")
    return [(q, q) for q in p]


# -- conv3d ------------------------------------------------------------------------------------
def _conv3d(name, x, w, bias, stride, padding, dilation, groups):
    _check_pair(name, x, w, 3)
    s, d = _tuple(name, "stride", stride, 3), _tuple(name, "dilation", dilation, 3)
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"{name}: stride {s} and dilation {d} must be positive")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    n, c, o, k = x.shape[0], x.shape[1], w.shape[0], tuple(w.shape[2:])
    if c % groups or o % groups or w.shape[1] * groups != c:
        raise ValueError(f"{name}: weight {tuple(w.shape)} with groups={groups} expects "
                         f"{w.shape[1] * groups} input channels (and out_channels divisible by "
                         f"groups), but input {tuple(x.shape)} has {c}")
    pads = _pads(name, padding, k, s, d, 3)
    for size, ki, di, (p0, p1) in zip(x.shape[2:], k, d, pads):
        if di * (ki - 1) + 1 > size + p0 + p1:
            raise ValueError(f"{name}: kernel size {k} (dilation {d}) is larger than the padded "
                             f"input (input {tuple(x.shape)}, padding {[p for p, _ in pads]})")
    b = _check_bias(name, bias, o)
    (pd0, pd1), hw_pads = pads[0], pads[1:]
    symmetric = all(p0 == p1 for p0, p1 in hw_pads)     # else pad H, W here, not in conv2d
    hw_widths = [0, 0, 0, 0] if symmetric else [v for pr in reversed(hw_pads) for v in pr]
    if pd0 or pd1 or not symmetric:
        x = pad(x, hw_widths + [pd0, pd1])
    depth = x.shape[2]
    od = (depth - d[0] * (k[0] - 1) - 1) // s[0] + 1
    # the depth taps beside each group's channels: (N * OD, G, KD, C/G, H, W)
    taps = [x[:, :, kd * d[0]:kd * d[0] + s[0] * (od - 1) + 1:s[0]] for kd in range(k[0])]
    cols = stack(taps, 1).reshape(n, k[0], groups, c // groups, od, *x.shape[3:])
    cols = cols.permute(0, 4, 2, 1, 3, 5, 6).reshape(n * od, k[0] * c, *x.shape[3:])
    # weight (O, C/G, KD, KH, KW) -> (O, KD * C/G, KH, KW), the same (kd, c) order
    w2 = w.permute(0, 2, 1, 3, 4).reshape(o, k[0] * (c // groups), k[1], k[2])
    y = conv2d(cols, w2, b, s[1:], [p for p, _ in hw_pads] if symmetric else 0, d[1:], groups)
    return y.reshape(n, od, o, *y.shape[2:]).permute(0, 2, 1, 3, 4)


# -- transposed convolutions -------------------------------------------------------------------
def _transpose_args(name, x, w, stride, padding, output_padding, groups, dilation, nd):
    """Checked (stride, padding, output_padding, dilation) tuples (conv.transpose_geometry)."""
    _check_pair(name, x, w, nd)
    return transpose_geometry(name, x, w, stride, padding, output_padding, groups, dilation, nd)[:4]


def _conv_transpose3d(name, x, w, bias, stride, padding, output_padding, groups, dilation):
    s, p, op_, d = _transpose_args(name, x, w, stride, padding, output_padding, groups,
                                   dilation, 3)
    n, c, depth, h, w_ = x.shape
    kd, o = w.shape[2], w.shape[1] * groups
    b = _check_bias(name, bias, o)
    # every (output channel, depth tap) plane of every input depth: channel o * KD + kd
    planes = conv_transpose2d(x.permute(0, 2, 1, 3, 4).reshape(n * depth, c, h, w_),
                              w.reshape(c, w.shape[1] * kd, *w.shape[3:]), None, s[1:], p[1:],
                              op_[1:], groups, d[1:])
    oh, ow = planes.shape[2:]
    planes = planes.reshape(n, depth, o, kd, oh, ow)
    full = (depth - 1) * s[0] + d[0] * (kd - 1) + 1
    if s[0] == kd and d[0] == 1:
        # the taps tile the depth without overlap (stride = kernel): depth i * kD + t is
        # tap t of input depth i, a permute (fold's col2im on this layout was 4x slower)
        y = planes.permute(0, 2, 1, 3, 4, 5).reshape(n, o, full, oh, ow)
    else:
        cols = planes.permute(0, 2, 4, 5, 3, 1).reshape(n, o * oh * ow * kd, depth)
        y = fold(cols, (full, 1), (kd, 1), (d[0], 1), 0, (s[0], 1))
        y = y.reshape(n, o, oh, ow, full).permute(0, 1, 4, 2, 3)
    y = pad(y, [0, 0, 0, 0, -p[0], op_[0] - p[0]])      # crop the depth padding, add output_padding
    return y if b is None else y + b.reshape(1, o, 1, 1, 1)


# -- NumPy references: direct sums over kernel taps, any number of spatial dims ----------------
def _ntuple(v, nd):
    return (v,) * nd if np.isscalar(v) else tuple(v)


def conv_nd_reference(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
    nd = x.ndim - 2
    s, d, k = _ntuple(stride, nd), _ntuple(dilation, nd), w.shape[2:]
    if padding == "same":
        pads = [(di * (ki - 1) // 2, di * (ki - 1) - di * (ki - 1) // 2) for ki, di in zip(k, d)]
    else:
        pads = [(q, q) for q in _ntuple(0 if padding == "valid" else padding, nd)]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    n_, c_, o_ = x.shape[0], x.shape[1], w.shape[0]
    out = [(size - di * (ki - 1) - 1) // si + 1 for size, ki, si, di in zip(xp.shape[2:], k, s, d)]
    y = np.zeros((n_, groups, o_ // groups, *out), np.result_type(x, w))
    wg = w.reshape(groups, o_ // groups, c_ // groups, *k)
    for tap in np.ndindex(*k):
        win = xp[(slice(None), slice(None)) + tuple(
            slice(t * di, t * di + si * (m - 1) + 1, si) for t, di, si, m in zip(tap, d, s, out))]
        y += np.einsum("ngc...,goc->ngo...", win.reshape(n_, groups, c_ // groups, *out),
                       wg[(Ellipsis,) + tap])
    y = y.reshape(n_, o_, *out)
    return y if bias is None else y + bias.reshape((-1,) + (1,) * nd)


def conv_transpose_nd_reference(x, w, bias=None, stride=1, padding=0, output_padding=0,
                                groups=1, dilation=1):
    nd = x.ndim - 2
    s, p, op_, d = (_ntuple(v, nd) for v in (stride, padding, output_padding, dilation))
    n_, c_ = x.shape[:2]
    og, k = w.shape[1], w.shape[2:]
    full = [(m - 1) * si + di * (ki - 1) + 1 + oi
            for m, si, di, ki, oi in zip(x.shape[2:], s, d, k, op_)]
    y = np.zeros((n_, groups, og, *full), np.result_type(x, w))
    xg = x.reshape(n_, groups, c_ // groups, *x.shape[2:])
    wg = w.reshape(groups, c_ // groups, og, *k)
    for tap in np.ndindex(*k):          # every input pixel scatters w[..., tap] * x to its tap
        y[(slice(None),) * 3 + tuple(slice(t * di, t * di + si * (m - 1) + 1, si) for t, di, si, m
                                     in zip(tap, d, s, x.shape[2:]))] += \
            np.einsum("ngc...,gco->ngo...", xg, wg[(Ellipsis,) + tap])
    y = y.reshape(n_, groups * og, *full)
    y = y[(slice(None), slice(None)) + tuple(slice(pi, f - pi) for pi, f in zip(p, full))]
    return y if bias is None else y + bias.reshape((-1,) + (1,) * nd)


def _batched_reference(ref):
    """The reference on an unbatched input (weight has one more dim): a batch of one."""
    def run(x, w, *args, **kwargs):
        return ref(x[None], w, *args, **kwargs)[0] if x.ndim == w.ndim - 1 else \
            ref(x, w, *args, **kwargs)
    return run


# -- samples (small: the registry sweep gradgradchecks each) ---------------------------------
def _conv3d_samples(rng):
    yield SampleInput((make(rng, (2, 2, 4, 4, 3)), make(rng, (3, 2, 2, 3, 2)), make(rng, (3,))),
                      dict(padding=1), "pad1-bias")
    yield SampleInput((make(rng, (1, 4, 5, 4, 4)), make(rng, (2, 2, 2, 2, 2))),
                      dict(stride=(2, 1, 2), dilation=(1, 2, 1), groups=2), "groups-stride-dilation")
    yield SampleInput((make(rng, (1, 2, 3, 4, 3)), make(rng, (2, 2, 2, 2, 1))),
                      dict(padding="same"), "even-kernel-same")
    yield SampleInput((make(rng, (2, 3, 3, 4)), make(rng, (2, 2, 1, 2, 2))), {}, "unbatched")


def _conv_transpose1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 5)), make(rng, (3, 2, 3)), make(rng, (2,))),
                      dict(stride=2, padding=1, output_padding=1), "stride2-outpad-bias")
    yield SampleInput((make(rng, (4, 4), noncontig=True), make(rng, (4, 1, 2))),
                      dict(dilation=2, groups=2), "unbatched-groups-dilation")


def _conv_transpose3d_samples(rng):
    yield SampleInput((make(rng, (2, 2, 3, 2, 3)), make(rng, (2, 2, 2, 2, 2)), make(rng, (2,))),
                      dict(stride=2, padding=1, output_padding=1), "stride2-outpad-bias")
    yield SampleInput((make(rng, (1, 4, 2, 3, 2)), make(rng, (4, 1, 3, 2, 2))),
                      dict(stride=(1, 2, 1), dilation=(2, 1, 1), groups=2), "groups-dilation")
    yield SampleInput((make(rng, (2, 2, 2, 2)), make(rng, (2, 1, 2, 1, 2))),
                      dict(stride=(3, 1, 1), padding=(1, 0, 0), output_padding=(2, 0, 0)),
                      "unbatched-outpad2")


# -- public API --------------------------------------------------------------------------------
@op(Convolution, ConvolutionTranspose, ConvolutionWeightGrad, samples=_conv3d_samples,
    ref=_batched_reference(conv_nd_reference))
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d cross-correlation over (N, C, D, H, W), weight (out, in/groups, kD, kH, kW)."""
    return _unbatched(input, 3, lambda x: _conv3d("conv3d", x, weight, bias, stride, padding,
                                                  dilation, groups))


@op(ConvolutionTranspose, Convolution, ConvolutionWeightGrad,
    samples=_conv_transpose1d_samples, ref=_batched_reference(conv_transpose_nd_reference))
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The adjoint of conv1d in its input; weight (in, out/groups, k).  Runs as
    conv_transpose2d with a unit height."""
    def run(x):
        s, p, op_, d = _transpose_args("conv_transpose1d", x, weight, stride, padding,
                                       output_padding, groups, dilation, 1)
        return conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + s, (0,) + p,
                                (0,) + op_, groups, (1,) + d).squeeze(2)
    return _unbatched(input, 1, run)


@op(ConvolutionTranspose, Convolution, ConvolutionWeightGrad, Fold, Unfold,
    samples=_conv_transpose3d_samples, ref=_batched_reference(conv_transpose_nd_reference))
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The adjoint of conv3d in its input; weight (in, out/groups, kD, kH, kW)."""
    return _unbatched(input, 3, lambda x: _conv_transpose3d(
        "conv_transpose3d", x, weight, bias, stride, padding, output_padding, groups, dilation))
