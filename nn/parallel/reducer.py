"""Gradient buckets of `DistributedDataParallel`, averaged by non-blocking allreduce
started while backward is still running (PyTorch's ``Reducer``).

Parameters go into buckets in reverse registration order (about the order in which
backward finishes their gradients), one dtype per bucket.  The first bucket is small
(at most 1 MiB, as PyTorch's) so that communication starts early; the others hold
up to ``bucket_cap_mb`` MiB.  Each parameter's post-accumulate-grad hook counts down its
bucket.  A bucket whose gradients are all final is copied into one flat buffer,
divided by the world size, and its ``Iallreduce`` is started.  Buckets start in
bucket order, the same on every rank, because MPI matches collectives by the order
in which each rank issues them.  Once the last bucket has started, the reducer waits
for all of them and copies the averages back into ``.grad``.
"""
import time

import numpy as np

from .. import distributed as dist

FIRST_BUCKET_BYTES = 1024 * 1024
MIB = 1024 * 1024


class Bucket:
    """Parameters whose gradients travel in one allreduce, and their flat buffer."""

    def __init__(self, params, dtype):
        self.params = params                        # [(name, Parameter)]
        self.offsets = np.cumsum([0] + [p.numel() for _, p in params])
        self.flat = np.empty(int(self.offsets[-1]), dtype)
        self.pending = len(params)
        self.work = None


def assign_buckets(named_params, bucket_cap_mb):
    """Buckets of (name, parameter), in reverse order of ``named_params``."""
    cap = int(bucket_cap_mb * MIB)
    caps = [min(FIRST_BUCKET_BYTES, cap), cap]
    open_buckets = {}                               # dtype -> params being collected
    sizes = {}
    done = []
    for name, p in reversed(named_params):
        dtype = p.array.dtype
        group = open_buckets.setdefault(dtype, [])
        group.append((name, p))
        sizes[dtype] = sizes.get(dtype, 0) + p.array.nbytes
        if sizes[dtype] >= caps[min(len(done), 1)]:
            done.append(Bucket(group, dtype))
            del open_buckets[dtype], sizes[dtype]
    done.extend(Bucket(group, dtype) for dtype, group in open_buckets.items())
    return done


class Reducer:
    """Averages the gradients of ``named_params`` over the ranks after each synced
    backward; ``prepare_for_backward()`` arms it for the next one."""

    def __init__(self, named_params, bucket_cap_mb):
        self.buckets = assign_buckets(named_params, bucket_cap_mb)
        self._bucket_of = {id(p): bucket for bucket in self.buckets for _, p in bucket.params}
        self._ready = {id(p): False for _, p in named_params}
        self._expecting = False                     # a synced forward ran; reduce its backward
        self._next = 0                              # the next bucket to start
        self.wait_seconds = 0.0     # the last synced backward's wait for its allreduces (+ copy back)
        for _, p in named_params:
            p.register_post_accumulate_grad_hook(self._grad_ready)

    def prepare_for_backward(self, sync=True):
        """Called by each forward that records a graph: checks that the previous
        reduction finished, then arms the hooks (``sync``) or disarms them (no_sync)."""
        if self._expecting and any(self._ready.values()):
            missing = [name for b in self.buckets for name, p in b.params if not self._ready[id(p)]]
            raise RuntimeError(
                "DistributedDataParallel: the gradient reduction of the previous iteration did not "
                f"finish, because parameter(s) {missing} received no gradient in its backward. Every "
                "parameter that requires grad must contribute to the loss on every rank (freeze the "
                "others with requires_grad_(False) before wrapping; find_unused_parameters is not "
                "supported)")
        for bucket in self.buckets:
            bucket.pending = len(bucket.params)
        for key in self._ready:
            self._ready[key] = False
        self._next = 0
        self._expecting = sync

    def _grad_ready(self, param):
        if not self._expecting:
            return                                  # a no_sync() or no-grad forward
        if self._ready[id(param)]:
            raise RuntimeError(
                "DistributedDataParallel: a parameter's gradient was made ready twice in one "
                "iteration (a second backward through the graph of one forward before all "
                "gradients were averaged); run forward again before each backward")
        self._ready[id(param)] = True
        bucket = self._bucket_of[id(param)]
        bucket.pending -= 1
        for b in self.buckets[:self._next]:         # let MPI progress the started ones
            b.work.is_completed()
        while self._next < len(self.buckets) and self.buckets[self._next].pending == 0:
            self._start(self.buckets[self._next])
            self._next += 1
        if self._next == len(self.buckets):
            self._finish()

    def _start(self, bucket):
        scale = 1.0 / dist.get_world_size()        # divide first, as PyTorch (no overflow)
        for (_, p), lo, hi in zip(bucket.params, bucket.offsets[:-1], bucket.offsets[1:]):
            np.multiply(p.grad.array.reshape(-1), scale, out=bucket.flat[lo:hi])
        bucket.work = dist.all_reduce(bucket.flat, async_op=True)

    def _finish(self):
        t0 = time.perf_counter()
        for bucket in self.buckets:
            bucket.work.wait()
            for (_, p), lo, hi in zip(bucket.params, bucket.offsets[:-1], bucket.offsets[1:]):
                p.grad.array[...] = bucket.flat[lo:hi].reshape(p.grad.array.shape)
            bucket.work = None
        self.wait_seconds = time.perf_counter() - t0
        self._expecting = False
