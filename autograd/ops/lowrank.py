"""Randomized low-rank decompositions: svd_lowrank and pca_lowrank (PyTorch's
torch/_lowrank.py, after Halko, Martinsson and Tropp 2009, Algorithms 4.4 and 5.1),
composed from matmul, qr and svd, so they differentiate through those.

The random start R (n x q, standard normal) comes from autograd's generator
(manual_seed), not PyTorch's: the values agree with PyTorch's wherever the result does
not depend on R -- q at least the rank of A, where Q spans A's range and the SVD of
Q^T A is A's -- up to the signs of the singular pairs."""
import numpy as np

from ..creation import randn
from .decompositions import SVD, svd
from .linalg_errors import check_matrix
from .decompositions import qr
from .registry import SampleInput, make, op


def approximate_basis(A, q, niter=2, M=None):
    """Q with q orthonormal columns such that Q Q^T (A - M) approximates A - M: the range
    of (A - M) R refined by niter subspace iterations (Algorithm 4.4)."""
    def centred(X, R, transpose=False):
        X_ = (A.mT if transpose else A) @ R
        return X_ if M is None else X_ - (M.mT if transpose else M) @ R
    Q = qr(centred(A, randn(A.shape[-1], q, dtype=A.dtype))).Q
    for _ in range(niter):
        Q = qr(centred(A, Q, transpose=True)).Q
        Q = qr(centred(A, Q)).Q
    return Q


def _check(name, A, q, niter):
    check_matrix(name, A)
    if not isinstance(niter, int) or niter < 0:
        raise ValueError(f"{name}: niter(={niter!r}) must be a non-negative integer")
    m, n = A.shape[-2:]
    if not isinstance(q, int) or not 0 <= q <= min(m, n):
        raise ValueError(f"{name}: q(={q!r}) must be a non-negative integer and not greater than "
                         f"min(m, n)={min(m, n)}")


def svd_lowrank(A, q=6, niter=2, M=None):
    """(U, S, V) with A - M ~ U diag(S) V^T, rank q: the SVD of Q^T (A - M) for the
    approximate basis Q of A - M's range (Algorithm 5.1); M (broadcast to A's shape)
    defaults to 0.  A wide A is handled through its transpose, as PyTorch."""
    name = "svd_lowrank"
    q = 6 if q is None else q
    _check(name, A, q, 2 if niter is None else niter)
    niter = 2 if niter is None else niter
    m, n = A.shape[-2:]
    if M is not None:
        M = M.expand(*A.shape)
    if m < n:
        A, M = A.mT, None if M is None else M.mT
    Q = approximate_basis(A, q, niter, M)
    B = Q.mT @ A if M is None else Q.mT @ A - Q.mT @ M
    U, S, Vh = svd(B, full_matrices=False)
    U, V = Q @ U, Vh.mT
    return (V, S, U) if m < n else (U, S, V)


def pca_lowrank(A, q=None, center=True, niter=2):
    """(U, S, V): the principal directions of the rows of A (columns of V), from
    svd_lowrank of A less its column means (center=True); q defaults to min(6, m, n).
    S**2 / (m - 1) are the variances along them."""
    name = "pca_lowrank"
    check_matrix(name, A)
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else q
    _check(name, A, q, niter)
    if center:
        A = A - A.mean(-2, keepdim=True)
    return svd_lowrank(A, q, niter)


def _lowrank_samples(rng):
    """Exactly rank-2 matrices (distinct singular values) and q = 2: the result is the
    SVD of A whatever the random start, so the sweep sees a function of A."""
    for shape in ((5, 4), (4, 6), (2, 5, 3)):
        u = np.linalg.qr(rng.standard_normal(shape[:-1] + (2,)))[0]
        v = np.linalg.qr(rng.standard_normal(shape[:-2] + (shape[-1], 2)))[0]
        a = (u * np.array([3.0, 1.0])) @ np.swapaxes(v, -1, -2)
        t = make(rng, shape)
        t.array[...] = a
        yield SampleInput((t,), dict(q=2), f"{shape}-rank2")


def _gauge(U, S, V):
    """Sign-invariant: the values and U diag(S) V^T."""
    return S, (U * S.unsqueeze(-2)) @ V.mT


def _gauge_ref(a, q=2, center=False):
    s = np.linalg.svd(a, compute_uv=False)[..., :q]
    return s, a


@op(SVD, samples=_lowrank_samples, ref=_gauge_ref, name="svd_lowrank_gauge")
def _svd_lowrank_gauge(A, q=2):
    return _gauge(*svd_lowrank(A, q))


@op(SVD, samples=_lowrank_samples, ref=_gauge_ref, name="pca_lowrank_gauge")
def _pca_lowrank_gauge(A, q=2):
    return _gauge(*pca_lowrank(A, q, center=False))
