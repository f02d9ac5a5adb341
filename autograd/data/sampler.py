"""PyTorch's samplers: which indices a DataLoader reads, in what order and in what groups.

Each draws lazily: ``iter(sampler)`` yields one index at a time (and ``BatchSampler``
one list at a time), so a huge ``num_samples`` costs nothing before the first batch.
Random samplers draw from ``generator`` (a NumPy Generator or an int seed), else from
the library's global generator (``autograd.manual_seed``), and draw anew each epoch.
"""
import numbers

import numpy as np

from .dataset import _generator

_CHUNK = 1 << 16          # random indices are drawn in blocks of this many


def _count(name, what, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: {what} should be an integer >= {minimum}, got {value!r}")
    return int(value)


class Sampler:
    """Base class: subclasses define ``__iter__`` (and ``__len__`` where it is finite)."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A permutation per epoch, or with ``replacement`` uniform draws; ``num_samples``
    (default: the data set's length) may exceed the data set when drawing with
    replacement, or repeat whole permutations without."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a bool, got {replacement!r}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = None if num_samples is None else \
            _count("RandomSampler", "num_samples", num_samples, 1)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        n, g, left = len(self.data_source), _generator(self.generator), self.num_samples
        while left > 0:
            block = g.integers(0, n, min(left, _CHUNK)) if self.replacement else g.permutation(n)[:left]
            yield from block.tolist()
            left -= len(block)


class SubsetRandomSampler(Sampler):
    """The given indices, in a new random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in _generator(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        w = np.asarray(weights, dtype=np.float64)      # a Tensor converts via __array__
        if w.ndim != 1 or not len(w) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights should be a 1-d sequence of finite, "
                             f"non-negative numbers with a positive sum, got shape {w.shape}")
        self.num_samples = _count("WeightedRandomSampler", "num_samples", num_samples, 1)
        if not replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} samples "
                             f"without replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights, self.replacement, self.generator = w / w.sum(), replacement, generator

    def __iter__(self):
        g, left = _generator(self.generator), self.num_samples
        if not self.replacement:
            yield from g.choice(len(self.weights), left, replace=False, p=self.weights).tolist()
            return
        while left > 0:
            block = g.choice(len(self.weights), min(left, _CHUNK), p=self.weights)
            yield from block.tolist()
            left -= len(block)

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler, batch_size, drop_last):
        self.sampler = sampler
        self.batch_size = _count("BatchSampler", "batch_size", batch_size, 1)
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last should be a bool, got {drop_last!r}")
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
