"""Elementwise unary math: forward on arrays, VJP on tensors, samples, side by side.

Each VJP comment gives dL/dx in terms of g = dL/dy.
"""
import math

import numpy as np

from .. import dtypes
from ..device import CPU, check_device, to_arguments
from ..function import Primitive
from ..kernels import special
from ..kernels.special import erf as _erf
from ..tensor import Tensor, tensor_method
from .batching import elementwise_batch_rule
from .binary import where
from .formula import FormulaPrimitive, sgn
from .half import half_as_float32
from .registry import SampleInput, op, unary_samples
from ..forward_ad import derived_jvp, elementwise_jvp

POSITIVE = dict(low=0.3, high=3.0)
KINK_AT_0 = dict(away=(0, 0.05))


def unary(name, forward, vjp, saves=None, samples=unary_samples(), ref=None, method=True,
          keeps_ints=False):
    """Define, register and attach a one-input elementwise primitive.

    ``forward`` maps an array to an array; ``vjp(m, g, s)`` returns dL/dx from
    g = dL/dy and the saved s: the input x (``saves="x"``), the output y
    (``saves="y"``) or None; ``m`` is NumPy or autograd (see formula.py).
    Integer and bool inputs become the default float dtype first, as in PyTorch
    (exp of an int tensor is float32, not NumPy's float64), unless ``keeps_ints``
    (neg, abs, sign, floor, ceil keep them).
    Returns the Primitive subclass and the public function.
    """
    def fwd(ctx, x):
        y = forward(x)
        if saves is not None:
            ctx.save_for_backward(x if saves == "x" else y)
        return y

    def formula(ctx, m, g, saved=None):
        return vjp(m, g, saved)

    # A diagonal Jacobian is its own transpose, so the tangent rule is the VJP's
    # formula applied to the tangent: J v = J^T v.
    cls = type(name[0].upper() + name[1:], (FormulaPrimitive,),
               {"forward": staticmethod(fwd), "formula": formula, "__module__": __name__,
                "jvp": FormulaPrimitive.__dict__["backward"], "batch_rule": elementwise_batch_rule,
                "__doc__": f"Elementwise {name}."})

    def public(input):
        if not keeps_ints and isinstance(input, Tensor) and input.array.dtype.kind in "biu":
            input = input.to(dtypes.get_default_dtype())
        return cls.apply(input)
    public.__name__ = public.__qualname__ = name
    public.__doc__ = f"Elementwise {name} of ``input`` (differentiable)."
    return cls, op(cls, samples=samples, ref=ref or forward, method=method)(public)


def _rsqrt(x):
    return 1.0 / np.sqrt(x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_AWAY_FROM_INTEGERS = dict(away=(np.arange(-3, 4), 0.05))

# Each VJP gives dL/dx in terms of g = dL/dy and the saved x or y; m is NumPy or autograd.
Neg, neg = unary("neg", np.negative, lambda m, g, _: -g, method=("neg", "__neg__"), keeps_ints=True)
Abs, abs = unary("abs", np.abs, lambda m, g, x: g * sgn(m, x), "x",                  # g sign(x)
                 unary_samples(**KINK_AT_0), method=("abs", "__abs__"), keeps_ints=True)
Sign, sign = unary("sign", lambda x: sgn(np, x), lambda m, g, _: m.zeros_like(g),   # piecewise constant
                   samples=unary_samples(**KINK_AT_0), keeps_ints=True)
Exp, exp = unary("exp", np.exp, lambda m, g, y: g * y, "y")                          # g e^x
Expm1, expm1 = unary("expm1", np.expm1, lambda m, g, y: g * (y + 1.0), "y")          # g e^x
Log, log = unary("log", np.log, lambda m, g, x: g / x, "x", unary_samples(**POSITIVE))   # g / x
Log1p, log1p = unary("log1p", np.log1p, lambda m, g, x: g / (x + 1.0), "x",         # g / (1 + x)
                     unary_samples(low=-0.7, high=3.0))
Sqrt, sqrt = unary("sqrt", np.sqrt, lambda m, g, y: g * 0.5 / y, "y",               # g / (2 sqrt x)
                   unary_samples(**POSITIVE))
Rsqrt, rsqrt = unary("rsqrt", _rsqrt, lambda m, g, y: g * -0.5 * y * y * y, "y",    # -g x^(-3/2) / 2
                     unary_samples(**POSITIVE))
Sin, sin = unary("sin", np.sin, lambda m, g, x: g * m.cos(x), "x")                    # g cos x
Cos, cos = unary("cos", np.cos, lambda m, g, x: -g * m.sin(x), "x")                   # -g sin x
Tan, tan = unary("tan", np.tan, lambda m, g, y: g * (y * y + 1.0), "y",             # g (1 + tan^2 x)
                 unary_samples(low=-1.2, high=1.2))
Tanh, tanh = unary("tanh", np.tanh, lambda m, g, y: g * (1.0 - y * y), "y")          # g (1 - tanh^2 x)
sigmoid_array = half_as_float32(special.sigmoid)   # on arrays (also for the LSTM cell)
Sigmoid, sigmoid = unary("sigmoid", sigmoid_array, lambda m, g, y: g * y * (1.0 - y), "y",  # g s (1 - s)
                         unary_samples(low=-4, high=4), ref=lambda x: 1 / (1 + np.exp(-x)))
erf_array = half_as_float32(_erf)     # erf on arrays, float16 through float32 (also for GELU)
Erf, erf = unary("erf", erf_array, lambda m, g, x: g * _TWO_OVER_SQRT_PI * m.exp(-(x * x)), "x",  # g 2/sqrt(pi) e^(-x^2)
                 ref=np.vectorize(math.erf))
# Rounding is piecewise constant: zero gradient almost everywhere (PyTorch's choice).
Floor, floor = unary("floor", np.floor, lambda m, g, _: m.zeros_like(g),
                     samples=unary_samples(**_AWAY_FROM_INTEGERS), keeps_ints=True)
Ceil, ceil = unary("ceil", np.ceil, lambda m, g, _: m.zeros_like(g),
                   samples=unary_samples(**_AWAY_FROM_INTEGERS), keeps_ints=True)


@op(samples=unary_samples(), ref=np.square, method=True)
def square(input):
    """``input * input``: composed, so its gradient of any order follows."""
    return input * input


class Reciprocal(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

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


class Round(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, decimals):
        return np.round(x, decimals)

    @staticmethod
    def backward(ctx, g):
        return g.new_zeros(g.shape), None           # piecewise constant


@op(Round, samples=unary_samples(away=(np.arange(-3, 4) + 0.5, 0.05)), ref=np.round, method=True)
def round(input, decimals=0):
    return Round.apply(input, decimals)


class Clamp(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

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
        return where(inside, g, 0.0), None, None    # dx = g where lo <= x <= hi, else 0


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


class Cast(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp

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


@op(Cast, samples=_cast_samples, ref=lambda x, dtype, copy: x.astype(dtype), method="to")
def to(input, *args, dtype=None, copy=False, non_blocking=False, device=None, memory_format=None):
    """``x.to(dtype)``, ``x.to(device)``, ``x.to(device, dtype)`` or ``x.to(other)``: a
    differentiable cast (``input`` itself if nothing changes).  The CPU is the only
    device; ``non_blocking`` and ``memory_format`` are accepted and change nothing."""
    dtype, _ = to_arguments(args, dtype, device)
    if dtype is None:
        return input.clone() if copy else input
    dtype = dtypes.as_dtype(dtype)
    if dtype == input.dtype and not copy:
        return input
    return Cast.apply(input, dtype)


def _cpu(input, memory_format=None):
    """The tensor itself: it already lives on the CPU."""
    return input


def _cuda(input, device=None, non_blocking=False, memory_format=None):
    check_device("cuda" if device is None else device, "cuda")


# PyTorch's legacy tensor-type names, for ``x.type()`` and ``x.type("torch.FloatTensor")``
_TYPE_NAMES = {np.dtype(d): f"torch.{n}Tensor" for d, n in (
    (np.float32, "Float"), (np.float64, "Double"), (np.float16, "Half"), (np.int64, "Long"),
    (np.int32, "Int"), (np.int16, "Short"), (np.int8, "Char"), (np.uint8, "Byte"), (np.bool_, "Bool"))}


def _type(input, dtype=None, non_blocking=False, **kwargs):
    """With no dtype, the legacy type name (``torch.FloatTensor``); else ``to(dtype)``,
    the dtype also given by that name."""
    if dtype is None:
        return _TYPE_NAMES.get(input.array.dtype, f"torch.{input.array.dtype.name}")
    if isinstance(dtype, str) and dtype.startswith("torch.") and dtype.endswith("Tensor"):
        by_name = {name: d for d, name in _TYPE_NAMES.items()}
        if dtype not in by_name:
            raise ValueError(f"type: invalid type {dtype!r}; expected one of {sorted(by_name)}")
        dtype = by_name[dtype]
    return to(input, dtype)


tensor_method(_type, name="type")
tensor_method(_cpu, name="cpu")
tensor_method(_cuda, name="cuda")
Tensor.device = property(lambda self: CPU)
Tensor.is_cuda = False
