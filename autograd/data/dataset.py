"""Datasets (``torch.utils.data``'s names): `Dataset`, `TensorDataset`, `Subset`,
`ConcatDataset` and `random_split`.

Fast path: a dataset may define ``get_batch(indices) -> tuple of arrays`` returning a
whole collated batch at once (NumPy fancy indexing instead of one Python call per
sample).  `DataLoader` uses it when no custom ``collate_fn`` is given; datasets
without it are read one ``dataset[i]`` at a time, as in PyTorch.
"""
import math
import numbers

import numpy as np

from ..tensor import Tensor


class DataFileError(RuntimeError):
    """A data file is missing, corrupt or not what its name says; the message names it."""


class Dataset:
    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _as_array(x):
    return x.array if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are ``tuple(t[i] for t in tensors)``; all tensors share dim 0.

    ``transform`` (not in PyTorch's TensorDataset; used by the image data sets) is
    applied to the first tensor of each sample or batch."""

    def __init__(self, *tensors, transform=None):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.arrays = tuple(_as_array(t) for t in tensors)
        n = len(self.arrays[0])
        for i, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != n:
                shapes = [tuple(a.shape) for a in self.arrays]
                raise ValueError(f"TensorDataset: size mismatch between tensors: shapes {shapes} "
                                 f"must all have the same first dimension (tensor {i} differs)")
        self.transform = transform

    @property
    def tensors(self):
        return tuple(Tensor._make(a) for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])

    def _convert(self, arrays):
        return arrays

    def _select(self, index):
        """The arrays at ``index`` (one sample or a batch), converted and transformed."""
        arrays = self._convert(tuple(a[index] for a in self.arrays))
        if self.transform is not None:
            arrays = (self.transform(arrays[0]),) + tuple(arrays[1:])
        return arrays

    def __getitem__(self, index):
        return tuple(Tensor._make(np.asarray(a)) for a in self._select(index))

    def get_batch(self, indices):
        return self._select(indices)


class ImageDataset(TensorDataset):
    """uint8 images and int labels, converted per sample or batch to float32 in [0, 1]
    (4x less memory than converting up front); ``target_transform`` maps labels."""

    target_transform = None

    def _convert(self, arrays):
        images, labels = arrays
        images = images.astype(np.float32)
        images *= np.float32(1 / 255)
        if self.target_transform is not None:
            labels = self.target_transform(labels)
        return images, labels


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, idx):
        return self.dataset[int(self.indices[idx])]

    def __getattr__(self, name):
        # Forward get_batch only when the wrapped data set has one.
        if name == "get_batch" and hasattr(self.dataset, "get_batch"):
            return lambda indices: self.dataset.get_batch(self.indices[np.asarray(indices)])
        raise AttributeError(name)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} is out of range for a ConcatDataset of length {len(self)}")
        d = int(np.searchsorted(self.cumulative_sizes, idx, side="right"))
        start = 0 if d == 0 else self.cumulative_sizes[d - 1]
        return self.datasets[d][idx - start]


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping `Subset`s of the given lengths (or fractions summing
    to 1, remainders going round-robin to the first splits, as PyTorch does).
    ``generator``: a ``numpy.random.Generator``, an int seed, or None for the global
    generator seeded by ``autograd.manual_seed``."""
    n = len(dataset)
    lengths = list(lengths)
    bad = [x for x in lengths if isinstance(x, bool) or not isinstance(x, numbers.Real) or not x >= 0]
    if bad or not lengths:
        raise ValueError(f"random_split: lengths should be non-negative integers or fractions "
                         f"summing to 1, got {lengths}")
    if any(not isinstance(x, numbers.Integral) for x in lengths):
        if not (math.isclose(sum(lengths), 1) and all(x <= 1 for x in lengths)):
            raise ValueError(f"random_split: fractional lengths should lie in [0, 1] and sum to 1, "
                             f"got {lengths} (sum {sum(lengths)})")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not equal the "
                         f"length of the input dataset ({n})")
    perm = _generator(generator).permutation(n)
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset:offset + length]))
        offset += length
    return out


def _generator(generator):
    if generator is None:
        from ..creation import default_generator
        return default_generator()
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    return generator
