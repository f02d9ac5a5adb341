"""Matrix decompositions and what is built on them: cholesky, qr, eigh, eigvalsh, svd,
svdvals, det (whose gradient at a singular matrix needs the SVD), lstsq, pinv (the
primitives behind autograd.linalg).

Forward is NumPy's LAPACK, batched over the leading dims.  The VJPs are PyTorch's
(FunctionsManual.cpp), written with the ops so they differentiate again:

* Gauge.  Eigenvectors (eigh) are defined up to sign, singular vector pairs (svd) up
  to a common sign; a loss that depends on that choice has no gradient.  As in
  PyTorch, the VJPs assume a gauge-invariant loss and use only the gauge-invariant
  part of the incoming gradient (the skew part of V^T gV, U^T gU).
* Repeated values.  The VJPs of eigh and svd divide by the gaps lambda_j - lambda_i
  (s_j^2 - s_i^2); where two eigenvalues or singular values coincide the gradient of
  the vectors is inf/nan, as in PyTorch.  The values alone (eigvalsh, svdvals) have
  finite gradients.
* Symmetric inputs.  cholesky and eigh read one triangle of A (the lower by default)
  and, as PyTorch, return a symmetric gradient: the derivative along symmetric
  perturbations, which is what a symmetric A can have.
"""
from typing import NamedTuple

import numpy as np

from ..creation import zeros_like
from ..forward_ad import derived_jvp
from ..function import Primitive
from ..grad_mode import STATE
from ..tensor import Tensor
from .binary import where
from .linalg_errors import (LinAlgError, batch_shape, check_float, check_matrix, check_same_dtype,
                            check_square, lapack)
from .reduction import amax, maximum
from .registry import SampleInput, make, op
from .shape import cat
from .solve import (SolveTriangular, diag_embed, eye_like, is_vector_rhs, matrix_trace, solve,
                    solve_triangular, square_samples)
from .batching import batch_as_leading_dim_rule, values_of


def _tracked(A):
    """Whether A's result could need a derivative (grad, or forward-mode tangents)."""
    return (A.requires_grad and STATE.grad_enabled) or STATE.interpreter is not None


def _sym(x):
    return (x + x.mT) * 0.5


def _symmetric_samples(rng):
    """Inputs for the symmetric-input ops' sweep wrappers: SPD after symmetrising,
    with distinct eigenvalues (uniform noise plus diag(1, 2.5, 4, ...))."""
    for shape in ((3, 3), (2, 3, 3), (1, 1)):
        t = make(rng, shape, -0.5, 0.5, requires_grad=False)
        t.array[...] += np.diag(1.0 + 1.5 * np.arange(shape[-1]))
        t.requires_grad = True
        yield SampleInput((t,), {}, f"{shape}")


# -- Cholesky ----------------------------------------------------------------------
class Cholesky(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, a):
        l = lapack("linalg.cholesky", np.linalg.cholesky,
                   "the input is not positive-definite, so the factorization could not be completed", a)
        ctx.save_for_backward(l)
        return l

    @staticmethod
    def backward(ctx, gl):
        l, = ctx.saved_tensors
        # dA = L^{-T} Phi(L^T gL) L^{-1}, Phi(P) = (tril(P) + tril(P, -1)^T) / 2: symmetric
        p = (l.mT @ gl).tril()
        phi = (p + p.tril(-1).mT) * 0.5
        ga = solve_triangular(l.mT, phi, upper=True)
        return solve_triangular(l, ga, upper=False, left=False)


@op(Cholesky, samples=_symmetric_samples, ref=lambda x: np.linalg.cholesky(_sym(x)),
    name="linalg.cholesky_of_symmetric")
def _cholesky_of_symmetric(x):
    """The sweep's view of cholesky: the factor of the symmetric part of x (so central
    differences move A within the symmetric matrices, where its gradient lives)."""
    return cholesky(_sym(x))


def cholesky(A, *, upper=False):
    """L with A = L L^T (or U with A = U^T U), from A's lower triangle; LinAlgError
    naming the batch element if A is not positive-definite."""
    check_square("linalg.cholesky", A)
    L = Cholesky.apply(A)
    return L.mT if upper else L


# -- QR ----------------------------------------------------------------------------
class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class QR(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, a, mode):
        if mode == "r":
            q, r = np.empty((0,), a.dtype), np.linalg.qr(a, mode="r")
        else:
            q, r = np.linalg.qr(a, mode=mode)
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        q, r = ctx.saved_tensors
        if ctx.mode == "r":
            raise RuntimeError("linalg.qr: the derivative of linalg.qr depends on Q, which is "
                               "not computed when mode='r'; use mode='reduced' to differentiate")
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("linalg.qr: the QR decomposition is not differentiable when "
                               f"mode='complete' and nrows > ncols (got {m} x {n})")
        if m >= n:
            return _qr_backward_tall(gq, gr, q, r), None
        # A = Q [X | Y] with X square: X's factorization gives Q, and Y = Q^T A_Y feeds
        # back into Q's gradient through A_Y gY^T
        x, y, gy = r[..., :, :m], r[..., :, m:], gr[..., :, m:]
        ga_x = _qr_backward_tall(gq + (q @ y) @ gy.mT, gr[..., :, :m], q, x)
        return cat([ga_x, q @ gy], -1), None


def _qr_backward_tall(gq, gr, q, r):
    # dA = (gQ + Q copyltu(M)) R^{-T}, M = R gR^T - gQ^T Q, copyltu(M) = tril(M) + tril(M, -1)^T
    mm = r @ gr.mT - gq.mT @ q
    b = gq + q @ (mm.tril() + mm.tril(-1).mT)
    return solve_triangular(r.mT, b, upper=False, left=False)


def _qr_samples(rng):
    for shape, mode in (((4, 3), "reduced"), ((2, 3, 3), "reduced"), ((3, 5), "reduced"),
                        ((3, 3), "complete"), ((2, 4), "complete")):
        yield SampleInput((square_like(rng, shape),), dict(mode=mode), f"{shape}-{mode}")


def square_like(rng, shape):
    """A full-rank (m, n) float64 sample: uniform(-1, 1) plus 2 on the main diagonal."""
    t = make(rng, shape, -1.0, 1.0, requires_grad=False)
    k = min(shape[-2:])
    t.array[..., range(k), range(k)] += 2.0
    t.requires_grad = True
    return t


def _qr_ref(a, mode="reduced"):
    return tuple(np.linalg.qr(a, mode=mode))


@op(QR, samples=_qr_samples, ref=_qr_ref, name="linalg.qr")
def qr(A, mode="reduced"):
    """(Q, R) with A = Q R, Q orthonormal columns, R upper triangular.  mode: 'reduced'
    (k = min(m, n) columns of Q), 'complete' (all m) or 'r' (R only, Q empty)."""
    check_matrix("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    return QRResult(*QR.apply(A, mode))


# -- symmetric eigendecomposition ---------------------------------------------------
class EigResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class Eigh(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, v)
        return w, v

    materialize_grads = False      # values alone (gV None) skip the gaps: finite at ties

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        gw = zeros_like(w) if gw is None else gw
        if gv is None:
            return (v * gw.unsqueeze(-2)) @ v.mT, None       # dA = V diag(gw) V^T
        # dA = V (diag(gw) + skew(V^T gV) / E) V^T, E_ij = w_j - w_i (1 on the diagonal),
        # skew(X) = (X - X^T) / 2: the gauge-invariant part of gV
        vgv = v.mT @ gv
        gaps = w.unsqueeze(-2) - w.unsqueeze(-1) + eye_like(v)
        inner = (vgv - vgv.mT) * 0.5 / gaps + diag_embed(gw)
        return v @ inner @ v.mT, None


def _eigh_gauge(x):
    """The sweep's view of eigh: eigenvalues and squared eigenvectors (sign-invariant)
    of the symmetric part of x."""
    w, v = eigh(_sym(x))
    return w, v * v


def _eigh_gauge_ref(x):
    w, v = np.linalg.eigh(_sym(x))
    return w, v * v


@op(Eigh, samples=_symmetric_samples, ref=_eigh_gauge_ref, name="linalg.eigh_gauge")
def _eigh_gauge_op(x):
    return _eigh_gauge(x)


def _check_uplo(name, A, UPLO):
    check_square(name, A)
    if UPLO not in ("L", "U"):
        raise ValueError(f"{name}: UPLO must be 'L' or 'U', got {UPLO!r}")


def eigh(A, UPLO="L"):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric A, read from its
    lower (UPLO='L') or upper triangle.  Gauge and repeated eigenvalues: module docstring."""
    _check_uplo("linalg.eigh", A, UPLO)
    return EigResult(*Eigh.apply(A, UPLO))


@op(Eigh, samples=_symmetric_samples, ref=lambda x: np.linalg.eigvalsh(_sym(x)),
    name="linalg.eigvalsh_of_symmetric")
def _eigvalsh_of_symmetric(x):
    return eigvalsh(_sym(x))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of symmetric A, ascending (eigh's values; vectors are computed
    only when a derivative may be needed)."""
    _check_uplo("linalg.eigvalsh", A, UPLO)
    if _tracked(A):
        return Eigh.apply(A, UPLO)[0]
    return Tensor._make(np.linalg.eigvalsh(A.array, UPLO=UPLO))


# -- singular value decomposition ---------------------------------------------------
class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class SVD(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = lapack("linalg.svd", lambda x: np.linalg.svd(x, full_matrices=full_matrices),
                          "the SVD did not converge", a)
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    materialize_grads = False      # values alone (gU, gVh None) skip the gaps

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved_tensors
        m, n = u.shape[-2], vh.shape[-1]
        k = s.shape[-1]
        gs = zeros_like(s) if gs is None else gs
        if gu is None and gvh is None:                      # dA = U diag(gS) V^T
            return (u[..., :, :k] * gs.unsqueeze(-2)) @ vh[..., :k, :], None
        gu = zeros_like(u) if gu is None else gu
        gvh = zeros_like(vh) if gvh is None else gvh
        # full_matrices: the columns past k span a free subspace; their gradient is
        # ignored (PyTorch)
        u, gu, vh, gvh = u[..., :, :k], gu[..., :, :k], vh[..., :k, :], gvh[..., :k, :]
        v, gv = vh.mT, gvh.mT
        # dA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] V^T (+ the parts of
        # gU, gV outside span(U), span(V)); skew(X) = X - X^T, E_jk = s_k^2 - s_j^2
        ugu, vgv = u.mT @ gu, v.mT @ gv
        s2 = s * s
        gaps = s2.unsqueeze(-2) - s2.unsqueeze(-1) + eye_like(s, k)
        inner = ((ugu - ugu.mT) * s.unsqueeze(-2) + s.unsqueeze(-1) * (vgv - vgv.mT)) / gaps \
            + diag_embed(gs)
        if m > k:          # + (I - U U^T) gU S^{-1} V^T
            gu_s = gu / s.unsqueeze(-2)
            return (u @ inner + gu_s - u @ (u.mT @ gu_s)) @ vh, None
        if n > k:          # + U S^{-1} gV^T (I - V V^T)
            gv_s = (gv / s.unsqueeze(-2)).mT
            return u @ (inner @ vh + gv_s - (gv_s @ v) @ vh), None
        return u @ inner @ vh, None


def _svd_samples(rng):
    for shape, full in (((4, 3), False), ((2, 3, 3), False), ((3, 4), False), ((4, 3), True),
                        ((2, 4), True)):
        t = make(rng, shape, -0.5, 0.5, requires_grad=False)
        k = min(shape[-2:])
        t.array[..., range(k), range(k)] += 1.0 + 1.5 * np.arange(k)    # distinct values
        t.requires_grad = True
        yield SampleInput((t,), dict(full_matrices=full), f"{shape}-full={full}")


def _svd_gauge_ref(a, full_matrices=True):
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    return (s, u * u, vh * vh) + ((u @ vh,) if a.shape[-1] == a.shape[-2] else ())


@op(SVD, samples=_svd_samples, ref=_svd_gauge_ref, name="linalg.svd_gauge")
def _svd_gauge(x, full_matrices=True):
    """The sweep's view of svd: values, squared vectors, and U V^T for square x (all
    invariant under the sign of each singular pair)."""
    u, s, vh = svd(x, full_matrices=full_matrices)
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    return (s, u * u, vh * vh) + ((u @ vh,) if x.shape[-1] == x.shape[-2] else ())


def svd(A, full_matrices=True):
    """(U, S, Vh) with A = U diag(S) Vh, S descending.  Gauge, repeated values and the
    free columns of full_matrices: module docstring."""
    check_matrix("linalg.svd", A)
    return SVDResult(*SVD.apply(A, bool(full_matrices)))


@op(SVD, samples=lambda rng: (s for s in _svd_samples(rng) if not s.kwargs["full_matrices"]),
    ref=lambda a, full_matrices=False: np.linalg.svd(a, compute_uv=False),
    name="linalg.svdvals")
def _svdvals_op(x, full_matrices=False):
    return svdvals(x)


def svdvals(A):
    """The singular values of A, descending (the vectors are computed only when a
    derivative may be needed)."""
    check_matrix("linalg.svdvals", A)
    if _tracked(A):
        return SVD.apply(A, False)[1]
    return Tensor._make(lapack("linalg.svdvals", lambda x: np.linalg.svd(x, compute_uv=False),
                               "the SVD did not converge", A.array))


# -- determinant -------------------------------------------------------------------
class Det(Primitive):
    batch_rule = batch_as_leading_dim_rule    # on the last two dims
    @staticmethod
    def forward(ctx, a):
        d = np.asarray(np.linalg.det(a))
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, g):
        a, d = ctx.saved_tensors
        try:           # d det A / dA = det(A) A^{-T}, by a solve
            return solve(a.mT, diag_embed((g * d).unsqueeze(-1).expand(*a.shape[:-1])))
        except LinAlgError:
            return _cofactors(a) * g.unsqueeze(-1).unsqueeze(-1)

    @staticmethod
    def jvp(ctx, da):
        a, d = ctx.saved_tensors
        try:           # d det = det(A) tr(A^{-1} dA)
            return d * matrix_trace(solve(a, da))
        except LinAlgError:
            return (_cofactors(a) * da).sum((-2, -1))


def _cofactors(a):
    """The cofactor matrix adj(A)^T = d det A / dA, also where A is singular (where
    det(A) A^{-T} is 0 * inf): with A = U S V^T it is det(U V^T) U diag(prod_{j != i} s_j)
    V^T.  At a singular A its own derivative misses the terms of prod at zeros (README)."""
    u, s, vh = svd(a)
    sign = np.sign(np.linalg.det(u.array) * np.linalg.det(vh.array))    # +-1: a constant
    n = s.shape[-1]
    others = where(Tensor._make(np.eye(n, dtype=bool)), 1.0, s.unsqueeze(-2)).prod(-1)
    return (u * (others * Tensor._make(sign).unsqueeze(-1)).unsqueeze(-2)) @ vh


def _det_samples(rng):
    yield from square_samples(rng)
    singular = make(rng, (2, 3, 3), requires_grad=False)
    singular.array[..., :, 2] = 0.0                   # LU meets an exact zero pivot
    singular.requires_grad = True
    yield SampleInput((singular,), {}, "singular", gradgrad=False)


@op(Det, samples=_det_samples, ref=np.linalg.det, name="linalg.det", method="det")
def det(A):
    """det A; its gradient is det(A) A^{-T}, and the cofactor matrix where A is
    singular (from the SVD)."""
    check_square("linalg.det", A)
    return Det.apply(A)


# -- least squares and the pseudo-inverse --------------------------------------------
def _default_rtol(A):
    return np.finfo(A.dtype).eps * max(A.shape[-2:])


def _pinv_samples(rng):
    for shape in ((4, 3), (3, 5), (2, 3, 3)):
        yield SampleInput((square_like(rng, shape),), {}, f"{shape}")
    yield SampleInput((square_like(rng, (3, 4)),), dict(atol=0.1), "atol")


def _pinv_ref(a, atol=None, rtol=None, hermitian=False):
    return np.linalg.pinv(a, rcond=_default_rtol(a) if rtol is None and atol is None else 0.0)


@op(SVD, samples=_pinv_samples, ref=_pinv_ref, name="linalg.pinv")
def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse from the SVD (the eigendecomposition if
    hermitian); singular values below max(atol, rtol * s_max) count as zero.  Defaults
    as PyTorch: rtol = eps * max(m, n) when neither is given, else 0 if only atol is.
    atol and rtol may be tensors of A's batch shape (one tolerance per matrix)."""
    check_matrix("linalg.pinv", A)
    if not A.shape[-1] or not A.shape[-2]:      # no singular values: the empty (n x m) result
        return A.mT * 0.0
    if rtol is None:
        rtol = _default_rtol(A) if atol is None else 0.0
    atol = 0.0 if atol is None else atol
    # a tolerance per matrix lines up with the column of its singular values
    atol, rtol = (t.unsqueeze(-1) if isinstance(t, Tensor) else t for t in (atol, rtol))
    if hermitian:
        check_square("linalg.pinv", A)
        w, v = eigh(A)
        s, left, right = w, v, v.mT
    else:
        left, s, right = svd(A, full_matrices=False)
    # which values count is decided by tensor ops (no gradient), so vmap batches them
    size = s.detach().abs()
    keep = size > maximum(amax(size, -1, keepdim=True) * rtol, atol)
    # 1/s where kept; the masked-out s are replaced first, so no 0 * inf in the VJP
    s_inv = where(keep, 1.0 / where(keep, s, 1.0), 0.0)
    return (right.mT * s_inv.unsqueeze(-2)) @ left.mT


class LstsqResult(NamedTuple):
    """PyTorch's torch.return_types.linalg_lstsq."""
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


DRIVERS = (None, "gels", "gelsy", "gelsd", "gelss")


def _lstsq_samples(rng):
    yield SampleInput((square_like(rng, (5, 3)), make(rng, (5, 2))), {}, "tall")
    yield SampleInput((square_like(rng, (2, 5)), make(rng, (2, 2))), {}, "wide")
    yield SampleInput((square_like(rng, (2, 4, 3)), make(rng, (4, 1))), dict(driver="gelsd"),
                      "batched-gelsd")
    yield SampleInput((square_like(rng, (4, 3)), make(rng, (4,))), {}, "vector")


def _lstsq_ref(a, b, rcond=None, driver=None):
    vector = b.ndim == 1 or b.shape == a.shape[:-1]
    x = np.linalg.pinv(a) @ (b[..., None] if vector else b)
    return (x[..., 0] if vector else x,)


@op(QR, SolveTriangular, samples=_lstsq_samples, ref=_lstsq_ref, name="linalg.lstsq",
    output_index=0)
def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution X of A X = B (minimum-norm when A is wide or rank
    deficient), as (solution, residuals, rank, singular_values).  Full-rank A: by QR
    (X = R^{-1} Q^T B, or Q R^{-T} B from A^T = Q R when wide); rank-deficient A: by the
    pseudo-inverse with cutoff rcond * s_max.  The other fields as PyTorch on the CPU:
    residuals ||A X - B||^2 per column only for drivers other than gelsy when m > n and
    A has full rank, rank except for gels, singular_values for gelsd and gelss."""
    name = "linalg.lstsq"
    check_matrix(name, A)
    if driver not in DRIVERS:
        raise ValueError(f"{name}: driver must be one of {DRIVERS[1:]} (or None for gelsy), "
                         f"got {driver!r}")
    if not isinstance(B, Tensor):
        raise TypeError(f"{name}: expected B to be a Tensor, got {type(B).__name__}")
    check_float(name, B)
    check_same_dtype(name, A, B)
    vector = is_vector_rhs(A, B)
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-2]:
        raise ValueError(f"{name}: A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} "
                         f"do not match: B needs {A.shape[-2]} rows")
    batch_shape(name, A, Bm)
    m, n = A.shape[-2:]
    rcond = _default_rtol(A) if rcond is None else rcond
    s = svdvals(A.detach())
    ranks = (s > s[..., :1] * rcond).sum(-1).to(np.int64) if min(m, n) else \
        Tensor._make(np.zeros(A.shape[:-2], np.int64))
    # one way for the whole batch (under vmap, for every sample): QR only where all
    # matrices have full rank
    full = bool((values_of(ranks) == min(m, n)).all())
    if not full:
        X = pinv(A, rtol=rcond) @ Bm
    elif m >= n:
        Q, R = qr(A)
        X = solve_triangular(R, Q.mT @ Bm, upper=True)
    else:
        Q, R = qr(A.mT)
        X = Q @ solve_triangular(R.mT, Bm, upper=False)
    empty = Tensor._make(np.empty((0,), A.dtype))
    residuals = empty
    if driver not in (None, "gelsy") and m > n and full:
        residuals = ((A @ X - Bm) ** 2).sum(-2)
    rank = Tensor._make(np.empty((0,), np.int64)) if driver == "gels" else ranks
    singular_values = svdvals(A) if driver in ("gelsd", "gelss") else empty
    return LstsqResult(X.squeeze(-1) if vector else X, residuals, rank, singular_values)
