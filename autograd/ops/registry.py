"""The op registry: every public op declares its primitives, a NumPy reference and
sample inputs exactly once, where it is defined.  ``tests/test_op_registry.py``
sweeps it: forward against the reference, gradcheck and gradgradcheck for every
sample, and a check that every ``Primitive`` defined under ``autograd/ops`` is
covered by some entry.
"""
from dataclasses import dataclass, field

import numpy as np

from ..tensor import Tensor, tensor_method
from .out_argument import accepts_out

REGISTRY = {}


@dataclass
class SampleInput:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    name: str = ""
    gradgrad: bool = True     # False where the VJP itself jumps (e.g. at ties of max)

    def __repr__(self):
        shapes = [tuple(a.shape) if isinstance(a, Tensor) else a for a in self.args]
        return f"{self.name or 'sample'}{shapes}{self.kwargs or ''}"


@dataclass
class OpInfo:
    name: str
    op: object                 # the public function, called as op(*args, **kwargs)
    primitives: tuple          # Primitive subclasses this op exercises
    samples: object            # rng -> iterable of SampleInput
    ref: object = None         # NumPy reference taking arrays (None: no forward check)
    gradgrad: bool = True      # run gradgradcheck too
    atol: float = 1e-5
    rtol: float = 1e-3
    output_index: object = None  # for ops returning tuples: which outputs to check


def op(*primitives, samples, ref=None, method=False, gradgrad=True, atol=1e-5, rtol=1e-3,
       output_index=None, name=None):
    """Register the decorated public function; ``method=True`` (or a name, or a
    tuple of names) also attaches it to Tensor."""
    def register(fn):
        key = name or fn.__name__
        if key in REGISTRY:
            raise RuntimeError(f"op {key!r} registered twice")
        REGISTRY[key] = OpInfo(key, fn, primitives, samples, ref, gradgrad, atol, rtol,
                               output_index)
        names = (fn.__name__,) if method is True else (method,) if isinstance(method, str) \
            else tuple(method or ())
        for n in names:
            tensor_method(fn, name=n)
        return accepts_out(fn, key)      # the function takes out=; the methods do not
    return register


# -- helpers for writing samples ---------------------------------------------------
def make(rng, shape, low=-2.0, high=2.0, noncontig=False, requires_grad=True, away=None):
    """A float64 tensor of uniform values; ``noncontig`` gives a transposed view;
    ``away=(points, margin)`` nudges values away from kinks (e.g. relu at 0)."""
    shape = tuple(shape)
    if noncontig and len(shape) >= 2:
        arr = rng.uniform(low, high, shape[::-1]).T
    else:
        arr = rng.uniform(low, high, shape)
    if away is not None:
        points, margin = away
        for p in np.atleast_1d(points):
            close = np.abs(arr - p) < margin
            arr = np.where(close, p + np.where(arr >= p, margin, -margin), arr)
    arr = np.asarray(arr, dtype=np.float64)
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


UNARY_SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def unary_samples(low=-2.0, high=2.0, away=None, **kwargs):
    """Samples for an elementwise op: 0-d, 1-d, 2-d, 3-d and a transposed input."""
    def gen(rng):
        for s in UNARY_SHAPES:
            yield SampleInput((make(rng, s, low, high, away=away),), dict(kwargs), f"shape{s}")
        yield SampleInput((make(rng, (4, 3), low, high, noncontig=True, away=away),),
                          dict(kwargs), "noncontig")
    return gen


BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (3,)), ((5,), ())]


def binary_samples(low=-2.0, high=2.0, low_b=None, high_b=None, scalars=(), **kwargs):
    """Samples for a broadcasting binary op, plus (tensor, python scalar) pairs."""
    low_b = low if low_b is None else low_b
    high_b = high if high_b is None else high_b

    def gen(rng):
        for sa, sb in BROADCAST_PAIRS:
            yield SampleInput((make(rng, sa, low, high), make(rng, sb, low_b, high_b)),
                              dict(kwargs), f"{sa}x{sb}")
        yield SampleInput((make(rng, (4, 3), low, high, noncontig=True),
                           make(rng, (4, 3), low_b, high_b)), dict(kwargs), "noncontig")
        for c in scalars:
            yield SampleInput((make(rng, (2, 3), low, high), c), dict(kwargs), f"scalar{c}")
    return gen
