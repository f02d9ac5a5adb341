"""The input checks and the error of the linear-algebra ops (autograd.linalg).

Every check runs before any LAPACK call, so a bad call names the op and what it got.
``LinAlgError`` is PyTorch's ``torch.linalg.LinAlgError``: a RuntimeError raised when
LAPACK finds a matrix it cannot handle (singular for inv/solve, not positive-definite
for cholesky), naming the op and the first failing batch element, as PyTorch does.
"""
import numpy as np

from ..tensor import Tensor


class LinAlgError(RuntimeError):
    """A matrix LAPACK cannot factor: singular (inv, solve), not positive-definite
    (cholesky), or an SVD/eigendecomposition that did not converge."""


def check_float(name, *tensors):
    """float32 or float64 only: LAPACK has no integer or half-precision routines."""
    for t in tensors:
        if t.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: expected a float32 or float64 tensor, got {t.dtype}"
                            + (" (integer tensors have no linear algebra; call .double() first)"
                               if t.dtype.kind in "biu" else ""))


def check_matrix(name, A, arg="A"):
    if not isinstance(A, Tensor):
        raise TypeError(f"{name}: expected {arg} to be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise ValueError(f"{name}: {arg} must have at least 2 dimensions (a batch of matrices), "
                         f"got shape {tuple(A.shape)}")
    check_float(name, A)


def check_square(name, A, arg="A"):
    check_matrix(name, A, arg)
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name}: {arg} must be batches of square matrices, but they are "
                         f"{A.shape[-2]} by {A.shape[-1]} matrices (shape {tuple(A.shape)})")


def batch_shape(name, A, B):
    """The broadcast batch shape of A and B (all dims but the last two)."""
    try:
        return np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: the batch dimensions of A {tuple(A.shape)} and B "
                         f"{tuple(B.shape)} cannot be broadcast together") from None


def check_same_dtype(name, A, B):
    if A.dtype != B.dtype:
        raise TypeError(f"{name}: expected A and B to have the same dtype, got {A.dtype} "
                        f"and {B.dtype}")


def lapack(name, fn, problem, *args):
    """``fn(*args)``; NumPy's LinAlgError (raised for the batch as a whole) becomes ours,
    naming the first failing batch element, found by retrying each in turn.  The
    leading arguments that are arrays are the batched matrices; the rest pass through."""
    try:
        return fn(*args)
    except np.linalg.LinAlgError:
        k = next((i for i, a in enumerate(args) if not isinstance(a, np.ndarray)), len(args))
        arrays, rest = args[:k], args[k:]
        batch = np.broadcast_shapes(*[a.shape[:-2] for a in arrays])
        for flat, index in enumerate(np.ndindex(*batch)):
            parts = [np.broadcast_to(a, batch + a.shape[-2:])[index] for a in arrays]
            try:
                fn(*parts, *rest)
            except np.linalg.LinAlgError:
                where = f"(Batch element {flat}): " if batch else ""
                raise LinAlgError(f"{name}: {where}{problem}") from None
        raise LinAlgError(f"{name}: {problem}") from None
