"""Special functions NumPy lacks (erf), a float32 exp(-u) that vectorises, and the
logistic function and the exact GELU's forward and gradient built on them, as Numba
kernels with NumPy references.  The GELU forward reads each element once and also
returns Phi(x), which the gradient reads (g (Phi + x phi)); the gradient is one pass
too."""
import math

import numba
import numpy as np
from numba import uint64 as U
from numba.extending import overload

from . import pick
from .threads import polynomial_kernel


# erf to float32 precision in multiply-adds and selects, no branch and no exp, so the
# loops vectorise (libm's erf is a scalar call per element): x p(x^2 / 2 - 1) for |x| < 2
# (relative error <= 1e-8), sign(x) (1 - q(|x| - 3)) for 2 <= |x| <= 4 with q ~ erfc
# (absolute error <= 1e-9), |x| clamped at 4 beyond (erfc(4) = 1.5e-8 is below
# float32's resolution at 1).  p and q are Chebyshev fits, highest degree first:
# `python -m tools.measure.fit_erf` refits them.
_P = (
    -1.5101699921245909e-05, 7.824951779608206e-05, -0.0003339735948923689,
    0.0013993724662436692, -0.005235390881473161, 0.017130400823958978,
    -0.04866268513260446, 0.11947888054052908, -0.2611118655585842, 0.6749332412149289)
_Q = (
    9.467147874607791e-06, -2.211728966309201e-05, -1.189712697693081e-05,
    0.00014112260157236935, -0.0003918769024596302, 0.0007350006868826085,
    -0.0010161499000417937, 0.0010450755329269117, -0.0007891516479987785,
    0.00041770306286133924, -0.00013925119621478797, 2.209125638211987e-05)


@numba.njit(cache=True, inline="always")
def _horner(coefficients, u):
    p = 0.0
    for c in numba.literal_unroll(coefficients):
        p = p * u + c
    return p


@numba.njit(cache=True, inline="always")
def _erf_float32(v):
    a = min(abs(v), 4.0)
    near = v * _horner(_P, 0.5 * a * a - 1.0)
    far = 1.0 - _horner(_Q, a - 3.0)
    e = near if a < 2.0 else (far if v > 0 else -far)
    return e if v == v else v                                # NaN stays NaN


def _erf(v):
    """erf of one element inside a kernel: the form above for float32, libm's for
    float64.  Chosen by type when Numba compiles the caller (see the overload), so no
    branch is left in the loop and it vectorises."""
    return math.erf(v)


@overload(_erf, inline="always")
def _erf_by_type(v):
    if v == numba.types.float32:
        return lambda v: _erf_float32(v)
    return lambda v: math.erf(v)


# exp(-u), u >= 0, in float32 with multiply-adds and selects only: Numba calls libm's
# scalar exp, so a loop over it does not vectorise (GELU's gradient took 3.2 ms in
# NumPy's seven passes over 1M elements, 0.9 ms in one pass of this).  Cody-Waite:
# u = n ln2 - r with |r| <= ln2 / 2 (ln2 split in two so n ln2_hi is exact), e^-u =
# e^r 2^-n, e^r by its degree-7 Taylor polynomial (remainder < 5e-9), 2^-n as the
# product of n's binary digits' powers (no bit casts, which Numba cannot vectorise).
# Within 2 float32 roundings of the exact value down to float32's smallest normal
# (e^-87.34); past that exp(-u) = 0, so inf and NaN behave as NumPy's exp.  Reaching
# into the subnormals takes one more select and multiply, and a loop with it
# measured 13x slower (1M floats 0.65 -> 8.4 ms: LLVM stopped vectorising it), for
# values below 1.2e-38; PyTorch's sigmoid flushes them too, from -88.7.
_F32 = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F32(1.4426950408889634), _F32(0.693359375), _F32(-2.12194440e-4)
_EXP_TAYLOR = tuple(_F32(1.0 / math.factorial(k)) for k in range(7, -1, -1))
_TWO_TO_MINUS = tuple(_F32(2.0 ** -(2 ** i)) for i in range(7))     # 2^-1, 2^-2, ..., 2^-64
_ONE, _HALF = _F32(1), _F32(0.5)
_EXP_CUT = _F32(-math.log(np.finfo(np.float32).tiny))      # 87.34: n <= 126 below it


@numba.njit(cache=True, inline="always")
def _exp_neg_float32(u):
    v = min(u, _EXP_CUT)
    n = numba.int32(v * _LOG2E + _HALF)
    nf = numba.float32(n)
    r = (nf * _LN2_HI - v) + nf * _LN2_LO
    p = _F32(0)
    for c in numba.literal_unroll(_EXP_TAYLOR):
        p = p * r + c
    s = _ONE
    s *= _TWO_TO_MINUS[0] if n & 1 else _ONE
    s *= _TWO_TO_MINUS[1] if n & 2 else _ONE
    s *= _TWO_TO_MINUS[2] if n & 4 else _ONE
    s *= _TWO_TO_MINUS[3] if n & 8 else _ONE
    s *= _TWO_TO_MINUS[4] if n & 16 else _ONE
    s *= _TWO_TO_MINUS[5] if n & 32 else _ONE
    s *= _TWO_TO_MINUS[6] if n & 64 else _ONE
    return _F32(0) if u > _EXP_CUT else p * s + (u - u)          # u - u: NaN stays NaN


def exp_neg(u):
    """exp(-u) of one element inside a kernel: the form above for float32, libm's for
    float64 (chosen by type when Numba compiles the caller, as _erf is)."""
    return math.exp(-u)


@overload(exp_neg, inline="always")
def _exp_neg_by_type(u):
    if u == numba.types.float32:
        return lambda u: _exp_neg_float32(u)
    return lambda u: math.exp(-u)


# The loops index with unsigned integers, as kernels/conv.py does: a signed index can
# keep Numba's negative-index test inside a loop and stop it from vectorising.
@polynomial_kernel
def _erf_flat(flat, out):
    for i in numba.prange(U(flat.size)):
        out[i] = _erf(flat[i])


def _map_flat(kernel, x):
    """out[i] = f(x[i]) by a flat kernel, for a C-contiguous array; ``x`` comes from
    np.require, not ascontiguousarray, which turns 0-d arrays into 1-d ones."""
    out = np.empty_like(x)
    kernel(x.reshape(-1), out.reshape(-1))
    return out


def erf_numba(x):
    x = np.asarray(x)
    return _map_flat(_erf_flat, np.require(x, x.dtype if x.dtype.kind == "f" else np.float64, "C"))


_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf_reference(x):
    x = np.asarray(x)
    return _erf_scalar(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)


erf = pick(erf_numba, erf_reference)


@polynomial_kernel
def _sigmoid_flat(x, out):
    one = x.dtype.type(1)                  # not the literal 1, which would widen float32
    for i in numba.prange(U(x.size)):
        v = x[i]
        e = exp_neg(abs(v))                # exp(-|x|) <= 1: neither branch overflows
        r = one / (one + e)
        out[i] = r if v >= 0 else e * r    # 1 / (1 + e^-x), or e^x / (1 + e^x); NaN stays


def sigmoid_numba(x):
    """The logistic function of a float32/64 array on the vectorising exp (NumPy's
    stable form takes six passes: 4096 float32 elements 16.5 -> 7.4 us, 1M 8.4 -> 0.73
    ms at 2 threads)."""
    if x.dtype != np.float32 and x.dtype != np.float64:
        return sigmoid_reference(x)
    return _map_flat(_sigmoid_flat, np.require(x, x.dtype, "C"))


def sigmoid_reference(x):
    e = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return y.astype(x.dtype, copy=False) if x.dtype.kind == "f" else y     # ints: as exp's


sigmoid = pick(sigmoid_numba, sigmoid_reference)

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@polynomial_kernel
def _gelu_flat(x, out, cdf, inv_sqrt2):
    for i in numba.prange(U(x.size)):
        v = x[i]
        c = _HALF * (_ONE + _erf(v * inv_sqrt2))      # Phi(x), in x's dtype throughout
        cdf[i] = c
        out[i] = v * c                                                     # x Phi(x)


def gelu_numba(x):
    """Exact GELU of a float array, x Phi(x), and Phi(x) (which its gradient reads)."""
    x = np.require(x, x.dtype, "C")
    out, cdf = np.empty_like(x), np.empty_like(x)
    _gelu_flat(x.reshape(-1), out.reshape(-1), cdf.reshape(-1), x.dtype.type(_INV_SQRT_2))
    return out, cdf


def gelu_reference(x):
    cdf = 0.5 * (1.0 + erf_reference(x * _INV_SQRT_2))
    return x * cdf, cdf


@polynomial_kernel
def _gelu_grad_flat(x, cdf, g, out, inv_sqrt_2pi):
    for i in numba.prange(U(x.size)):
        v = x[i]
        out[i] = g[i] * (cdf[i] + v * inv_sqrt_2pi * exp_neg(_HALF * v * v))


def gelu_grad_numba(x, cdf, g):
    """g (Phi(x) + x phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi): the exact GELU's
    gradient, from the Phi(x) its forward returned.  g of another dtype takes the
    reference."""
    if g.dtype != x.dtype:
        return gelu_grad_reference(x, cdf, g)
    x, cdf, g = (np.require(a, x.dtype, "C") for a in (x, cdf, g))
    out = np.empty_like(x)
    _gelu_grad_flat(x.reshape(-1), cdf.reshape(-1), g.reshape(-1), out.reshape(-1),
                    x.dtype.type(_INV_SQRT_2PI))
    return out


def gelu_grad_reference(x, cdf, g):
    # in place in one temporary (a fresh array per pass costs page faults)
    t = np.asarray(np.multiply(x, x, dtype=np.result_type(x, g)))   # 0-d stays an array
    t *= -0.5
    np.exp(t, out=t)
    t *= _INV_SQRT_2PI
    t *= x
    t += cdf
    t *= g
    return t


gelu = pick(gelu_numba, gelu_reference)
gelu_grad = pick(gelu_grad_numba, gelu_grad_reference)
