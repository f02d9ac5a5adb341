"""Ops that move elements around without arithmetic: roll, repeat_interleave, unfold
(sliding windows).  Each is an index into its input (``x[idx]`` along one dim), so its
gradient is the scatter-add of indexing and needs no VJP of its own."""
import numpy as np

from ..tensor import Tensor, tensor_method
from .indexing import index_select
from .registry import SampleInput, make, op
from .shape import normalize_dim


def _along(input, dim, positions):
    """``input`` indexed by ``positions`` (an int array, any shape) along ``dim``."""
    flat = Tensor._make(np.ascontiguousarray(positions, dtype=np.int64).reshape(-1))
    out = index_select(input, dim, flat)
    shape = input.shape[:dim] + positions.shape + input.shape[dim + 1:]
    return out.reshape(shape)


def _roll_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 1), dict(dims=1), "dim1")
    yield SampleInput((make(rng, (3, 4)), (-1, 5)), dict(dims=(0, 1)), "two-dims")
    yield SampleInput((make(rng, (2, 3)), 2), {}, "flattened")


@op(samples=_roll_samples, ref=lambda x, shifts, dims=None: np.roll(x, shifts, dims), method=True)
def roll(input, shifts, dims=None):
    """Elements shifted by ``shifts`` along ``dims``, wrapping around (no dims: the
    flattened tensor, reshaped back)."""
    if dims is None:
        if not isinstance(shifts, int):
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return roll(input.reshape(-1), shifts, 0).reshape(input.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    out = input
    for s, d in zip(shifts, dims):
        d = normalize_dim(d, input.ndim, "roll")
        n = input.shape[d]
        if n:
            out = _along(out, d, (np.arange(n) - s) % n)
    return out


def _repeat_samples(rng):
    yield SampleInput((make(rng, (2, 3)), 2), dict(dim=1), "scalar-dim1")
    yield SampleInput((make(rng, (3, 2)), np.array([1, 0, 2])), dict(dim=0), "counts-dim0")
    yield SampleInput((make(rng, (2, 2)), 3), {}, "flattened")


def _repeat_ref(x, repeats, dim=None):
    return np.repeat(x, repeats, axis=dim)


@op(samples=_repeat_samples, ref=_repeat_ref, method=True)
def repeat_interleave(input, repeats, dim=None):
    """Each element repeated ``repeats`` times (an int, or one count per element along
    ``dim``) along ``dim`` (no dim: the flattened tensor)."""
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = normalize_dim(dim, input.ndim, "repeat_interleave")
    counts = repeats.array if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts < 0).any() or counts.ndim > 1 or \
            (counts.ndim == 1 and len(counts) != input.shape[d]):
        raise ValueError(f"repeat_interleave: repeats must be a non-negative int or one per element "
                         f"of dim {d} (size {input.shape[d]}), got {counts!r}")
    return _along(input, d, np.repeat(np.arange(input.shape[d]), counts))


def _unfold_samples(rng):
    yield SampleInput((make(rng, (7,)), 0, 3, 2), {}, "1d")
    yield SampleInput((make(rng, (2, 6)), 1, 2, 1), {}, "overlapping")


def _unfold_ref(x, dimension, size, step):
    n = (x.shape[dimension] - size) // step + 1
    idx = np.arange(n)[:, None] * step + np.arange(size)
    return np.moveaxis(np.take(x, idx, axis=dimension), dimension + 1, -1)


@op(samples=_unfold_samples, ref=_unfold_ref, name="Tensor.unfold")
def unfold_windows(input, dimension, size, step):
    """``Tensor.unfold``: every window of ``size`` elements, ``step`` apart, along
    ``dimension``, as a new last dim (the window count replaces ``dimension``)."""
    d = normalize_dim(dimension, max(input.ndim, 1), "unfold")
    n = input.shape[d] if input.ndim else 1
    if not (isinstance(size, int) and isinstance(step, int)) or size < 0 or step < 1 or size > n:
        raise ValueError(f"unfold: need 0 <= size <= {n} (the size of dim {d}) and step >= 1, "
                         f"got size={size}, step={step}")
    windows = np.arange((n - size) // step + 1)[:, None] * step + np.arange(size)
    out = _along(input, d, windows)                   # (..., windows, size, ...)
    rest = [i for i in range(out.ndim) if i != d + 1]
    return out if d + 1 == out.ndim - 1 else out.permute(*rest, d + 1)


tensor_method(unfold_windows, name="unfold")
