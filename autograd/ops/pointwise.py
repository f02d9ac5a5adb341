"""Pointwise ops of three operands, composed from the broadcasting binary ops (so their
gradients follow from those): PyTorch's addcmul, addcdiv and lerp, used by optimizers
and by ported code as in-place methods (``addcmul_`` ...)."""
import numpy as np

from .registry import SampleInput, make, op


def _three(rng):
    for shapes in [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((), (2, 3), (3,))]:
        yield SampleInput(tuple(make(rng, s, 0.5, 2.0) for s in shapes), {"value": 0.7},
                          "x".join(map(str, shapes)))


@op(samples=_three, ref=lambda x, a, b, value=1: x + value * a * b, method=True)
def addcmul(input, tensor1, tensor2, value=1):
    """input + value * tensor1 * tensor2"""
    return input + tensor1 * tensor2 * value


@op(samples=_three, ref=lambda x, a, b, value=1: x + value * a / b, method=True)
def addcdiv(input, tensor1, tensor2, value=1):
    """input + value * tensor1 / tensor2"""
    return input + tensor1 / tensor2 * value


def _lerp_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (3, 4)), 0.3), {}, "scalar-weight")
    yield SampleInput((make(rng, (3, 4)), make(rng, (4,)), make(rng, (3, 1), 0.0, 1.0)), {},
                      "tensor-weight")


@op(samples=_lerp_samples, ref=lambda x, end, w: x + np.asarray(w) * (end - x), method=True)
def lerp(input, end, weight):
    """input + weight * (end - input)"""
    return input + (end - input) * weight
