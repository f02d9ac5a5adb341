"""The math family (inverse trig and hyperbolic, special functions, more broadcasting
math, autograd.special) at the edges of its domains against PyTorch 2.13 (float64):
zeros, +-inf, NaN, poles, integer inputs.  Values and the gradients of sum(out * w)
must agree, NaN for NaN (the harness of test_edge_gradients.py)."""
import numpy as np
import pytest
import torch

import autograd as ag
from test_edge_gradients import EDGES_NAN, PAIR_A, PAIR_B, both
from test_edge_gradients import test_value_and_gradient_match_pytorch as check_against_pytorch

inf, nan = np.inf, np.nan
# Poles and integer points of the gamma family, and the halves between.
GAMMA = np.array([0.0, -0.0, -1.0, -2.0, -0.5, -1.5, 0.5, 1.0, 2.0, 1e-8, 30.0, 171.5, inf,
                  -inf, nan])
# At the poles -1, -2, ... PyTorch's polygamma(n >= 1) returns a large finite value (its
# series, e.g. 5e32), ours (SciPy's) inf: test_polygamma_poles_are_infinite
# and at +-inf PyTorch's polygamma(n >= 2) gives NaN and -inf, ours the limit 0 and NaN
NEGATIVE_INTEGERS = np.array([-1.0, -2.0, -40.0])


def _off_poles(x):
    return x[~((x < 0) & (x == np.round(x)))]


OFF_POLES, EDGES_OFF_POLES = _off_poles(GAMMA), _off_poles(EDGES_NAN)
FINITE_OFF_POLES = OFF_POLES[~np.isinf(OFF_POLES)]
UNIT = np.array([0.0, 1e-300, 0.25, 0.5, 0.75, 1.0, -0.1, 1.1, nan])   # probabilities and beyond

UNARY = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2", "log10",
         "exp2", "deg2rad", "rad2deg", "trunc", "fix", "frac", "sinc", "erfc", "erfinv", "i0",
         "nan_to_num", "positive", "arcsin", "arctanh", "lgamma"]
SPECIAL = ["entr", "erfcx", "i0e", "log_ndtr", "ndtr", "expit", "gammaln", "erfc", "erfinv",
           "exp2", "expm1", "log1p", "i0"]
# PyTorch's i1 and i1e send a gradient of 1/2 (their value at 0) through a NaN input,
# ours NaN: test_i1_gradient_of_nan_is_nan
EDGES = EDGES_NAN[:-1]
BINARY = ["atan2", "hypot", "copysign", "fmod", "logaddexp", "logaddexp2", "xlogy", "fmax",
          "fmin", "nextafter", "float_power", "true_divide", "rsub", "arctan2", "ldexp"]

# sinc's gradient at 1e-8 differs from PyTorch's, whose formula cancels there (5% off):
# test_sinc_gradient_near_zero_is_exact holds ours to the exact value instead
SINC_EDGES = EDGES_NAN[EDGES_NAN != 1e-8]
CASES = [both(f"{n}-edges", lambda m, f, x, n=n: getattr(x, n)(),
              SINC_EDGES if n == "sinc" else EDGES_NAN) for n in UNARY]
CASES += [both("lgamma-poles", lambda m, f, x: m.lgamma(x), GAMMA)]
CASES += [both(f"{n}-gamma", lambda m, f, x, n=n: getattr(m.special, n)(x), OFF_POLES)
          for n in ("psi", "digamma")]
CASES += [both("digamma-edges", lambda m, f, x: x.digamma(), EDGES_OFF_POLES)]
CASES += [both(f"special.{n}", lambda m, f, x, n=n: getattr(m.special, n)(x), EDGES)
          for n in ("i1", "i1e")]
CASES += [both(f"special.{n}", lambda m, f, x, n=n: getattr(m.special, n)(x), EDGES_NAN)
          for n in SPECIAL]
CASES += [both(f"{n}-pairs", lambda m, f, a, b, n=n: getattr(m, n)(a, b), PAIR_A, PAIR_B)
          for n in BINARY]
CASES += [
    both("special.ndtri", lambda m, f, x: m.special.ndtri(x), UNIT),
    both("logit", lambda m, f, x: m.logit(x), UNIT),
    both("logit-eps", lambda m, f, x: m.logit(x, eps=0.2), UNIT),
    both("special.logit", lambda m, f, x: m.special.logit(x, 0.1), UNIT),
    both("special.xlog1py", lambda m, f, a, b: m.special.xlog1py(a, b), PAIR_A, PAIR_B),
    both("special.xlogy", lambda m, f, a, b: m.special.xlogy(a, b), PAIR_A, PAIR_B),
    both("nan_to_num-values", lambda m, f, x: x.nan_to_num(nan=1.5, posinf=7.0, neginf=-7.0),
         EDGES_NAN),
    both("polygamma-1", lambda m, f, x: m.polygamma(1, x), FINITE_OFF_POLES),
    both("polygamma-2-method", lambda m, f, x: x.polygamma(2), FINITE_OFF_POLES),
    both("special.polygamma-3", lambda m, f, x: m.special.polygamma(3, x), FINITE_OFF_POLES),
    both("mvlgamma", lambda m, f, x: m.mvlgamma(x, 3), np.array([1.01, 1.5, 2.0, 7.25, inf])),
    both("special.multigammaln", lambda m, f, x: m.special.multigammaln(x, 2),
         np.array([0.51, 1.0, 3.5])),
    both("special.zeta-q", lambda m, f, q: m.special.zeta(2.5, q),
         np.array([0.5, 1.0, 2.0, 10.0, 0.0, -1.5, nan])),
    both("special.gammainc", lambda m, f, x: m.special.gammainc(m.tensor([0.5, 1.0, 2.0, 4.0],
                                                                          dtype=m.float64), x),
         np.array([0.0, 0.5, 3.0, inf])),
    both("special.gammaincc", lambda m, f, x: m.special.gammaincc(
        m.tensor([0.5, 1.0, 2.0, 4.0], dtype=m.float64), x), np.array([1e-3, 0.5, 3.0, 20.0])),
    both("special.round", lambda m, f, x: m.special.round(x * 7, decimals=1), EDGES_NAN),
    both("special.logsumexp", lambda m, f, x: m.special.logsumexp(x.reshape(3, 4), 1),
         EDGES_NAN),
    both("special.softmax", lambda m, f, x: m.special.softmax(x, 0),
         np.array([0.0, -1.0, 3.0, -inf])),
    both("special.log_softmax", lambda m, f, x: m.special.log_softmax(x, 0),
         np.array([0.0, -1.0, 3.0])),
    both("frexp-mantissa", lambda m, f, x: m.frexp(x)[0], EDGES_NAN[np.isfinite(EDGES_NAN)]),
    both("clamp_min", lambda m, f, x: x.clamp_min(0.5), EDGES_NAN),
    both("clamp_max", lambda m, f, x: m.clamp_max(x, -1.0), EDGES_NAN),
    both("rsub-alpha", lambda m, f, a, b: m.rsub(a, b, alpha=2.0), PAIR_A, PAIR_B),
    both("copysign-scalar", lambda m, f, x: x.copysign(-0.0), EDGES_NAN),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("ours,theirs,inputs,rtol,atol", CASES)
def test_math_matches_pytorch(ours, theirs, inputs, rtol, atol):
    check_against_pytorch(ours, theirs, inputs, rtol, atol)


INTS = np.array([0, 1, 2, 5])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
                                  "atanh", "log2", "log10", "exp2", "deg2rad", "rad2deg",
                                  "sinc", "lgamma", "digamma", "erfc", "erfinv", "i0", "logit",
                                  "trunc", "sgn", "nan_to_num", "positive"])
def test_integer_inputs_take_pytorchs_dtype(name):
    ours = getattr(ag, name)(ag.tensor(INTS))
    theirs = getattr(torch, name)(torch.tensor(INTS))
    assert str(ours.dtype) == str(theirs.dtype), name
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["atan2", "copysign", "fmod", "xlogy", "fmax", "fmin",
                                  "float_power", "true_divide", "ldexp"])
def test_integer_pairs_take_pytorchs_dtype(name):
    a, b = np.array([1, 2, 3]), np.array([2, 1, 3])
    ours = getattr(ag, name)(ag.tensor(a), ag.tensor(b))
    theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    assert str(ours.dtype) == str(theirs.dtype), name
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_functions_keep_float32(dtype):
    x = np.array([0.3, 1.7, 2.5])
    for name in ("lgamma", "digamma", "erfinv", "erfc"):
        ours = getattr(ag, name)(ag.tensor(x * 0.3, dtype=getattr(ag, dtype)))
        assert str(ours.dtype) == f"autograd.{dtype}" or ours.dtype == getattr(ag, dtype), name
    assert ag.polygamma(2, ag.tensor(x, dtype=getattr(ag, dtype))).dtype == getattr(ag, dtype)


def test_frexp_exponent_is_int32_and_not_differentiable():
    x = np.array([0.0, 1.0, -3.5, 1e-300, 6e10])
    m, e = ag.frexp(ag.tensor(x, requires_grad=True))
    tm, te = torch.frexp(torch.tensor(x))
    assert str(e.dtype) == str(te.dtype) and not e.requires_grad and m.requires_grad
    np.testing.assert_array_equal(e.numpy(), te.numpy())
    np.testing.assert_array_equal(m.detach().numpy(), tm.numpy())


@pytest.mark.parametrize("name", ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1",
                                  "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
                                  "modified_bessel_k1", "scaled_modified_bessel_k0",
                                  "scaled_modified_bessel_k1", "spherical_bessel_j0", "airy_ai"])
def test_undifferentiated_special_functions_match_pytorch(name):
    x = np.array([0.0, 0.5, 1.0, 3.0, 25.0, -2.0, inf, nan])
    ours = getattr(ag.special, name)(ag.tensor(x, requires_grad=True))
    theirs = getattr(torch.special, name)(torch.tensor(x, requires_grad=True))
    assert not ours.requires_grad and not theirs.requires_grad
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-300)


def test_sinc_gradient_near_zero_is_exact():
    import mpmath               # PyTorch's own dependency (through sympy)
    x = np.array([1e-8, -1e-5, 2.9e-3, 3.1e-3, 0.05])
    t = ag.tensor(x, requires_grad=True)
    ag.sinc(t).sum().backward()
    mpmath.mp.dps = 40
    exact = [float(mpmath.diff(lambda v: mpmath.sinc(mpmath.pi * v), mpmath.mpf(v))) for v in x]
    np.testing.assert_allclose(t.grad.numpy(), exact, rtol=1e-10)
    assert ag.special.sinc is ag.sinc


def test_integer_pairs_become_floats_where_pytorch_has_no_integer_kernel():
    # PyTorch raises ("hypot_cpu not implemented for 'Long'"); we compute in float32
    a, b = ag.tensor([3, 5]), ag.tensor([4, 12])
    assert ag.hypot(a, b).dtype == ag.float32 and ag.hypot(a, b).tolist() == [5.0, 13.0]
    assert ag.logaddexp(a, b).dtype == ag.float32


def test_polygamma_poles_are_infinite():
    x = ag.tensor(NEGATIVE_INTEGERS, dtype=ag.float64, requires_grad=True)
    assert np.isinf(ag.polygamma(1, x).numpy()).all()
    ag.digamma(x).sum().backward()
    assert np.isinf(x.grad.numpy()).all()
    ends = ag.tensor([inf, -inf], dtype=ag.float64)
    for n in (1, 2, 3):
        assert ag.polygamma(n, ends).tolist()[0] == 0.0 and np.isnan(ag.polygamma(n, ends)[1].item())


def test_i1_gradient_of_nan_is_nan():
    for fn in (ag.special.i1, ag.special.i1e):
        x = ag.tensor([nan, 0.0], dtype=ag.float64, requires_grad=True)
        fn(x).sum().backward()
        assert np.isnan(x.grad[0].item()) and x.grad[1].item() == 0.5


def test_zeta_tends_to_zero_as_q_grows():
    # PyTorch gives NaN at q = inf; the limit (and SciPy's value) is 0
    assert ag.special.zeta(2.5, ag.tensor([inf], dtype=ag.float64)).item() == 0.0


def test_scalar_operands():
    # PyTorch's atan2 and xlogy take Python numbers in their Tensor forms
    x = ag.tensor([0.5, -1.0], dtype=ag.float64)
    np.testing.assert_allclose(ag.atan2(x, 2.0).numpy(), np.arctan2(x.numpy(), 2.0))
    np.testing.assert_allclose(ag.xlogy(2.0, x.abs()).numpy(),
                               torch.xlogy(2.0, torch.tensor(x.numpy()).abs()).numpy())
    assert ag.sgn is ag.sign and ag.fix is ag.trunc and ag.arctan2 is ag.atan2


def test_torch_special_alias():
    import autograd as torch_like
    assert torch_like.special.erfinv is ag.special.erfinv
    assert torch_like.special.psi is torch_like.special.digamma


def test_errors_name_the_op():
    x = ag.tensor([0.5, 1.5], requires_grad=True)
    with pytest.raises(ValueError, match="polygamma: n must be a non-negative integer"):
        ag.polygamma(-1, x)
    with pytest.raises(ValueError, match=r"mvlgamma: all elements must be greater than"):
        ag.mvlgamma(x, 3)
    with pytest.raises(NotImplementedError, match="special.zeta: the derivative with respect"):
        ag.special.zeta(x, 2.0)
    with pytest.raises(TypeError, match="frexp: expected a floating-point tensor"):
        ag.frexp(ag.tensor([1, 2]))
    with pytest.raises(ValueError, match="atan2: shapes"):
        ag.atan2(ag.ones(3), ag.ones(4))


def _in_place_args(name, lib):
    if name in ("atan2", "arctan2", "hypot", "copysign", "fmod", "float_power", "xlogy", "ldexp",
                "nextafter", "true_divide"):
        return (lib.tensor([-0.5, 2.0, 1.5], dtype=lib.float64),)
    return {"polygamma": (2,), "mvlgamma": (1,), "clamp_min": (0.4,), "clamp_max": (0.4,),
            "logit": (0.1,)}.get(name, ())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", __import__("autograd.ops.math_inplace",
                                            fromlist=["_NAMES"])._NAMES)
def test_in_place_methods_match_pytorch(name):
    """Values against PyTorch's in-place method, gradients against its out-of-place op
    (PyTorch has no derivative for in-place asinh, acosh and atanh; we do)."""
    x = np.array([0.3, 0.55, 0.8]) + (1.0 if name in ("acosh", "arccosh") else 0.0)
    leaf = ag.tensor(x, dtype=ag.float64, requires_grad=True)
    t = leaf * 1.0
    out = getattr(t, name + "_")(*_in_place_args(name, ag))
    assert out is t
    out.sum().backward()
    theirs = torch.tensor(x)
    getattr(theirs, name + "_")(*_in_place_args(name, torch))
    np.testing.assert_allclose(t.detach().numpy(), theirs.numpy(), rtol=1e-10, err_msg=name)
    ref = torch.tensor(x, requires_grad=True)
    getattr(ref, name)(*_in_place_args(name, torch)).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(force=True), rtol=1e-9,
                               err_msg=name)   # force: sgn's gradient is a ZeroTensor
