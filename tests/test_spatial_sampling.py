"""Un-pooling, fractional max pooling, grid_sample and affine_grid (issue 27) against
PyTorch 2.13: forward, indices, gradients of the input and the grid, PyTorch's random
samples, edge values (ties, NaN, repeated indices, grids far outside [-1, 1]) and errors
that name the op; and their modules."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import autograd as ag
import nn
import nn.functional as F
from tests.test_spatial_nd import compare


def _rand(*shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


# -- max_unpool ----------------------------------------------------------------------------
@pytest.mark.parametrize("nd, shape, kwargs", [
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    (2, (2, 2, 7, 6), dict(kernel_size=2)),
    (2, (3, 5, 5), dict(kernel_size=3, stride=1, padding=1)),           # overlapping, unbatched
    (3, (1, 2, 4, 5, 4), dict(kernel_size=2, stride=(2, 1, 2)))])
def test_max_unpool_inverts_max_pool(nd, shape, kwargs):
    x = np.round(_rand(*shape) * 2) / 2                 # ties
    pool, unpool = getattr(TF, f"max_pool{nd}d"), f"max_unpool{nd}d"
    y, idx = pool(torch.tensor(x), return_indices=True, **kwargs)
    ours_y, ours_idx = getattr(F, f"max_pool{nd}d")(ag.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(ours_idx.array, idx.numpy())
    args = [y.numpy(), ag.tensor(idx.numpy())]
    compare(lambda v, i, **k: getattr(F, unpool)(v, i, **k),
            lambda v, i, **k: getattr(TF, unpool)(v, torch.tensor(i.array), **k), args,
            dict(kwargs, output_size=shape[-nd:]))
    compare(lambda v, i, **k: getattr(F, unpool)(v, i, **k),
            lambda v, i, **k: getattr(TF, unpool)(v, torch.tensor(i.array), **k), args, kwargs)


def test_max_unpool_errors_name_the_op():
    x, i = ag.zeros(1, 1, 2, 2), ag.tensor(np.array([[[[0, 1], [2, 99]]]]))
    with pytest.raises(ValueError, match="max_unpool2d: found an invalid max index 99"):
        F.max_unpool2d(x, i, 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(7, 4\)"):
        F.max_unpool2d(x, ag.zeros(1, 1, 2, 2, dtype=ag.int64), 2, output_size=(7, 4))
    with pytest.raises(ValueError, match="max_unpool3d: indices must be an integer tensor"):
        F.max_unpool3d(ag.zeros(1, 1, 2, 2, 2), ag.zeros(1, 1, 2, 2, 2), 2)


def test_max_unpool_modules():
    x = _rand(2, 3, 6, 4)
    y, idx = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    m, t = nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2)
    assert repr(m) == repr(t)
    np.testing.assert_array_equal(m(ag.tensor(y.numpy()), ag.tensor(idx.numpy())).array,
                                  t(y, idx).numpy())
    assert repr(nn.MaxUnpool1d(3, 1, 1)) == repr(torch.nn.MaxUnpool1d(3, 1, 1))
    assert repr(nn.MaxUnpool3d(2)) == repr(torch.nn.MaxUnpool3d(2))


# -- fractional max pooling ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nd, shape, kernel, kwargs", [
    (2, (2, 3, 11, 9), 2, dict(output_size=(4, 5))),
    (2, (3, 8, 8), (3, 2), dict(output_ratio=(0.5, 0.7))),             # unbatched
    (2, (1, 1, 5, 5), 2, dict(output_size=4)),                          # overlapping windows
    (3, (2, 2, 7, 9, 8), (2, 3, 2), dict(output_size=(3, 4, 5))),
    (3, (2, 6, 5, 6), 2, dict(output_ratio=(0.5, 0.5, 0.5)))])
def test_fractional_max_pool_with_pytorchs_samples(dtype, nd, shape, kernel, kwargs):
    x = np.round(_rand(*shape) * 3).astype(dtype) / 3       # ties: the first maximum wins
    batch = shape[0] if len(shape) == nd + 2 else 1
    u = np.random.default_rng(1).random((batch, shape[-nd - 1], nd)).astype(dtype)
    name = f"fractional_max_pool{nd}d"
    xa, xt = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours = getattr(F, name)(xa, kernel, return_indices=True, _random_samples=ag.tensor(u),
                            **kwargs)
    theirs = getattr(TF, name)(xt, kernel, return_indices=True, _random_samples=torch.tensor(u),
                               **kwargs)
    np.testing.assert_array_equal(ours[0].array, theirs[0].detach().numpy())
    np.testing.assert_array_equal(ours[1].array, theirs[1].numpy())
    r = np.random.default_rng(2).standard_normal(theirs[0].shape).astype(dtype)
    (ours[0] * ag.tensor(r)).sum().backward()
    (theirs[0] * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(xa.grad.array, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_fractional_max_pool_nan_and_default_samples():
    x = _rand(1, 2, 6, 6)
    x[0, 0, 2, 3] = x[0, 0, 2, 2] = x[0, 1, 0, 0] = np.nan      # two NaNs share a window
    u = np.random.default_rng(3).random((1, 2, 2))
    ours, i = F.fractional_max_pool2d(ag.tensor(x), 2, output_size=3, return_indices=True,
                                      _random_samples=ag.tensor(u))
    theirs, j = TF.fractional_max_pool2d(torch.tensor(x), 2, output_size=3, return_indices=True,
                                         _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(ours.array, theirs.numpy())       # NaNs in the same places
    np.testing.assert_array_equal(i.array, j.numpy())                # the last NaN wins
    # without samples they come from the default generator: seeded, repeatable, in range
    ag.manual_seed(5)
    a = F.fractional_max_pool3d(ag.tensor(_rand(2, 2, 5, 5, 5)), 2, output_ratio=0.5).array
    ag.manual_seed(5)
    b = F.fractional_max_pool3d(ag.tensor(_rand(2, 2, 5, 5, 5)), 2, output_ratio=0.5).array
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 2, 2, 2, 2)


@pytest.mark.parametrize("call, message", [
    (lambda: F.fractional_max_pool2d(ag.zeros(1, 1, 4, 4), 2), "requires specifying either"),
    (lambda: F.fractional_max_pool2d(ag.zeros(1, 1, 4, 4), 3, output_size=3),
     "fractional_max_pool2d: kernel_size"),
    (lambda: F.fractional_max_pool3d(ag.zeros(1, 1, 4, 4, 4), 2, output_size=2,
                                     _random_samples=ag.zeros(1, 1, 2)),
     "fractional_max_pool3d: _random_samples must have shape"),
    (lambda: nn.FractionalMaxPool2d(2, output_ratio=1.5), "output_ratio must be between"),
    (lambda: nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5), "only one of"),
])
def test_fractional_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fractional_modules_keep_their_samples():
    u = torch.rand(1, 2, 2, dtype=torch.float64)
    m = nn.FractionalMaxPool2d(2, output_size=(3, 3), return_indices=True,
                               _random_samples=ag.tensor(u.numpy()))
    t = torch.nn.FractionalMaxPool2d(2, output_size=(3, 3), return_indices=True,
                                     _random_samples=u)
    assert list(m.state_dict()) == list(t.state_dict()) == ["_random_samples"]
    x = _rand(1, 2, 7, 7)
    (a, i), (b, j) = m(ag.tensor(x)), t(torch.tensor(x))
    np.testing.assert_array_equal(a.array, b.numpy())
    np.testing.assert_array_equal(i.array, j.numpy())
    assert nn.FractionalMaxPool3d(2, output_ratio=0.5).output_ratio == (0.5, 0.5, 0.5)


# -- grid_sample / affine_grid -------------------------------------------------------------
MODES_2D = [(m, p, a) for m in ("bilinear", "nearest", "bicubic")
            for p in ("zeros", "border", "reflection") for a in (False, True)]


@pytest.mark.parametrize("mode, padding_mode, align_corners", MODES_2D)
def test_grid_sample_2d(mode, padding_mode, align_corners):
    x = _rand(2, 3, 5, 4)
    grid = _rand(2, 3, 6, 2, seed=1, low=-2.2, high=2.2)       # well outside [-1, 1]
    kwargs = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    compare(F.grid_sample, TF.grid_sample, [x, grid], kwargs)     # nearest: grid's grad is 0


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_3d(mode, padding_mode):
    x = _rand(1, 2, 3, 4, 5)
    grid = _rand(1, 2, 3, 2, 3, seed=1, low=-1.8, high=1.8)
    kwargs = dict(mode=mode, padding_mode=padding_mode, align_corners=False)
    compare(F.grid_sample, TF.grid_sample, [x, grid], kwargs)


def test_grid_sample_edges_size_one_and_float32():
    # a size-1 input axis (reflection's degenerate span), and float32
    compare(F.grid_sample, TF.grid_sample, [_rand(1, 1, 1, 4), _rand(1, 2, 2, 2, seed=1) * 2],
            dict(padding_mode="reflection", align_corners=True))
    compare(F.grid_sample, TF.grid_sample,
            [_rand(2, 2, 4, 4).astype(np.float32), _rand(2, 3, 3, 2, seed=1).astype(np.float32)],
            dict(mode="bicubic", align_corners=False), rtol=1e-5, atol=1e-6)


def test_grid_sample_gradgradcheck():
    x = ag.tensor(_rand(1, 2, 3, 3), requires_grad=True)
    g = ag.tensor(_rand(1, 2, 2, 2, seed=1) * 0.9, requires_grad=True)
    assert ag.gradgradcheck(lambda a, b: F.grid_sample(a, b, align_corners=False), [x, g])


@pytest.mark.parametrize("size, align_corners", [((2, 3, 4, 5), False), ((1, 1, 1, 3), True),
                                                 ((2, 1, 2, 3, 4), False), ((1, 2, 3, 1, 2), True)])
def test_affine_grid(size, align_corners):
    nd = len(size) - 2
    theta = _rand(size[0], nd, nd + 1)
    compare(F.affine_grid, TF.affine_grid, [theta, size], dict(align_corners=align_corners))


def test_spatial_transformer_round_trip_gradients():
    """affine_grid then grid_sample, differentiated w.r.t. theta and the image, as PyTorch."""
    x, theta = _rand(2, 3, 6, 5), _rand(2, 2, 3, seed=2) * 0.5 + np.array([[1, 0, 0], [0, 1, 0]])
    compare(lambda a, t: F.grid_sample(a, F.affine_grid(t, (2, 3, 4, 4), align_corners=False),
                                       align_corners=False),
            lambda a, t: TF.grid_sample(a, TF.affine_grid(t, (2, 3, 4, 4), align_corners=False),
                                        align_corners=False), [x, theta])


@pytest.mark.parametrize("call, message", [
    (lambda: F.grid_sample(ag.zeros(1, 1, 3, 3), ag.zeros(1, 2, 2, 3)), "grid_sample: expected input"),
    (lambda: F.grid_sample(ag.zeros(1, 1, 3, 3, 3), ag.zeros(1, 2, 2, 2, 3), mode="bicubic"),
     "grid_sample: mode 'bicubic' needs a 4-d"),
    (lambda: F.grid_sample(ag.zeros(1, 1, 3, 3), ag.zeros(1, 2, 2, 2), padding_mode="wrap"),
     "grid_sample: padding_mode must be"),
    (lambda: F.affine_grid(ag.zeros(1, 2, 3), (1, 1, 2, 2, 2)), "affine_grid: expected theta"),
])
def test_grid_errors_name_the_op(call, message):
    with pytest.raises(ValueError, match=message):
        call()
