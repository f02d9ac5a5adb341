"""Random draws parameterised by tensors: bernoulli (and the in-place bernoulli_), normal
(its tensor forms), poisson; and randint_like, the rand family's missing *_like.

They draw from the global generator (creation.default_generator, which manual_seed
reseeds), or from ``generator=``.  As in PyTorch the draws are not reparameterised:
the result depends on its parameters only through the random numbers, so their
gradient is zero (PyTorch's derivatives.yaml: zeros for mean, std, p and rates); the
result is still connected to them, and requires grad when they do.  These are not
in the op registry: a draw has no reference to compare against and central
differences of a random function mean nothing; tests/test_random_draws.py checks
their distributions, zero gradients and vmap's randomness modes.
"""
import numpy as np

from ..creation import default_generator
from ..tensor import Tensor, tensor_method
from .batching import values_of
from .binary import where
from .scans import check_tensor


def _connected(draws, *parameters):
    """``draws`` (a tensor computed from detached parameters) connected to the tensor
    parameters with zero gradient: where(True, draws, p) passes none of g to p."""
    everywhere = np.ones(tuple(draws.shape), bool)
    for p in parameters:
        if isinstance(p, Tensor) and p.requires_grad:
            draws = where(everywhere, draws, p)
    return draws


def _float_tensor(name, what, t):
    check_tensor(t, name, what)
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating point {what}, got {t.dtype}")
    return values_of(t)                 # for checks: every sample's values under vmap


@tensor_method
def bernoulli(input, p=None, *, generator=None):
    """0/1 draws (in input's dtype) with probability ``input`` per element, or with the
    scalar probability ``p`` for every element of input's shape."""
    probs = _float_tensor("bernoulli", "input", input) if p is None else np.asarray(float(p))
    if np.isnan(probs).any() or (probs < 0).any() or (probs > 1).any():
        raise ValueError("bernoulli: expected probabilities in [0, 1]"
                         + (f", got p={p}" if p is not None else " in input"))
    if p is not None:
        check_tensor(input, "bernoulli")
    # the draws for one sample's shape, then 1{u < p} = ceil(clamp(p - u, min=0)) (u in
    # [0, 1), p in [0, 1]) by batchable ops, so vmap maps p and its randomness modes
    # govern the draw
    uniforms = Tensor._make(np.asarray((generator or default_generator()).random(tuple(input.shape)),
                                       input.dtype))
    probs = input.detach() if p is None else float(p)
    return _connected((probs - uniforms).clamp(min=0.0).ceil(), input)


@tensor_method
def bernoulli_(input, p=0.5, *, generator=None):
    """In place: input's elements set to 0/1 draws of probability ``p`` (a number or a
    tensor broadcast to input's shape); connected to input with zero gradient, as
    copy_."""
    probs = p.array if isinstance(p, Tensor) else p
    draws = bernoulli(Tensor._make(np.broadcast_to(np.asarray(probs, input.dtype), input.shape)),
                      generator=generator)
    return input.copy_(draws)


def randint_like(input, low=0, high=None, *, dtype=None, requires_grad=False, generator=None):
    """Integers drawn uniformly from [low, high) in input's shape (and dtype, unless
    ``dtype``); ``randint_like(input, high)`` draws from [0, high)."""
    from ..creation import randint
    if high is None:
        low, high = 0, low
    out = randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, generator=generator)
    return out.requires_grad_(requires_grad) if requires_grad else out


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, requires_grad=False):
    """Normal draws with the given means and standard deviations, tensors broadcast
    together (a float for either is the same for every element); with two floats,
    ``size`` gives the shape (then ``dtype`` and ``requires_grad`` apply)."""
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with a float mean and std, give the result's size")
        from ..creation import randn
        draws = randn(*size, dtype=dtype, generator=generator)
        return (draws * float(std) + float(mean)).detach().requires_grad_(requires_grad)
    if size is not None:
        raise TypeError("normal: size is only taken with a float mean and std")
    if isinstance(mean, Tensor):
        _float_tensor("normal", "mean", mean)
    stds = _float_tensor("normal", "std", std) if isinstance(std, Tensor) else float(std)
    if np.any(np.asarray(stds) < 0):
        raise ValueError(f"normal: expects std >= 0.0, got {np.min(stds)}")
    shapes = [tuple(t.shape) if isinstance(t, Tensor) else () for t in (mean, std)]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"normal: mean of shape {shapes[0]} and std of shape {shapes[1]} "
                         "cannot be broadcast together") from None
    out_dtype = np.result_type(*[t.array.dtype for t in tensors])
    draw_dtype = out_dtype if out_dtype in (np.float32, np.float64) else np.float64
    z = Tensor._make((generator or default_generator()).standard_normal(shape, dtype=draw_dtype))
    detached = [t.detach() if isinstance(t, Tensor) else float(t) for t in (mean, std)]
    return _connected(z * detached[1] + detached[0], mean, std)


def poisson(input, generator=None):
    """Poisson draws (in input's dtype) with the non-negative rates ``input`` (each rate
    decides how many numbers its draw takes, so vmap cannot batch it: under vmap it
    reads the rates and raises, as any op that computes on values)."""
    check_tensor(input, "poisson")
    rates = input.array
    if rates.dtype.kind != "f":
        raise TypeError(f"poisson: expected a floating point input, got {rates.dtype}")
    if np.isnan(rates).any() or (rates < 0).any():
        raise ValueError("poisson: invalid Poisson rate, expected rates to be non-negative")
    draws = (generator or default_generator()).poisson(rates)
    return _connected(Tensor._make(np.asarray(draws, rates.dtype)), input)


__all__ = ["bernoulli", "bernoulli_", "normal", "poisson", "randint_like"]
