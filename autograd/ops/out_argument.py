"""PyTorch's ``out=`` argument on the public op functions (``torch.mul(a, b, out=c)``).

The op runs as usual, then its result is written into ``out`` (a tensor, or a tuple
for ops that return several), as PyTorch does: ``out`` is resized when its shape
differs (with PyTorch's warning if it held elements), the result is cast into its
dtype when the cast is safe within a kind ("same_kind") and refused otherwise, and
``out`` itself is returned.  As in PyTorch there is no autograd through ``out=``: an
argument that requires grad, with grad mode on, is an error naming the op.  Only the
functions take ``out=``; the Tensor methods and operators do not (as in PyTorch),
which keeps the operators' hot path free of it.
"""
import functools
import warnings

import numpy as np

from ..grad_mode import STATE
from ..tensor import Tensor


def accepts_out(fn, name):
    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        if STATE.grad_enabled and any(isinstance(a, Tensor) and a.requires_grad
                                      for a in (*args, *kwargs.values())):
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                               "differentiation, but one of the arguments requires grad.")
        result = fn(*args, **kwargs)
        if isinstance(result, tuple):
            if not isinstance(out, (tuple, list)) or len(out) != len(result):
                raise TypeError(f"{name}(): out= must be a tuple of {len(result)} tensors, "
                                f"got {type(out).__name__}")
            for r, o in zip(result, out):
                _write(name, r, o)
            return type(result)(*out) if hasattr(result, "_fields") else tuple(out)
        _write(name, result, out)
        return out
    return op


def _write(name, result, out):
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): out= must be a Tensor, got {type(out).__name__}")
    src = np.asarray(result.array if isinstance(result, Tensor) else result)
    if not np.can_cast(src.dtype, out.array.dtype, casting="same_kind"):
        raise RuntimeError(f"{name}(): result type {src.dtype} can't be cast to the desired "
                           f"output type {out.array.dtype}")
    if out.shape != src.shape:
        if out.array.size:
            warnings.warn(f"{name}(): an output with one or more elements was resized since it had "
                          f"shape {list(out.shape)}, which does not match the required output shape "
                          f"{list(src.shape)}. Resize it to shape 0 first to avoid this warning.",
                          UserWarning, stacklevel=3)
        out.array = np.empty(src.shape, out.array.dtype)
    np.copyto(out.array, src, casting="same_kind")
    out._version.value += 1
