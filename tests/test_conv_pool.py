"""Convolution, pooling, unfold/fold: agreement with PyTorch (the reference
implementation, a test dependency) on many geometries, the NumPy backend, and
bad-input errors.  Their registry samples (forward vs reference, gradcheck,
gradgradcheck) run in tests/test_op_registry.py with every other op."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch  # a test dependency (pyproject.toml): the reference implementation

import autograd as ag
import autograd.ops.conv as C
import autograd.ops.pool as P
from autograd.tensor import Tensor

# -- against PyTorch -----------------------------------------------------------------------
F = torch.nn.functional


def _pair(rng, shape, dtype, noncontig):
    a = rng.standard_normal(shape[::-1] if noncontig else shape).astype(dtype)
    a = a.T if noncontig else a
    return Tensor._make(a).requires_grad_(), torch.tensor(np.ascontiguousarray(a), requires_grad=True)


CONV2D = [  # x shape, w shape, kwargs
    ((2, 3, 9, 7), (4, 3, 3, 3), dict(padding=1)),
    ((1, 4, 8, 8), (4, 1, 3, 3), dict(padding=1, groups=4)),                 # depthwise
    ((3, 4, 11, 6), (6, 2, 2, 3), dict(stride=(3, 2), dilation=(2, 1), groups=2, padding=(2, 0))),
    ((2, 2, 7, 7), (3, 2, 2, 2), dict(stride=4)),                           # stride > kernel
    ((0, 3, 5, 5), (2, 3, 3, 3), dict(padding="same")),                     # empty batch
    ((1, 2, 6, 5), (2, 2, 4, 2), dict(padding="same", dilation=(1, 2))),    # even, asymmetric
    ((2, 3, 5, 5), (2, 3, 5, 5), dict(padding="valid")),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", CONV2D)
def test_conv2d_matches_torch_forward_and_backward(xs, ws, kw, dtype):
    rng = np.random.default_rng(1)
    x, tx = _pair(rng, xs, dtype, noncontig=len(xs) == 4 and xs[0] == 1)
    w, tw = _pair(rng, ws, dtype, False)
    b, tb = _pair(rng, (ws[0],), dtype, False)
    y, ty = C.conv2d(x, w, b, **kw), F.conv2d(tx, tw, tb, **kw)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y.array, ty.detach().numpy(), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = ag.grad(y, [x, w, b], Tensor._make(g))
    tdx, tdw, tdb = torch.autograd.grad(ty, [tx, tw, tb], torch.tensor(g))
    for ours, theirs in ((dx, tdx), (dw, tdw), (db, tdb)):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours.array, theirs.numpy(), **tol)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1),
                                dict(stride=(1, 3), dilation=(2, 1), groups=2, padding=(1, 0)),
                                dict(stride=1, dilation=3, output_padding=(2, 0))])
def test_conv_transpose2d_and_conv1d_match_torch(kw):
    rng = np.random.default_rng(2)
    x, tx = _pair(rng, (2, 4, 5, 4), np.float64, False)
    w, tw = _pair(rng, (4, 3, 3, 2), np.float64, False)
    y, ty = C.conv_transpose2d(x, w, **kw), F.conv_transpose2d(tx, tw, **kw)
    np.testing.assert_allclose(y.array, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    x1, tx1 = _pair(rng, (3, 4, 9), np.float32, False)
    w1, tw1 = _pair(rng, (2, 2, 3), np.float32, False)
    np.testing.assert_allclose(C.conv1d(x1, w1, stride=2, padding=2, dilation=2, groups=2).array,
                               F.conv1d(tx1, tw1, stride=2, padding=2, dilation=2,
                                        groups=2).detach().numpy(), rtol=1e-5, atol=1e-5)


POOLS = [
    ("max_pool2d", (2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                      return_indices=True)),
    ("max_pool2d", (1, 2, 7, 7), dict(kernel_size=2, stride=3, dilation=2, return_indices=True)),
    ("max_pool2d", (0, 2, 4, 4), dict(kernel_size=2)),
    ("max_pool1d", (2, 3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True,
                                    return_indices=True)),
    ("avg_pool2d", (2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", (2, 3, 9, 8), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                                      ceil_mode=True, count_include_pad=False)),
    ("lp_pool2d", (2, 2, 7, 6), dict(norm_type=2, kernel_size=3, stride=2, ceil_mode=True)),
    ("adaptive_avg_pool2d", (2, 3, 10, 7), dict(output_size=(4, 3))),
    ("adaptive_max_pool2d", (1, 3, 5, 9), dict(output_size=(7, 4), return_indices=True)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,shape,kw", POOLS, ids=[p[0] for p in POOLS])
def test_pool_matches_torch(name, shape, kw, dtype):
    rng = np.random.default_rng(3)
    x, tx = _pair(rng, shape, dtype, noncontig=shape[0] == 1)
    if name == "lp_pool2d":
        x.array[...] = np.abs(x.array)
        tx = torch.tensor(np.ascontiguousarray(x.array), requires_grad=True)
    ours, theirs = getattr(P, name)(x, **kw), getattr(F, name)(tx, **kw)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for o, t in zip(ours, theirs):
        assert o.shape == tuple(t.shape)
        np.testing.assert_allclose(o.array, t.detach().numpy(), **tol)   # indices exactly
    assert ours[0].dtype == dtype
    g = rng.standard_normal(ours[0].shape).astype(dtype)
    dx, = ag.grad(ours[0], [x], Tensor._make(g))
    tdx, = torch.autograd.grad(theirs[0], [tx], torch.tensor(g))
    np.testing.assert_allclose(dx.array, tdx.numpy(), **tol)


def test_conv_is_unfold_then_matmul():
    rng = np.random.default_rng(4)
    x, w = Tensor._make(rng.standard_normal((2, 3, 6, 5))), Tensor._make(rng.standard_normal((4, 3, 3, 3)))
    cols = C.unfold(x, 3, padding=1, stride=2)                      # (N, C*9, L)
    y = np.matmul(w.array.reshape(4, -1), cols.array).reshape(2, 4, 3, 3)
    np.testing.assert_allclose(C.conv2d(x, w, padding=1, stride=2).array, y, rtol=1e-12)
    back = C.fold(cols, (6, 5), 3, padding=1, stride=2)             # counts overlaps
    ones = C.fold(C.unfold(Tensor._make(np.ones((2, 3, 6, 5))), 3, padding=1, stride=2),
                  (6, 5), 3, padding=1, stride=2)
    np.testing.assert_allclose(back.array, x.array * ones.array, rtol=1e-12)


def test_numpy_backend_gives_same_results():
    code = ("import numpy as np, autograd as ag, autograd.ops.conv as C, autograd.ops.pool as P\n"
            "r=np.random.default_rng(0); x=ag.Tensor._make(r.standard_normal((2,3,7,6)))\n"
            "w=ag.Tensor._make(r.standard_normal((4,3,3,3)))\n"
            "y=C.conv2d(x,w,padding=1,stride=2); m=P.max_pool2d(y,2,ceil_mode=True)\n"
            "a=P.avg_pool2d(x,3,padding=1)\n"
            "from autograd.ops.normalization import batch_norm\n"
            "d=C.conv2d(x,ag.Tensor._make(r.standard_normal((3,1,3,3))),padding=1,groups=3)\n"
            "o=C.conv2d(x,ag.Tensor._make(r.standard_normal((5,3,1,1))),stride=2)\n"
            "xb=ag.tensor(r.standard_normal((4,3,5)),requires_grad=True)\n"
            "b=batch_norm(xb,None,None,training=True); (b*b*xb).sum().backward()\n"
            "print(repr([float(np.abs(t).sum()) for t in (y.array,m.array,a.array,d.array,o.array,b.array,"
            "xb.grad.array)]))")
    outs = []
    for backend in ("numba", "numpy"):
        env = dict(os.environ, AUTOGRAD_KERNELS=backend)
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True)
        outs.append(eval(r.stdout))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)


# -- bad input: a clear error naming the op and the shapes, before any kernel runs ----------
def _t(*shape, dtype=np.float64):
    return Tensor._make(np.zeros(shape, dtype))


BAD = [
    (lambda: C.conv2d(_t(3, 5, 5, 1, 1), _t(2, 3, 3, 3)), ValueError, r"conv2d.*4-d input.*\(3, 5, 5, 1, 1\)"),
    (lambda: C.conv2d(_t(1, 4, 5, 5), _t(2, 3, 3, 3)), ValueError, r"conv2d.*\(2, 3, 3, 3\).*\(1, 4, 5, 5\)"),
    (lambda: C.conv2d(_t(1, 3, 5, 5), _t(4, 1, 3, 3), groups=2), ValueError, r"conv2d.*divisible by groups=2"),
    (lambda: C.conv2d(_t(1, 3, 2, 2), _t(4, 3, 3, 3)), ValueError, r"conv2d: kernel size \(3, 3\).*larger"),
    (lambda: C.conv2d(_t(1, 3, 5, 5), _t(4, 3, 3, 3), stride=0), ValueError, r"conv2d: stride"),
    (lambda: C.conv2d(_t(1, 3, 5, 5), _t(4, 3, 3, 3, dtype=np.float32)), TypeError, r"conv2d.*float64.*float32"),
    (lambda: C.conv2d(_t(1, 3, 5, 5), _t(4, 3, 3, 3), stride=2, padding="same"), ValueError, r"same.*stride 1"),
    (lambda: C.conv2d(_t(1, 3, 5, 5), _t(4, 3, 3, 3), _t(3)), ValueError, r"conv2d: bias.*4"),
    (lambda: C.conv1d(_t(1, 3, 5, 5), _t(4, 3, 3)), ValueError, r"conv1d.*3-d input"),
    (lambda: C.conv_transpose2d(_t(1, 3, 5, 5), _t(4, 2, 3, 3)), ValueError, r"conv_transpose2d.*\(4, 2, 3, 3\)"),
    (lambda: C.conv_transpose2d(_t(1, 3, 5, 5), _t(3, 2, 3, 3), output_padding=1), ValueError, r"output_padding"),
    (lambda: C.unfold(_t(1, 3, 2, 2), 3), ValueError, r"unfold: kernel"),
    (lambda: C.fold(_t(1, 10, 4), (3, 3), 2), ValueError, r"fold: input \(1, 10, 4\)"),
    (lambda: P.max_pool2d(_t(5, 5), 2), ValueError, r"max_pool2d.*\(5, 5\)"),
    (lambda: P.max_pool2d(_t(1, 1, 5, 5), 2, padding=2), ValueError, r"max_pool2d: padding"),
    (lambda: P.max_pool2d(_t(1, 1, 2, 2), 3), ValueError, r"max_pool2d: kernel_size .* larger"),
    (lambda: P.avg_pool2d(_t(1, 1, 5, 5), 2, stride=-1), ValueError, r"avg_pool2d: .*stride"),
    (lambda: P.max_pool1d(_t(1, 1, 5, dtype=np.int64), 2), TypeError, r"max_pool1d.*int64"),
    (lambda: P.adaptive_avg_pool2d(_t(1, 1, 5, 5), (0, 2)), ValueError, r"adaptive_avg_pool2d"),
]


@pytest.mark.parametrize("call,exc,match", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (2, 5, 7), (0, 3, 2, 2), (3, 2)])
def test_channel_sums_are_the_bias_gradient(shape, dtype):
    from autograd.ops.formula import channel_sums
    a = (np.random.default_rng(len(shape)).standard_normal(shape) * 4).astype(dtype)
    for arr in (a, np.swapaxes(a, 0, -1).copy().swapaxes(0, -1)):      # and non-contiguous
        got = channel_sums(arr)
        assert got.shape == (shape[1],) and got.dtype == dtype
        axes = (0,) + tuple(range(2, arr.ndim))
        # Summation order differs (BLAS blocks against NumPy's pairwise sum), so a channel
        # whose sum cancels to near 0 is compared to the rounding bound of its terms'
        # magnitudes, not relatively.
        scale = np.abs(arr).sum(axis=axes).astype(np.float64)
        np.testing.assert_allclose(got, arr.sum(axis=axes), rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=0 if dtype == np.int64 else float(scale.max()) * np.finfo(dtype).eps * 4)
