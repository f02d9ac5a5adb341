"""Fit the polynomial coefficients of the float32 erf in autograd/kernels/special.py.

    python -m tools.measure.fit_erf

erf(x) = x p(u), u = x^2 / 2 - 1, for |x| < 2 (p: degree 9), and
erf(x) = sign(x) (1 - q(|x| - 3)) for 2 <= |x| <= 4 (q ~ erfc, degree 11): Chebyshev
least-squares fits on Chebyshev nodes, converted to the power basis for Horner's
rule.  Prints the coefficients (highest degree first) and the worst errors against
math.erf on a fine grid; the float32 kernel's test holds the kernel to them.
"""
import math

import numpy as np
from numpy.polynomial import chebyshev, polynomial

_erf = np.vectorize(math.erf)
_erfc = np.vectorize(math.erfc)


def _nodes(lo, hi, n=4000):
    return (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def fit():
    t = _nodes(0.0, 4.0)                                   # t = x^2 for |x| < 2
    x = np.sqrt(t)
    ratio = np.where(x > 0, _erf(x) / np.where(x > 0, x, 1.0), 2 / math.sqrt(math.pi))
    p = chebyshev.cheb2poly(chebyshev.chebfit(t / 2 - 1, ratio, 9))
    a = _nodes(2.0, 4.0)
    q = chebyshev.cheb2poly(chebyshev.chebfit(a - 3, _erfc(a), 11))
    return p[::-1], q[::-1]


def main():
    p, q = fit()
    print("P =", tuple(float(c) for c in p))
    print("Q =", tuple(float(c) for c in q))
    x = np.linspace(1e-6, 2, 200001)
    near = x * polynomial.polyval(x * x / 2 - 1, p[::-1])
    print("max relative error, |x| < 2:", float(np.max(np.abs(near / _erf(x) - 1))))
    x = np.linspace(2, 4, 200001)
    far = 1 - polynomial.polyval(x - 3, q[::-1])
    print("max absolute error, 2 <= |x| < 4:", float(np.max(np.abs(far - _erf(x)))))


if __name__ == "__main__":
    main()
