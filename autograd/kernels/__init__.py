"""Numba kernels, each paired with a plain NumPy reference of the same function.

``AUTOGRAD_KERNELS=numpy`` (read once, at import) runs the whole library on the
references; tests hold every kernel against its reference.  Kernels compile
lazily on first call and are cached on disk (``cache=True``), so only the first
process pays the compile time.
"""
import os

BACKEND = os.environ.get("AUTOGRAD_KERNELS", "numba").strip().lower()
if BACKEND not in ("numba", "numpy"):
    raise ValueError(f"AUTOGRAD_KERNELS must be 'numba' or 'numpy', got {BACKEND!r}")


def pick(numba_impl, reference):
    """The implementation the library uses: the kernel unless the references are selected."""
    return numba_impl if BACKEND == "numba" else reference
