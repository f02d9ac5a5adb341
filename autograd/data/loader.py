"""`DataLoader`: batches from a `Dataset`, optionally shuffled, collated into Tensors.

Shuffling draws one permutation per epoch from ``generator`` (a
``numpy.random.Generator`` or an int seed), or from the global generator that
``autograd.manual_seed`` seeds — so a seeded run sees the same batches.
"""
import numbers
import time

import numpy as np

from ..tensor import Tensor
from .dataset import _generator


def default_collate(samples):
    """Stack a list of samples (tuples/dicts/lists of tensors, arrays or numbers) into
    batched Tensors: Python ints -> int64, Python floats -> float32."""
    first = samples[0]
    if isinstance(first, Tensor):
        return Tensor._make(np.stack([s.data for s in samples]))
    if isinstance(first, np.ndarray):
        return Tensor._make(np.stack(samples))
    if isinstance(first, (bool, np.bool_)):
        return Tensor._make(np.array(samples, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor._make(np.array(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor._make(np.array(samples, dtype=np.float32))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise RuntimeError("default_collate: each element in the batch should be of equal size")
        return type(first)(default_collate(list(col)) for col in zip(*samples)) \
            if isinstance(first, list) else tuple(default_collate(list(col)) for col in zip(*samples))
    if isinstance(first, str):
        return list(samples)
    raise TypeError(f"default_collate: batch elements must be tensors, arrays, numbers, dicts or "
                    f"sequences; found {type(first).__name__}")


class DataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None,
                 generator=None, sampler=None):
        if batch_size is None or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.sampler = sampler
        self.generator = generator if not isinstance(generator, (int, np.integer)) \
            else np.random.default_rng(int(generator))
        self.fetch_time = 0.0     # seconds spent reading + collating in the last epoch

    def __len__(self):
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self):
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if self.shuffle:
            return _generator(self.generator).permutation(n)
        return np.arange(n)

    def __iter__(self):
        indices = self._indices()
        bs = self.batch_size
        stop = (len(indices) // bs) * bs if self.drop_last else len(indices)
        fast = self.collate_fn is None and hasattr(self.dataset, "get_batch")
        self.fetch_time = 0.0
        for start in range(0, stop, bs):
            t0 = time.perf_counter()
            idx = indices[start:start + bs]
            if fast:
                batch = tuple(Tensor._make(np.ascontiguousarray(a)) for a in self.dataset.get_batch(idx))
            else:
                batch = (self.collate_fn or default_collate)([self.dataset[int(i)] for i in idx])
            self.fetch_time += time.perf_counter() - t0
            yield batch
