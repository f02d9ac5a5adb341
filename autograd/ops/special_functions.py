"""Special functions: the gamma family, the error-function family, modified Bessel
functions, the normal distribution's CDF and quantile, entropy, xlog1py, zeta.

NumPy has none of these but i0, so the forwards call ``scipy.special`` (the optional
extra ``scipy``; ``import autograd`` works without it and an op names the missing
package when called).  Writing and testing our own vectorised lgamma, polygamma,
erfinv, Bessel and zeta to full float64 accuracy would be a large library of its own
for no gain: SciPy's Cephes ports are what PyTorch's CPU kernels are ported from too.

A derivative of a special function is again a special function (lgamma' = digamma,
digamma' = polygamma(1), i0' = i1, ...), written with ``_sp(m, name)``: SciPy's
function on arrays, the registered op of that name on tensors, so every VJP is
itself differentiable.  Each VJP comment gives dL/dx in terms of g = dL/dy.
"""
import math

import numpy as np

from ..function import Primitive
from ..tensor import Tensor, tensor_method
from ..forward_ad import derived_jvp
from .binary import Broadcasting, elementwise, promote
from .elementwise import POSITIVE, unary
from .math_binary import log_where
from .registry import SampleInput, binary_samples, make, op, unary_samples
from .batching import elementwise_batch_rule, values_of

_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_HALF_LOG_PI = 0.5 * math.log(math.pi)


def scipy_special():
    try:
        import scipy.special
    except ImportError:
        raise ImportError("autograd's special functions (lgamma, digamma, erfinv, i0e, ...) "
                          "need SciPy: pip install 'tapegrad[scipy]'") from None
    return scipy.special


def _sp(m, name, op_name=None):
    """scipy.special's ``name`` on arrays (m = NumPy), the op ``op_name`` (by default
    the same name) on tensors."""
    return getattr(scipy_special(), name) if m is np else getattr(m, op_name or name)


def _scipy(name, fix=None):
    """A forward: scipy.special's ``name`` in the input's dtype (SciPy computes some
    float32 inputs in float64); ``fix(x, y)`` patches PyTorch's values where they differ."""
    def forward(x):
        y = np.asarray(getattr(scipy_special(), name)(x), dtype=x.dtype)
        return y if fix is None else fix(x, y)
    forward.__name__ = name
    return forward


def _lgamma_fix(x, y):
    return np.where(x == -np.inf, np.inf, y)      # lgamma(-inf) = inf, as PyTorch (SciPy: -inf)


def _safe(m, x):
    """(x == 0, x with 1 at its zeros): a removable 0/0 is selected from a safe
    denominator, so that no NaN enters a higher derivative."""
    zero = x == 0
    return zero, m.where(zero, 1.0, x)


def _i1_grad(m, g, x):
    zero, safe = _safe(m, x)          # g (i0(x) - i1(x) / x); 1/2 at 0
    return g * m.where(zero, 0.5, _sp(m, "i0")(safe) - _sp(m, "i1")(safe) / safe)


def _i1e_grad(m, g, x):
    zero, safe = _safe(m, x)          # g (i0e(x) - i1e(x) (sign(x) + 1/x)); 1/2 at 0
    return g * m.where(zero, 0.5, _sp(m, "i0e")(safe)
                       - _sp(m, "i1e")(safe) * (m.sign(safe) + 1.0 / safe))


# -- gamma family --------------------------------------------------------------------
Lgamma, lgamma = unary("lgamma", _scipy("gammaln", _lgamma_fix),
                       lambda m, g, x: g * _sp(m, "digamma")(x), "x",        # g digamma(x)
                       unary_samples(low=0.2, high=4.0))
def polygamma_array(n, x):
    y = np.asarray(scipy_special().polygamma(n, x), dtype=x.dtype)
    # polygamma(n >= 1, -inf) has no limit: NaN, as PyTorch (SciPy: inf)
    return np.where(x == -np.inf, np.nan, y).astype(x.dtype) if n else y


Digamma, digamma = unary("digamma", _scipy("digamma"),                           # g polygamma(1, x)
                         lambda m, g, x: g * (polygamma_array(1, x) if m is np else m.polygamma(1, x)),
                         "x", unary_samples(low=0.2, high=4.0))


class Polygamma(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, n, x):
        ctx.save_for_backward(x)
        ctx.n = n
        return polygamma_array(n, x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return None, g * polygamma(ctx.n + 1, x)     # dx = g polygamma(n + 1, x)


def _polygamma_samples(rng):
    for n in (0, 1, 3):
        for s in unary_samples(low=0.3, high=3.0)(rng):
            yield SampleInput((n,) + s.args, {}, f"n={n}-{s.name}")


@op(Polygamma, samples=_polygamma_samples,
    ref=lambda n, x: scipy_special().polygamma(n, x))
def polygamma(n, input):
    """The n-th derivative of digamma (n = 0 is digamma itself)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative integer, received {n!r}")
    if input.dtype.kind != "f":
        input = input.float()
    return Polygamma.apply(int(n), input)


@tensor_method(name="polygamma")
def _polygamma_method(self, n):
    return polygamma(n, self)


def _mvlgamma_samples(rng):
    for p in (1, 3):
        for s in unary_samples(low=p, high=p + 3.0)(rng):
            yield SampleInput(s.args, dict(p=p), f"p={p}-{s.name}")


@op(samples=_mvlgamma_samples, method=True,
    ref=lambda x, p: np.vectorize(lambda v: scipy_special().multigammaln(v, p))(x))
def mvlgamma(input, p):
    """The multivariate log-gamma: p (p - 1)/4 log(pi) + sum_{i<p} lgamma(x - i/2),
    composed from lgamma.  Every element must exceed (p - 1)/2, as in PyTorch."""
    if not isinstance(p, int) or p < 1:
        raise ValueError(f"mvlgamma: p must be a positive integer, received {p!r}")
    if input.dtype.kind != "f":
        input = input.float()
    if not bool(np.all(values_of(input) > (p - 1) / 2)):       # every sample's, under vmap
        raise ValueError(f"mvlgamma: all elements must be greater than (p - 1) / 2 = "
                         f"{(p - 1) / 2} for p = {p}")
    out = lgamma(input)
    for i in range(1, p):
        out = out + lgamma(input - i / 2)
    return out + p * (p - 1) / 2 * _HALF_LOG_PI


# -- error-function family ---------------------------------------------------------
Erfc, erfc = unary("erfc", _scipy("erfc"),
                   lambda m, g, x: -g * _TWO_OVER_SQRT_PI * m.exp(-(x * x)), "x")   # -g 2/sqrt(pi) e^(-x^2)
Erfinv, erfinv = unary("erfinv", _scipy("erfinv"),
                       lambda m, g, y: g * _SQRT_PI_OVER_2 * m.exp(y * y), "y",  # g sqrt(pi)/2 e^(y^2)
                       unary_samples(low=-0.9, high=0.9))
Erfcx, erfcx = unary("erfcx", _scipy("erfcx"),                                    # g (2 x erfcx(x) - 2/sqrt(pi))
                     lambda m, g, x: g * (2.0 * x * _sp(m, "erfcx")(x) - _TWO_OVER_SQRT_PI), "x",
                     method=False)
Ndtr, ndtr = unary("ndtr", _scipy("ndtr"),
                   lambda m, g, x: g * m.exp(-0.5 * x * x) / _SQRT_2PI, "x",        # g phi(x)
                   method=False)
Ndtri, ndtri = unary("ndtri", _scipy("ndtri"),
                     lambda m, g, y: g * _SQRT_2PI * m.exp(0.5 * y * y), "y",        # g / phi(y)
                     unary_samples(low=0.05, high=0.95), method=False)
LogNdtr, log_ndtr = unary("log_ndtr", _scipy("log_ndtr"),                          # g phi(x) / Phi(x)
                          lambda m, g, x: g * m.exp(-0.5 * x * x - _sp(m, "log_ndtr")(x)) / _SQRT_2PI,
                          "x", unary_samples(low=-5.0, high=3.0), method=False)

# -- modified Bessel functions of the first kind (and exponentially scaled) -------------
I0, i0 = unary("i0", _scipy("i0"), lambda m, g, x: g * _sp(m, "i1")(x), "x")      # g i1(x)
I0e, i0e = unary("i0e", _scipy("i0e"),                                            # g (i1e(x) - sign(x) i0e(x))
                 lambda m, g, x: g * (_sp(m, "i1e")(x) - m.sign(x) * _sp(m, "i0e")(x)), "x",
                 unary_samples(away=(0, 0.05)), method=False)
I1, i1 = unary("i1", _scipy("i1"), _i1_grad, "x", method=False)
I1e, i1e = unary("i1e", _scipy("i1e"), _i1e_grad, "x", unary_samples(away=(0, 0.05)), method=False)


def _entr(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        y = -x * np.log(x)
    return np.where(x > 0, y, np.where(x == 0, 0.0, np.where(x < 0, -np.inf, x))).astype(x.dtype)


Entr, entr = unary("entr", _entr, lambda m, g, x: -g * (m.log(x) + 1.0), "x",      # -g (ln x + 1)
                   unary_samples(**POSITIVE), method=False)


# -- two-input ---------------------------------------------------------------------
def _xlog1py(a, b):
    """a log1p(b), 0 where a == 0 unless b is NaN (PyTorch's and SciPy's rule)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a == 0) & ~np.isnan(b), 0.0, a * np.log1p(b)).astype(
            np.result_type(a, b))


class Xlog1py(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        x, y = promote(a, b)
        ctx.save_for_backward(a, b, (x == 0) & (y <= -1))
        return elementwise(ctx, "xlog1py", _xlog1py, x, y)

    # da = g log1p(b), 0 where a = 0 and b <= -1; db = g a / (1 + b) (PyTorch's formulas)
    da = staticmethod(lambda m, g, a, b, skip: g * log_where(m, skip, b, m.log1p))
    db = staticmethod(lambda m, g, a, b, skip: g * a / (b + 1.0))


def _float_args(a, b):
    """Integer operands become the default float dtype (xlogy and friends are float ops)."""
    from .binary import _t
    from .. import dtypes
    if dtypes.result_type(_t(a), _t(b)).kind != "f":
        a = a.float() if isinstance(a, Tensor) else float(a)
    return a, b


@op(Xlog1py, samples=binary_samples(low_b=-0.5, high_b=2.0, scalars=(1.5,)),
    ref=lambda a, b: _xlog1py(np.asarray(a), np.asarray(b)))
def xlog1py(input, other):
    return Xlog1py.apply(*_float_args(input, other))


def _scipy2(name):
    """A two-input forward: scipy.special's ``name`` in the operands' common dtype."""
    def forward(a, b):
        return np.asarray(getattr(scipy_special(), name)(a, b), dtype=np.result_type(a, b))
    forward.__name__ = name
    return forward


_zeta, _gammainc, _gammaincc = _scipy2("zeta"), _scipy2("gammainc"), _scipy2("gammaincc")


def _constant_first(low_a, high_a, low_b, high_b):
    """Samples of an op differentiable in its second input only (the first is constant)."""
    def gen(rng):
        for sa, sb in [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (3,))]:
            yield SampleInput((make(rng, sa, low_a, high_a, requires_grad=False),
                               make(rng, sb, low_b, high_b)), {}, f"{sa}x{sb}")
    return gen


def _second_only(ctx, name, first):
    if ctx.needs_input_grad[0]:
        raise NotImplementedError(f"special.{name}: the derivative with respect to {first} is "
                                  "not implemented (as in PyTorch); only the second input may "
                                  "require grad")


class Zeta(Broadcasting):
    @staticmethod
    def forward(ctx, x, q):
        _second_only(ctx, "zeta", "the order x")
        ctx.save_for_backward(x, q)
        return elementwise(ctx, "zeta", _zeta, x, q)

    db = staticmethod(lambda m, g, x, q: -g * x * (zeta(x + 1.0, q) if m is not np
                                                    else _zeta(x + 1.0, q)))  # dq = -g x zeta(x+1, q)


@op(Zeta, samples=_constant_first(1.5, 4.0, 0.5, 3.0), ref=_zeta)
def zeta(input, other):
    """The Hurwitz zeta function sum_k (k + q)^-x of x = ``input`` and q = ``other``."""
    return Zeta.apply(*_float_args(input, other))


def _gammainc_grad(m, g, a, x):
    # d/dx P(a, x) = x^(a-1) e^-x / Gamma(a)
    return g * m.exp((a - 1.0) * m.log(x) - x - _sp(m, "gammaln", "lgamma")(a))


class Gammainc(Broadcasting):
    name_, function, sign = "gammainc", staticmethod(_gammainc), 1.0

    @staticmethod
    def forward(ctx, a, x):
        _second_only(ctx, ctx.name_, "a")
        ctx.save_for_backward(a, x)
        return elementwise(ctx, ctx.name_, ctx.function, a, x)

    def db(ctx, m, g, a, x):                  # dx = +-g x^(a-1) e^-x / Gamma(a)
        return ctx.sign * _gammainc_grad(m, g, a, x)


class Gammaincc(Gammainc):                    # Q = 1 - P: the same, negated
    name_, function, sign = "gammaincc", staticmethod(_gammaincc), -1.0


_gammainc_samples = _constant_first(0.5, 3.0, 0.3, 3.0)


@op(Gammainc, samples=_gammainc_samples, ref=_gammainc)
def gammainc(input, other):
    """The regularized lower incomplete gamma function P(a, x) of a = ``input``, x = ``other``."""
    return Gammainc.apply(*_float_args(input, other))


@op(Gammaincc, samples=_gammainc_samples, ref=_gammaincc)
def gammaincc(input, other):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return Gammaincc.apply(*_float_args(input, other))


# -- without a derivative in PyTorch: computed, never recorded ------------------------
def _not_differentiable(name, forward):
    def public(input):
        x = input.array if input.dtype.kind == "f" else input.float().array
        return Tensor._make(np.asarray(forward(x), dtype=x.dtype))
    public.__name__ = public.__qualname__ = name
    public.__doc__ = (f"special.{name} of ``input``, elementwise.  Not differentiable: as in "
                      "PyTorch, the result does not require grad.")
    return public


bessel_j0 = _not_differentiable("bessel_j0", lambda x: scipy_special().j0(x))
bessel_j1 = _not_differentiable("bessel_j1", lambda x: scipy_special().j1(x))
bessel_y0 = _not_differentiable("bessel_y0", lambda x: scipy_special().y0(x))
bessel_y1 = _not_differentiable("bessel_y1", lambda x: scipy_special().y1(x))
modified_bessel_i0 = _not_differentiable("modified_bessel_i0", lambda x: scipy_special().i0(x))
modified_bessel_i1 = _not_differentiable("modified_bessel_i1", lambda x: scipy_special().i1(x))
modified_bessel_k0 = _not_differentiable("modified_bessel_k0", lambda x: scipy_special().k0(x))
modified_bessel_k1 = _not_differentiable("modified_bessel_k1", lambda x: scipy_special().k1(x))
scaled_modified_bessel_k0 = _not_differentiable("scaled_modified_bessel_k0",
                                                lambda x: scipy_special().k0e(x))
scaled_modified_bessel_k1 = _not_differentiable("scaled_modified_bessel_k1",
                                                lambda x: scipy_special().k1e(x))
spherical_bessel_j0 = _not_differentiable("spherical_bessel_j0",
                                          lambda x: scipy_special().spherical_jn(0, x))
airy_ai = _not_differentiable("airy_ai", lambda x: scipy_special().airy(x)[0])
