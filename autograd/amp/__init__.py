"""Mixed precision on the CPU: ``autocast`` and ``GradScaler``, PyTorch's
``torch.amp`` (also ``torch.autocast`` through the alias).

It is here to show mixed precision's numerics (float16's range and rounding, the
gradients that underflow to 0, why scaling the loss keeps them), not for speed:
NumPy computes float16 no faster than float32 on a CPU (most kernels convert).
bfloat16, PyTorch's CPU default, is refused with the reason (see autocast_mode.py).
"""
from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "get_autocast_dtype", "is_autocast_enabled"]
