"""The spatial family beyond 2-d (issue 27) against PyTorch 2.13: 3-d and transposed
convolutions, 1-d / 3-d pooling, interpolation in every mode, the shuffles; forward
and input/weight gradients, edge values (ties, +-inf, NaN, size-1 dims, batch 0),
float32 coordinates, and errors that name the op."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import autograd as ag
import nn.functional as F
from autograd.ops.registry import REGISTRY

SPATIAL_OPS = ["conv3d", "conv_transpose1d", "conv_transpose3d", "max_pool3d", "avg_pool3d",
               "adaptive_avg_pool3d", "adaptive_max_pool3d", "adaptive_max_pool1d", "lp_pool1d",
               "lp_pool3d", "interpolate", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle"]
TORCH_NAMES = {"channel_shuffle": torch.channel_shuffle}


def _torch_fn(name):
    return TORCH_NAMES.get(name) or getattr(TF, name)


def compare(ours, theirs, args, kwargs=None, rtol=1e-7, atol=1e-10, grads=True):
    """Same forward (and indices), and the same gradients of sum(out * r) for every
    float tensor argument, tapegrad vs PyTorch on copies of the same arrays."""
    kwargs = kwargs or {}
    ag_args = [ag.tensor(a, requires_grad=grads and a.dtype.kind == "f")
               if isinstance(a, np.ndarray) else a for a in args]
    th_args = [torch.tensor(a, requires_grad=grads and a.dtype.kind == "f")
               if isinstance(a, np.ndarray) else a for a in args]
    y, ty = ours(*ag_args, **kwargs), theirs(*th_args, **kwargs)
    if isinstance(ty, tuple):
        np.testing.assert_array_equal(y[1].array, ty[1].numpy())
        y, ty = y[0], ty[0]
    assert y.shape == tuple(ty.shape) and y.dtype == np.dtype(str(ty.dtype).split(".")[1])
    np.testing.assert_allclose(y.array, ty.detach().numpy(), rtol=rtol, atol=atol)
    if not grads:
        return
    r = np.random.default_rng(9).standard_normal(ty.shape).astype(y.dtype)
    (y * ag.tensor(r)).sum().backward()
    (ty * torch.tensor(r)).sum().backward()
    for a, t in zip(ag_args, th_args):
        if isinstance(a, ag.Tensor) and a.requires_grad:
            np.testing.assert_allclose(a.grad.array, t.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", SPATIAL_OPS)
def test_registry_samples_match_pytorch(name):
    info = REGISTRY[name]
    for sample in info.samples(np.random.default_rng(0)):
        args = [a.array if isinstance(a, ag.Tensor) else a for a in sample.args]
        compare(info.op, _torch_fn(name), args, sample.kwargs)


# -- convolutions ------------------------------------------------------------------------------
def _rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=(0, 1, 2)),
                                    dict(padding="same", dilation=(2, 1, 1)),
                                    dict(padding="valid", groups=3), dict(stride=(1, 3, 2))])
def test_conv3d_geometries(kwargs):
    w = _rand(6, 1 if kwargs.get("groups") else 3, 3, 2, 3, seed=1)
    compare(F.conv3d, TF.conv3d, [_rand(2, 3, 6, 5, 7), w, _rand(6, seed=2)], kwargs)


def test_conv3d_float32_and_batch_of_zero():
    compare(F.conv3d, TF.conv3d, [_rand(2, 2, 4, 4, 4, dtype=np.float32),
                                  _rand(3, 2, 2, 2, 2, seed=1, dtype=np.float32)],
            dict(padding=1), rtol=1e-5, atol=1e-5)
    y = F.conv3d(ag.zeros(0, 2, 4, 4, 4), ag.zeros(3, 2, 2, 2, 2))
    assert y.shape == TF.conv3d(torch.zeros(0, 2, 4, 4, 4), torch.zeros(3, 2, 2, 2, 2)).shape


@pytest.mark.parametrize("kwargs", [dict(stride=2, output_padding=1), dict(padding=2, dilation=2),
                                    dict(stride=3, padding=1, output_padding=2, groups=2)])
def test_conv_transpose1d_and_3d_geometries(kwargs):
    compare(F.conv_transpose1d, TF.conv_transpose1d,
            [_rand(2, 4, 6), _rand(4, 3, 3, seed=1), _rand(3 * kwargs.get("groups", 1), seed=2)],
            kwargs)
    compare(F.conv_transpose3d, TF.conv_transpose3d,
            [_rand(1, 4, 3, 4, 5), _rand(4, 2, 3, 2, 2, seed=1), _rand(2 * kwargs.get("groups", 1), seed=2)],
            kwargs)


def test_unfold_of_batch_one_is_not_overwritten_by_the_next_convolution():
    # Unfold's columns were the conv workspace when N = 1 (the transpose is a no-op copy)
    x = ag.tensor(_rand(1, 2, 5, 5))
    cols = F.unfold(x, 3)
    before = cols.array.copy()
    F.conv2d(ag.tensor(_rand(1, 2, 5, 5, seed=1)), ag.tensor(np.ones((2, 2, 3, 3))))
    np.testing.assert_array_equal(cols.array, before)


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv3d(ag.zeros(1, 2, 3, 3), ag.zeros(1, 2, 1, 1, 1)), "conv3d: weight"),
    (lambda: F.conv3d(ag.zeros(1, 2, 3, 3, 3), ag.zeros(1, 2, 2, 2)), "conv3d: expected a 5-d weight"),
    (lambda: F.conv3d(ag.zeros(1, 2, 2, 2, 2), ag.zeros(1, 2, 3, 1, 1)), "conv3d: kernel size"),
    (lambda: F.conv_transpose3d(ag.zeros(1, 2, 2, 2, 2), ag.zeros(2, 1, 2, 2, 2), output_padding=1),
     "conv_transpose3d: output_padding"),
    (lambda: F.conv_transpose1d(ag.zeros(1, 3, 4), ag.zeros(2, 1, 2)), "conv_transpose1d: weight"),
])
def test_conv_errors_name_the_op(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# -- pooling -----------------------------------------------------------------------------------
def _edge_volume():
    """Ties (small integers), +-inf and a size-1 dim."""
    x = np.random.default_rng(3).integers(-2, 3, (2, 2, 4, 1, 5)).astype(np.float64)
    x[0, 0, 1, 0, 2], x[1, 1, 3, 0, 0] = np.inf, -np.inf
    return x


@pytest.mark.parametrize("kwargs", [dict(kernel_size=(2, 1, 2)), dict(kernel_size=(3, 1, 2), stride=1),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)])
def test_max_pool3d_ties_and_infinities(kwargs):
    x = _edge_volume()
    compare(F.max_pool3d, TF.max_pool3d, [x], dict(kwargs, return_indices=True), grads=False)
    finite = np.where(np.isfinite(x), x, 7.0)
    compare(F.max_pool3d, TF.max_pool3d, [finite], dict(kwargs, return_indices=True))
    compare(F.adaptive_max_pool3d, TF.adaptive_max_pool3d, [finite], dict(output_size=(3, 1, 2),
                                                                         return_indices=True))


def test_max_pool3d_nan_propagates():
    x = _rand(1, 1, 2, 2, 2)
    x[0, 0, 1, 0, 1] = np.nan
    y = F.max_pool3d(ag.tensor(x), 2)
    assert np.isnan(y.array).all() and np.isnan(TF.max_pool3d(torch.tensor(x), 2).numpy()).all()


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=3, padding=1, count_include_pad=False,
                                         ceil_mode=True, stride=2),
                                    dict(kernel_size=(1, 2, 3), divisor_override=5)])
def test_avg_pool3d_and_lp_pool(kwargs):
    x = _rand(2, 3, 5, 4, 6)
    compare(F.avg_pool3d, TF.avg_pool3d, [x], kwargs)
    compare(F.avg_pool3d, TF.avg_pool3d, [x[0]], kwargs)          # unbatched
    k, s = kwargs["kernel_size"], kwargs.get("stride")
    compare(F.lp_pool3d, TF.lp_pool3d, [np.abs(x) + 0.1, 2.0, k, s])
    compare(F.lp_pool1d, TF.lp_pool1d, [np.abs(x[0, 0]) + 0.1, 3.0, 2, s])


def test_lp_pool_of_zeros_has_zero_gradient():
    compare(F.lp_pool3d, TF.lp_pool3d, [np.zeros((1, 1, 2, 2, 2)), 2.0, 2])


@pytest.mark.parametrize("size", [1, 3, (2, None, 5), (7, 1, 4)])
def test_adaptive_pools(size):
    x = _rand(2, 2, 5, 3, 7)
    compare(F.adaptive_avg_pool3d, TF.adaptive_avg_pool3d, [x], dict(output_size=size))
    compare(F.adaptive_max_pool3d, TF.adaptive_max_pool3d, [x], dict(output_size=size,
                                                                     return_indices=True))
    n = size if isinstance(size, int) else size[-1]
    compare(F.adaptive_max_pool1d, TF.adaptive_max_pool1d, [x[0, :, 0, 0]],
            dict(output_size=n, return_indices=True))


@pytest.mark.parametrize("call, message", [
    (lambda: F.max_pool3d(ag.zeros(2, 3, 3), 2), "max_pool3d: expected a 4-d or 5-d"),
    (lambda: F.avg_pool3d(ag.zeros(1, 1, 2, 2, 2), 3), "avg_pool3d: padding|avg_pool3d: kernel"),
    (lambda: F.max_pool3d(ag.zeros(1, 1, 4, 4, 4), 2, padding=2), "max_pool3d: padding"),
    (lambda: F.adaptive_avg_pool3d(ag.zeros(1, 1, 4, 4, 4), (2, 2)), "adaptive_avg_pool3d: output"),
    (lambda: F.adaptive_max_pool1d(ag.zeros(1, 1, 0), 2), "adaptive_max_pool1d: spatial"),
    (lambda: F.max_pool3d(ag.zeros(1, 1, 2, 2, 2, dtype=ag.int64), 2), "max_pool3d: input must"),
])
def test_pool_errors_name_the_op(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# -- interpolation and shuffles ----------------------------------------------------------------
MODES = [("nearest", 1), ("nearest", 2), ("nearest", 3), ("nearest-exact", 1),
         ("nearest-exact", 2), ("nearest-exact", 3), ("linear", 1), ("bilinear", 2),
         ("bicubic", 2), ("trilinear", 3), ("area", 1), ("area", 2), ("area", 3)]


@pytest.mark.parametrize("mode, nd", MODES)
def test_interpolate_sizes_and_scales_float32(mode, nd):
    """Every (in, out) pair including equal sizes and exact doubling, with and without
    scale_factor (PyTorch copies some unchanged axes and halves 2-d nearest's index)."""
    rng = np.random.default_rng(4)
    corners = [None] if mode.startswith("nearest") or mode == "area" else [False, True]
    for n_in in (1, 3, 5):
        for n_out in (1, 2, 3, 6, 10, 13):
            x = rng.standard_normal((1, 2) + (n_in,) * nd).astype(np.float32)
            for ac in corners:
                compare(F.interpolate, TF.interpolate, [x],
                        dict(size=(n_out,) * nd, mode=mode, align_corners=ac), rtol=1e-5,
                        atol=1e-5, grads=nd < 3)
        for scale in (0.5, 1.3, 2.0, 2.1, 2.7):
            if int(n_in * scale) == 0:
                continue
            for recompute in (None, True):
                compare(F.interpolate, TF.interpolate, [x],
                        dict(scale_factor=scale, mode=mode, recompute_scale_factor=recompute),
                        rtol=1e-5, atol=1e-5, grads=False)


def test_interpolate_float64_gradients_and_edges():
    x = _rand(2, 3, 4, 5)
    x[0, 0, 1, 1] = np.inf                       # spreads as in PyTorch (inf * 0 = nan)
    for mode in ("bilinear", "bicubic", "nearest"):
        compare(F.interpolate, TF.interpolate, [x], dict(size=(7, 3), mode=mode), grads=False)
    compare(F.interpolate, TF.interpolate, [_rand(1, 2, 3, 4, 2)],
            dict(scale_factor=(1.5, 0.75, 2), mode="trilinear", align_corners=True))
    compare(F.upsample_bilinear, TF.upsample_bilinear, [_rand(1, 2, 3, 4)], dict(scale_factor=2))
    compare(F.upsample_nearest, TF.upsample_nearest, [_rand(1, 2, 3, 4)], dict(size=(5, 7)))
    compare(F.interpolate, TF.interpolate, [np.arange(12, dtype=np.uint8).reshape(1, 3, 4)],
            dict(scale_factor=2.5, mode="nearest"), grads=False)          # integer input


@pytest.mark.parametrize("call, message", [
    (lambda: F.interpolate(ag.zeros(1, 1, 4, 4), size=3, mode="linear"), "interpolate: mode 'linear' needs a 3-d"),
    (lambda: F.interpolate(ag.zeros(1, 1, 4), size=3, mode="cubic"), "interpolate: mode must be"),
    (lambda: F.interpolate(ag.zeros(1, 1, 4), size=3, align_corners=True), "align_corners option"),
    (lambda: F.interpolate(ag.zeros(1, 1, 4), size=3, scale_factor=2), "exactly one of size"),
    (lambda: F.interpolate(ag.zeros(1, 1, 4), scale_factor=0.1), "interpolate: scale_factor"),
    (lambda: F.pixel_shuffle(ag.zeros(1, 3, 2, 2), 2), "pixel_shuffle: channels 3"),
    (lambda: F.pixel_unshuffle(ag.zeros(1, 3, 3, 2), 2), "pixel_unshuffle: height 3"),
    (lambda: F.channel_shuffle(ag.zeros(1, 3, 2), 2), "channel_shuffle: expected"),
])
def test_resampling_errors_name_the_op(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_shuffles_round_trip_and_match_pytorch():
    x = _rand(2, 3, 8, 4, 6)                     # extra leading dims
    compare(F.pixel_shuffle, TF.pixel_shuffle, [x, 2])
    compare(F.pixel_unshuffle, TF.pixel_unshuffle, [x, 2])
    y = F.pixel_unshuffle(F.pixel_shuffle(ag.tensor(x), 2), 2)
    np.testing.assert_array_equal(y.array, x)
    compare(F.channel_shuffle, torch.channel_shuffle, [_rand(2, 6, 1), 2])
    compare(F.native_channel_shuffle, TF.native_channel_shuffle, [_rand(2, 6, 1, 3), 3],
            grads=False)      # PyTorch has no derivative for it


def test_channel_dropouts_drop_whole_channels():
    ag.manual_seed(0)
    x = ag.ones(4, 8, 2, 3, 2)
    y = F.dropout3d(x, 0.5).array
    per_channel = y.reshape(4, 8, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()
    assert F.dropout3d(x, 0.5, training=False) is x
    z = F.feature_alpha_dropout(ag.ones(4, 8, 5), 0.3, training=True).array
    assert (z.min(-1) == z.max(-1)).all() and len(np.unique(z)) == 2
    with pytest.raises(ValueError, match="dropout3d: expected a 4-d or 5-d"):
        F.dropout3d(ag.ones(2, 3), 0.5)


# -- padding modes -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["replicate", "circular", "reflect"])
@pytest.mark.parametrize("shape, pad", [((2, 3, 4), (1, 2)), ((3, 4, 5), (2, 1, 0, 3)),
                                        ((2, 2, 3, 4, 3), (1, 1, 2, 0, 2, 2)),
                                        ((1, 1, 1, 2), (1, 1, 0, 0))])
def test_pad_modes(mode, shape, pad):
    compare(F.pad, TF.pad, [_rand(*shape), pad], dict(mode=mode))


def test_circular_pad_may_not_wrap_twice():
    with pytest.raises(ValueError, match="pad: circular padding \\(4, 0\\) of dim 2"):
        F.pad(ag.zeros(1, 2, 3), (4, 0), mode="circular")
    with pytest.raises(ValueError, match="pad: mode must be"):
        F.pad(ag.zeros(1, 2, 3), (1, 1), mode="wrap")


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_antialias(mode, dtype):
    """PyTorch's widened, normalised filters when shrinking (and its plain ones when growing),
    for sizes and scale factors, with and without align_corners."""
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    rng = np.random.default_rng(6)
    for n_in, n_out in [(1, 3), (8, 3), (17, 5), (5, 12), (9, 9)]:
        for ac in (False, True):
            x = rng.standard_normal((2, 3, n_in, n_in + 2)).astype(dtype)
            compare(F.interpolate, TF.interpolate, [x], dict(size=(n_out, n_out + 1), mode=mode,
                                                            align_corners=ac, antialias=True),
                    grads=dtype == np.float64, **tol)
    compare(F.interpolate, TF.interpolate, [rng.standard_normal((1, 2, 17, 9)).astype(dtype)],
            dict(scale_factor=0.3, mode=mode, antialias=True), **tol)
    with pytest.raises(ValueError, match="anti-alias option is restricted"):
        F.interpolate(ag.zeros(1, 1, 4), size=2, mode="linear", antialias=True)


@pytest.mark.parametrize("call", [
    lambda L, M: M.interpolate(L.zeros(0, 2, 4, 4), scale_factor=2, mode="bilinear"),
    lambda L, M: M.interpolate(L.zeros(0, 2, 3), size=5, mode="linear"),
    lambda L, M: M.conv_transpose3d(L.zeros(0, 2, 3, 3, 3), L.ones(2, 2, 2, 2, 2)),
    lambda L, M: M.max_pool3d(L.zeros(0, 2, 4, 4, 4), 2),
    lambda L, M: M.adaptive_avg_pool3d(L.zeros(0, 2, 4, 4, 4), 2),
    lambda L, M: M.grid_sample(L.zeros(0, 2, 4, 4), L.zeros(0, 3, 3, 2), align_corners=False),
    lambda L, M: M.grid_sample(L.ones(1, 2, 4, 4), L.zeros(1, 0, 3, 2), align_corners=False),
    lambda L, M: M.pad(L.zeros(0, 2, 3, 3), (1, 1, 1, 1), mode="replicate"),
    lambda L, M: M.conv3d(L.ones(1, 2, 3, 3, 3).half(), L.ones(2, 2, 2, 2, 2).half()),
    lambda L, M: M.interpolate(L.ones(1, 2, 3, 3).half(), scale_factor=2, mode="bicubic"),
    lambda L, M: M.max_pool3d(L.ones(1, 2, 4, 4, 4).half(), 2),
    lambda L, M: M.pad(L.ones(1, 2, 3, 3).half(), (1, 1, 1, 1), mode="circular"),
])
def test_empty_batches_and_float16_as_pytorch(call):
    ours, theirs = call(ag, F), call(torch, TF)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.dtype(str(theirs.dtype)[6:])
    np.testing.assert_allclose(ours.array.astype(np.float64), theirs.numpy().astype(np.float64),
                               rtol=2e-3, atol=2e-3)
