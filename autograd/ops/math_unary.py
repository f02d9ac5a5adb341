"""More elementwise one-input math: inverse trig and hyperbolic functions, base-2 and
base-10 logs, sinc, rounding parts, angle units, logit, nan_to_num.

Each VJP comment gives dL/dx in terms of g = dL/dy; m is NumPy or autograd (formula.py).
The special functions (lgamma, digamma, erfinv, ...) are in special_functions.py.
"""
import math

import numpy as np

from ..function import Primitive
from ..tensor import tensor_method
from ..forward_ad import derived_jvp
from .binary import where
from .formula import FormulaPrimitive
from .elementwise import POSITIVE, sign, unary
from .registry import SampleInput, make, op, unary_samples
from .batching import elementwise_batch_rule

_OPEN_UNIT = dict(low=-0.9, high=0.9)       # asin, acos, atanh: inside (-1, 1)
_LN2, _LN10 = math.log(2.0), math.log(10.0)
_AWAY_FROM_INTEGERS = dict(away=(np.arange(-3, 4), 0.05))


def _rounding(m, g, _):
    """Zero gradient: rounding is piecewise constant (PyTorch's choice at the jumps)."""
    return m.zeros_like(g)


Asin, asin = unary("asin", np.arcsin, lambda m, g, x: g / m.sqrt(1.0 - x * x), "x",    # g / sqrt(1 - x^2)
                   unary_samples(**_OPEN_UNIT))
Acos, acos = unary("acos", np.arccos, lambda m, g, x: -g / m.sqrt(1.0 - x * x), "x",   # -g / sqrt(1 - x^2)
                   unary_samples(**_OPEN_UNIT))
Atan, atan = unary("atan", np.arctan, lambda m, g, x: g / (x * x + 1.0), "x")         # g / (1 + x^2)
Sinh, sinh = unary("sinh", np.sinh, lambda m, g, x: g * m.cosh(x), "x")              # g cosh x
Cosh, cosh = unary("cosh", np.cosh, lambda m, g, x: g * m.sinh(x), "x")              # g sinh x
Asinh, asinh = unary("asinh", np.arcsinh, lambda m, g, x: g / m.sqrt(x * x + 1.0), "x")  # g / sqrt(x^2 + 1)
Acosh, acosh = unary("acosh", np.arccosh, lambda m, g, x: g / m.sqrt(x * x - 1.0), "x",  # g / sqrt(x^2 - 1)
                     unary_samples(low=1.2, high=3.0))
Atanh, atanh = unary("atanh", np.arctanh, lambda m, g, x: g / (1.0 - x * x), "x",      # g / (1 - x^2)
                     unary_samples(**_OPEN_UNIT))
Log2, log2 = unary("log2", np.log2, lambda m, g, x: g / (x * _LN2), "x",             # g / (x ln 2)
                   unary_samples(**POSITIVE))
Log10, log10 = unary("log10", np.log10, lambda m, g, x: g / (x * _LN10), "x",        # g / (x ln 10)
                     unary_samples(**POSITIVE))
Exp2, exp2 = unary("exp2", np.exp2, lambda m, g, y: g * y * _LN2, "y")               # g 2^x ln 2
Deg2rad, deg2rad = unary("deg2rad", np.deg2rad, lambda m, g, _: g * (math.pi / 180.0))  # g pi / 180
Rad2deg, rad2deg = unary("rad2deg", np.rad2deg, lambda m, g, _: g * (180.0 / math.pi))  # g 180 / pi
Trunc, trunc = unary("trunc", np.trunc, _rounding, samples=unary_samples(**_AWAY_FROM_INTEGERS),
                     keeps_ints=True)
Frac, frac = unary("frac", lambda x: x - np.trunc(x), lambda m, g, _: g,            # g (the jumps aside)
                   samples=unary_samples(**_AWAY_FROM_INTEGERS))


_SINC_SERIES_BELOW = 3e-3


def _sinc_grad(m, g, x):
    # g (cos(pi x) - sinc x) / x.  Near 0 the difference cancels (at x = 1e-8 PyTorch's
    # form is 5% off), so there the series -pi^2 x / 3 + pi^4 x^3 / 30 is taken
    # (truncation error (pi x)^4 / 840 relative); the far branch divides by a safe x,
    # so that no 0/0 enters a higher derivative
    small = abs(x) < _SINC_SERIES_BELOW
    safe = m.where(small, 1.0, x)
    p2 = math.pi * math.pi
    series = x * (x * x * (p2 * p2 / 30.0) - p2 / 3.0)
    return g * m.where(small, series, (m.cos(safe * math.pi) - m.sinc(safe)) / safe)


Sinc, sinc = unary("sinc", np.sinc, _sinc_grad, "x")


def _logit_samples(rng):
    yield from unary_samples(low=0.05, high=0.95)(rng)
    for s in unary_samples(low=0.05, high=0.95, away=([0.2, 0.8], 0.05))(rng):
        yield SampleInput(s.args, dict(eps=0.2), s.name + "-eps")


def _logit_ref(x, eps=None):
    if eps is not None:
        x = np.clip(x, eps, 1 - eps)
    return np.log(x / (1 - x))


class Logit(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, eps):
        lo, hi = (0.0, 1.0) if eps is None else (eps, 1.0 - eps)
        ctx.save_for_backward(x, (x < lo) | (x > hi))
        ctx.fill = np.nan if eps is None else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return _logit_ref(x, eps)

    def formula(ctx, m, g, x, outside):
        # dx = g / (x (1 - x)); outside [eps, 1 - eps] 0 (p was clamped), and without
        # eps NaN outside [0, 1], as PyTorch's logit_backward
        safe = m.where(outside, 0.5, x)
        return m.where(outside, ctx.fill, g / (safe * (1.0 - safe))), None


@op(Logit, samples=_logit_samples, ref=_logit_ref, method=True)
def logit(input, eps=None):
    """log(p / (1 - p)); with ``eps``, p is first clamped to [eps, 1 - eps]."""
    if input.dtype.kind != "f":
        input = input.float()
    return Logit.apply(input, eps)


class NanToNum(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        ctx.save_for_backward(np.isfinite(x))
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        finite, = ctx.saved_tensors
        return where(finite, g, 0.0), None, None, None   # dx = g where x is finite, else 0


def _nan_to_num_samples(rng):
    yield from unary_samples()(rng)
    x = make(rng, (6,))
    x.array[[1, 3, 4]] = [np.nan, np.inf, -np.inf]
    yield SampleInput((x,), dict(nan=0.5, posinf=3.0, neginf=-3.0), "nonfinite")


@op(NanToNum, samples=_nan_to_num_samples, method=True,
    ref=lambda x, nan=0.0, posinf=None, neginf=None: np.nan_to_num(x, nan=nan, posinf=posinf,
                                                                 neginf=neginf))
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0
    and the dtype's largest and lowest finite values)."""
    if input.dtype.kind != "f":
        return input.clone()
    return NanToNum.apply(input, nan, posinf, neginf)


@op(samples=unary_samples(), ref=lambda x: x, method=True)
def positive(input):
    """``input`` itself, as PyTorch's (an error for bool tensors)."""
    if input.dtype == np.bool_:
        raise TypeError("positive: not supported for bool tensors (received a bool tensor)")
    return input


# PyTorch's aliases (NumPy's names), as functions and Tensor methods.
sgn, fix = sign, trunc
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh
for _alias, _fn in [("sgn", sign), ("fix", trunc), ("arcsin", asin), ("arccos", acos),
                    ("arctan", atan), ("arcsinh", asinh), ("arccosh", acosh), ("arctanh", atanh)]:
    tensor_method(_fn, name=_alias)
