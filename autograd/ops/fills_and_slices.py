"""PyTorch's remaining function forms of fills, slices and splits: fill, fill_, zero_,
slice (ATen's ``slice.Tensor``), unsafe_chunk, unsafe_split, as_strided_scatter.

Each is a composition of primitives that carry their rules (where, expand, getitem,
split, index_put); the in-place forms are the Tensor methods of inplace.py.
"""
import builtins

import numpy as np

from ..dtypes import is_int
from ..tensor import Tensor
from .binary import Where, where
from .indexing import GetItem, IndexPut
from .layout import _written, strided_positions
from .registry import SampleInput, make, op
from .scans import check_tensor
from .shape import Expand, Reshape, Split, chunk, normalize_dim, reshape, split


def _fill_samples(rng):
    yield SampleInput((make(rng, (3, 4)), 1.5), {}, "number")
    yield SampleInput((make(rng, (2, 3)), make(rng, ())), {}, "0d-tensor")


@op(Where, Expand, samples=_fill_samples,
    ref=lambda x, value: np.full(x.shape, value, x.dtype))
def fill(input, value):
    """A tensor of input's shape and dtype filled with ``value`` (a number or 0-d tensor,
    whose gradient is the sum of the result's; input's is zero)."""
    check_tensor(input, "fill")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"fill: only supports a 0-dimensional value tensor, got one of "
                             f"shape {tuple(value.shape)}")
        value = value.to(input.dtype).expand(input.shape)
    else:
        value = Tensor._make(np.full(input.shape, value, input.dtype))
    return where(np.ones(input.shape, bool), value, input) if input.requires_grad else value


def fill_(input, value):
    """In place: every element of ``input`` set to ``value``."""
    check_tensor(input, "fill_")
    return input.fill_(value)


def zero_(input):
    """In place: every element of ``input`` set to 0."""
    check_tensor(input, "zero_")
    return input.zero_()


def _slice_samples(rng):
    yield SampleInput((make(rng, (5, 3)),), dict(start=1, end=4), "dim0")
    yield SampleInput((make(rng, (2, 6)), 1, 0, None, 2), {}, "step")
    yield SampleInput((make(rng, (3, 4)), -1, -3, 100), {}, "negative-and-past-end")


def _slice_ref(x, dim=0, start=None, end=None, step=1):
    return x[(builtins.slice(None),) * (dim % x.ndim) + (builtins.slice(start, end, step),)]


@op(GetItem, samples=_slice_samples, ref=_slice_ref)
def slice(input, dim=0, start=None, end=None, step=1):     # noqa: A001  (ATen's name)
    """``input[..., start:end:step, ...]`` along ``dim`` (ATen's slice.Tensor)."""
    check_tensor(input, "slice")
    d = normalize_dim(dim, input.ndim, "slice")
    if not is_int(step, 1):
        raise ValueError(f"slice: step must be a positive integer, got {step!r}")
    return input[(builtins.slice(None),) * d + (builtins.slice(start, end, step),)]


def _unsafe_split_samples(rng):
    yield SampleInput((make(rng, (5, 3)), 2), {}, "size2")
    yield SampleInput((make(rng, (2, 6)), 3), dict(dim=1), "dim1")


@op(Split, samples=_unsafe_split_samples, method=True,
    ref=lambda x, s, dim=0: tuple(np.split(x, range(s, x.shape[dim], s), axis=dim)))
def unsafe_split(tensor, split_size, dim=0):
    """split (PyTorch's unsafe form skips a check of in-place use of the pieces; here
    every piece is a node of its own, so nothing is skipped)."""
    return split(tensor, split_size, dim)


def _unsafe_chunk_ref(x, chunks, dim=0):
    step = -(-x.shape[dim] // chunks)          # pieces of ceil(n / chunks), as chunk's
    return tuple(np.split(x, range(step, x.shape[dim], step), axis=dim))


@op(Split, samples=_unsafe_split_samples, method=True, ref=_unsafe_chunk_ref)
def unsafe_chunk(input, chunks, dim=0):
    """chunk (see unsafe_split)."""
    return chunk(input, chunks, dim)


def _as_strided_scatter_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (2, 2)), (2, 2), (4, 1)), {}, "window")
    yield SampleInput((make(rng, (3, 4)), make(rng, (2, 3)), (2, 3), (1, 2), 1), {}, "offset")
    yield SampleInput((make(rng, (2, 3)), make(rng, (3,)), (3,), (2,)), {}, "every-other")


def _as_strided_scatter_ref(x, src, size, stride, storage_offset=0):
    out = np.ascontiguousarray(x).copy()
    flat = out.reshape(-1)[storage_offset:]
    np.lib.stride_tricks.as_strided(flat, size, [s * x.itemsize for s in stride])[...] = src
    return out


@op(IndexPut, Reshape, samples=_as_strided_scatter_samples, ref=_as_strided_scatter_ref,
    method=True)
def as_strided_scatter(input, src, size, stride, storage_offset=None):
    """``input`` with ``src`` written into ``input.as_strided(size, stride,
    storage_offset)`` (positions in row-major order, as as_strided's); src's gradient is
    the result's there, input's the rest."""
    check_tensor(input, "as_strided_scatter")
    check_tensor(src, "as_strided_scatter", "src")
    positions = strided_positions("as_strided_scatter", input, size, stride, storage_offset or 0)
    flat = _written("as_strided_scatter", reshape(input, (-1,)), src, (positions,))
    return reshape(flat, tuple(input.shape))


__all__ = ["as_strided_scatter", "fill", "fill_", "slice", "unsafe_chunk", "unsafe_split",
           "zero_"]
