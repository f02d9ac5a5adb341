"""`DataLoader`: batches from a `Dataset`, optionally shuffled, collated into Tensors.

Shuffling draws one permutation per epoch from ``generator`` (a
``numpy.random.Generator`` or an int seed), or from the global generator that
``autograd.manual_seed`` seeds — so a seeded run sees the same batches.  A
``sampler`` (or ``batch_sampler``) is read lazily, one batch of indices at a time, so
an endless sampler works.  ``num_workers > 0`` reads batches in worker processes (see workers.py).
"""
import itertools
import numbers
import time

import numpy as np

from ..tensor import Tensor
from .dataset import _generator
from .workers import WorkerPool, fetch


def default_collate(samples):
    """Stack a list of samples (tuples/dicts/lists of tensors, arrays or numbers) into
    batched Tensors: Python ints -> int64, Python floats -> float32."""
    first = samples[0]
    if isinstance(first, Tensor):
        return Tensor._make(np.stack([s.array for s in samples]))
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


def _count(name, value, minimum):
    """An int option (not a bool, not a float) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ValueError(f"DataLoader: {name} should be {what}, got {value!r}")
    return int(value)


class DataLoader:
    """PyTorch's DataLoader for map-style data sets.  ``pin_memory`` is accepted and
    does nothing (there is no GPU); ``num_workers``, ``worker_init_fn``,
    ``persistent_workers``, ``prefetch_factor``, ``timeout`` and
    ``multiprocessing_context`` behave as in PyTorch."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False):
        self.batch_size = _count("batch_size", batch_size, 1)
        self.num_workers = _count("num_workers", num_workers, 0)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                             "shuffle, sampler, and drop_last")
        if self.num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers need num_workers > 0 "
                             f"(got num_workers=0, prefetch_factor={prefetch_factor!r}, "
                             f"persistent_workers={persistent_workers!r})")
        self.prefetch_factor = 2 if prefetch_factor is None else _count("prefetch_factor", prefetch_factor, 1)
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"DataLoader: timeout should be a non-negative number, got {timeout!r}")
        self.dataset = dataset
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.generator = generator if not isinstance(generator, (int, np.integer)) \
            else np.random.default_rng(int(generator))
        self.fetch_time = 0.0     # seconds the loop waited for data (reading + collating) last epoch
        self._pool = None

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _index_batches(self):
        """Index arrays of one epoch (the shuffle is drawn now), read lazily from the sampler."""
        if self.batch_sampler is not None:
            return (np.asarray(list(b), dtype=np.int64) for b in self.batch_sampler)
        if self.sampler is not None:
            indices = iter(self.sampler)
        elif self.shuffle:
            indices = iter(_generator(self.generator).permutation(len(self.dataset)))
        else:
            indices = iter(range(len(self.dataset)))
        return self._chunks(indices)

    def _chunks(self, indices):
        while True:
            chunk = np.fromiter(itertools.islice(indices, self.batch_size), dtype=np.int64)
            if len(chunk) == 0 or (self.drop_last and len(chunk) < self.batch_size):
                return
            yield chunk

    def _fetch_args(self):
        """(collate_fn, whether to use the data set's get_batch fast path)."""
        return self.collate_fn or default_collate, self.collate_fn is None and hasattr(self.dataset, "get_batch")

    def __iter__(self):
        self.fetch_time = 0.0
        batches = self._index_batches()
        if self.num_workers == 0:
            t0 = time.perf_counter()
            for idx in batches:
                batch = fetch(self.dataset, *self._fetch_args(), idx)
                self.fetch_time += time.perf_counter() - t0
                yield batch
                t0 = time.perf_counter()
            return
        pool = self._pool
        if pool is None or not pool.workers:          # first epoch, or the last one lost a worker
            pool = WorkerPool(self, *self._fetch_args())
            if self.persistent_workers:
                self._pool = pool
        try:
            for batch, waited in pool.run(batches):
                self.fetch_time += waited
                yield batch
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()
