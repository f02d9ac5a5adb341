"""float16 through the kernels.  NumPy computes in float16 but Numba compiles no float16
code, so an op that runs a Numba kernel takes float16 tensors through float32: a
differentiable cast up on the way in and back down on the way out (so gradients come
back in float16 too).  PyTorch's CPU kernels likewise accumulate float16 in float32;
refusing float16 instead would break ported code that calls ``.half()``."""
import functools

import numpy as np

from ..tensor import Tensor

_HALF = np.dtype(np.float16)


def _up(a):
    return a.float() if isinstance(a, Tensor) and a.dtype == _HALF else a


def _down(t):
    return t.half() if isinstance(t, Tensor) and t.dtype.kind == "f" else t


def via_float32(fn):
    """Wrap a public op so float16 tensor arguments run it in float32."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        if not any(isinstance(a, Tensor) and a.dtype == _HALF for a in (*args, *kwargs.values())):
            return fn(*args, **kwargs)
        out = fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})
        if isinstance(out, tuple):
            parts = [_down(o) for o in out]
            return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
        return _down(out)
    return op


def half_as_float32(kernel):
    """The array-level form, for a kernel called on arrays whose first is float16: run
    it in float32 (each array it returns comes back in float16)."""
    def run(x, *more):
        if x.dtype != _HALF:
            return kernel(x, *more)
        out = kernel(*(a.astype(np.float32) for a in (x, *more)))
        return tuple(o.astype(_HALF) for o in out) if isinstance(out, tuple) else out.astype(_HALF)
    return run
