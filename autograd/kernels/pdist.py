"""Pairwise p-norm distances between the rows of x (N, M), i < j in row-major order
(PyTorch's pdist), and their VJP, without the (N (N - 1) / 2, M) tensor of differences.
  d_k = ||x_i - x_j||_p;  d d_k / d x_i = -d d_k / d x_j = f(x_i - x_j):
  p = 1: sign(diff);  p = 2: diff / d;  p = inf: sign(diff) [|diff| = d];  p = 0: 0;
  else sign(diff) |diff|^(p-1) / d^(p-1);  0 where d = 0 (and where diff = 0 for p < 1),
as PyTorch's."""
import numba
import numpy as np

from . import pick


_FAST = {"reassoc", "contract"}      # lets the row sums vectorise; inf and NaN keep their rules


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _distance(x, i, j, p):
    s = x[0, 0] * 0          # x's dtype
    if p == 2.0:
        for m in range(x.shape[1]):
            a = x[i, m] - x[j, m]
            s += a * a
        return np.sqrt(s)
    if p == 1.0:
        for m in range(x.shape[1]):
            s += abs(x[i, m] - x[j, m])
        return s
    if p == np.inf:
        for m in range(x.shape[1]):
            s = max(s, abs(x[i, m] - x[j, m]))
        return s
    if p == 0.0:
        for m in range(x.shape[1]):
            s += x[i, m] != x[j, m]
        return s
    for m in range(x.shape[1]):
        s += abs(x[i, m] - x[j, m]) ** p
    return s ** (1.0 / p)


@numba.njit(cache=True, fastmath=_FAST)
def pdist_numba(x, p):
    n_ = x.shape[0]
    out = np.empty(n_ * (n_ - 1) // 2, x.dtype)
    k = 0
    for i in range(n_):
        for j in range(i + 1, n_):
            out[k] = _distance(x, i, j, p)
            k += 1
    return out


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _pair_grad(x, i, j, dk, gk, p, grad):
    """Adds f(x_i - x_j) to grad[i] and subtracts it from grad[j] (module docstring)."""
    if dk == 0 or p == 0.0:
        return
    scale = gk / dk
    for m in range(x.shape[1]):
        diff = x[i, m] - x[j, m]
        if p == 2.0:
            f = diff * scale
        else:
            sign = (diff > 0) - (diff < 0)
            if p == 1.0:
                f = sign * gk
            elif p == np.inf:
                f = sign * gk if abs(diff) == dk else 0.0
            elif diff == 0:
                f = 0.0
            else:
                f = sign * abs(diff) ** (p - 1) * gk / dk ** (p - 1)
        grad[i, m] += f
        grad[j, m] -= f


@numba.njit(cache=True, fastmath=_FAST)
def pdist_backward_numba(x, d, g, p):
    n_ = x.shape[0]
    grad = np.zeros_like(x)
    k = 0
    for i in range(n_):
        for j in range(i + 1, n_):
            _pair_grad(x, i, j, d[k], g[k], p, grad)
            k += 1
    return grad


def _pairs(n):
    return np.triu_indices(n, 1)


def pdist_reference(x, p):
    i, j = _pairs(len(x))
    a = np.abs(x[i] - x[j])
    if p == 0:
        return (a != 0).sum(-1).astype(x.dtype)
    if p == np.inf:
        return a.max(-1, initial=0)
    return ((a ** p).sum(-1) ** (1.0 / p)).astype(x.dtype)


def pdist_backward_reference(x, d, g, p):
    i, j = _pairs(len(x))
    diff = x[i] - x[j]
    dk, gk = d[:, None], g[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 1:
            f = np.sign(diff) * gk
        elif p == 2:
            f = diff * gk / dk
        elif p == np.inf:
            f = np.sign(diff) * (np.abs(diff) == dk) * gk
        else:
            f = np.sign(diff) * np.abs(diff) ** (p - 1) * gk / dk ** (p - 1)
    f = np.where((dk == 0) | (p == 0) | ((diff == 0) & (p < 1)), 0, f).astype(x.dtype)
    grad = np.zeros_like(x)
    np.add.at(grad, i, f)
    np.add.at(grad, j, -f)
    return grad


pdist = pick(pdist_numba, pdist_reference)
pdist_backward = pick(pdist_backward_numba, pdist_backward_reference)
