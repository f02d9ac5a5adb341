"""More broadcasting two-input math: atan2, hypot, copysign, fmod, logaddexp(2),
xlogy, nextafter, fmax/fmin, and the ops composed from others (float_power, ldexp,
clamp_min/max, true_divide, rsub) and frexp.

Inputs are promoted as in binary.py; each VJP formula gives the gradient of the
broadcast result, which `Broadcasting` sums back to each input's shape.
"""
import numpy as np

from .. import dtypes
from ..function import Primitive
from ..tensor import Tensor, tensor_method
from .binary import Broadcasting, _t, div, elementwise, promote, sub, mul, pow
from .elementwise import clamp
from .math_unary import exp2
from .registry import SampleInput, binary_samples, make, op, unary_samples
from .batching import elementwise_batch_rule

def _floats(a, b):
    """Integer operands become the default float dtype (atan2 of ints is float32)."""
    if dtypes.result_type(_t(a), _t(b)).kind != "f":
        a = a.to(dtypes.get_default_dtype()) if isinstance(a, Tensor) else float(a)
    return a, b


def _over_norm2(m, a, b):
    """1 / (a^2 + b^2), and 0 at a = b = 0 (PyTorch's atan2 gradient there)."""
    d = a * a + b * b
    zero = d == 0
    return m.where(zero, 0.0, 1.0 / m.where(zero, 1.0, d))


class Atan2(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return elementwise(ctx, "atan2", np.arctan2, a, b)

    da = staticmethod(lambda m, g, a, b: g * b * _over_norm2(m, a, b))   # da = g b / (a^2 + b^2)
    db = staticmethod(lambda m, g, a, b: -g * a * _over_norm2(m, a, b))  # db = -g a / (a^2 + b^2)


class Hypot(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        y = elementwise(ctx, "hypot", np.hypot, a, b)
        ctx.save_for_backward(a, b, y)
        return y

    da = staticmethod(lambda m, g, a, b, y: g * a / y)                  # da = g a / hypot(a, b)
    db = staticmethod(lambda m, g, a, b, y: g * b / y)                  # db = g b / hypot(a, b)


class Copysign(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        y = elementwise(ctx, "copysign", np.copysign, a, b)
        x, _ = promote(a, b)
        # dy/da = y / a = +-1, and 0 at a = 0 (PyTorch); saved as that factor
        with np.errstate(invalid="ignore", divide="ignore"):
            ctx.save_for_backward(np.where(x == 0, 0.0, y / np.where(x == 0, 1.0, x)).astype(y.dtype))
        return y

    da = staticmethod(lambda m, g, s: g * s)                            # da = g copysign(1, b) sign(a)
    db = staticmethod(lambda m, g, s: m.zeros_like(g))                  # piecewise constant in b


class Fmod(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return elementwise(ctx, "fmod", np.fmod, a, b)

    da = staticmethod(lambda m, g, a, b: g)                             # da = g
    db = staticmethod(lambda m, g, a, b: -g * m.trunc(a / b))           # db = -g trunc(a / b)


class Logaddexp(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return elementwise(ctx, "logaddexp", np.logaddexp, a, b)

    # da = g e^a / (e^a + e^b) = g / (1 + e^(b - a)): finite at a = inf (PyTorch's form)
    da = staticmethod(lambda m, g, a, b: g / (1.0 + m.exp(b - a)))
    db = staticmethod(lambda m, g, a, b: g / (1.0 + m.exp(a - b)))


class Logaddexp2(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return elementwise(ctx, "logaddexp2", np.logaddexp2, a, b)

    da = staticmethod(lambda m, g, a, b: g / (1.0 + m.exp2(b - a)))    # da = g 2^a / (2^a + 2^b)
    db = staticmethod(lambda m, g, a, b: g / (1.0 + m.exp2(a - b)))    # db = g 2^b / (2^a + 2^b)


def log_where(m, skip, b, log):
    """log(b), 0 where ``skip``; the log reads 1 there, so no NaN reaches a higher derivative."""
    return m.where(skip, 0.0, log(m.where(skip, 1.0, b)))


def _xlogy(a, b):
    """a log(b), 0 where a == 0 unless b is NaN (PyTorch's rule)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a == 0) & ~np.isnan(b), 0.0, a * np.log(b)).astype(np.result_type(a, b))


class Xlogy(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        x, y = promote(a, b)
        ctx.save_for_backward(a, b, (x == 0) & (y <= 0))
        return elementwise(ctx, "xlogy", _xlogy, a, b)

    # da = g log(b), 0 where a = 0 and b <= 0; db = g a / b (PyTorch's formulas)
    da = staticmethod(lambda m, g, a, b, skip: g * log_where(m, skip, b, m.log))
    db = staticmethod(lambda m, g, a, b, skip: g * a / b)


class Nextafter(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        x, y = promote(a, b)
        ctx.save_for_backward(x != y)
        return elementwise(ctx, "nextafter", np.nextafter, a, b)

    # one ulp towards b: PyTorch passes g to input where it moved (a != b), else 0
    da = staticmethod(lambda m, g, moved: m.where(moved, g, 0.0))
    db = staticmethod(lambda m, g, moved: m.zeros_like(g))


class Fmax(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        out = elementwise(ctx, "fmax", np.fmax, a, b)
        x, y = promote(a, b)
        ctx.save_for_backward((x >= y) | np.isnan(y))
        return out

    # the NaN-ignoring max: the gradient goes to the chosen input, to ``input`` at ties
    da = staticmethod(lambda m, g, first: m.where(first, g, 0.0))
    db = staticmethod(lambda m, g, first: m.where(first, 0.0, g))


class Fmin(Fmax):
    @staticmethod
    def forward(ctx, a, b):
        out = elementwise(ctx, "fmin", np.fmin, a, b)
        x, y = promote(a, b)
        ctx.save_for_backward((x <= y) | np.isnan(y))
        return out


# -- public functions ---------------------------------------------------------------
def _positive_b(rng):
    yield from binary_samples(low_b=0.5, high_b=2.0, scalars=(2.5,))(rng)


def _no_ties(rng):
    yield from binary_samples(scalars=(0.5,))(rng)
    a = make(rng, (4,))
    b = make(rng, (4,))
    a.array[1] = np.nan
    b.array[2] = np.nan
    yield SampleInput((a, b), {}, "nan-ignored")


def _fmod_samples(rng):
    # a/b kept away from integers, where fmod jumps
    b = make(rng, (3, 4), 1.0, 2.0)
    a = make(rng, (3, 4))
    a.array[...] = (rng.integers(-3, 3, (3, 4)) + rng.uniform(0.2, 0.8, (3, 4))) * b.array
    yield SampleInput((a, b), {}, "(3, 4)x(3, 4)")
    yield SampleInput((make(rng, (2, 3), 0.2, 0.8), 1.5), {}, "scalar")


def _register(cls, name, samples, ref, floats=True):
    """The public function of a Broadcasting op; ``floats``: integers become floats."""
    def public(input, other):
        return cls.apply(*_floats(input, other)) if floats else cls.apply(input, other)
    public.__name__ = public.__qualname__ = name
    public.__doc__ = f"Elementwise {name} of ``input`` and ``other``, broadcast (differentiable)."
    return op(cls, samples=samples, ref=ref, method=True)(public)


atan2 = _register(Atan2, "atan2", binary_samples(low_b=0.5, high_b=2.0, scalars=(1.5,)), np.arctan2)
hypot = _register(Hypot, "hypot", binary_samples(low=0.3, high=2.0, scalars=(1.5,)), np.hypot)
copysign = _register(Copysign, "copysign", binary_samples(scalars=(-1.0,)), np.copysign)
fmod = _register(Fmod, "fmod", _fmod_samples, np.fmod, floats=False)
logaddexp = _register(Logaddexp, "logaddexp", binary_samples(scalars=(0.5,)), np.logaddexp)
logaddexp2 = _register(Logaddexp2, "logaddexp2", binary_samples(scalars=(0.5,)), np.logaddexp2)
xlogy = _register(Xlogy, "xlogy", _positive_b, lambda a, b: _xlogy(np.asarray(a), np.asarray(b)))
nextafter = _register(Nextafter, "nextafter", binary_samples(), np.nextafter)
fmax = _register(Fmax, "fmax", _no_ties, np.fmax, floats=False)
fmin = _register(Fmin, "fmin", _no_ties, np.fmin, floats=False)
arctan2 = atan2
tensor_method(atan2, name="arctan2")


@op(samples=binary_samples(low=0.5, high=2.0, scalars=(2.5,)), method=True,
    ref=lambda a, b: np.power(np.asarray(a, np.float64), b))
def float_power(input, exponent):
    """``input ** exponent`` in float64, as PyTorch's (composed: a cast, then pow)."""
    if isinstance(input, Tensor):
        input = input.double()
    if isinstance(exponent, Tensor):
        exponent = exponent.double()
    return pow(input, exponent)


def _ldexp_samples(rng):
    yield from binary_samples(low_b=-3.0, high_b=3.0)(rng)
    yield SampleInput((make(rng, (3, 4)), Tensor._make(rng.integers(-4, 5, (3, 4)))), {}, "int-exponent")


@op(samples=_ldexp_samples, method=True, ref=lambda a, b: a * np.exp2(b))
def ldexp(input, other):
    """``input * 2 ** other`` (composed)."""
    return mul(input, exp2(other))


def _clamp_bound_samples(rng):
    for s in unary_samples(away=(0.3, 0.05))(rng):
        yield SampleInput(s.args + (0.3,), {}, s.name)


@op(samples=_clamp_bound_samples, method=True, ref=lambda x, m: np.maximum(x, m))
def clamp_min(input, min):
    return clamp(input, min=min)


@op(samples=_clamp_bound_samples, method=True, ref=lambda x, m: np.minimum(x, m))
def clamp_max(input, max):
    return clamp(input, max=max)


true_divide = div
tensor_method(div, name="true_divide")


@op(samples=binary_samples(scalars=(2.5,), alpha=2.0), method=True,
    ref=lambda a, b, alpha=1: b - alpha * np.asarray(a))
def rsub(input, other, alpha=1):
    """``other - alpha * input``."""
    return sub(other, input if alpha == 1 else input * alpha)


class Frexp(Primitive):
    """(mantissa, exponent) of x = mantissa 2^exponent; the int32 exponent is not
    differentiable, and the mantissa's derivative is 2^-exponent."""
    batch_rule = elementwise_batch_rule

    @staticmethod
    def forward(ctx, x):
        mantissa, exponent = np.frexp(x)
        exponent = exponent.astype(np.int32)
        ctx.mark_non_differentiable(exponent)
        ctx.save_for_backward(np.ldexp(np.ones_like(x), -exponent))
        return mantissa, exponent

    @staticmethod
    def backward(ctx, g, _g_exponent):
        scale, = ctx.saved_tensors
        return g * scale                              # dx = g 2^-exponent

    @staticmethod
    def jvp(ctx, dx):
        scale, = ctx.saved_tensors
        return dx * scale, None


@op(Frexp, samples=unary_samples(), ref=lambda x: np.frexp(x)[0], output_index=0, method=True)
def frexp(input):
    """``(mantissa, exponent)`` with ``input = mantissa * 2 ** exponent``; the exponent
    is an int32 tensor and not differentiable, as in PyTorch."""
    if input.dtype.kind != "f":
        raise TypeError(f"frexp: expected a floating-point tensor, received {input.dtype}")
    return Frexp.apply(input)
