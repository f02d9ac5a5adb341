"""The spatial family's kernels (autograd/kernels/resample.py, fractional.py) against
their NumPy references, on each twin (serial and multi-threaded), on random shapes,
taps, weights, ties and NaNs; the resampling adjoint identity <R x, g> = <x, R* g>."""
import numpy as np
import pytest

from autograd.kernels import resample as K
from tests.kernel_twins import DTYPES, kernel_twin, tolerance  # noqa: F401  (autouse fixture)


def _case(rng, dtype, a, n_in, n_out, b, taps):
    x = rng.standard_normal((a, n_in, b)).astype(dtype)
    idx = rng.integers(0, n_in, (taps, n_out)).astype(np.int64)       # repeats included
    w = rng.standard_normal((taps, n_out)).astype(dtype)
    g = rng.standard_normal((a, n_out, b)).astype(dtype)
    return x, idx, w, g


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a, n_in, n_out, b, taps", [(1, 1, 5, 1, 1), (3, 7, 4, 5, 2),
                                                     (8, 5, 11, 1, 4), (2, 6, 6, 33, 2)])
def test_resample_kernels_match_references(dtype, a, n_in, n_out, b, taps):
    x, idx, w, g = _case(np.random.default_rng(a * n_in + b), dtype, a, n_in, n_out, b, taps)
    y = K.resample_numba(x, idx, w)
    np.testing.assert_allclose(y, K.resample_reference(x, idx, w), **tolerance(dtype))
    dx = K.resample_adjoint_numba(g, idx, w, n_in)
    np.testing.assert_allclose(dx, K.resample_adjoint_reference(g, idx, w, n_in),
                               **tolerance(dtype))
    assert y.dtype == dx.dtype == dtype
    lhs, rhs = float((y.astype(np.float64) * g).sum()), float((x.astype(np.float64) * dx).sum())
    assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(lhs))


def test_zero_weight_of_an_infinity_gives_nan_as_pytorch():
    x = np.array([[[np.inf], [1.0]]])
    y = K.resample_numba(x, np.array([[0], [1]]), np.array([[0.0], [1.0]]))
    assert np.isnan(y).all() and np.isnan(K.resample_reference(
        x, np.array([[0], [1]]), np.array([[0.0], [1.0]]))).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k", [((3, 1, 7, 6), (1, 2, 3)), ((2, 5, 4, 6), (2, 2, 2))])
def test_fractional_argmax_kernel_matches_reference(dtype, shape, k):
    from autograd.kernels import fractional as FK
    rng = np.random.default_rng(7)
    x = np.round(rng.standard_normal(shape) * 2).astype(dtype)           # ties
    x.flat[rng.integers(0, x.size, 6)] = np.nan                          # NaNs, some shared
    x.flat[rng.integers(0, x.size, 3)] = -np.inf
    starts = [rng.integers(0, n - kk + 1, (shape[0], 3)) for n, kk in zip(shape[1:], k)]
    np.testing.assert_array_equal(FK.fractional_argmax_numba(x, *starts, *k),
                                  FK.fractional_argmax_reference(x, *starts, *k))
