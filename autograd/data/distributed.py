"""`DistributedSampler`: each process of a data-parallel run reads its own shard.

PyTorch's algorithm: every rank draws the same permutation (seeded by ``seed +
epoch``, so ``set_epoch`` reshuffles), pads it by repeating its start until its length
divides by the number of replicas (or, with ``drop_last``, cuts the tail), and takes
every ``num_replicas``-th index from position ``rank``.  Consecutive local batches of
size b then together cover consecutive blocks of ``num_replicas * b`` permuted indices.

Unlike PyTorch, ``num_replicas`` and ``rank`` must be given: ``autograd.data`` sits
below ``nn``, where the process group lives (``nn.distributed``), and never imports
MPI.  Pass ``num_replicas=dist.get_world_size(), rank=dist.get_rank()``.
"""
import math
import numbers

import numpy as np


class DistributedSampler:
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            raise TypeError(
                "DistributedSampler: pass num_replicas= and rank= (e.g. "
                "num_replicas=nn.distributed.get_world_size(), rank=nn.distributed.get_rank()); "
                "autograd.data does not reach the process group, which lives in nn.distributed")
        if not isinstance(num_replicas, numbers.Integral) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}")
        if not isinstance(rank, numbers.Integral) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the "
                             f"interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Shuffle differently in each epoch (call before iterating, on every rank)."""
        self.epoch = int(epoch)

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > n:
            indices = np.resize(indices, self.total_size)      # repeats from the start
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())
