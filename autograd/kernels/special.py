"""Special functions NumPy lacks (erf), as Numba ufuncs with NumPy references."""
import math

import numba
import numpy as np

from . import pick


@numba.vectorize(cache=True)
def erf_numba(x):
    return math.erf(x)


_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf_reference(x):
    x = np.asarray(x)
    return _erf_scalar(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)


erf = pick(erf_numba, erf_reference)
