"""1-d and 3-d pooling composed from the 2-d pooling primitives (autograd/ops/pool.py).

Every window of PyTorch's pools is a product of per-axis intervals, so a 3-d pool is
a 2-d pool over (H, W) followed by a 1-d pool over D:
    max over a (kD, kH, kW) window = max over kD depths of the (kH, kW) maxima,
    mean over the window          = mean over kD depths of the (kH, kW) means
(the divisor of PyTorch's avg_pool3d is the product of the per-axis counts).  The max
pools keep the first maximum in (d, h, w) order, as the 2-d kernel does in (h, w),
and the index of the winner is d * H * W + h * W + w.  Gradients (and the VJP rules)
are those of the 2-d primitives.
"""
import numpy as np

from ..tensor import Tensor
from .pool import (AvgPool, AvgPoolAdjoint, MaxPool, PoolGather, PoolScatter, _ints,
                   _windows, adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d)
from .indexing import gather
from .registry import SampleInput, make, op

_LAYOUT = {1: "(N, C, L) or (C, L)", 3: "(N, C, D, H, W) or (C, D, H, W)"}


def _check(name, x, nd):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected a {nd + 1}-d or {nd + 2}-d input {_LAYOUT[nd]}, got "
                         f"shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {x.dtype}")
    if 0 in x.shape[x.ndim - nd:]:
        raise ValueError(f"{name}: spatial size of input {tuple(x.shape)} must be non-zero")


def _planes(x):
    """(..., D, H, W) -> (P, D, H, W) and the leading shape."""
    lead = tuple(x.shape[:-3])
    return x.reshape(-1, *x.shape[-3:]), lead


def _depth_last(y):
    """(P, D, OH, OW) -> (P, OH * OW, D): the depth axis as the one a 1-d pool runs on."""
    p, d, oh, ow = y.shape
    return y.permute(0, 2, 3, 1).reshape(p, oh * ow, d)


def _depth_back(z, lead, oh, ow):
    """(P, OH * OW, OD) -> (*lead, OD, OH, OW)."""
    p, _, od = z.shape
    return z.reshape(p, oh, ow, od).permute(0, 3, 1, 2).reshape(*lead, od, oh, ow)


def _index_3d(idx_hw, idx_d, hw):
    """The flat (d, h, w) index of each winner: the depth chosen by the 1-d stage and the
    (h, w) the 2-d stage chose at that depth (integer tensor ops, so vmap batches them)."""
    p, d, oh, ow = idx_hw.shape
    depth = idx_d.transpose(1, 2)                              # (P, OD, OH * OW)
    return depth * hw + gather(idx_hw.reshape(p, d, oh * ow), 1, depth)


def _max3d(x, pool2d, pool1d, return_indices):
    x4, lead = _planes(x)
    y, idx_hw = pool2d(x4)
    oh, ow = y.shape[2:]
    z, idx_d = pool1d(_depth_last(y))
    out = _depth_back(z, lead, oh, ow)
    if not return_indices:
        return out
    return out, _index_3d(idx_hw, idx_d, x.shape[-2] * x.shape[-1]).reshape(out.shape)


def _unit_height(f):
    """Run a 2-d pool on (P, L) rows as (P, 1, L), for the depth stage and the 1-d pools."""
    def run(x, *args, **kwargs):
        r = f(x.unsqueeze(-2), *args, **kwargs)
        return tuple(t.squeeze(-2) for t in r) if isinstance(r, tuple) else r.squeeze(-2)
    return run


# -- NumPy references: the same windows by brute force over every (d, h, w) tap --------------
def _ref_windows(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return [[o * s - p + t * d for t in range(k)] for o in range(out)]


def max_pool3d_reference(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    k = _ints("ref", "k", kernel_size, 3)
    s = k if stride is None else _ints("ref", "s", stride, 3)
    p, dl = _ints("ref", "p", padding, 3), _ints("ref", "d", dilation, 3)
    sizes = x.shape[-3:]
    wins = [_ref_windows(n, *a, ceil_mode) for n, *a in zip(sizes, k, s, p, dl)]
    out = np.empty(x.shape[:-3] + tuple(len(w) for w in wins), x.dtype)
    idx = np.empty(out.shape, np.int64)
    for o in np.ndindex(*out.shape[-3:]):
        taps = [(a, b, c) for a in wins[0][o[0]] for b in wins[1][o[1]] for c in wins[2][o[2]]
                if 0 <= a < sizes[0] and 0 <= b < sizes[1] and 0 <= c < sizes[2]]
        vals = np.stack([x[..., a, b, c] for a, b, c in taps], -1)
        best = np.argmax(vals, -1)
        out[(Ellipsis,) + o] = np.take_along_axis(vals, best[..., None], -1)[..., 0]
        flat = np.array([(a * sizes[1] + b) * sizes[2] + c for a, b, c in taps])
        idx[(Ellipsis,) + o] = flat[best]
    return (out, idx) if return_indices else out


def avg_pool3d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                         count_include_pad=True, divisor_override=None):
    k = _ints("ref", "k", kernel_size, 3)
    s, p = (k if stride is None else _ints("ref", "s", stride, 3)), _ints("ref", "p", padding, 3)
    sizes = x.shape[-3:]
    wins = [_ref_windows(n, *a, 1, ceil_mode) for n, *a in zip(sizes, k, s, p)]
    out = np.empty(x.shape[:-3] + tuple(len(w) for w in wins), x.dtype)
    for o in np.ndindex(*out.shape[-3:]):
        axes = [wins[i][o[i]] for i in range(3)]
        inside = [[t for t in a if 0 <= t < n] for a, n in zip(axes, sizes)]
        grid = np.ix_(*[np.array(t, np.int64) for t in inside])
        total = x[(Ellipsis,) + grid].sum((-3, -2, -1))
        if divisor_override:
            div = divisor_override
        elif count_include_pad:        # taps inside input + padding
            div = np.prod([sum(t < n + pi for t in a) for a, n, pi in zip(axes, sizes, p)])
        else:
            div = np.prod([len(t) for t in inside])
        out[(Ellipsis,) + o] = total / div
    return out


def _adaptive_ref(x, output_size, reduce, nd):
    osz = (output_size,) * nd if np.isscalar(output_size) or output_size is None \
        else tuple(output_size)
    sizes = x.shape[x.ndim - nd:]
    osz = tuple(n if o is None else o for o, n in zip(osz, sizes))
    out = np.empty(x.shape[:x.ndim - nd] + osz, x.dtype)
    for o in np.ndindex(*osz):
        sl = tuple(slice(i * n // m, -(-(i + 1) * n // m)) for i, n, m in zip(o, sizes, osz))
        out[(Ellipsis,) + o] = reduce(x[(Ellipsis,) + sl], axis=tuple(range(-nd, 0)))
    return out


def adaptive_avg_pool3d_reference(x, output_size):
    return _adaptive_ref(x, output_size, np.mean, 3)


def adaptive_max_pool3d_reference(x, output_size, return_indices=False):
    return _adaptive_ref(x, output_size, np.max, 3)


def adaptive_max_pool1d_reference(x, output_size, return_indices=False):
    return _adaptive_ref(x, output_size, np.max, 1)


def lp_pool_reference(nd):
    def ref(x, norm_type, kernel_size, stride=None, ceil_mode=False):
        k = _ints("ref", "k", kernel_size, nd)
        pad3 = lambda v: (1,) * (3 - nd) + tuple(v)      # noqa: E731  (1-d as 3-d)
        xs = x.reshape(x.shape[:-1] + (1, 1, x.shape[-1])) if nd == 1 else x
        avg = avg_pool3d_reference(xs ** norm_type, pad3(k),
                                   None if stride is None else pad3(_ints("ref", "s", stride, nd)),
                                   0, ceil_mode)
        y = (avg * np.prod(k)) ** (1.0 / norm_type)
        return y.reshape(y.shape[:-3] + y.shape[-1:]) if nd == 1 else y
    return ref


# -- samples (small: the registry sweep gradgradchecks each) ---------------------------------
def _max_pool3d_samples(rng):
    yield SampleInput((make(rng, (2, 2, 4, 4, 5)), 2), {}, "k2")
    yield SampleInput((make(rng, (1, 2, 5, 4, 6)), (3, 2, 2)),
                      dict(stride=(2, 1, 2), padding=(1, 0, 1), ceil_mode=True), "pad-ceil")
    yield SampleInput((make(rng, (2, 5, 3, 5)), 2),
                      dict(stride=1, dilation=(2, 1, 2), return_indices=True),
                      "unbatched-dilation-indices")


def _avg_pool3d_samples(rng):
    yield SampleInput((make(rng, (2, 2, 4, 4, 5)), 2), {}, "k2")
    yield SampleInput((make(rng, (1, 2, 5, 4, 6)), (3, 2, 2)),
                      dict(stride=(2, 1, 2), padding=(1, 0, 1), ceil_mode=True), "pad-ceil")
    yield SampleInput((make(rng, (1, 2, 5, 4, 6)), 3),
                      dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                      "pad-ceil-exclude")
    yield SampleInput((make(rng, (2, 3, 4, 4)), 2), dict(stride=1, divisor_override=3),
                      "unbatched-divisor")


def _adaptive3d_samples(rng):
    yield SampleInput((make(rng, (2, 2, 5, 4, 7)), (3, 2, 4)), {}, "overlapping")
    yield SampleInput((make(rng, (2, 3, 4, 4)), (1, None, 2)), {}, "unbatched-none")


def _adaptive_max1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 7)), 3), {}, "overlapping")
    yield SampleInput((make(rng, (3, 5)), 2), dict(return_indices=True), "unbatched-indices")


def _lp_pool1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 7), 0.5, 2.0), 2, 3), dict(stride=2), "p2")
    yield SampleInput((make(rng, (3, 6), 0.5, 2.0), 3.0, 2), dict(ceil_mode=True),
                      "unbatched-p3-ceil")


def _lp_pool3d_samples(rng):
    yield SampleInput((make(rng, (1, 2, 4, 4, 5), 0.5, 2.0), 2, 2), {}, "p2")
    yield SampleInput((make(rng, (2, 3, 4, 5), 0.5, 2.0), 3, (2, 1, 2)), dict(stride=1),
                      "unbatched-p3")


# -- public API --------------------------------------------------------------------------------
@op(MaxPool, PoolScatter, PoolGather, samples=_max_pool3d_samples, ref=max_pool3d_reference,
    output_index=0)
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over (kD, kH, kW) windows; indices are flat offsets d*H*W + h*W + w."""
    name = "max_pool3d"
    _check(name, input, 3)
    _windows(name, input, 3, kernel_size, stride, padding, dilation, ceil_mode)  # checks
    k = _ints(name, "kernel_size", kernel_size, 3)
    s = k if stride is None or stride == () or stride == [] else _ints(name, "stride", stride, 3)
    p, d = _ints(name, "padding", padding, 3), _ints(name, "dilation", dilation, 3)
    return _max3d(input,
                  lambda x: max_pool2d(x, k[1:], s[1:], p[1:], d[1:], ceil_mode, True),
                  _unit_height(lambda x: max_pool2d(x, (1, k[0]), (1, s[0]), (0, p[0]),
                                                    (1, d[0]), ceil_mode, True)),
                  return_indices)


@op(AvgPool, AvgPoolAdjoint, samples=_avg_pool3d_samples, ref=avg_pool3d_reference)
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over (kD, kH, kW) windows, PyTorch's divisor rules (count_include_pad,
    divisor_override)."""
    name = "avg_pool3d"
    _check(name, input, 3)
    _windows(name, input, 3, kernel_size, stride, padding, 1, ceil_mode)   # checks
    k = _ints(name, "kernel_size", kernel_size, 3)
    s = k if stride is None or stride == () or stride == [] else _ints(name, "stride", stride, 3)
    p = _ints(name, "padding", padding, 3)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{name}: divisor_override must be non-zero")
    # with an override both stages sum (divisor 1) and the total is divided once
    div = None if divisor_override is None else 1
    x4, lead = _planes(input)
    y = avg_pool2d(x4, k[1:], s[1:], p[1:], ceil_mode, count_include_pad, div)
    oh, ow = y.shape[2:]
    z = _unit_height(avg_pool2d)(_depth_last(y), (1, k[0]), (1, s[0]), (0, p[0]), ceil_mode,
                                 count_include_pad, div)
    out = _depth_back(z, lead, oh, ow)
    return out if divisor_override is None else out / float(divisor_override)


@op(AvgPool, AvgPoolAdjoint, samples=_adaptive3d_samples, ref=adaptive_avg_pool3d_reference)
def adaptive_avg_pool3d(input, output_size):
    """Mean over windows [floor(i*D/OD), ceil((i+1)*D/OD)) per axis."""
    name = "adaptive_avg_pool3d"
    _check(name, input, 3)
    od, oh, ow = _output_size(name, input, output_size, 3)
    x4, lead = _planes(input)
    y = adaptive_avg_pool2d(x4, (oh, ow))
    return _depth_back(_unit_height(adaptive_avg_pool2d)(_depth_last(y), (1, od)), lead, oh, ow)


@op(MaxPool, PoolScatter, PoolGather, samples=_adaptive3d_samples,
    ref=adaptive_max_pool3d_reference, output_index=0)
def adaptive_max_pool3d(input, output_size, return_indices=False):
    name = "adaptive_max_pool3d"
    _check(name, input, 3)
    od, oh, ow = _output_size(name, input, output_size, 3)
    return _max3d(input, lambda x: adaptive_max_pool2d(x, (oh, ow), True),
                  _unit_height(lambda x: adaptive_max_pool2d(x, (1, od), True)), return_indices)


@op(MaxPool, PoolScatter, PoolGather, samples=_adaptive_max1d_samples,
    ref=adaptive_max_pool1d_reference, output_index=0)
def adaptive_max_pool1d(input, output_size, return_indices=False):
    name = "adaptive_max_pool1d"
    _check(name, input, 1)
    size, = _output_size(name, input, output_size, 1)
    return _unit_height(adaptive_max_pool2d)(input, (1, size), return_indices)


def _output_size(name, x, output_size, nd):
    """An adaptive pool's output size: an int, or nd ints where None keeps the input's."""
    osz = (output_size,) * nd if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(osz) != nd:
        raise ValueError(f"{name}: output_size must be an int or {nd} ints, got {output_size!r}")
    osz = tuple(int(n if o is None else o) for o, n in zip(osz, x.shape[x.ndim - nd:]))
    if min(osz) < 1:
        raise ValueError(f"{name}: output_size {osz} must be positive (input {tuple(x.shape)})")
    return osz


def _lp(name, input, norm_type, kernel_size, stride, ceil_mode, nd, avg_pool):
    _check(name, input, nd)
    k = _ints(name, "kernel_size", kernel_size, nd)
    avg = avg_pool(input ** norm_type, k, stride, 0, ceil_mode)
    # PyTorch's form: relu's VJP selects, so an all-zero window gets 0, not 0 * inf
    return (avg.sign() * avg.abs().relu() * float(np.prod(k))) ** (1.0 / norm_type)


def _avg_pool1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 7)), 3), dict(stride=2, padding=1), "pad")
    yield SampleInput((make(rng, (3, 8)), (2,)), dict(padding=(1,), ceil_mode=True, stride=3,
                                                      count_include_pad=False), "unbatched-ceil")


def _avg_pool1d_ref(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                    count_include_pad=True):
    one = lambda v: (1, 1) + _ints("ref", "size", v, 1)     # noqa: E731
    y = avg_pool3d_reference(x[..., None, None, :], one(kernel_size),
                             None if stride is None else one(stride),
                             (0, 0) + _ints("ref", "p", padding, 1), ceil_mode, count_include_pad)
    return y[..., 0, 0, :]


@op(AvgPool, AvgPoolAdjoint, samples=_avg_pool1d_samples, ref=_avg_pool1d_ref)
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over kL windows, run as avg_pool2d over (N, C, 1, L)."""
    _check("avg_pool1d", input, 1)
    one = lambda v, unit=1: (unit,) + _ints("avg_pool1d", "size", v, 1)    # noqa: E731
    return _unit_height(avg_pool2d)(input, one(kernel_size),
                                    None if stride is None else one(stride), one(padding, 0),
                                    ceil_mode, count_include_pad)


def _adaptive_avg1d_samples(rng):
    yield SampleInput((make(rng, (2, 3, 7)), 3), {}, "overlapping")
    yield SampleInput((make(rng, (3, 5)), (2,)), {}, "unbatched")


@op(AvgPool, AvgPoolAdjoint, samples=_adaptive_avg1d_samples,
    ref=lambda x, output_size: _adaptive_ref(x, output_size, np.mean, 1))
def adaptive_avg_pool1d(input, output_size):
    name = "adaptive_avg_pool1d"
    _check(name, input, 1)
    size, = _output_size(name, input, output_size, 1)
    return _unit_height(adaptive_avg_pool2d)(input, (1, size))


@op(AvgPool, AvgPoolAdjoint, samples=_lp_pool1d_samples, ref=lp_pool_reference(1))
def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling (sum over the window of x^p)^(1/p), PyTorch's definition."""
    return _lp("lp_pool1d", input, norm_type, kernel_size, stride, ceil_mode, 1, avg_pool1d)


@op(AvgPool, AvgPoolAdjoint, samples=_lp_pool3d_samples, ref=lp_pool_reference(3))
def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (kD, kH, kW) windows."""
    return _lp("lp_pool3d", input, norm_type, kernel_size, stride, ceil_mode, 3, avg_pool3d)
