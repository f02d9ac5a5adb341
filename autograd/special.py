"""``autograd.special``: PyTorch's ``torch.special`` (reached as ``torch.special``
through ``import autograd as torch``).  The primitives live in autograd/ops/
(special_functions.py, math_unary.py, math_binary.py, elementwise.py, activation.py,
reduction.py); the special functions evaluate through SciPy, the optional extra
``scipy`` (special_functions.py says why).

Left out: the orthogonal polynomials (chebyshev_polynomial_t/u/v/w and their shifted
forms, hermite_polynomial_h/he, laguerre_polynomial_l, legendre_polynomial_p), which
PyTorch does not differentiate either.
"""
from .ops.activation import log_softmax, softmax  # noqa: F401
from .ops.elementwise import erf, expm1, log1p, sigmoid as expit  # noqa: F401
from .ops.elementwise import round as _round
from .ops.math_binary import xlogy  # noqa: F401
from .ops.math_unary import exp2, logit, sinc  # noqa: F401
from .ops.reduction import logsumexp  # noqa: F401
from .ops.special_functions import (airy_ai, bessel_j0, bessel_j1, bessel_y0,  # noqa: F401
                                    bessel_y1, digamma, entr, erfc, erfcx, erfinv, gammainc,
                                    gammaincc, i0, i0e, i1, i1e, lgamma as gammaln, log_ndtr,
                                    modified_bessel_i0, modified_bessel_i1, modified_bessel_k0,
                                    modified_bessel_k1, mvlgamma as multigammaln, ndtr, ndtri,
                                    polygamma, scaled_modified_bessel_k0,
                                    scaled_modified_bessel_k1, spherical_bessel_j0, xlog1py,
                                    zeta)

psi = digamma


def round(input, *, decimals=0):
    """Round to ``decimals`` places (keyword-only here, as in torch.special)."""
    return _round(input, decimals)


__all__ = ["airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "digamma", "entr",
           "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc",
           "gammaln", "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr", "log_softmax", "logit",
           "logsumexp", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
           "modified_bessel_k1", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round",
           "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "sinc", "softmax",
           "spherical_bessel_j0", "xlog1py", "xlogy", "zeta"]
