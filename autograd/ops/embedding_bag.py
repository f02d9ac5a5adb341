"""embedding_bag: sums, means or maxima of bags of embedding rows, without forming the
padded (bags, longest bag, D) tensor.

A composition of indexing's primitives: the rows are gathered (``weight[input]``, whose
VJP is the compiled row scatter-add), then reduced per bag:
  sum, mean   the compiled row scatter-add of the (weighted) rows into (B, D) at each
              entry's bag (IndexAddZeros: its VJP is a gather), divided by the bag's
              size for mean;
  max         a gather of the entry holding each column's maximum, found by a Numba
              segmented arg-max (autograd/kernels/segment.py; the first maximum on ties,
              as PyTorch), so the gradient goes to that one entry.
Entries equal to ``padding_idx`` are left out of every bag (and of its size); an empty
bag gives zeros.  ``scale_grad_by_freq`` divides each row's gradient by how often its
index occurs in ``input`` (the row's value is unchanged); ``max_norm`` renormalises the
looked-up rows of ``weight`` in place first, outside autograd, as PyTorch.
"""
import numpy as np

from ..grad_mode import no_grad
from ..graph import increment_version
from ..kernels.segment import segment_argmax
from ..tensor import Tensor
from .binary import where
from .indexing import Gather, GetItem, IndexAddZeros, index_add_zeros
from .registry import SampleInput, make, op

MODES = ("sum", "mean", "max")


def _indices(input, name):
    a = np.asarray(input.array if isinstance(input, Tensor) else input)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: input must hold integer indices, got {a.dtype}")
    return a.astype(np.int64)


def _bag_ends(idx, offsets, include_last_offset):
    """Flat indices and the end of each bag in them."""
    name = "embedding_bag"
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{name}: offsets must be None for 2-D input (each row is a bag), "
                             f"got offsets with input of shape {idx.shape}")
        return idx.reshape(-1), np.arange(1, idx.shape[0] + 1, dtype=np.int64) * idx.shape[1]
    if idx.ndim != 1:
        raise ValueError(f"{name}: input must be 1-D (with offsets) or 2-D, got shape {idx.shape}")
    if offsets is None:
        raise ValueError(f"{name}: offsets must be given for 1-D input")
    off = _indices(offsets, name)
    if off.ndim != 1:
        raise ValueError(f"{name}: offsets must be 1-D, got shape {off.shape}")
    if off.size and off[0] != 0:
        raise ValueError(f"{name}: offsets[0] must be 0, got {off[0]}")
    if (np.diff(off) < 0).any() or (off.size and off[-1] > idx.size):
        raise ValueError(f"{name}: offsets must be non-decreasing and at most len(input) = {idx.size}, "
                         f"got {off.tolist()}")
    ends = off[1:] if include_last_offset else np.append(off[1:], idx.size)
    return idx, ends.astype(np.int64)


def renorm_rows_(weight, rows, max_norm, norm_type):
    """Scale the looked-up rows whose norm exceeds max_norm down to it, in place."""
    rows = np.unique(rows)
    w = weight.array
    norms = (np.abs(w[rows]) ** norm_type).sum(1) ** (1.0 / norm_type)
    big = norms > max_norm
    with no_grad():
        w[rows[big]] *= (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)
        increment_version(weight)


def frequency_scaled(rows, flat):
    """``rows`` in value, with each row's gradient divided by its index's count in ``flat``."""
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    scale = (1.0 / counts[inverse]).astype(np.dtype(rows.dtype))[:, None]
    return rows * scale + (rows * (1 - scale)).detach()


def _check(input_shape, weight, mode, per_sample_weights, padding_idx):
    name = "embedding_bag"
    if mode not in MODES:
        raise ValueError(f"{name}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if weight.ndim != 2:
        raise ValueError(f"{name}: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"{tuple(weight.shape)}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise ValueError(f"{name}: per_sample_weights is only supported for mode='sum', got "
                             f"mode={mode!r}")
        if tuple(per_sample_weights.shape) != tuple(input_shape):
            raise ValueError(f"{name}: per_sample_weights of shape {tuple(per_sample_weights.shape)} "
                             f"must have the shape of input, {tuple(input_shape)}")
    v = weight.shape[0]
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise ValueError(f"{name}: padding_idx must be within num_embeddings ({v}), got {padding_idx}")
        padding_idx %= v
    return padding_idx


def _embedding_bag_samples(rng):
    idx = Tensor._make(np.array([2, 0, 2, 4, 1, 3, 3]))
    off = Tensor._make(np.array([0, 3, 3, 5]))                 # an empty bag
    # scale_grad_by_freq's gradient is not the derivative: tests/test_losses_more.py checks it.
    for kw in [dict(mode="sum"), dict(mode="mean"), dict(mode="max"), dict(mode="mean", padding_idx=2)]:
        yield SampleInput((idx, make(rng, (5, 3)), off), kw, "-".join(map(str, kw.values())))
    yield SampleInput((idx, make(rng, (5, 3)), off), dict(mode="sum", per_sample_weights=make(rng, (7,))),
                      "per-sample-weights")
    yield SampleInput((Tensor._make(np.array([[1, 0, 1], [4, 4, 2]])), make(rng, (5, 2))),
                      dict(mode="max", padding_idx=0), "2d-max-padding")
    yield SampleInput((idx, make(rng, (5, 3)), Tensor._make(np.array([0, 2, 7]))),
                      dict(mode="mean", include_last_offset=True), "include-last-offset")


def _embedding_bag_ref(input, weight, offsets=None, max_norm=None, norm_type=2,
                       scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                       include_last_offset=False, padding_idx=None):
    if input.ndim == 2:
        bags = list(input)
        psw = None if per_sample_weights is None else list(per_sample_weights)
    else:
        ends = list(offsets[1:]) if include_last_offset else list(offsets[1:]) + [len(input)]
        bags = [input[s:e] for s, e in zip(offsets, ends)]
        psw = None if per_sample_weights is None else \
            [per_sample_weights[s:e] for s, e in zip(offsets, ends)]
    out = np.zeros((len(bags), weight.shape[1]))
    for b, bag in enumerate(bags):
        keep = bag != padding_idx if padding_idx is not None else np.ones(len(bag), bool)
        rows = weight[bag[keep]]
        if psw is not None:
            rows = rows * psw[b][keep][:, None]
        if len(rows):
            out[b] = rows.max(0) if mode == "max" else rows.mean(0) if mode == "mean" else rows.sum(0)
    return out


@op(GetItem, IndexAddZeros, Gather, samples=_embedding_bag_samples, ref=_embedding_bag_ref)
def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """(bags, D): each bag's rows of ``weight`` summed, averaged or maximised (module
    docstring).  ``sparse`` is accepted; the gradient is dense (no sparse tensors here)."""
    idx = _indices(input, "embedding_bag")
    padding_idx = _check(idx.shape, weight, mode, per_sample_weights, padding_idx)
    flat, ends = _bag_ends(idx, offsets, include_last_offset)
    v, d = weight.shape
    if flat.size and (flat.min() < 0 or flat.max() >= v):
        raise IndexError(f"embedding_bag: index out of range [0, {v}) (min {flat.min()}, max {flat.max()})")
    if max_norm is not None and flat.size:
        renorm_rows_(weight, flat, max_norm, norm_type)
    keep = flat != padding_idx if padding_idx is not None else np.ones(flat.shape, bool)
    bag_of = np.repeat(np.arange(len(ends)), np.diff(ends, prepend=0))
    rows = weight[flat]
    if scale_grad_by_freq and mode != "max":
        rows = frequency_scaled(rows, flat)
    if mode == "max":
        best = segment_argmax(weight.array, flat, ends, keep)
        if not flat.size:
            return weight.sum() * 0 + Tensor._make(np.zeros((len(ends), d), np.dtype(weight.dtype)))
        picked = rows.gather(0, Tensor._make(np.maximum(best, 0)))
        return where(best >= 0, picked, 0.0)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    if not keep.all():
        rows, bag_of = rows[np.nonzero(keep)[0]], bag_of[keep]
    out = index_add_zeros(rows, (len(ends), d), bag_of, False)
    if mode == "mean":
        sizes = np.bincount(bag_of, minlength=len(ends)).astype(np.dtype(weight.dtype))
        out = out / np.maximum(sizes, 1)[:, None]
    return out


__all__ = ["embedding_bag"]
