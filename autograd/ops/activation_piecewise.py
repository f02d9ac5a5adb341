"""More activations: the scaled exponentials (selu, celu), the hard piecewise-linear
ones (hardsigmoid, hardswish, the shrinks, threshold), and the gated linear unit.

Masks and slopes depend only on x and are saved as constants (their derivative is 0
almost everywhere).  At NaN each follows PyTorch: the output is NaN, and the
gradient is what PyTorch's backward gives there (NaN, 0 or g; the tests hold us to it).
"""
import numpy as np

from ..forward_ad import elementwise_jvp
from .binary import where
from .elementwise import sigmoid
from .formula import FormulaPrimitive
from .registry import SampleInput, make, op, unary_samples
from .batching import elementwise_batch_rule

# SELU's constants (Klambauer et al., 2017, "Self-Normalizing Neural Networks").
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _kinks(*points):
    return unary_samples(low=-4.0, high=4.0, away=(list(points), 0.05))


def _elu_ref(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


class ScaledElu(FormulaPrimitive):
    """y = scale x for x > 0, scale alpha (e^(x / beta) - 1) otherwise: SELU (beta = 1)
    and CELU (scale = 1, beta = alpha).  The negative branch's slope is taken from
    e^(x / beta), not from y + alpha, which cancels to 0 below x = -37 (PyTorch's
    form); a NaN input gets a NaN gradient, as PyTorch's."""
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, scale, alpha, beta):
        positive = x > 0
        ctx.save_for_backward(x, positive)
        ctx.constants = scale, alpha, beta
        with np.errstate(over="ignore"):
            return np.where(positive, scale * x, scale * alpha * np.expm1(x / beta)).astype(x.dtype)

    def formula(ctx, m, g, x, positive):
        scale, alpha, beta = ctx.constants        # dx = g scale (1 if x > 0 else alpha/beta e^(x/beta))
        negative = m.where(positive, 0.0, x)     # exp reads 0 where it is not selected
        return m.where(positive, g * scale, g * (scale * alpha / beta) * m.exp(negative / beta)), \
            None, None, None


@op(ScaledElu, samples=_kinks(0), ref=lambda x: SELU_SCALE * _elu_ref(x, SELU_ALPHA), method=True)
def selu(input):
    """scale * elu(x, alpha) with SELU's fixed constants."""
    return ScaledElu.apply(input, SELU_SCALE, SELU_ALPHA, 1.0)


def _celu_samples(rng):
    for s in _kinks(0)(rng):
        yield SampleInput(s.args, dict(alpha=1.7), s.name)


@op(ScaledElu, samples=_celu_samples, ref=lambda x, alpha=1.0: alpha * _elu_ref(x / alpha, 1.0))
def celu(input, alpha=1.0):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0 (the negative branch divides by it)")
    return ScaledElu.apply(input, 1.0, alpha, alpha)


class PiecewiseLinear(FormulaPrimitive):
    """y = fn(x) for a piecewise-linear fn, whose slope on each piece is a constant
    array, or computed from x by ``slope(x)`` in forward (so that under vmap it is the
    batch's; PyTorch's masks: a NaN input may keep its value and get slope 0)."""
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, fn, slope):
        if callable(slope):
            slope = np.asarray(slope(x), dtype=x.dtype)
        ctx.save_for_backward(slope)
        return fn(x)

    def formula(ctx, m, g, slope):
        return g * slope, None, None              # dx = g slope


def _piecewise(input, fn, slope):
    return PiecewiseLinear.apply(input, fn, slope if callable(slope) else
                                 np.asarray(slope, dtype=input.dtype))


@op(PiecewiseLinear, samples=_kinks(-3, 3), ref=lambda x: np.clip(x + 3, 0, 6) / 6)
def hardsigmoid(input):
    """relu6(x + 3) / 6; the gradient 1/6 on the open interval (-3, 3), else 0."""
    return _piecewise(input, lambda a: np.clip(a + 3.0, 0.0, 6.0) / 6.0,
                      lambda x: ((x > -3.0) & (x < 3.0)) / 6.0)


class Hardswish(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x):
        # PyTorch's branches: 0 up to -3, x/3 + 1/2 between, 1 from 3 (NaN: between)
        ctx.save_for_backward(x, x <= -3.0, x >= 3.0)
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0

    def formula(ctx, m, g, x, low, high):
        return m.where(low, 0.0, m.where(high, g, g * (x / 3.0 + 0.5)))   # dx = g y'(x)


@op(Hardswish, samples=_kinks(-3, 3), ref=lambda x: x * np.clip(x + 3, 0, 6) / 6)
def hardswish(input):
    """x relu6(x + 3) / 6 (Howard et al., 2019, MobileNetV3)."""
    return Hardswish.apply(input)


def _lambd_samples(rng):
    for s in _kinks(-0.5, 0.5)(rng):
        yield SampleInput(s.args, dict(lambd=0.5), s.name)


def _check_lambd(name, lambd):
    if lambd < 0:
        raise ValueError(f"{name}: lambd must be non-negative, received {lambd}")


@op(PiecewiseLinear, samples=_lambd_samples,
    ref=lambda x, lambd=0.5: np.where(np.abs(x) > lambd, x, 0.0))
def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    _check_lambd("hardshrink", lambd)
    return _piecewise(input, lambda a: np.where((a >= -lambd) & (a <= lambd), 0.0, a).astype(a.dtype),
                      lambda x: (x > lambd) | (x < -lambd))


@op(PiecewiseLinear, samples=_lambd_samples, ref=lambda x, lambd=0.5: x - np.clip(x, -lambd, lambd))
def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, else 0 (NaN stays NaN)."""
    _check_lambd("softshrink", lambd)
    return _piecewise(input, lambda a: a - np.clip(a, -lambd, lambd),
                      lambda x: (x > lambd) | (x < -lambd))


def _threshold_samples(rng):
    for s in _kinks(0.3)(rng):
        yield SampleInput(s.args + (0.3, -2.0), {}, s.name)


@op(samples=_threshold_samples, ref=lambda x, threshold, value: np.where(x > threshold, x, value))
def threshold(input, threshold, value):
    """x where x > threshold, else value."""
    return where(~(input <= threshold), input, float(value))


def _glu_samples(rng):
    yield SampleInput((make(rng, (3, 4)),), {}, "last")
    yield SampleInput((make(rng, (4, 3)),), dict(dim=0), "dim0")
    yield SampleInput((make(rng, (2, 6, 2), noncontig=True),), dict(dim=1), "noncontig")


def _glu_ref(x, dim=-1):
    a, b = np.split(x, 2, axis=dim)
    return a / (1 + np.exp(-b))


@op(samples=_glu_samples, ref=_glu_ref)
def glu(input, dim=-1):
    """a * sigmoid(b), where a and b are the two halves of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise ValueError("glu: does not support scalars (0-d tensors)")
    n = input.shape[dim]
    if n % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim} of input "
                         f"{tuple(input.shape)} is size {n}")
    a, b = input.chunk(2, dim)
    return a * sigmoid(b)
