"""Keep freed array memory in the process for reuse (glibc's malloc).

A training step allocates and frees the same large temporaries (activations,
gradients, im2col columns) every step.  By default glibc serves blocks above 128 KB
(rising adaptively to at most 32 MB) with fresh mmaps and returns freed heap tops to
the system, so each step page-faults its temporaries in again: on the ViT-tiny step
that was about a quarter of the time (README, "Kernels").  At import the library
raises the mmap threshold to its maximum (32 MB) and the trim threshold to 1 GB, so
such blocks come from the heap and stay there for the next step; peak RSS does not
change (the same arrays are live at the peak).  ``AUTOGRAD_MALLOC=default`` leaves
the allocator as it is; other C libraries are left alone.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20            # glibc's ceiling for this setting on 64-bit
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory():
    """Apply the thresholds above; True if the C library took them."""
    if os.environ.get("AUTOGRAD_MALLOC", "").strip().lower() == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt               # glibc only
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


APPLIED = keep_freed_memory()
