"""``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: inside it,
the ops on PyTorch's CPU lists run in ``dtype`` or float32 (autograd/ops/autocast.py).

bfloat16 is not supported, and says so: NumPy has no bfloat16, and the ml_dtypes
package's (a dtype of kind 'V', not 'f') has no BLAS product (its matmul returns
float32) and cannot enter the Numba kernels, so every op would need a second path.
float16 works everywhere.  As in PyTorch, a device other than the CPU, or a dtype
CPU autocast does not take, warns and disables the region.
"""
import functools
import warnings

import numpy as np

from ..device import device as _device
from ..dtypes import public
from ..grad_mode import STATE

_FLOAT16 = np.dtype(np.float16)


def _dtype_name(dtype):
    return getattr(dtype, "name", str(dtype))


class autocast:
    """A context manager and decorator; see the module docstring."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"autocast: expected `device_type` of type `str`, got: "
                             f"`{type(device_type).__name__}`")
        self.device = device_type
        self.fast_dtype = dtype
        self._enabled = bool(enabled)
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        if _device(device_type).type != "cpu":
            if self._enabled:
                warnings.warn(f"autocast: device_type '{device_type}' is not available (tapegrad "
                              "runs on the CPU only). Disabling autocast.", stacklevel=2)
            self._enabled = False
            return
        if dtype is None or _dtype_name(dtype) == "bfloat16":
            if self._enabled:
                raise RuntimeError(
                    "autocast: dtype=bfloat16 (CPU autocast's default) is not supported: NumPy "
                    "has no bfloat16, and ml_dtypes' bfloat16 has no BLAS product and cannot "
                    "run in tapegrad's kernels. Pass dtype=torch.float16.")
            return
        if np.dtype(dtype) != _FLOAT16:
            if self._enabled:
                warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                              "autocast.\nCPU Autocast only supports dtypes of torch.bfloat16, "
                              "torch.float16 currently.", stacklevel=2)
            self._enabled = False
            return
        self.fast_dtype = public(_FLOAT16)

    def __enter__(self):
        self._prev = (STATE.autocast_dtype, STATE.autocast_cache)
        if self._enabled:
            STATE.autocast_dtype = _FLOAT16
            if self._cache_enabled and STATE.autocast_cache is None:
                STATE.autocast_cache = {}
        else:
            STATE.autocast_dtype = None
        return self

    def __exit__(self, *exc):
        # The weight cache lives as long as the outermost region, as in PyTorch.
        STATE.autocast_dtype, STATE.autocast_cache = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return run


def is_autocast_enabled(device_type="cpu"):
    return device_type == "cpu" and STATE.autocast_dtype is not None


def get_autocast_dtype(device_type="cpu"):
    """The dtype a region would use (float16 here; PyTorch's CPU default is bfloat16)."""
    return public(_FLOAT16)
