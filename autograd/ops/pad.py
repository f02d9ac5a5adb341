"""Padding: ``F.pad`` in constant mode (negative widths crop, as in PyTorch), reflect,
replicate and circular modes.

Constant padding's VJP is the same op with the widths negated (crop what was
padded, pad with zeros what was cropped).  Reflect padding's VJP is its adjoint,
which folds the reflected borders back onto the cells they copy; the adjoint is
linear and its own VJP is reflect padding, so double backward follows.
"""
import numpy as np

from ..dtypes import is_int
from ..function import Primitive
from .registry import SampleInput, make, op
from .shape import cat
from ..forward_ad import derived_jvp, linear_jvp


def _pad_widths(pad, ndim, name):
    if len(pad) % 2 or len(pad) // 2 > ndim:
        raise ValueError(f"{name}: pad must have an even length of at most 2*ndim={2 * ndim}, got {tuple(pad)}")
    if not all(is_int(p) for p in pad):
        raise TypeError(f"{name}: pad must hold integers, got {tuple(pad)}")
    widths = [(0, 0)] * ndim
    for i in range(len(pad) // 2):          # PyTorch order: last dim first
        widths[ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return widths


def _crop_pad(x, widths, value):
    """Constant padding where PyTorch's negative widths crop: crop, then pad."""
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        x = x[tuple(slice(max(-lo, 0), x.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(widths))]
    pads = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    return np.pad(x, pads, mode="constant", constant_values=value) if any(map(any, pads)) else x


class ConstantPad(Primitive):
    @staticmethod
    def batch_rule(b, x, widths, value):
        return ConstantPad.apply(x, [(0, 0)] + list(widths), value)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.widths = widths
        y = _crop_pad(x, widths, value)
        return y.copy() if np.may_share_memory(x, y) else y

    @staticmethod
    def backward(ctx, g):
        # dx = g with the padding removed and zeros where x was cropped: the same op
        # with the widths negated
        return ConstantPad.apply(g, [(-lo, -hi) for lo, hi in ctx.widths], 0.0), None, None


class ReflectPad(Primitive):
    @staticmethod
    def batch_rule(b, x, widths):
        return ReflectPad.apply(x, [(0, 0)] + list(widths))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, widths):
        ctx.widths = widths
        return np.pad(x, widths, mode="reflect")

    @staticmethod
    def backward(ctx, g):
        return ReflectPadAdjoint.apply(g, ctx.widths), None


class ReflectPadAdjoint(Primitive):
    """The transpose of reflect padding: fold the reflected borders back onto the
    cells they copy.  Linear, so its VJP is reflect padding again."""
    @staticmethod
    def batch_rule(b, g, widths):
        return ReflectPadAdjoint.apply(g, [(0, 0)] + list(widths))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, g, widths):
        ctx.widths = widths
        for axis, (lo, hi) in enumerate(widths):
            if lo == hi == 0:
                continue
            n = g.shape[axis] - lo - hi
            take = lambda a, b: np.take(g, range(a, b), axis=axis)
            core = take(lo, lo + n).copy()
            idx = [slice(None)] * g.ndim
            if lo:
                idx[axis] = slice(1, lo + 1)
                core[tuple(idx)] += np.flip(take(0, lo), axis)
            if hi:
                idx[axis] = slice(n - 1 - hi, n - 1)
                core[tuple(idx)] += np.flip(take(lo + n, lo + n + hi), axis)
            g = core
        return g

    @staticmethod
    def backward(ctx, gg):
        return ReflectPad.apply(gg, ctx.widths), None


def _pad_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4)), (1, 2)), {}, "last-dim")
    yield SampleInput((make(rng, (2, 3, 4)), (1, 0, 2, 1)), dict(value=0.5), "two-dims")
    yield SampleInput((make(rng, (2, 3, 5)), (-1, 2, 1, -2)), {}, "crop-and-pad")
    yield SampleInput((make(rng, (2, 4, 5)), (2, 1)), dict(mode="reflect"), "reflect-1d")
    yield SampleInput((make(rng, (1, 4, 5)), (1, 2, 3, 1)), dict(mode="reflect"), "reflect-2d")
    yield SampleInput((make(rng, (1, 2, 3, 2, 4)), (1, 2, 0, 3, 2, 1)), dict(mode="replicate"),
                      "replicate-3d")
    yield SampleInput((make(rng, (2, 3, 4)), (3, 1, 2, 0)), dict(mode="circular"), "circular-2d")


def _pad_ref(x, pad, mode="constant", value=0.0):
    widths = _pad_widths(pad, x.ndim, "pad")
    if mode in ("reflect", "circular"):
        return np.pad(x, widths, mode={"reflect": "reflect", "circular": "wrap"}[mode])
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    return _crop_pad(x, widths, value)


def _adjoint_samples(rng):
    yield SampleInput((make(rng, (2, 7)), [(0, 0), (2, 1)]), {}, "1d")
    yield SampleInput((make(rng, (6, 8)), [(1, 2), (3, 1)]), {}, "2d")


def _adjoint_ref(g, widths):
    # <pad(x), g> = <x, adjoint(g)>: build the adjoint matrix column by column.
    n_in = [s - lo - hi for s, (lo, hi) in zip(g.shape, widths)]
    out = np.zeros(n_in)
    for i in np.ndindex(*n_in):
        e = np.zeros(n_in)
        e[i] = 1
        out[i] = (np.pad(e, widths, mode="reflect") * g).sum()
    return out


@op(ReflectPadAdjoint, samples=_adjoint_samples, ref=_adjoint_ref)
def reflect_pad_adjoint(grad, widths):
    """The VJP of reflect padding (exposed for the op registry's sweep)."""
    return ReflectPadAdjoint.apply(grad, [tuple(w) for w in widths])


@op(ConstantPad, ReflectPad, samples=_pad_samples, ref=_pad_ref)
def pad(input, pad, mode="constant", value=0.0):
    """PyTorch's ``F.pad``: ``pad`` lists (left, right) widths from the last dim backwards;
    in constant mode a negative width crops, as in PyTorch."""
    widths = _pad_widths(tuple(pad), input.ndim, "pad")
    for i, (lo, hi) in enumerate(widths):
        if input.shape[i] + lo + hi < 0:
            raise ValueError(f"pad: dim {i} of size {input.shape[i]} padded by ({lo}, {hi}) would "
                             f"have a negative size (input shape {tuple(input.shape)})")
    if mode != "constant" and any(lo < 0 or hi < 0 for lo, hi in widths):
        raise ValueError(f"pad: negative widths crop only in 'constant' mode, got {tuple(pad)} "
                         f"with mode {mode!r}")
    if mode == "constant":
        return ConstantPad.apply(input, widths, value)
    if mode == "reflect":
        for i, (lo, hi) in enumerate(widths):
            if max(lo, hi) >= input.shape[i]:
                raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than dim {i} "
                                 f"of the input (shape {tuple(input.shape)})")
        return ReflectPad.apply(input, widths)
    if mode in ("replicate", "circular"):
        return _edge_pad(input, widths, mode)
    raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got "
                     f"{mode!r}")


def _edge_pad(x, widths, mode):
    """Replicate / circular padding, one padded axis at a time, as a concatenation of
    views: [x[0] repeated lo times, x, x[n-1] repeated hi times] (replicate) or
    [x[n-lo:], x, x[:hi]] (circular), so the VJP sums the gradient of the border
    copies back onto the cells they repeat."""
    for axis, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        n = x.shape[axis]
        if n == 0 or (mode == "circular" and max(lo, hi) > n):
            raise ValueError(f"pad: {mode} padding ({lo}, {hi}) of dim {axis} needs a dim of size "
                             f"at least {max(lo, hi, 1)} (input shape {tuple(x.shape)}); circular "
                             "padding may not wrap around more than once")
        part = lambda a, b: x[(slice(None),) * axis + (slice(a, b),)]       # noqa: E731
        if mode == "replicate":
            grow = lambda t, k: t.expand(*x.shape[:axis], k, *x.shape[axis + 1:])  # noqa: E731
            pieces = [grow(part(0, 1), lo), x, grow(part(n - 1, n), hi)]
        else:
            pieces = [part(n - lo, n), x, part(0, hi)]
        x = cat([p for p in pieces if p.shape[axis]], axis)
    return x
