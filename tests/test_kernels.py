"""Every Numba kernel against its plain NumPy reference on random shapes.

Covers batch 1, empty batch, odd sizes, stride larger than the kernel, padding
(including asymmetric: padding beyond the output), dilation, float32 and float64.
Run once with NUMBA_BOUNDSCHECK=1 to turn any out-of-bounds access into an error.
Every test runs twice, once on each twin of the kernels (serial and multi-threaded,
autograd/kernels/threads.py), by moving the size threshold between them.
"""
import subprocess
import sys

import numpy as np
import pytest

from autograd.kernels import conv as kc
from autograd.kernels import pool as kp
from autograd.kernels import threads

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True, params=["serial", "parallel"])
def kernel_twin(request, monkeypatch):
    """Route every kernel call of the test to one twin; returns the twin's name."""
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0 if request.param == "parallel" else 1 << 62)
    return request.param


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


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
    np.testing.assert_allclose(back, kc.col2im_reference(g, *shape[1:], *geo), **_tol(dtype))
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


def _pool_axis(rng, size, adaptive):
    if adaptive:
        out = int(rng.integers(1, size + 2))
        r = np.arange(out)
        start = r * size // out
        return start, -(-(r + 1) * size // out) - start, 1
    k, s, d = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 3))
    p = int(rng.integers(0, k // 2 + 1))
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        k, p, d, span = 1, 0, 1, size - 1
    out = span // s + 1
    return np.arange(out) * s - p, np.full(out, k), d


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
def test_pool_kernels_match_reference(seed, dtype):
    rng = np.random.default_rng(100 + seed)
    p_ = int(rng.choice([0, 1, 5]))
    h, w = (int(v) for v in rng.integers(1, 9, 2))
    adaptive = bool(seed % 3 == 0)
    hs, hn, dh = _pool_axis(rng, h, adaptive)
    ws, wn, dw = _pool_axis(rng, w, adaptive)
    hs, hn, ws, wn = (a.astype(np.int64) for a in (hs, hn, ws, wn))
    x = rng.standard_normal((p_, h, w)).astype(dtype)

    out, idx = kp.max_pool_numba(x, hs, hn, dh, ws, wn, dw)
    ref_out, ref_idx = kp.max_pool_reference(x, hs, hn, dh, ws, wn, dw)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)
    assert out.dtype == dtype and idx.dtype == np.int64

    div = (rng.uniform(1, 4, (len(hs), len(ws)))).astype(dtype)
    np.testing.assert_allclose(kp.avg_pool_numba(x, hs, hn, ws, wn, div),
                               kp.avg_pool_reference(x, hs, hn, ws, wn, div), **_tol(dtype))
    g = rng.standard_normal((p_, len(hs), len(ws))).astype(dtype)
    np.testing.assert_allclose(kp.avg_pool_adjoint_numba(g, h, w, hs, hn, ws, wn, div),
                               kp.avg_pool_adjoint_reference(g, h, w, hs, hn, ws, wn, div),
                               **_tol(dtype))
    n_out = len(hs) * len(ws)
    flat_idx = idx.reshape(p_, n_out)
    np.testing.assert_allclose(kp.scatter_add_numba(g.reshape(p_, n_out), flat_idx, h * w),
                               kp.scatter_add_reference(g.reshape(p_, n_out), flat_idx, h * w),
                               **_tol(dtype))


def test_max_pool_ties_and_nan():
    x = np.array([[[1.0, 1.0], [0.0, 1.0]], [[2.0, np.nan], [np.nan, 5.0]]])
    one = np.zeros(1, np.int64), np.full(1, 2, np.int64)
    args = (one[0], one[1], 1, one[0], one[1], 1)
    out, idx = kp.max_pool_numba(x, *args)
    ref_out, ref_idx = kp.max_pool_reference(x, *args)
    assert idx.ravel().tolist() == ref_idx.ravel().tolist() == [0, 1]   # first max, first NaN
    assert out[0, 0, 0] == 1.0 and np.isnan(out[1, 0, 0]) and np.isnan(ref_out[1, 0, 0])


def test_max_pool_windows_partly_and_wholly_in_padding():
    """Dilated windows that start before the image or end past it, against the reference."""
    x = np.random.default_rng(5).standard_normal((3, 5, 6))
    hs, hn = np.array([-3, -1, 2, 4, 3]), np.array([3, 3, 3, 3, 1])
    ws, wn = np.array([-2, 0, 3, 5]), np.array([3, 2, 2, 4])
    out, idx = kp.max_pool_numba(x, hs, hn, 2, ws, wn, 1)
    ref_out, ref_idx = kp.max_pool_reference(x, hs, hn, 2, ws, wn, 1)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4, 6), (2, 7, 5), (1, 2, 2), (0, 4, 4), (64, 28, 28)])
def test_max_pool_2x2_kernel_matches_reference(shape, dtype):
    """The 2x2 / stride-2 kernel, with ties, NaNs and odd sizes (the last row / column
    dropped), against the reference; max_pool picks it for exactly those windows."""
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-2, 3, shape).astype(dtype)               # many ties
    if x.size > 8:
        x.reshape(-1)[rng.choice(x.size, 3, replace=False)] = np.nan
    oh, ow = shape[1] // 2, shape[2] // 2
    win = (2 * np.arange(oh), np.full(oh, 2), 1, 2 * np.arange(ow), np.full(ow, 2), 1)
    out, idx = kp.max_pool_2x2_numba(x, oh, ow)
    ref_out, ref_idx = kp.max_pool_reference(x, *win)
    assert out.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)
    assert kp._is_2x2_stride_2(*win)
    assert not kp._is_2x2_stride_2(win[0], win[1], 2, *win[3:])             # dilated
    assert not kp._is_2x2_stride_2(win[0] - 1, win[1], 1, *win[3:])         # padded


def test_scatter_add_accumulates_duplicates():
    g = np.array([[1.0, 2.0, 4.0]])
    idx = np.array([[3, 3, 0]])
    for fn in (kp.scatter_add_numba, kp.scatter_add_reference):
        np.testing.assert_array_equal(fn(g, idx, 4), [[4.0, 0.0, 0.0, 3.0]])


def test_import_compiles_nothing():
    code = ("import autograd, autograd.kernels.conv as c, autograd.kernels.pool as p;"
            "import autograd.ops.conv, autograd.ops.pool;"
            "ks=[c.im2col_numba,c.col2im_numba,p.max_pool_numba,p.avg_pool_numba,"
            "p.avg_pool_adjoint_numba,p.scatter_add_numba,p.max_pool_2x2_numba];"
            "import autograd.kernels.winograd as wg;"
            "ks+=[wg.input_transform_numba,wg.output_transform_numba,wg.grad_transform_numba];"
            "import autograd.kernels.conv_direct as d, autograd.kernels.batchnorm as b;"
            "ks+=[d.conv_direct_numba,d.conv_direct_transpose_numba,d.conv_direct_weight_grad_numba,"
            "b.batch_norm_forward_numba,b.batch_norm_backward_numba];"
            "import autograd.kernels.activation as a; ks+=[a._select_flat,a._relu_flat];"
            "print(sum(len(k.signatures) for k in ks))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# -- fused row-wise kernels -------------------------------------------------------------------
from autograd.kernels import rowwise as kr  # noqa: E402
from tools import rowwise_kernels as bench_kr  # noqa: E402  (the kernels that lost to NumPy)

ROWWISE_SHAPES = [(1, 1), (3, 7), (5, 33), (0, 4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROWWISE_SHAPES)
def test_rowwise_kernels_match_reference(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w, b = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    target = rng.integers(0, shape[1], shape[0])
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y, ly = kr.softmax_numba(x), bench_kr.log_softmax_numba(x)
    _, xhat, rstd = kr.layer_norm_reference(x, w, b, 1e-5)
    cases = [(kr, "softmax", (x,)), (bench_kr, "log_softmax", (x,)),
             (kr, "softmax_backward", (y, g)), (bench_kr, "log_softmax_backward", (ly, g)),
             (kr, "layer_norm", (x, w, b, 1e-5)), (kr, "layer_norm_backward", (g, xhat, rstd, w)),
             (bench_kr, "cross_entropy", (x, target))]
    for module, name, args in cases:
        ours = getattr(module, name + "_numba")(*args)
        ref = getattr(module, name + "_reference")(*args)
        for o, r in zip(ours if isinstance(ours, tuple) else (ours,),
                        ref if isinstance(ref, tuple) else (ref,)):
            assert o.dtype == dtype, name
            np.testing.assert_allclose(o, r, **tol, err_msg=name)
    if shape[0]:
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_extreme_rows(dtype, kernel_twin):
    x = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, -np.inf], [-np.inf] * 3,
                  [1.0, np.nan, 0.0], [np.inf, 0.0, 1.0]], dtype)
    for fn in (kr.softmax_numba, kr.softmax_reference):
        with np.errstate(invalid="ignore"):
            y = fn(x)
        assert y.dtype == dtype
        np.testing.assert_allclose(y[:2], [[1, 0, 0], [0, 1, 0]], atol=1e-300)
        assert np.isnan(y[2:]).all()       # 0/0, a NaN, inf - inf: NaN rows, as in PyTorch
    x = x[:2].astype(np.float64)
    ly = bench_kr.log_softmax_numba(x)
    np.testing.assert_allclose(ly[0], [0.0, -1000.0, -2000.0])


@pytest.mark.parametrize("shape", [(), (1,), (7, 5), (0, 3), (3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_kernel_matches_reference(shape, dtype):
    from autograd.kernels.special import erf_numba, erf_reference
    x = (np.random.default_rng(0).standard_normal(shape) * 2).astype(dtype)
    for arr in (x, x.T, x[..., ::2] if x.ndim else x):
        out = erf_numba(arr)
        assert out.shape == arr.shape and out.dtype == dtype
        np.testing.assert_allclose(out, erf_reference(arr), rtol=1e-6 if dtype == np.float32 else 1e-12)


# -- Winograd F(4x4, 3x3) -----------------------------------------------------------------------
from autograd.kernels import winograd as kwg  # noqa: E402
import autograd.ops.conv as oc  # noqa: E402
import autograd.kernels.conv_drivers as ca  # noqa: E402


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
    np.testing.assert_allclose(v, ref, **_tol(dtype))
    m = rng.standard_normal((36, o, n * th * tw)).astype(dtype)
    out = np.full((n, o, oh, ow), np.nan, dtype)             # every entry must be written
    y = kwg.output_transform_numba(m, out)
    assert y is out
    np.testing.assert_allclose(y, kwg.output_transform_reference(m, np.empty_like(out)),
                               **_tol(dtype))
    g = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    shape = (36, o, n * th * tw)
    gt = kwg.grad_transform_numba(g, th, tw, np.full(shape, np.nan, dtype))
    np.testing.assert_allclose(gt, kwg.grad_transform_reference(g, th, tw, np.empty(shape, dtype)),
                               **_tol(dtype))
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


# -- row scatter-add (the VJP of an embedding lookup) ------------------------------------------
from autograd.kernels import index as ki  # noqa: E402


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v, d, m", [(5, 3, 10), (1, 1, 0), (50, 7, 200), (4, 1, 3)])
def test_index_add_rows_matches_reference(v, d, m, dtype):
    rng = np.random.default_rng(v * d + m)
    idx = rng.integers(-v, v, m)           # repeats and negative indices, as in x[idx]
    g = rng.standard_normal((m, d)).astype(dtype)
    got = ki.index_add_rows_numba(np.zeros((v, d), dtype), idx, g)
    np.testing.assert_allclose(got, ki.index_add_rows_reference(np.zeros((v, d), dtype), idx, g),
                               **_tol(dtype))


# -- fused batch norm --------------------------------------------------------------------------
from autograd.kernels import batchnorm as kbn  # noqa: E402

BATCH_NORM_SHAPES = [(2, 3, 1), (4, 5, 7), (1, 2, 33), (16, 4, 64), (0, 3, 2)]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BATCH_NORM_SHAPES)
def test_batch_norm_kernels_match_reference(shape, dtype, train):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)     # an offset mean, as after ReLU
    g = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = np.stack([rng.standard_normal(c), rng.uniform(0.5, 2.0, c)])
    ours, ref = stats.copy(), stats.copy()
    y = kbn.batch_norm_forward_numba(x, w, b, ours[0], ours[1], 1e-5, train)
    y_ref = kbn.batch_norm_forward_reference(x, w, b, ref[0], ref[1], 1e-5, train)
    tol = _tol(dtype) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)      # float64 statistics
    if train and x.size:
        np.testing.assert_allclose(ours[0], x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-10)
    back = kbn.batch_norm_backward_numba(g, x, ours[0], ours[1], w, 1e-5, train)
    back_ref = kbn.batch_norm_backward_reference(g, x, ref[0], ref[1], w, 1e-5, train)
    for name, o, r in zip(("dx", "dw", "db"), back, back_ref):
        assert o.dtype == dtype, name
        np.testing.assert_allclose(o, r, **tol, err_msg=name)


# -- direct convolution kernels -----------------------------------------------------------------
from autograd.kernels import conv_direct as kd  # noqa: E402


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
    np.testing.assert_allclose(y, kd.conv_direct_reference(x, wt, *args, oh, ow), **_tol(dtype))
    dx = kd.conv_direct_transpose_numba(g, wt, *args, h, w)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, kd.conv_direct_transpose_reference(g, wt, *args, h, w),
                               **_tol(dtype))
    dwt = kd.conv_direct_weight_grad_numba(g, x, *args, kh, kw)
    assert dwt.shape == wt.shape and dwt.dtype == dtype
    np.testing.assert_allclose(dwt, kd.conv_direct_weight_grad_reference(g, x, *args, kh, kw),
                               **_tol(dtype))
    # the transpose kernel is the forward's adjoint: <conv(x), g> == <x, conv^T(g)>
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, dx), rtol=1e-4, atol=1e-4)


# -- every convolution algorithm, on the shapes where it is picked and on forced shapes ----------
# (n, c, o, h, w, k, stride, padding, groups): the algorithm choose_algorithm picks for each
# (im2col runs one GEMM per image for few outputs and weights, ca._per_image_gemms, else one)
PICKED = [((8, 32, 32, 24, 24, 3, 1, 1, 1), "winograd"),        # 3x3 stride 1, many channels
          ((2, 16, 24, 6, 5, 1, 2, 0, 1), "gemm_1x1"),          # ResNet's strided shortcut
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


@pytest.mark.parametrize("shape", [(), (1,), (7, 5), (0, 3), (3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_kernels_match_references(shape, dtype):
    from autograd.kernels.special import gelu_numba, gelu_reference
    x = (np.random.default_rng(0).standard_normal(shape) * 3).astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    for a in (x, x.T, x[..., ::2] if x.ndim else x):
        (y, cdf), (y_ref, cdf_ref) = gelu_numba(a), gelu_reference(a)
        assert y.shape == cdf.shape == a.shape and y.dtype == cdf.dtype == dtype
        np.testing.assert_allclose(y, y_ref, **tol)
        np.testing.assert_allclose(cdf, cdf_ref, **tol)


@pytest.mark.parametrize("shape", [(), (1,), (7, 5), (0, 3), (3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_grad_kernel_matches_reference(shape, dtype, kernel_twin):
    from autograd.kernels.special import gelu_grad_numba, gelu_grad_reference, gelu_reference
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    cdf = gelu_reference(x)[1]
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    for a, c, b in ((x, cdf, g), (x.T, cdf.T, g.T)):
        out = gelu_grad_numba(a, c, b)
        assert out.shape == a.shape and out.dtype == dtype
        np.testing.assert_allclose(out, gelu_grad_reference(a, c, b), **tol)


def test_float32_exp_is_accurate_and_keeps_nan_and_infinities():
    """exp(-u) in float32 (the GELU gradient's phi) against float64's exp: within two
    float32 roundings wherever the result is a normal float32, zero past u = 87."""
    import numba
    from autograd.kernels.special import exp_neg

    @numba.njit
    def run(u):
        out = np.empty_like(u)
        for i in range(u.size):
            out[i] = exp_neg(u[i])
        return out
    u = np.concatenate([np.linspace(0, 87, 400001), [1e-30, 86.99, 87.5, 200.0, np.inf, np.nan]])
    got = run(u.astype(np.float32)).astype(np.float64)
    want = np.exp(-u.astype(np.float32).astype(np.float64))
    normal = u <= 87
    np.testing.assert_allclose(got[normal], want[normal], rtol=2.5e-7, atol=0)
    assert (got[-4:-1] == 0).all() and np.isnan(got[-1])
    np.testing.assert_allclose(run(u[:50]), np.exp(-u[:50]), rtol=1e-15)      # float64: libm


def test_float32_erf_is_accurate_over_every_branch_and_keeps_nan_and_infinities():
    from autograd.kernels.special import erf_numba, erf_reference
    x = np.concatenate([np.linspace(-6, 6, 200001), [0.0, -0.0, 1e-30, -1e-30, 1.9999999, 2.0,
                                                       3.9999999, 4.0, np.inf, -np.inf, np.nan]])
    got = erf_numba(x.astype(np.float32)).astype(np.float64)
    want = erf_reference(x.astype(np.float32).astype(np.float64))
    finite = np.isfinite(x)
    # within one float32 rounding of the exact value (relative near 0, absolute near +-1)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1.2e-7, atol=6e-8)
    assert np.isnan(got[-1]) and got[-3] == 1.0 and got[-2] == -1.0


# -- ReLU forward with its mask, and its gradient (a branch-free select) -------------------------
from autograd.kernels import activation as kact  # noqa: E402


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (7, 5), (0, 3), (64, 6, 28, 28)])
def test_relu_kernels_match_reference(shape, dtype):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    if g.size >= 5:
        g.reshape(-1)[:3] = [np.inf, -np.inf, np.nan]    # selected, never multiplied by 0
        x.reshape(-1)[-2:] = [np.nan, -0.0]
    y, positive = kact.relu_with_mask_numba(x)
    y_ref, positive_ref = kact.relu_with_mask_reference(x)
    assert y.dtype == dtype and positive.dtype == np.bool_
    np.testing.assert_array_equal(positive, positive_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert not np.signbit(y).any()                         # -0.0 becomes 0, as np.maximum
    np.testing.assert_array_equal(kact.relu_with_mask_numba(x.T)[0], y_ref.T)   # non-contiguous
    for gg, pp in ((g, positive), (g.T, positive.T)):     # also non-contiguous
        out = kact.relu_grad_numba(gg, pp)
        assert out.dtype == dtype and out.shape == gg.shape
        np.testing.assert_array_equal(out, kact.relu_grad_reference(gg, pp))


# -- batched products split across threads ------------------------------------------------------
from autograd.kernels import batched as kbat  # noqa: E402


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batched_matmul_matches_numpy(threads, monkeypatch):
    """Split along the first batch axis (views, uneven parts) or handed to NumPy whole
    (one thread, few or large matrices, broadcast batch dims): always np.matmul's result."""
    monkeypatch.setattr(kbat, "get_num_threads", lambda: threads)
    rng = np.random.default_rng(threads)
    base = rng.standard_normal((7, 9, 4, 5)).astype(np.float32)         # (N, L, H, hd)
    q = base.transpose(0, 2, 1, 3)                                      # heads as a view
    k = rng.standard_normal((7, 4, 9, 5)).astype(np.float32)
    cases = [(q, k.mT), (q.astype(np.float64), k.mT), (q[:2], k[:2].mT), (q, k[:1].mT),
             (rng.standard_normal((3, 300, 64)), rng.standard_normal((3, 64, 300)))]
    for a, b in cases:
        got = kbat.matmul(a, b)
        want = np.matmul(a, b)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_batched_matmul_works_in_a_forked_child(monkeypatch):
    """The helper threads do not survive fork: a child makes its own."""
    import multiprocessing as mp
    monkeypatch.setattr(kbat, "get_num_threads", lambda: 2)
    a = np.ones((8, 4, 3)); b = np.ones((8, 3, 2))
    kbat.matmul(a, b)                                   # the parent's helpers exist now
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_batched_in_child, args=(a, b))
    p.start()
    p.join(60)
    assert p.exitcode == 0, "the child hung or failed"


def _batched_in_child(a, b):
    np.testing.assert_allclose(kbat.matmul(a, b), 3.0)
