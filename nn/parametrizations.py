"""``nn.utils.parametrizations``: weight_norm, spectral_norm and orthogonal, registered
through ``nn.utils.parametrize`` with PyTorch's modules, buffers and state_dict keys.

  weight_norm     W = g v / ||v||, the norm over every dim but ``dim`` (original0 = g,
                  original1 = v)
  spectral_norm   W / sigma, sigma = u^T W v from power iteration on W as a matrix
                  (``dim`` first), one step per training forward, u and v buffers
  orthogonal      Q from an unconstrained X: matrix_exp(A) or the Cayley map
                  (I - A/2)^-1 (I + A/2) of A = tril(X) - tril(X)^T, or the Householder
                  product of tril(X, -1); with the trivialization Q = base @ Q(X), base
                  the orthogonalised initial weight and X = -I at registration
"""
import numpy as np

import autograd as ag

from . import functional as F
from .module import Module
from .parametrize import register_parametrization

_TRANSPOSED_CONVS = {"ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}


def _norm_except_dim(v, dim):
    """||v||_2 over every dim but ``dim`` (keeping them as size 1); dim = -1: the whole norm."""
    if dim == -1:
        return v.norm()
    dims = tuple(d for d in range(v.ndim) if d != dim % v.ndim)
    return v.norm(2, dims, keepdim=True) if dims else v.abs()


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrize ``module.<name>`` as g v / ||v|| (Salimans & Kingma, 2016)."""
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def weight_matrix(weight, dim):
    """``weight`` as the matrix spectral normalisation takes: dim first, the rest flattened."""
    if dim != 0:
        weight = weight.permute(dim, *(d for d in range(weight.ndim) if d != dim))
    return weight.reshape(weight.shape[0], -1)


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if not -ndim <= dim < max(ndim, 1):
            raise IndexError(f"spectral_norm: dim must be in [-{ndim}, {ndim - 1}], got {dim}")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            u, v = ag.randn(h, dtype=weight.dtype), ag.randn(w, dtype=weight.dtype)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        return weight_matrix(weight, self.dim)

    def _power_method(self, weight_mat, n_power_iterations):
        """u <- normalize(W v), v <- normalize(W^T u), in place, outside autograd."""
        with ag.no_grad():
            w = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.array[...] = F.normalize(w @ self._v, dim=0, eps=self.eps).array
                self._v.array[...] = F.normalize(w.T @ self._u, dim=0, eps=self.eps).array

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.detach().clone(), self._v.detach().clone()
        sigma = (u * (weight_mat @ v)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm (Miyato et al., 2018)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, ag.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if any(c.__name__ in _TRANSPOSED_CONVS for c in type(module).__mro__) else 0
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


_MAPS = ("matrix_exp", "cayley", "householder")


def _make_orthogonal(a):
    """The Q of A's QR decomposition, signed so that R's diagonal is positive."""
    q, r = np.linalg.qr(a)
    return q * np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)[..., None, :]


def _is_orthogonal(q, eps=None):
    n, k = q.shape[-2:]
    eps = 10 * n * np.finfo(q.dtype).eps if eps is None else eps
    return np.allclose(np.swapaxes(q, -1, -2) @ q, np.eye(k), atol=eps)


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x):
        n, k = x.shape[-2:]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:
                x = ag.cat([x, ag.zeros(*x.shape[:-2], n, n - k, dtype=x.dtype)], -1)
            a = x - x.mT
            if self.orthogonal_map == "matrix_exp":
                q = ag.linalg.matrix_exp(a)
            else:
                eye = ag.eye(n, dtype=x.dtype)
                q = ag.linalg.solve(eye - 0.5 * a, eye + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(-1)
            tau = 2.0 / (1.0 + (a * a).sum(-2))
            q = ag.linalg.householder_product(a, tau)
            signs = np.trunc(np.diagonal(x.array, axis1=-2, axis2=-1))      # PyTorch's .int()
            q = q * signs[..., None, :].astype(np.dtype(q.dtype))
        base = self._buffers.get("base")          # absent without the trivialization
        if base is not None:
            q = base @ q
        return q.mT if transposed else q

    def right_inverse(self, q):
        if tuple(q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(q.shape)}.")
        q_init = q
        arr = q.detach().array
        n, k = arr.shape[-2:]
        if n < k:
            arr = np.swapaxes(arr, -1, -2)
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map != "householder":
                # PyTorch's protocol: registration keeps the value; an assignment raises
                raise NotImplementedError("It is not possible to assign to the matrix exponential or the "
                                          "Cayley parametrizations when use_trivialization=False.")
            reflectors = _householder_reflectors(arr)
            return ag.tensor(np.swapaxes(reflectors, -1, -2) if q_init.shape[-2] < q_init.shape[-1]
                             else reflectors)
        if n == k:
            base = arr.copy() if _is_orthogonal(arr) else _make_orthogonal(arr)
        else:
            fill = np.random.default_rng().standard_normal(arr.shape[:-2] + (n, n - k))
            base = _make_orthogonal(np.concatenate([arr, fill], -1))
        self.base = ag.tensor(base.astype(arr.dtype))
        neg_eye = np.zeros(q_init.shape, arr.dtype)
        idx = np.arange(min(q_init.shape[-2:]))
        neg_eye[..., idx, idx] = -1
        return ag.tensor(neg_eye)


def _householder_reflectors(q):
    """X with householder(X) = Q for orthogonal Q (n >= k): LAPACK geqrf's reflectors
    (NumPy's 'raw' QR), the diagonal holding the signs of R's, flipped where tau = 0
    (PyTorch's rule, so that the reflection left out stays out)."""
    out = np.empty_like(q)
    for i in np.ndindex(q.shape[:-2]):
        h, tau = np.linalg.qr(q[i], mode="raw")
        a = h.T.copy()
        diag = np.sign(np.diagonal(a)).copy()
        diag[tau == 0.0] *= -1
        np.fill_diagonal(a, diag)
        out[i] = a
    return out


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Constrain ``module.<name>`` (a matrix or batch of matrices) to be orthogonal."""
    weight = getattr(module, name, None)
    if not isinstance(weight, ag.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    register_parametrization(module, name, _Orthogonal(weight, orthogonal_map,
                                                       use_trivialization=use_trivialization), unsafe=True)
    return module
