"""Elementwise unary math: forward on arrays, VJP on tensors, samples, side by side.

Each VJP comment gives dL/dx in terms of g = dL/dy.
"""
import math

import numpy as np

from ..function import Function
from ..kernels.special import erf as _erf
from .registry import SampleInput, op, unary_samples

POSITIVE = dict(low=0.3, high=3.0)


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, g):
        return -g                                   # dx = -g


@op(Neg, samples=unary_samples(), ref=np.negative, method=("neg", "__neg__"))
def neg(input):
    return Neg.apply(input)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x.sign()                         # dx = g * sign(x)  (0 at x = 0)


@op(Abs, samples=unary_samples(away=(0, 0.05)), ref=np.abs, method=("abs", "__abs__"))
def abs(input):
    return Abs.apply(input)


class Sign(Function):
    @staticmethod
    def forward(ctx, x):
        return np.sign(x)

    @staticmethod
    def backward(ctx, g):
        return g * 0.0                              # piecewise constant


@op(Sign, samples=unary_samples(away=(0, 0.05)), ref=np.sign, method=True)
def sign(input):
    return Sign.apply(input)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * y                                # dx = g * e^x


@op(Exp, samples=unary_samples(), ref=np.exp, method=True)
def exp(input):
    return Exp.apply(input)


class Expm1(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (y + 1.0)                        # dx = g * e^x


@op(Expm1, samples=unary_samples(), ref=np.expm1, method=True)
def expm1(input):
    return Expm1.apply(input)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / x                                # dx = g / x


@op(Log, samples=unary_samples(**POSITIVE), ref=np.log, method=True)
def log(input):
    return Log.apply(input)


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / (x + 1.0)                        # dx = g / (1 + x)


@op(Log1p, samples=unary_samples(low=-0.7, high=3.0), ref=np.log1p, method=True)
def log1p(input):
    return Log1p.apply(input)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * 0.5 / y                          # dx = g / (2 sqrt(x))


@op(Sqrt, samples=unary_samples(**POSITIVE), ref=np.sqrt, method=True)
def sqrt(input):
    return Sqrt.apply(input)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = 1.0 / np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * -0.5 * y * y * y                 # dx = -g x^(-3/2) / 2


@op(Rsqrt, samples=unary_samples(**POSITIVE), ref=lambda x: 1 / np.sqrt(x), method=True)
def rsqrt(input):
    return Rsqrt.apply(input)


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.reciprocal(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return -g * y * y                           # dx = -g / x^2


@op(Reciprocal, samples=unary_samples(**POSITIVE), ref=np.reciprocal, method=True)
def reciprocal(input):
    return Reciprocal.apply(input if input.dtype.kind == "f" else input.float())


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x.cos()                          # dx = g cos(x)


@op(Sin, samples=unary_samples(), ref=np.sin, method=True)
def sin(input):
    return Sin.apply(input)


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return -g * x.sin()                         # dx = -g sin(x)


@op(Cos, samples=unary_samples(), ref=np.cos, method=True)
def cos(input):
    return Cos.apply(input)


class Tan(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (y * y + 1.0)                    # dx = g (1 + tan^2 x)


@op(Tan, samples=unary_samples(low=-1.2, high=1.2), ref=np.tan, method=True)
def tan(input):
    return Tan.apply(input)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * (1.0 - y * y)                    # dx = g (1 - tanh^2 x)


@op(Tanh, samples=unary_samples(), ref=np.tanh, method=True)
def tanh(input):
    return Tanh.apply(input)


def _sigmoid(x):
    # exp of -|x| only, so neither branch overflows for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = _sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * y * (1.0 - y)                    # dx = g s (1 - s)


@op(Sigmoid, samples=unary_samples(low=-4, high=4), ref=lambda x: 1 / (1 + np.exp(-x)), method=True)
def sigmoid(input):
    return Sigmoid.apply(input)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _TWO_OVER_SQRT_PI * (-(x * x)).exp()   # dx = g 2/sqrt(pi) e^(-x^2)


@op(Erf, samples=unary_samples(), ref=np.vectorize(math.erf), method=True)
def erf(input):
    return Erf.apply(input)


class _Rounding(Function):
    """Piecewise-constant ops: zero gradient almost everywhere (PyTorch's choice)."""

    @staticmethod
    def backward(ctx, g):
        return (g * 0.0,) + (None,) * (len(ctx.needs_input_grad) - 1)


class Floor(_Rounding):
    forward = staticmethod(lambda ctx, x: np.floor(x))


class Ceil(_Rounding):
    forward = staticmethod(lambda ctx, x: np.ceil(x))


class Round(_Rounding):
    forward = staticmethod(lambda ctx, x, decimals: np.round(x, decimals))


_away_from_integers = dict(away=(np.arange(-3, 4), 0.05))
_away_from_halves = dict(away=(np.arange(-3, 4) + 0.5, 0.05))


@op(Floor, samples=unary_samples(**_away_from_integers), ref=np.floor, method=True)
def floor(input):
    return Floor.apply(input)


@op(Ceil, samples=unary_samples(**_away_from_integers), ref=np.ceil, method=True)
def ceil(input):
    return Ceil.apply(input)


@op(Round, samples=unary_samples(**_away_from_halves), ref=np.round, method=True)
def round(input, decimals=0):
    return Round.apply(input, decimals)


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        y = np.clip(x, lo, hi)
        inside = np.ones(x.shape, bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        ctx.save_for_backward(inside)
        return y

    @staticmethod
    def backward(ctx, g):
        inside, = ctx.saved_tensors
        return g * inside, None, None               # dx = g where lo <= x <= hi, else 0


def _clamp_samples(rng):
    for s in unary_samples(away=([-0.5, 1.0], 0.05))(rng):
        yield SampleInput(s.args, dict(min=-0.5, max=1.0), s.name)
    yield from (SampleInput(s.args, dict(min=-0.5), "min-only") for s in unary_samples(away=(-0.5, 0.05))(rng))


@op(Clamp, samples=_clamp_samples, ref=lambda x, min=None, max=None: np.clip(x, min, max),
    method=("clamp", "clip"))
def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(input, min, max)


clip = clamp


class PowScalar(Function):
    @staticmethod
    def forward(ctx, x, c):
        ctx.save_for_backward(x)
        ctx.c = c
        return np.power(x, c)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        c = ctx.c
        if c == 0:
            return g * 0.0, None
        return g * c * x ** (c - 1), None           # dx = g c x^(c-1)


def _pow_scalar_samples(rng):
    for c in (2, 3, 0.5, -1.5, 0):
        for s in unary_samples(**POSITIVE)(rng):
            yield SampleInput(s.args + (c,), {}, f"{s.name}**{c}")
    yield from (SampleInput(s.args + (2,), {}, "negative-base**2") for s in unary_samples()(rng))


@op(PowScalar, samples=_pow_scalar_samples, ref=np.power)
def pow_scalar(input, exponent):
    """``input ** exponent`` for a Python-number exponent."""
    if input.dtype.kind != "f" and isinstance(exponent, float):
        input = input.float()
    return PowScalar.apply(input, exponent)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.in_dtype), None             # dx = g, in x's dtype


def _cast_samples(rng):
    # float64 -> float64 with copy=True: a lossy cast would drown central differences
    # in rounding noise; tests/test_tensor.py checks float32 <-> float64 gradients.
    for s in unary_samples()(rng):
        yield SampleInput(s.args, dict(dtype=np.float64, copy=True), s.name)


@op(Cast, samples=_cast_samples, ref=lambda x, dtype, copy: x.astype(dtype), method=("to", "type"))
def to(input, dtype=None, copy=False):
    """``x.to(dtype)``: a differentiable cast (returns ``input`` itself if nothing changes).
    Devices are accepted and ignored (everything lives on the CPU)."""
    if dtype is None or isinstance(dtype, str) and dtype.split(":")[0] in ("cpu", "cuda", "mps"):
        return input
    dtype = np.dtype(dtype)
    if dtype == input.dtype and not copy:
        return input
    return Cast.apply(input, dtype)
