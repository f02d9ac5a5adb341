"""Random draws parameterised by tensors: bernoulli (and the in-place bernoulli_), normal
(its tensor forms), poisson; and randint_like, the rand family's missing *_like.

They draw from the global generator (creation.default_generator, which manual_seed
reseeds), or from ``generator=``.  As in PyTorch the draws are not reparameterised:
the result depends on its parameters only through the random numbers, so their
gradient is zero (PyTorch's derivatives.yaml: zeros for mean, std, p and rates); the
result is still connected to them, and requires grad when they do.  These are not
in the op registry: a draw has no reference to compare against and central
differences of a random function mean nothing; tests/test_reductions_more.py checks
their distributions and zero gradients.
"""
import numpy as np

from ..creation import default_generator
from ..tensor import Tensor, tensor_method
from .binary import where
from .scans import check_tensor


def _drawn(values, *parameters):
    """The drawn array as a tensor that depends on the (tensor) parameters with zero
    gradient: where(True, draw, p) passes none of g to p."""
    out = Tensor._make(values)
    everywhere = np.ones(values.shape, bool)
    for p in parameters:
        if isinstance(p, Tensor) and p.requires_grad:
            out = where(everywhere, out, p)
    return out


def _float_tensor(name, what, t):
    check_tensor(t, name, what)
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating point {what}, got {t.dtype}")
    return t.array


@tensor_method
def bernoulli(input, p=None, *, generator=None):
    """0/1 draws (in input's dtype) with probability ``input`` per element, or with the
    scalar probability ``p`` for every element of input's shape."""
    probs = _float_tensor("bernoulli", "input", input)
    if p is not None:
        probs = np.full(probs.shape, float(p), probs.dtype)
    if np.isnan(probs).any() or (probs < 0).any() or (probs > 1).any():
        raise ValueError("bernoulli: expected probabilities in [0, 1]"
                         + (f", got p={p}" if p is not None else " in input"))
    draws = (generator or default_generator()).random(probs.shape) < probs
    return _drawn(draws.astype(probs.dtype), input)


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
    m = _float_tensor("normal", "mean", mean) if isinstance(mean, Tensor) else float(mean)
    s = _float_tensor("normal", "std", std) if isinstance(std, Tensor) else float(std)
    if np.any(np.asarray(s) < 0):
        raise ValueError(f"normal: expects std >= 0.0, got {np.min(s)}")
    try:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    except ValueError:
        raise ValueError(f"normal: mean of shape {tuple(np.shape(m))} and std of shape "
                         f"{tuple(np.shape(s))} cannot be broadcast together") from None
    out_dtype = np.result_type(*[t.array.dtype for t in tensors])
    draw_dtype = out_dtype if out_dtype in (np.float32, np.float64) else np.float64
    draws = (generator or default_generator()).standard_normal(shape, dtype=draw_dtype)
    draws *= s                              # in place: two passes fewer over the draws
    draws += m
    return _drawn(np.asarray(draws, out_dtype), mean, std)


def poisson(input, generator=None):
    """Poisson draws (in input's dtype) with the non-negative rates ``input``."""
    rates = _float_tensor("poisson", "input", input)
    if np.isnan(rates).any() or (rates < 0).any():
        raise ValueError("poisson: invalid Poisson rate, expected rates to be non-negative")
    draws = (generator or default_generator()).poisson(rates)
    return _drawn(np.asarray(draws, rates.dtype), input)


__all__ = ["bernoulli", "bernoulli_", "normal", "poisson", "randint_like"]
