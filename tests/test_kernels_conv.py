"""The convolution kernels and algorithms against their NumPy references: im2col /
col2im, Winograd F(4x4, 3x3)'s transforms, the direct grouped kernels, and every
algorithm on the shapes where the library picks it (autograd/kernels/conv_drivers.py),
on random geometries: batch 1, empty batch, odd sizes, stride larger than the kernel,
padding (including asymmetric: padding beyond the output), dilation, float32 and
float64.  Every test runs twice, once on each twin of the kernels (kernel_twins.py).
"""
import numpy as np
import pytest

import autograd.kernels.conv_drivers as ca
import autograd.ops.conv as oc
from autograd.kernels import conv as kc
from autograd.kernels import conv_direct as kd
from autograd.kernels import winograd as kwg
from kernel_twins import DTYPES, kernel_twin, tolerance  # noqa: F401  (kernel_twin: autouse)


def _conv_geometry(rng):
    """A random valid (shape, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)."""
    n = int(rng.choice([0, 1, 2, 3]))
    c = int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 5, 2))          # often stride > kernel
    dh, dw = (int(v) for v in rng.integers(1, 3, 2))
    ph, pw = (int(v) for v in rng.integers(0, 3, 2))
    h = int(rng.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = int(rng.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 9))
    # output size from top/left padding plus a random bottom/right padding
    oh = (h + ph + int(rng.integers(0, 3)) - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pw + int(rng.integers(0, 3)) - dw * (kw - 1) - 1) // sw + 1
    return (n, c, h, w), (kh, kw, sh, sw, ph, pw, dh, dw, max(oh, 1), max(ow, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_im2col_col2im_match_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    shape, geo = _conv_geometry(rng)
    x = rng.standard_normal(shape).astype(dtype)
    n, c = shape[:2]
    cols_shape = (c * geo[0] * geo[1], n, geo[8] * geo[9])
    out = np.full(cols_shape, np.nan, dtype)                # every entry must be written
    cols = kc.im2col_numba(x, *geo, out)
    assert cols is out and cols.dtype == dtype
    np.testing.assert_array_equal(cols, kc.im2col_reference(x, *geo, np.empty_like(out)))
    g = rng.standard_normal(cols_shape).astype(dtype)
    back = kc.col2im_numba(g, *shape[1:], *geo)
    assert back.shape == shape and back.dtype == dtype
    np.testing.assert_allclose(back, kc.col2im_reference(g, *shape[1:], *geo), **tolerance(dtype))
    # col2im is the adjoint of im2col: <im2col(x), g> == <x, col2im(g)>
    np.testing.assert_allclose(np.vdot(cols, g), np.vdot(x, back), rtol=1e-4, atol=1e-4)


def test_im2col_known_values():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    cols = kc.im2col_numba(x, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2, np.empty((4, 1, 4)))
    # column 0 is the top-left 2x2 block, column 3 the bottom-right one
    np.testing.assert_array_equal(cols[:, 0, 0], [0, 1, 4, 5])
    np.testing.assert_array_equal(cols[:, 0, 3], [10, 11, 14, 15])
    padded = kc.im2col_numba(x, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, np.empty((9, 1, 16)))
    np.testing.assert_array_equal(padded[:, 0, 0], [0, 0, 0, 0, 0, 1, 0, 4, 5])


# -- Winograd F(4x4, 3x3) -----------------------------------------------------------------------


def _wino_case(rng):
    n = int(rng.choice([0, 1, 2, 3]))
    c, o = (int(v) for v in rng.integers(1, 5, 2))
    h, w = (int(v) for v in rng.integers(1, 10, 2))
    ph, pw = (int(v) for v in rng.integers(0, 3, 2))
    h, w = max(h, 3 - 2 * ph), max(w, 3 - 2 * pw)
    oh = h + ph + int(rng.integers(0, 3)) - 2          # random bottom/right padding
    ow = w + pw + int(rng.integers(0, 3)) - 2
    return n, c, o, h, w, ph, pw, max(oh, 1), max(ow, 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
def test_winograd_transforms_match_reference(seed, dtype, kernel_twin):
    rng = np.random.default_rng(200 + seed)
    n, c, o, h, w, ph, pw, oh, ow = _wino_case(rng)
    if seed % 3 == 0:                  # padding beyond 2 reads as a negative offset (dx use)
        ph, pw = ph - 3, pw - 1
    th, tw = (oh + 3) // 4, (ow + 3) // 4
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    shape = (36, c, n * th * tw)
    out = np.full(shape, np.nan, dtype)                    # every entry must be written
    v = kwg.input_transform_numba(x, ph, pw, th, tw, out)
    assert v is out
    ref = kwg.input_transform_reference(x, ph, pw, th, tw, np.empty(shape, dtype))
    np.testing.assert_allclose(v, ref, **tolerance(dtype))
    m = rng.standard_normal((36, o, n * th * tw)).astype(dtype)
    out = np.full((n, o, oh, ow), np.nan, dtype)             # every entry must be written
    y = kwg.output_transform_numba(m, out)
    assert y is out
    np.testing.assert_allclose(y, kwg.output_transform_reference(m, np.empty_like(out)),
                               **tolerance(dtype))
    g = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    shape = (36, o, n * th * tw)
    gt = kwg.grad_transform_numba(g, th, tw, np.full(shape, np.nan, dtype))
    np.testing.assert_allclose(gt, kwg.grad_transform_reference(g, th, tw, np.empty(shape, dtype)),
                               **tolerance(dtype))
    # grad_transform is output_transform's adjoint (crop included)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(m, gt), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_winograd_matches_im2col(seed, dtype, monkeypatch):
    rng = np.random.default_rng(300 + seed)
    n, c, o, h, w, ph, pw, oh, ow = _wino_case(rng)
    geo = ca.ConvGeometry(1, 1, ph, pw, 1, 1, 1)
    x = rng.standard_normal((n, c, h, 2 * w)).astype(dtype)[..., ::2]     # non-contiguous
    wt = rng.standard_normal((o, c, 3, 3)).astype(dtype)
    g = rng.standard_normal((n, o, oh, ow)).astype(dtype).transpose(0, 1, 3, 2).copy()
    g = g.transpose(0, 1, 3, 2)                                           # non-contiguous
    monkeypatch.setattr(ca, "FORCE_ALGORITHM", "im2col")
    y_ref, dx_ref = ca.conv_forward(x, wt, geo, oh, ow), ca.conv_input_grad(g, wt, geo, h, w)
    dw_ref = ca.conv_weight_grad(x, g, geo, 3, 3)
    monkeypatch.setattr(ca, "FORCE_ALGORITHM", "winograd")
    # odd seeds: one image per chunk (the batch loop); even seeds: the whole batch at once
    monkeypatch.setattr(ca, "WINOGRAD_CHUNK_BYTES", 1 if seed % 2 else 1 << 40)
    monkeypatch.setattr(ca, "WINOGRAD_MIN_CHUNK_TILES", 1)
    y, dx = ca.conv_forward(x, wt, geo, oh, ow), ca.conv_input_grad(g, wt, geo, h, w)
    dw = ca.conv_weight_grad(x, g, geo, 3, 3)
    assert dw.shape == (o, c, 3, 3) and dw.dtype == dtype
    np.testing.assert_allclose(dw, dw_ref, **(dict(rtol=1e-4, atol=1e-4) if dtype == np.float32
                                              else dict(rtol=1e-10, atol=1e-10)))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.shape == y_ref.shape and y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(dx, dx_ref, **tol)


def test_winograd_route_gradcheck(monkeypatch):
    """conv2d through the Winograd route (forced): first and second
    derivatives against finite differences, forward against the direct-sum reference."""
    import autograd as ag
    monkeypatch.setattr(ca, "FORCE_ALGORITHM", "winograd")
    rng = np.random.default_rng(7)
    x = ag.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = ag.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    fn = lambda a, b: oc.conv2d(a, b, padding=1)
    np.testing.assert_allclose(fn(x, w).array, oc.conv2d_reference(x.array, w.array, padding=1),
                               rtol=1e-12, atol=1e-12)
    assert ag.gradcheck(fn, (x, w)) and ag.gradgradcheck(fn, (x, w))


# -- direct convolution kernels -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_direct_conv_kernels_match_reference(seed, dtype):
    rng = np.random.default_rng(400 + seed)
    (n, c, h, w), geo = _conv_geometry(rng)
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geo
    groups = int(rng.choice([1, c]))                       # dense or depthwise
    o = groups * int(rng.integers(1, 3))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // groups, kh, kw)).astype(dtype)
    g = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    args = (sh, sw, ph, pw, dh, dw, groups)
    y = kd.conv_direct_numba(x, wt, *args, oh, ow)
    assert y.shape == (n, o, oh, ow) and y.dtype == dtype
    np.testing.assert_allclose(y, kd.conv_direct_reference(x, wt, *args, oh, ow), **tolerance(dtype))
    dx = kd.conv_direct_transpose_numba(g, wt, *args, h, w)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, kd.conv_direct_transpose_reference(g, wt, *args, h, w),
                               **tolerance(dtype))
    dwt = kd.conv_direct_weight_grad_numba(g, x, *args, kh, kw)
    assert dwt.shape == wt.shape and dwt.dtype == dtype
    np.testing.assert_allclose(dwt, kd.conv_direct_weight_grad_reference(g, x, *args, kh, kw),
                               **tolerance(dtype))
    # the transpose kernel is the forward's adjoint: <conv(x), g> == <x, conv^T(g)>
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, dx), rtol=1e-4, atol=1e-4)


# -- every convolution algorithm, on the shapes where it is picked and on forced shapes ----------
# (n, c, o, h, w, k, stride, padding, groups): the algorithm choose_algorithm picks for each
# (im2col runs one GEMM per image for few outputs and weights, ca._per_image_gemms, else one)
PICKED = [((8, 32, 32, 24, 24, 3, 1, 1, 1), "winograd"),        # 3x3 stride 1, many channels
          ((2, 16, 24, 6, 5, 1, 2, 0, 1), "gemm_1x1"),          # ResNet's strided shortcut
          ((2, 16, 24, 8, 8, 1, 1, 0, 1), "gemm_1x1"),          # 64 pixels: a GEMM per image
          ((3, 16, 16, 9, 7, 3, 2, 1, 1), "im2col"),            # strided 3x3
          ((4, 1, 6, 14, 14, 5, 1, 2, 1), "im2col"),            # LeNet's first conv, smaller
          ((2, 4, 20, 7, 6, 3, 2, 1, 1), "im2col"),             # > 16 outputs: one batch GEMM
          ((2, 8, 8, 6, 6, 3, 1, 1, 2), "im2col"),              # grouped, 4 channels a group
          ((2, 8, 8, 9, 9, 3, 1, 1, 8), "direct"),              # depthwise
          ((2, 8, 16, 8, 7, 3, 2, 1, 4), "direct")]             # grouped, 2 channels a group


@pytest.mark.parametrize("shape,algo", PICKED, ids=[a + str(i) for i, (_, a) in enumerate(PICKED)])
def test_conv_algorithms_agree_with_reference_where_picked(shape, algo, kernel_twin):
    """float32 through the algorithm the library picks, against the float64 direct-sum
    reference; the input and weight gradients against the reference's adjoints."""
    n, c, o, h, w, k, s, p, groups = shape
    geo = ca.ConvGeometry(s, s, p, p, 1, 1, groups)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    assert ca.choose_algorithm(c // groups, o, k, k, geo, np.float32, n, (oh, ow), (h, w),
                               (oh, ow)) == algo
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((o, c // groups, k, k))
    g = rng.standard_normal((n, o, oh, ow))
    y = ca.conv_forward(x.astype(np.float32), wt.astype(np.float32), geo, oh, ow)
    dx = ca.conv_input_grad(g.astype(np.float32), wt.astype(np.float32), geo, h, w)
    dw = ca.conv_weight_grad(x.astype(np.float32), g.astype(np.float32), geo, k, k)
    args = (s, s, p, p, 1, 1, groups)
    tol = dict(rtol=1e-4, atol=1e-4 * np.sqrt(c * k * k))
    assert y.dtype == dx.dtype == dw.dtype == np.float32
    np.testing.assert_allclose(y, kd.conv_direct_reference(x, wt, *args, oh, ow), **tol)
    np.testing.assert_allclose(dx, kd.conv_direct_transpose_reference(g, wt, *args, h, w), **tol)
    np.testing.assert_allclose(dw, kd.conv_direct_weight_grad_reference(g, x, *args, k, k),
                               rtol=1e-4, atol=1e-4 * np.sqrt(n * oh * ow))


@pytest.mark.parametrize("shape", [(4, 1, 6, 14, 14, 5, 1, 2, 1), (3, 6, 16, 9, 9, 5, 1, 0, 1),
                                   (2, 4, 20, 7, 6, 3, 2, 1, 1), (2, 8, 8, 6, 6, 3, 1, 1, 2)])
def test_weight_grad_reuses_forward_columns(shape):
    """The im2col columns the forward keeps give the weight gradient computed afresh
    (per-image, one thin GEMM, whole-batch and grouped layouts); other algorithms keep none."""
    n, c, o, h, w, k, s, p, groups = shape
    geo = ca.ConvGeometry(s, s, p, p, 1, 1, groups)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((o, c // groups, k, k))
    g = rng.standard_normal((n, o, oh, ow))
    y, cols = ca.conv_forward_and_columns(x, wt, geo, oh, ow, True)
    assert cols is not None and ca.conv_forward_and_columns(x, wt, geo, oh, ow, False)[1] is None
    np.testing.assert_array_equal(y, ca.conv_forward(x, wt, geo, oh, ow))
    np.testing.assert_allclose(ca.conv_weight_grad(x, g, geo, k, k, cols),
                               ca.conv_weight_grad(x, g, geo, k, k), rtol=1e-12, atol=1e-12)
    geo1 = ca.ConvGeometry(1, 1, 0, 0, 1, 1, 1)
    w1 = rng.standard_normal((o, c, 1, 1))
    assert ca.conv_forward_and_columns(x, w1, geo1, h, w, True)[1] is None


@pytest.mark.parametrize("algo", ca.ALGORITHMS)
def test_forced_algorithm_gradcheck(algo, monkeypatch):
    """conv2d with each algorithm forced (where it applies), float64: forward against the
    reference, first and second derivatives against finite differences."""
    import autograd as ag
    monkeypatch.setattr(ca, "FORCE_ALGORITHM", algo)
    rng = np.random.default_rng(11)
    cases = {"im2col": ((2, 2, 5, 4), (3, 2, 2, 3), dict(stride=(2, 1), padding=1)),
             "winograd": ((2, 2, 5, 4), (3, 2, 3, 3), dict(padding=1)),
             "gemm_1x1": ((2, 3, 5, 4), (2, 3, 1, 1), dict(stride=2)),
             "direct": ((2, 4, 5, 5), (4, 2, 3, 2), dict(stride=(1, 2), padding=1, groups=2))}
    xs, ws, kw = cases[algo]
    x = ag.tensor(rng.standard_normal(xs), requires_grad=True)
    w = ag.tensor(rng.standard_normal(ws), requires_grad=True)
    fn = lambda a, b: oc.conv2d(a, b, **kw)
    np.testing.assert_allclose(fn(x, w).array, oc.conv2d_reference(x.array, w.array, **kw),
                               rtol=1e-12, atol=1e-12)
    assert ag.gradcheck(fn, (x, w)) and ag.gradgradcheck(fn, (x, w))


