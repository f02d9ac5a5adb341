"""``nn.utils.rnn``: packed variable-length batches for the recurrent layers, as PyTorch's.

A batch of sequences of different lengths, sorted by decreasing length, is packed time
step by time step: ``data`` holds, for each step t, the rows of the ``batch_sizes[t]``
sequences still running then (so no padding is stored, and an RNN skips it).
``sorted_indices`` maps the sorted order to the caller's batch order and
``unsorted_indices`` back.  Packing and padding are a gather and an index_put on the
tape, so gradients flow through both.
"""
from collections import namedtuple

import numpy as np

from autograd.creation import from_numpy
from autograd.ops.indexing import index_put
from autograd.ops.shape import cat, stack
from autograd.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "invert_permutation"]


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """``(data, batch_sizes, sorted_indices, unsorted_indices)``; made by
    `pack_padded_sequence` or `pack_sequence`, and taken and returned by nn.RNN, nn.LSTM
    and nn.GRU."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The data moved or cast as ``Tensor.to``; the index tensors stay."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, *self[1:])

    def cpu(self):
        return self

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    if permutation is None:
        return None
    out = np.empty_like(permutation.array)
    out[permutation.array] = np.arange(len(out))
    return from_numpy(out)


def _lengths(lengths):
    values = np.asarray(lengths.array if isinstance(lengths, Tensor) else lengths)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise TypeError(f"pack_padded_sequence: lengths must be a 1-D list or tensor of integers, "
                        f"got {values.dtype} of shape {values.shape}")
    return values.astype(np.int64)


def _rows(batch_sizes, batch):
    """The (step, sequence) rows of a (T * B, ...) flattening that packing keeps, in
    packed order: for each step t, the first batch_sizes[t] sequences."""
    return np.concatenate([t * batch + np.arange(b) for t, b in enumerate(batch_sizes)])


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``input`` (T, B, *) (or (B, T, *) with batch_first) of
    sequences with the given ``lengths``.  With ``enforce_sorted`` the lengths must be
    decreasing; otherwise the batch is sorted here and the order kept for unpacking."""
    lengths = _lengths(lengths)
    batch_dim = 0 if batch_first else 1
    if input.ndim < 2 or not len(lengths) or len(lengths) != input.shape[batch_dim]:
        raise ValueError(f"pack_padded_sequence: expected input with a batch of {len(lengths)} "
                         f"sequences (one per length) in dim {batch_dim}, got shape {tuple(input.shape)}")
    if lengths.size and lengths.min() <= 0:
        raise ValueError(f"pack_padded_sequence: every length must be positive, got {lengths.tolist()}")
    steps = input.shape[1 - batch_dim]
    if lengths.size and lengths.max() > steps:
        raise ValueError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the "
                         f"{steps} time steps of input of shape {tuple(input.shape)}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"pack_padded_sequence: lengths {lengths.tolist()} must be sorted in "
                               "decreasing order when enforce_sorted is True; pass "
                               "enforce_sorted=False to sort them here")
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = from_numpy(order.astype(np.int64))
        input = input.index_select(batch_dim, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    batch_sizes = (lengths[None, :] > np.arange(lengths[0])[:, None]).sum(1)
    flat = input[:len(batch_sizes)].reshape((-1,) + tuple(input.shape[2:]))
    data = flat[_rows(batch_sizes, len(lengths))]
    return PackedSequence(data, from_numpy(batch_sizes.astype(np.int64)), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo `pack_padded_sequence`: ``(padded, lengths)``, with the batch back in the
    order it was packed from and ``lengths`` an int64 tensor."""
    data, batch_sizes = sequence.data, sequence.batch_sizes.array
    batch, steps = int(batch_sizes[0]), len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: expected total_length to be at least {steps} "
                             f"(the length of the longest sequence), got {total_length}")
        steps = total_length
    padded = data.new_full((steps * batch,) + tuple(data.shape[1:]), padding_value)
    padded = index_put(padded, data, _rows(batch_sizes, batch)).reshape(
        (steps, batch) + tuple(data.shape[1:]))
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1).astype(np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.array]
    return (padded.transpose(0, 1) if batch_first else padded), from_numpy(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *)), padding
    each with ``padding_value`` on ``padding_side``."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: expected a non-empty list of tensors")
    steps = max(s.shape[0] for s in sequences)
    rest = tuple(sequences[0].shape[1:])
    padded = []
    for k, s in enumerate(sequences):
        if tuple(s.shape[1:]) != rest:
            raise ValueError(f"pad_sequence: sequence {k} has shape {tuple(s.shape)}; every sequence "
                             f"must have trailing shape {rest}")
        if s.shape[0] < steps:
            fill = s.new_full((steps - s.shape[0],) + rest, padding_value)
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *): `pad_sequence` then `pack_padded_sequence`."""
    sequences = list(sequences)
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)
