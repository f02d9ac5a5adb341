"""CPU autocast's per-op policy: which ops run in the low dtype and which in float32.

PyTorch's CPU lists (docs: "CPU Ops that can autocast to lower precision" and "... to
float32"), which differ from the CUDA ones: matrix products, linear, convolutions and
attention run in the autocast dtype; the losses run in float32.  Every other op runs
in its inputs' dtype (promoted as usual: float16 + float32 is float32), as in PyTorch.
``autograd.amp.autocast`` switches the policy on (grad_mode.STATE); the casts are
the differentiable ``Tensor.to``, so the gradient of a float32 parameter is float32.
"""
import functools

import numpy as np

from ..grad_mode import STATE
from ..tensor import Tensor

_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def _cast(x, dtype, cache):
    # float64 is never cast, as in PyTorch ("eligible" tensors are the lower floats)
    if not isinstance(x, Tensor) or x.array.dtype.kind != "f" or x.array.dtype in (dtype, _FLOAT64):
        return x
    # PyTorch caches the casts of leaves that require grad (the weights) per region.
    cacheable = cache is not None and x.grad_fn is None and x.requires_grad
    if cacheable and id(x) in cache:
        return cache[id(x)][1]
    y = x.to(dtype)
    if cacheable:
        cache[id(x)] = (x, y)       # x is kept alive so that its id is not reused
    return y


def _policy(target):
    def decorate(fn):
        @functools.wraps(fn)
        def cast_then_call(*args, **kwargs):
            low = STATE.autocast_dtype
            if low is None:
                return fn(*args, **kwargs)
            dtype = low if target is None else target
            cache = STATE.autocast_cache
            STATE.autocast_dtype = None        # the op's own insides run as written
            try:
                return fn(*[_cast(a, dtype, cache) for a in args],
                          **{k: _cast(v, dtype, cache) for k, v in kwargs.items()})
            finally:
                STATE.autocast_dtype = low
        return cast_then_call
    return decorate


lower_precision = _policy(None)     # runs in the autocast dtype
float32 = _policy(_FLOAT32)         # runs in float32
