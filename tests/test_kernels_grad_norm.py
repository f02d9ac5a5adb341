"""clip_grad_norm_'s one-pass sum of squares (autograd/kernels/grad_norm.py) against its
NumPy reference on both twins, and the clipping against PyTorch's."""
import numpy as np
import pytest
import torch

import autograd as ag
import nn
from autograd.kernels import grad_norm
from kernel_twins import DTYPES, kernel_twin  # noqa: F401  (kernel_twin: autouse)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 17, 40_000])
def test_squares_sum_matches_reference(size, dtype):
    flat = np.random.default_rng(size).standard_normal(size).astype(dtype) * 3
    ours = grad_norm.squares_sum_numba(flat)
    assert isinstance(ours, float)
    np.testing.assert_allclose(ours, grad_norm.squares_sum_reference(flat), rtol=1e-12)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(300, 7), (5,), (2, 3, 4)]]
    ours = [nn.Parameter(ag.zeros(g.shape)) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = ag.tensor(g), torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(ours, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    np.testing.assert_allclose(float(total), float(expected), rtol=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=1e-6, atol=1e-7)
