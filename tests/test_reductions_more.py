"""Scans, order statistics, statistics and calculus ops (autograd/ops/scans.py,
order_statistics.py, statistics.py, calculus.py, fills_and_slices.py) against PyTorch
2.13: values, dtypes and gradients on edge values (zeros, ties, +-inf, NaN, size-1
and zero-size dims, integer inputs); the counting ops; errors naming the op."""
import numpy as np
import pytest
import torch

import autograd as ag
from torch_compare import compare

rng = np.random.default_rng(5)
A34, A45, A234 = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((2, 3, 4))
V6 = rng.standard_normal(6)
INTS = np.array([[3, 1, 2, 2], [0, -4, 5, 5]])
NAN = np.nan

ZEROS = A45.copy()
ZEROS[0, 2] = ZEROS[2, 0] = ZEROS[3, [1, 3]] = 0.0      # one zero, a zero first, two zeros
TIES = np.array([[1.0, 3, 3, 2, 3, 1, 1], [2, 2, 5, 5, 0, 0, 7]])
WITH_NAN = np.array([[1.0, NAN, 0.5, NAN, 5.0], [2.0, -1.0, 3.0, 0.0, 4.0]])
WITH_INF = np.array([[1.0, np.inf, -2.0, 0.5], [-np.inf, 3.0, 1.0, 2.0]])
MINUS_INF_INSIDE = np.array([[0.3, -np.inf, 1.2, -0.4], [2.0, 1.0, -np.inf, -np.inf]])


def case(name, fn, *inputs, **kw):
    return pytest.param(fn, inputs, kw, id=name)


SCANS = [
    case("cumprod", lambda m, x: m.cumprod(x, 1), A45),
    case("cumprod-zeros", lambda m, x: x.cumprod(dim=-1), ZEROS),
    case("cumprod-zeros-dim0", lambda m, x: m.cumprod(x, 0), ZEROS),
    case("cumprod-int", lambda m, x: m.cumprod(x, 1), INTS),
    case("cumprod-0d", lambda m, x: m.cumprod(x, 0), np.array(1.5)),
    case("cumprod-empty", lambda m, x: m.cumprod(x, 1), np.zeros((2, 0))),
    case("cumprod-dtype", lambda m, x: m.cumprod(x, 1, dtype=m.float64), INTS),
    case("cummax", lambda m, x: m.cummax(x, 1), A45),
    case("cummax-ties", lambda m, x: x.cummax(1), TIES),
    case("cummax-nan", lambda m, x: m.cummax(x, 1), WITH_NAN),
    case("cummax-inf", lambda m, x: m.cummax(x, -1), WITH_INF),
    case("cummax-int", lambda m, x: m.cummax(x, 1), INTS),
    case("cummax-0d", lambda m, x: m.cummax(x, 0), np.array(2.0)),
    case("cummax-empty", lambda m, x: m.cummax(x, 0), np.zeros((0, 3))),
    case("cummin", lambda m, x: m.cummin(x, 0), A234),
    case("cummin-ties", lambda m, x: m.cummin(x, 1), TIES),
    case("cummin-nan", lambda m, x: x.cummin(dim=1), WITH_NAN),
    case("cummin-bool", lambda m, x: m.cummin(x, 0), np.array([True, False, True])),
    case("logcumsumexp", lambda m, x: m.logcumsumexp(x, 1), A45),
    case("logcumsumexp-large", lambda m, x: m.logcumsumexp(x, 0), A34 * 300 + 400),
    case("logcumsumexp-minus-inf", lambda m, x: x.logcumsumexp(1), MINUS_INF_INSIDE),
    case("logcumsumexp-0d", lambda m, x: m.logcumsumexp(x, 0), np.array(0.7)),
    case("logcumsumexp-empty", lambda m, x: m.logcumsumexp(x, 1), np.zeros((2, 0))),
]

ORDER = [
    case("median-all", lambda m, x: m.median(x), A45),
    case("median-even-count", lambda m, x: x.median(), V6),
    case("median-all-ties", lambda m, x: m.median(x), TIES),          # gradient shared
    case("median-all-nan", lambda m, x: m.median(x), WITH_NAN),       # to the NaNs
    case("median-int", lambda m, x: m.median(x), INTS),
    case("median-empty", lambda m, x: m.median(x), np.zeros((0,))),
    case("median-dim", lambda m, x: m.median(x, 1), A45),
    case("median-dim-keep", lambda m, x: x.median(0, keepdim=True), A234),
    case("median-dim-nan", lambda m, x: m.median(x, 1), WITH_NAN),
    case("median-dim-inf", lambda m, x: m.median(x, 1), WITH_INF),
    case("median-0d", lambda m, x: m.median(x, 0), np.array(3.0)),
    case("nanmedian-all", lambda m, x: m.nanmedian(x), WITH_NAN),
    case("nanmedian-all-nan", lambda m, x: m.nanmedian(x), np.full(3, NAN)),
    case("nanmedian-dim", lambda m, x: m.nanmedian(x, 1), WITH_NAN),
    case("nanmedian-dim-all-nan-row", lambda m, x: x.nanmedian(1),
         np.array([[NAN, NAN, NAN], [1.0, 2.0, 3.0]])),
    case("nanmedian-int", lambda m, x: m.nanmedian(x, 1), INTS),
    case("kthvalue", lambda m, x: m.kthvalue(x, 2, 1), A45),
    case("kthvalue-last", lambda m, x: x.kthvalue(4, 0, keepdim=True), A45),
    case("kthvalue-nan", lambda m, x: m.kthvalue(x, 5), WITH_NAN),
    case("kthvalue-inf", lambda m, x: m.kthvalue(x, 1), WITH_INF),
    case("kthvalue-0d", lambda m, x: m.kthvalue(x, 1), np.array(2.0)),
    case("mode-ties", lambda m, x: m.mode(x), TIES),
    case("mode-distinct", lambda m, x: x.mode(0), A45),
    case("mode-keep", lambda m, x: m.mode(x, 1, keepdim=True), TIES),
    case("mode-nan", lambda m, x: m.mode(x), WITH_NAN),
    case("mode-int", lambda m, x: m.mode(x, 1), INTS),
    case("mode-0d", lambda m, x: m.mode(x), np.array(-1.0)),
    case("msort", lambda m, x: m.msort(x), A45),
    case("msort-nan", lambda m, x: x.msort(), WITH_NAN.T.copy()),
    case("quantile", lambda m, x: m.quantile(x, 0.3), A45),
    case("quantile-q-tensor", lambda m, x, q: m.quantile(x, q, dim=1), A45, np.array([0.0, 0.25, 0.9, 1.0])),
    case("quantile-keepdim", lambda m, x, q: x.quantile(q, dim=0, keepdim=True), A234, np.array([0.1, 0.5])),
    case("quantile-all-keepdim", lambda m, x: m.quantile(x, 0.5, keepdim=True), A234),
    case("quantile-ties", lambda m, x: m.quantile(x, 0.4, dim=1), TIES),
    case("quantile-nan", lambda m, x: m.quantile(x, 0.5, dim=1), WITH_NAN),
    case("quantile-inf", lambda m, x: m.quantile(x, 0.8, dim=1), WITH_INF),
    case("quantile-size1", lambda m, x: m.quantile(x, 0.7, dim=1), A45[:, :1]),
    case("nanquantile", lambda m, x: m.nanquantile(x, 0.5, dim=1), WITH_NAN),
    case("nanquantile-q-tensor", lambda m, x, q: x.nanquantile(q), WITH_NAN, np.array([0.2, 0.75])),
    case("nanquantile-all-nan-row", lambda m, x: m.nanquantile(x, 0.5, dim=1),
         np.array([[NAN, NAN], [1.0, 2.0]])),
] + [case(f"quantile-{mode}", lambda m, x, mode=mode: m.quantile(x, 0.4, dim=1, interpolation=mode), A45)
     for mode in ("lower", "higher", "midpoint", "nearest")] + [
    case("quantile-nearest-half", lambda m, x, q: m.quantile(x, q, interpolation="nearest"),
         np.array([1.0, 2, 3, 4, 5]), np.array([0.125, 0.375, 0.625])),
]

STATISTICS = [
    case("aminmax", lambda m, x: m.aminmax(x), A45),
    case("aminmax-dim", lambda m, x: x.aminmax(dim=1, keepdim=True), A45),
    case("aminmax-ties", lambda m, x: m.aminmax(x, dim=1), TIES),
    case("aminmax-int", lambda m, x: m.aminmax(x), INTS),
    case("aminmax-inf", lambda m, x: m.aminmax(x, dim=0), WITH_INF),
    case("nansum", lambda m, x: m.nansum(x), WITH_NAN),
    case("nansum-dim", lambda m, x: x.nansum(1, keepdim=True), WITH_NAN),
    case("nansum-int", lambda m, x: m.nansum(x, 0), INTS),
    case("nansum-all-nan", lambda m, x: m.nansum(x), np.full(3, NAN)),
    case("nanmean", lambda m, x: m.nanmean(x), WITH_NAN),
    case("nanmean-dim", lambda m, x: x.nanmean(dim=0), WITH_NAN),
    case("std_mean", lambda m, x: m.std_mean(x), A45),
    case("std_mean-dim", lambda m, x: m.std_mean(x, 1, keepdim=True), A45),
    case("std_mean-correction", lambda m, x: m.std_mean(x, (0, 2), correction=0), A234),
    case("std_mean-unbiased", lambda m, x: m.std_mean(x, 1, False), A45),
    case("var_mean", lambda m, x: m.var_mean(x, 0), A45),
    case("var_mean-unbiased-overload", lambda m, x: m.var_mean(x, False), A45),
    case("dist", lambda m, x, y: m.dist(x, y), A34, A45[:3, :4]),
    case("dist-p1-broadcast", lambda m, x, y: x.dist(y, 1), A34, A34[0]),
    case("dist-p3", lambda m, x, y: m.dist(x, y, 3.5), A34, A45[:3, :4]),
    case("dist-inf", lambda m, x, y: m.dist(x, y, float("inf")), A34, A45[:3, :4]),
    case("dist-same", lambda m, x, y: m.dist(x, y), A34, A34),        # zero: gradient 0
    case("renorm", lambda m, x: m.renorm(x, 2, 0, 1.0), A45),
    case("renorm-dim1-p1", lambda m, x: x.renorm(1, 1, 2.0), A234),
    case("renorm-below", lambda m, x: m.renorm(x, 2, 0, 100.0), A45),
    case("renorm-p3", lambda m, x: m.renorm(x, 3, -1, 0.5), A45),
    case("cov", lambda m, x: m.cov(x), A45),
    case("cov-1d", lambda m, x: x.cov(), V6),
    case("cov-correction0", lambda m, x: m.cov(x, correction=0), A34),
    case("cov-fweights", lambda m, x, f: m.cov(x, fweights=f), A34, np.array([1, 3, 2, 1])),
    case("cov-aweights", lambda m, x, a: m.cov(x, aweights=a), A34, np.array([0.5, 1.0, 2.0, 0.3])),
    case("cov-both", lambda m, x, f, a: m.cov(x, correction=2, fweights=f, aweights=a), A34,
         np.array([2, 1, 1, 3]), np.array([0.5, 1.0, 2.0, 0.3])),
    case("cov-int", lambda m, x: m.cov(x), INTS),
    case("corrcoef", lambda m, x: m.corrcoef(x), A45),
    case("corrcoef-1d", lambda m, x: x.corrcoef(), V6),
    case("corrcoef-constant-row", lambda m, x: m.corrcoef(x), np.array([[1.0, 1, 1], [1, 2, 4]])),
]

CALCULUS = [
    case("diff", lambda m, x: m.diff(x), A45),
    case("diff-n2-dim0", lambda m, x: x.diff(2, 0), A45),
    case("diff-prepend-append", lambda m, x, p, a: m.diff(x, 1, 1, p, a), A34, A34[:, :2], A34[:, :1]),
    case("diff-past-size", lambda m, x: m.diff(x, 8), V6),
    case("diff-n0", lambda m, x: m.diff(x, 0), V6),
    case("diff-int", lambda m, x: m.diff(x), INTS),
    case("diff-bool", lambda m, x: m.diff(x), np.array([True, False, False, True])),
    case("diff-inf", lambda m, x: m.diff(x), WITH_INF),
    case("gradient", lambda m, x: m.gradient(x), A45),
    case("gradient-step", lambda m, x: m.gradient(x, spacing=2.0, dim=1), A45),
    case("gradient-steps", lambda m, x: m.gradient(x, spacing=(2.0, 0.5)), A34),
    case("gradient-coordinates", lambda m, x, c: m.gradient(x, spacing=[c], dim=1, edge_order=2),
         A45, np.array([0.0, 0.5, 1.5, 1.75, 3.0])),
    case("gradient-coordinates-order1", lambda m, x, c: m.gradient(x, spacing=(c,), dim=0),
         A45, np.array([0.0, 0.3, 1.5, 2.0])),
    case("gradient-order2", lambda m, x: m.gradient(x, edge_order=2, dim=[0, 1]), A45),
    case("gradient-int", lambda m, x: m.gradient(x, dim=1), INTS),
    case("gradient-size2", lambda m, x: m.gradient(x), np.array([1.0, 4.0])),
    case("trapezoid", lambda m, y: m.trapezoid(y), A45),
    case("trapezoid-dx", lambda m, y: m.trapezoid(y, dx=0.5, dim=0), A45),
    case("trapezoid-x1d", lambda m, y, x: m.trapezoid(y, x), A34, np.array([0.0, 0.5, 2.0, 2.5])),
    case("trapezoid-xfull", lambda m, y, x: m.trapezoid(y, x, dim=0), A34, A34.cumsum(0)),
    case("trapezoid-one-point", lambda m, y: m.trapezoid(y), A45[:, :1]),
    case("trapezoid-int", lambda m, y: m.trapezoid(y), INTS),
    case("trapz", lambda m, y, x: m.trapz(y, x), A34, np.array([0.0, 0.5, 2.0, 2.5])),
    case("trapz-dx", lambda m, y: m.trapz(y, dx=2.0), A34),
    case("cumulative_trapezoid", lambda m, y: m.cumulative_trapezoid(y), A45),
    case("cumulative_trapezoid-x", lambda m, y, x: m.cumulative_trapezoid(y, x, dim=0), A45,
         np.array([0.0, 1.0, 1.5, 4.0])),
    case("cumulative_trapezoid-dx", lambda m, y: m.cumulative_trapezoid(y, dx=0.1), A234),
]

FILLS = [
    case("fill", lambda m, x: m.fill(x, 2.5), A34),
    case("fill-tensor", lambda m, x, v: m.fill(x, v), A34, np.array(1.5)),
    case("t", lambda m, x: m.t(x), A34),
    case("t-1d", lambda m, x: m.t(x), V6),
    case("slice", lambda m, x: (m.slice if m is ag else torch.ops.aten.slice)(x, 1, 1, 3), A45),
    case("slice-step", lambda m, x: (m.slice if m is ag else torch.ops.aten.slice)(x, 0, 0, 100, 2), A45),
    case("unsafe_split", lambda m, x: m.unsafe_split(x, 2, 1), A45),
    case("unsafe_chunk", lambda m, x: x.unsafe_chunk(3, 0), A45),
]


@pytest.mark.parametrize("fn,inputs,kw", SCANS + ORDER + STATISTICS + CALCULUS + FILLS)
def test_against_torch(fn, inputs, kw):
    with np.errstate(all="ignore"):
        compare(fn, *inputs, **kw)


# -- where the index among ties is PyTorch's own choice: values and what the index holds --
@pytest.mark.parametrize("name,fn", [
    ("median", lambda m, x: m.median(x, 1)),
    ("nanmedian", lambda m, x: m.nanmedian(x, 1)),
    ("kthvalue", lambda m, x: m.kthvalue(x, 3, 1)),
])
def test_tied_selection(name, fn):
    x = ag.tensor(TIES, requires_grad=True)
    ours, theirs = fn(ag, x), fn(torch, torch.tensor(TIES))
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    picked = np.take_along_axis(TIES, ours.indices.numpy()[:, None], 1)[:, 0]
    np.testing.assert_array_equal(picked, ours.values.numpy())
    ours.values.sum().backward()          # one 1 per row, at the returned index
    np.testing.assert_array_equal(x.grad.numpy().sum(1), [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy()[np.arange(2), ours.indices.numpy()], [1.0, 1.0])


# -- values only: the counting ops, and where PyTorch records no gradient ------------------
COUNTS = [
    case("count_nonzero", lambda m, x: m.count_nonzero(x), INTS),
    case("count_nonzero-dim", lambda m, x: x.count_nonzero(dim=1), ZEROS),
    case("count_nonzero-dims", lambda m, x: m.count_nonzero(x, (0, 1)), WITH_NAN),
    case("dist-p0", lambda m, x, y: m.dist(x, y, 0), A34, A45[:3, :4]),  # PyTorch's backward fails
    case("trapezoid-empty", lambda m, y: m.trapezoid(y), np.zeros((2, 0))),  # PyTorch: no grad_fn
    case("as_strided_scatter", lambda m, x, s: m.as_strided_scatter(x, s, (2, 2), (5, 1)), A45, A34[:2, :2]),
    case("as_strided_scatter-offset", lambda m, x, s: x.as_strided_scatter(s, (3,), (6,), 1), A45, V6[:3]),
    case("histc", lambda m, x: m.histc(x, bins=5), A45),
    case("histc-range", lambda m, x: x.histc(4, min=-1, max=1), A45),
    case("histc-inf-ignored", lambda m, x: m.histc(x, bins=4, min=0, max=3), np.array([1.0, np.inf, 2.0, 3.0])),
    case("histc-constant", lambda m, x: m.histc(x, bins=4), np.array([2.0, 2.0])),
    case("histc-edges", lambda m, x: m.histc(x, bins=4, min=0, max=1), np.linspace(0, 1, 9)),
    case("bincount", lambda m, x: m.bincount(x), np.array([0, 3, 3, 1, 7])),
    case("bincount-minlength", lambda m, x: x.bincount(minlength=10), np.array([2, 2])),
    case("bincount-weights", lambda m, x, w: m.bincount(x, w), np.array([0, 2, 2]), np.array([1.0, 2.5, -1.0])),
    case("bincount-int-weights", lambda m, x, w: m.bincount(x, w), np.array([0, 2, 2]), np.array([1, 2, 3])),
    case("bincount-empty", lambda m, x: m.bincount(x), np.zeros(0, np.int64)),
    case("unique", lambda m, x: m.unique(x), np.array([3, 1, 2, 3, 1])),
    case("unique-all", lambda m, x: x.unique(return_inverse=True, return_counts=True),
         np.array([[3, 1], [2, 3]])),
    case("unique-nan", lambda m, x: m.unique(x), np.array([NAN, 1.0, NAN, 0.5])),
    case("unique-dim", lambda m, x: m.unique(x, dim=0, return_inverse=True, return_counts=True),
         np.array([[1, 2], [0, 1], [1, 2]])),
    case("unique_consecutive", lambda m, x: m.unique_consecutive(x, return_inverse=True, return_counts=True),
         np.array([1, 1, 2, 2, 3, 1, 1])),
    case("unique_consecutive-2d", lambda m, x: x.unique_consecutive(return_counts=True), np.array([[1, 1], [1, 2]])),
    case("unique_consecutive-dim", lambda m, x: m.unique_consecutive(x, return_inverse=True, return_counts=True,
                                                                     dim=0), np.array([[1, 1], [1, 1], [2, 3]])),
    case("unique_consecutive-dim1", lambda m, x: m.unique_consecutive(x, dim=1), np.array([[1, 1, 2], [3, 3, 3]])),
]


@pytest.mark.parametrize("fn,inputs,kw", COUNTS)
def test_counting_against_torch(fn, inputs, kw):
    compare(fn, *inputs, grad=False, **kw)


def test_dist_p0_has_zero_gradient():
    x = ag.tensor(A34, requires_grad=True)
    ag.dist(x, ag.tensor(A34[::-1].copy()), 0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


def test_nanmean_of_an_all_nan_slice():
    # NaN, as PyTorch; the NaNs' gradient is 0 here (PyTorch's is NaN there: its nansum
    # backward multiplies g = 1/0 by the mask), see the README
    x = np.array([[NAN, 1.0], [NAN, 2.0]])
    ours = ag.tensor(x, requires_grad=True)
    out = ag.nanmean(ours, 0)
    np.testing.assert_array_equal(out.numpy(), torch.nanmean(torch.tensor(x), 0).numpy())
    out.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), [[0.0, 0.5], [0.0, 0.5]])


def test_as_strided_scatter_gradients():
    # src's gradient is PyTorch's; input's is the result's outside the written region.
    # PyTorch 2.13's is the reverse (inside the region), and its own gradcheck of it fails
    x, s = ag.tensor(A45, requires_grad=True), ag.tensor(A34[:2, :2].copy(), requires_grad=True)
    xt, st = torch.tensor(A45, requires_grad=True), torch.tensor(A34[:2, :2].copy(), requires_grad=True)
    w = rng.standard_normal((4, 5))
    (ag.as_strided_scatter(x, s, (2, 2), (5, 1)) * ag.tensor(w)).sum().backward()
    (torch.as_strided_scatter(xt, st, (2, 2), (5, 1)) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), st.grad.numpy())
    outside = np.ones((4, 5))
    outside[:2, :2] = 0
    np.testing.assert_array_equal(x.grad.numpy(), w * outside)
    with pytest.raises(Exception):
        torch.autograd.gradcheck(lambda a: torch.as_strided_scatter(a, st.detach(), (2, 2), (5, 1)),
                                 (xt.detach().requires_grad_(),))
    assert ag.gradcheck(lambda a: ag.as_strided_scatter(a, s.detach(), (2, 2), (5, 1)),
                        [ag.tensor(A45, requires_grad=True)])


def test_counting_ops_are_not_recorded():
    x = ag.tensor(A45, requires_grad=True)
    for out in (ag.histc(x), ag.count_nonzero(x), ag.unique(x), ag.unique_consecutive(x)):
        assert not out.requires_grad and out.grad_fn is None
    assert ag.bincount(ag.tensor([0, 1]), ag.tensor([0.5, 2.0], requires_grad=True)).grad_fn is None


# -- second derivatives at the spots the registry samples do not reach ---------------------
def test_logcumsumexp_double_backward_matches_torch():
    x = rng.standard_normal((2, 5))
    ours, theirs = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = rng.standard_normal((2, 5))
    (go,) = ag.grad((ag.logcumsumexp(ours, 1) * ag.tensor(g)).sum(), [ours], create_graph=True)
    (gt,) = torch.autograd.grad((torch.logcumsumexp(theirs, 1) * torch.tensor(g)).sum(), [theirs],
                                create_graph=True)
    np.testing.assert_allclose(go.numpy(), gt.detach().numpy(), rtol=1e-10)
    (ggo,) = ag.grad((go ** 2).sum(), [ours])
    (ggt,) = torch.autograd.grad((gt ** 2).sum(), [theirs])
    np.testing.assert_allclose(ggo.numpy(), ggt.numpy(), rtol=1e-8)


# -- the scan kernel against its NumPy reference ---------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("is_min", [False, True])
def test_running_extremum_kernel_matches_reference(dtype, is_min):
    from autograd.kernels import scan
    gen = np.random.default_rng(11)
    for shape in [(1, 1), (3, 7), (5, 0), (0, 4), (17, 40)]:
        x = (gen.integers(-3, 4, shape) if dtype != np.bool_ else gen.random(shape) < 0.5).astype(dtype)
        if dtype in (np.float32, np.float64) and x.size:
            x[gen.random(shape) < 0.1] = np.nan            # NaNs among ties
            x[gen.random(shape) < 0.05] = np.inf
        values, index = scan.running_extremum_numba(x, is_min)
        ref_values, ref_index = scan.running_extremum_reference(x, is_min)
        np.testing.assert_array_equal(values, ref_values)
        np.testing.assert_array_equal(index, ref_index)
        g = gen.standard_normal(shape)
        np.testing.assert_allclose(scan.scatter_rows_numba(g, index), scan.scatter_rows_reference(g, index),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reverse_linear_scan_kernel_matches_reference(dtype):
    from autograd.kernels import scan
    gen = np.random.default_rng(12)
    for shape in [(1, 1), (4, 9), (3, 0), (0, 2), (6, 50)]:
        g, a = gen.standard_normal(shape).astype(dtype), gen.standard_normal(shape).astype(dtype)
        if a.size:
            a[gen.random(shape) < 0.2] = 0.0
            a[:, -1] = np.inf                      # the last a is unused: no NaN from it
        np.testing.assert_allclose(scan.reverse_linear_scan_numba(g, a),
                                   scan.reverse_linear_scan_reference(g, a), rtol=1e-5, atol=1e-6)


def test_cumprod_gradient_at_inf_is_the_derivative():
    # y = (1, inf, inf) from x = (1, inf, 2): dy_1/dx_1 = x_0 and dy_2/dx_1 = x_0 x_2 are
    # finite; PyTorch divides y by x there (inf / inf) and gives NaN
    x = ag.tensor([1.0, np.inf, 2.0], requires_grad=True)
    ag.cumprod(x, 0).backward(ag.tensor([0.5, 1.0, -2.0]))
    assert x.grad.numpy()[1] == 1.0 * 1.0 + 1.0 * 2.0 * -2.0
    torch_x = torch.tensor([1.0, np.inf, 2.0], requires_grad=True)
    torch.cumprod(torch_x, 0).backward(torch.tensor([0.5, 1.0, -2.0]))
    assert np.isnan(torch_x.grad.numpy()[1])


def test_cumprod_double_backward_at_zeros_matches_torch():
    x = ZEROS.copy()
    ours, theirs = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = rng.standard_normal(x.shape)
    (go,) = ag.grad((ag.cumprod(ours, 1) * ag.tensor(g)).sum(), [ours], create_graph=True)
    (gt,) = torch.autograd.grad((torch.cumprod(theirs, 1) * torch.tensor(g)).sum(), [theirs],
                                create_graph=True)
    np.testing.assert_allclose(go.numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (ggo,) = ag.grad((go ** 2).sum(), [ours])
    (ggt,) = torch.autograd.grad((gt ** 2).sum(), [theirs])
    np.testing.assert_allclose(ggo.numpy(), ggt.numpy(), rtol=1e-9, atol=1e-12)


# -- errors name the op ---------------------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda: ag.cumprod(ag.tensor(A34), 2), "cumprod"),
    (lambda: ag.cummax(ag.tensor(A34), 1.5), "cummax"),
    (lambda: ag.logcumsumexp(ag.tensor(INTS), 1), "logcumsumexp"),
    (lambda: ag.median(ag.zeros(2, 0), 1), "median.*non-zero size"),
    (lambda: ag.kthvalue(ag.tensor(A34), 5), "kthvalue.*out of range"),
    (lambda: ag.mode(ag.zeros(0, 3), 0), "mode"),
    (lambda: ag.quantile(ag.tensor(A34), 1.5), "quantile.*range"),
    (lambda: ag.quantile(ag.tensor(INTS), 0.5), "quantile.*float"),
    (lambda: ag.nanquantile(ag.tensor(A34), 0.5, interpolation="cubic"), "nanquantile.*interpolation"),
    (lambda: ag.aminmax(ag.zeros(0)), "aminmax"),
    (lambda: ag.nanmean(ag.tensor(INTS)), "nanmean"),
    (lambda: ag.renorm(ag.tensor(A34), 0, 0, 1.0), "renorm"),
    (lambda: ag.cov(ag.tensor(A234)), "cov"),
    (lambda: ag.cov(ag.tensor(A34), fweights=ag.tensor([1.0, 2, 3, 4])), "cov.*fweights"),
    (lambda: ag.cov(ag.tensor(A34), aweights=ag.tensor([1.0, 2])), "cov.*aweights"),
    (lambda: ag.histc(ag.tensor([1.0, NAN])), "histc.*not finite"),
    (lambda: ag.histc(ag.tensor(INTS)), "histc"),
    (lambda: ag.bincount(ag.tensor([-1, 2])), "bincount.*non-negative"),
    (lambda: ag.bincount(ag.tensor(A34)), "bincount"),
    (lambda: ag.diff(ag.tensor(A34), prepend=ag.tensor(V6)), "diff.*prepend"),
    (lambda: ag.diff(ag.tensor(1.0)), "diff"),
    (lambda: ag.gradient(ag.tensor([1.0, 2.0]), edge_order=2), "gradient.*edge_order"),
    (lambda: ag.gradient(ag.tensor(A34), spacing=[1.0]), "gradient.*spacing"),
    (lambda: ag.trapezoid(ag.tensor(A34), ag.tensor([0.0, 1.0])), "trapezoid"),
    (lambda: ag.fill(ag.tensor(A34), ag.tensor([1.0, 2.0])), "fill.*0-dimensional"),
    (lambda: ag.as_strided_scatter(ag.tensor(A34), ag.tensor(A34), (3, 4), (5, 1)), "as_strided_scatter"),
    (lambda: ag.as_strided_scatter(ag.tensor(A34), ag.tensor(V6), (2, 2), (4, 1)), "as_strided_scatter"),
])
def test_errors_name_the_op(call, match):
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError), match=match):
        call()


def test_full_median_gradient_is_shared_like_torch():
    # PyTorch's evenly_distribute_backward: every element equal to the median gets g / count
    x = np.array([[2.0, 1.0, 2.0], [3.0, 2.0, 0.0]])
    ours = ag.tensor(x, requires_grad=True)
    ag.median(ours).backward()
    theirs = torch.tensor(x, requires_grad=True)
    torch.median(theirs).backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    assert ours.grad.numpy()[0, 0] == pytest.approx(1 / 3)


def test_std_mean_returns_a_pair_like_torch():
    out = ag.std_mean(ag.tensor(A45), dim=1)
    assert isinstance(out, tuple) and len(out) == 2
    mins = ag.aminmax(ag.tensor(A45))
    assert (mins.min.item(), mins.max.item()) == (A45.min(), A45.max())


def test_fill_in_place_functions():
    x = ag.tensor(A34.copy())
    assert ag.fill_(x, 3.0) is x and (x.numpy() == 3.0).all()
    assert ag.zero_(x) is x and (x.numpy() == 0.0).all()
    v = ag.tensor(2.0, requires_grad=True)
    ag.fill(ag.zeros(2, 3), v).sum().backward()
    assert v.grad.item() == 6.0


def test_slice_is_kept_out_of_star_imports():
    namespace = {}
    exec("from autograd import *", namespace)
    assert namespace.get("slice", slice) is slice and "slice" not in ag.__all__
