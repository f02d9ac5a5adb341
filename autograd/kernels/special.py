"""Special functions NumPy lacks (erf), as Numba kernels with NumPy references."""
import math

import numba
import numpy as np

from . import pick
from .threads import parallel_kernel


@parallel_kernel
def _erf_flat(flat, out):
    for i in numba.prange(flat.size):
        out[i] = math.erf(flat[i])


def erf_numba(x):
    x = np.asarray(x)
    # np.require, not ascontiguousarray: the latter turns 0-d arrays into 1-d ones.
    x = np.require(x, x.dtype if x.dtype.kind == "f" else np.float64, "C")
    out = np.empty_like(x)
    _erf_flat(x.reshape(-1), out.reshape(-1))
    return out


_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf_reference(x):
    x = np.asarray(x)
    return _erf_scalar(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)


erf = pick(erf_numba, erf_reference)
