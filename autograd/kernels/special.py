"""Special functions NumPy lacks (erf), and the exact GELU's forward built on it, as
Numba kernels with NumPy references.  The GELU kernel reads each element once and
also returns Phi(x), which the gradient reads (g (Phi + x phi)); the gradient itself
is left to NumPy, whose exp is vectorised and Numba's is not."""
import math

import numba
import numpy as np

from . import pick
from .threads import parallel_kernel


# erf to float32 precision in a few multiply-adds (libm's erf costs ~14 ns an element,
# and a GELU calls it twice per element a step): x p(x^2 / 2 - 1) for |x| < 2 (relative
# error <= 1e-8), sign(x) (1 - exp(-x^2) q(|x| - 3)) for 2 <= |x| < 4 (absolute error
# <= 1e-9), +-1 beyond (erfc(4) = 1.5e-8 is below float32's resolution at 1).  p and q
# are Chebyshev fits, highest degree first: `python -m tools.fit_erf` refits them.
_P = (-1.5101699921245909e-05, 7.824951779608206e-05, -0.0003339735948923689, 0.0013993724662436692, -0.005235390881473161, 0.017130400823958978, -0.04866268513260446, 0.11947888054052908, -0.2611118655585842, 0.6749332412149289)
_Q = (-2.4008688371714364e-05, 9.471502012164888e-05, -0.00032179806474222535, 0.0012158768047120152, -0.004480086471681337, 0.015885822638717004, -0.05437221044101278, 0.17900110546131062)


@numba.njit(cache=True, inline="always")
def _horner(coefficients, u):
    p = 0.0
    for c in numba.literal_unroll(coefficients):
        p = p * u + c
    return p


@numba.njit(cache=True)
def _erf_float32(v):
    a = abs(v)
    if a < 2.0:
        return v * _horner(_P, 0.5 * a * a - 1.0)
    if a < 4.0:
        r = 1.0 - math.exp(-a * a) * _horner(_Q, a - 3.0)
        return r if v > 0 else -r
    if a >= 4.0:
        return 1.0 if v > 0 else -1.0
    return v                                                 # NaN


@numba.njit(cache=True)
def _erf(v, single):
    """erf(v): the float32-precision form for float32 arrays (``single``), else libm's."""
    return _erf_float32(v) if single else math.erf(v)


@parallel_kernel
def _erf_flat(flat, out, single):
    for i in numba.prange(flat.size):
        out[i] = _erf(flat[i], single)


def erf_numba(x):
    x = np.asarray(x)
    # np.require, not ascontiguousarray: the latter turns 0-d arrays into 1-d ones.
    x = np.require(x, x.dtype if x.dtype.kind == "f" else np.float64, "C")
    out = np.empty_like(x)
    _erf_flat(x.reshape(-1), out.reshape(-1), x.dtype == np.float32)
    return out


_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf_reference(x):
    x = np.asarray(x)
    return _erf_scalar(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)


erf = pick(erf_numba, erf_reference)

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@parallel_kernel
def _gelu_flat(x, out, cdf, single):
    for i in numba.prange(x.size):
        v = x[i]
        c = 0.5 * (1.0 + _erf(v * _INV_SQRT_2, single))                  # Phi(x)
        cdf[i] = c
        out[i] = v * c                                                     # x Phi(x)


def gelu_numba(x):
    """Exact GELU of a float array, x Phi(x), and Phi(x) (which its gradient reads)."""
    x = np.require(x, x.dtype, "C")
    out, cdf = np.empty_like(x), np.empty_like(x)
    _gelu_flat(x.reshape(-1), out.reshape(-1), cdf.reshape(-1), x.dtype == np.float32)
    return out, cdf


def gelu_reference(x):
    cdf = 0.5 * (1.0 + erf_reference(x * _INV_SQRT_2))
    return x * cdf, cdf


gelu = pick(gelu_numba, gelu_reference)
