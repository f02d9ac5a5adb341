"""Every Numba kernel against its plain NumPy reference on random shapes (the
convolution kernels and algorithms: test_kernels_conv.py).

Covers batch 1, empty batch, odd sizes, float32 and float64, special values.  Run
once with NUMBA_BOUNDSCHECK=1 to turn any out-of-bounds access into an error.  Every
test runs twice, once on each twin of the kernels (kernel_twins.py).
"""
import subprocess
import sys

import numpy as np
import pytest

from autograd.kernels import pool as kp
from kernel_twins import DTYPES, kernel_twin, tolerance  # noqa: F401  (kernel_twin: autouse)


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
                               kp.avg_pool_reference(x, hs, hn, ws, wn, div), **tolerance(dtype))
    g = rng.standard_normal((p_, len(hs), len(ws))).astype(dtype)
    np.testing.assert_allclose(kp.avg_pool_adjoint_numba(g, h, w, hs, hn, ws, wn, div),
                               kp.avg_pool_adjoint_reference(g, h, w, hs, hn, ws, wn, div),
                               **tolerance(dtype))
    n_out = len(hs) * len(ws)
    flat_idx = idx.reshape(p_, n_out)
    np.testing.assert_allclose(kp.scatter_add_numba(g.reshape(p_, n_out), flat_idx, h * w),
                               kp.scatter_add_reference(g.reshape(p_, n_out), flat_idx, h * w),
                               **tolerance(dtype))


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
from tools.measure import rowwise_kernels as bench_kr  # noqa: E402  (the kernel that lost to NumPy)

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
    y, ly = kr.softmax_numba(x), kr.log_softmax_numba(x)
    _, xhat, rstd = kr.layer_norm_reference(x, w, b, 1e-5)
    cases = [(kr, "softmax", (x,)), (kr, "log_softmax", (x,)),
             (kr, "softmax_backward", (y, g)), (kr, "log_softmax_backward", (ly, g)),
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
    for fn in (kr.log_softmax_numba, kr.log_softmax_reference):
        ly = fn(x[:2])
        assert ly.dtype == dtype
        np.testing.assert_allclose(ly, [[0.0, -1000.0, -2000.0], [-np.inf, 0.0, -np.inf]])
        dx = kr.log_softmax_backward_numba(ly, np.ones_like(ly))      # g - exp(y) sum(g)
        np.testing.assert_allclose(dx, [[-2.0, 1.0, 1.0], [1.0, -2.0, 1.0]], atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_kernel_matches_reference(dtype):
    from autograd.kernels.special import sigmoid_numba, sigmoid_reference
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(997) * 12, [0.0, -0.0, 80.0, -80.0, np.inf, -np.inf,
                                                        np.nan]]).astype(dtype)
    for arr in (x, x[::3], x[:0], x[5]):
        out, ref = sigmoid_numba(arr), sigmoid_reference(arr)
        assert out.shape == np.shape(arr) and out.dtype == dtype
        np.testing.assert_allclose(out, ref, rtol=4e-7 if dtype == np.float32 else 1e-14, atol=0)
    np.testing.assert_array_equal(sigmoid_numba(x[-3:]), np.array([1.0, 0.0, np.nan], dtype))
    assert sigmoid_reference(np.array([1, -2])).dtype == np.float64   # ints: as exp's


@pytest.mark.parametrize("shape", [(), (1,), (7, 5), (0, 3), (3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_kernel_matches_reference(shape, dtype):
    from autograd.kernels.special import erf_numba, erf_reference
    x = (np.random.default_rng(0).standard_normal(shape) * 2).astype(dtype)
    for arr in (x, x.T, x[..., ::2] if x.ndim else x):
        out = erf_numba(arr)
        assert out.shape == arr.shape and out.dtype == dtype
        np.testing.assert_allclose(out, erf_reference(arr), rtol=1e-6 if dtype == np.float32 else 1e-12)


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
                               **tolerance(dtype))


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
    tol = tolerance(dtype) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
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


@pytest.mark.parametrize("first", [0.0, 30.0])
def test_batch_norm_statistics_in_one_pass_stay_float64_accurate(first):
    """The forward's one-pass statistics, on values far from zero with a small spread
    (mean 1e4, std 1e-2: E[x^2] - E[x]^2 unshifted would lose 12 of float64's 16 digits),
    also when the channel's first value, its shift, is an outlier."""
    rng = np.random.default_rng(3)
    x = 1e4 + 1e-2 * rng.standard_normal((8, 2, 50))
    x[0, :, 0] += first
    c = x.shape[1]
    mean, var = np.zeros(c), np.zeros(c)
    y = kbn.batch_norm_forward_numba(x, np.ones(c), np.zeros(c), mean, var, 1e-5, True)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-9)
    np.testing.assert_allclose(y, kbn.batch_norm_forward_reference(x, np.ones(c), np.zeros(c),
                                                                   np.zeros(c), np.zeros(c),
                                                                   1e-5, True), rtol=1e-9,
                               atol=1e-9)


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
    float32 roundings wherever the result is a normal float32 (u <= 87.33), zero past
    the smallest normal (e^-87.34)."""
    import numba
    from autograd.kernels.special import exp_neg

    @numba.njit
    def run(u):
        out = np.empty_like(u)
        for i in range(u.size):
            out[i] = exp_neg(u[i])
        return out
    u = np.concatenate([np.linspace(0, 87.33, 400001),
                        [1e-30, 86.99, 87.2, 87.33, 87.4, 200.0, np.inf, np.nan]])
    got = run(u.astype(np.float32)).astype(np.float64)
    want = np.exp(-u.astype(np.float32).astype(np.float64))
    normal = u <= 87.33
    np.testing.assert_allclose(got[normal], want[normal], rtol=2.5e-7, atol=0)
    assert (got[normal] > 0).all()
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
    monkeypatch.setattr(kbat, "_pool", (0, None))
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
    # the head views were split among threads - 1 helpers (none with one thread)
    assert kbat._pool[0] == (threads - 1 if threads > 1 else 0)


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
