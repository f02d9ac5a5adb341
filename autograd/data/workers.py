"""Worker processes for ``DataLoader(num_workers=N)``, with PyTorch's semantics.

Batch ``k`` of an epoch goes to worker ``k % N``; at most ``prefetch_factor * N``
batches are in flight, and batches come back in sampler order.  Each worker is seeded
with ``base_seed + worker_id`` (Python's `random`, NumPy's global generator and
autograd's generator behind `manual_seed`, so random transforms differ between
workers and repeat with the same seed); ``base_seed`` is drawn from the loader's
generator (or the global one) when the workers start: every epoch, or once with
``persistent_workers=True``.  Then ``worker_init_fn(worker_id)`` runs, and
`get_worker_info()` tells code running in a worker which one it is.

An exception in a worker is raised again in the main process, with the worker's
traceback; a worker that dies raises a `RuntimeError` naming its PID and exit code.
Workers ignore SIGINT: Ctrl-C is the main process's to handle.
"""
import multiprocessing
import pickle
import queue
import random
import signal
import time
import traceback

import numpy as np

from ..tensor import Tensor
from .dataset import _generator

_POLL_S = 0.5          # how often a waiting main process checks that its workers live
_worker_info = None


class WorkerInfo:
    """What `get_worker_info()` returns inside a worker (PyTorch's fields)."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


def get_worker_info():
    """The calling worker's `WorkerInfo`, or None in the main process."""
    return _worker_info


def fetch(dataset, collate_fn, fast, indices):
    """One batch: ``dataset.get_batch`` when ``fast``, else samples through ``collate_fn``."""
    if fast:
        return tuple(Tensor._make(np.ascontiguousarray(a)) for a in dataset.get_batch(indices))
    return collate_fn([dataset[int(i)] for i in indices])


class _Message(str):
    """KeyError shows its argument's repr; this keeps the traceback readable there too."""

    def __repr__(self):
        return str(self)


class _Failure:
    """An exception raised in a worker, carried back as its type and traceback text."""

    def __init__(self, worker_id, exc, where):
        self.text = f"Caught {type(exc).__name__} {where} in DataLoader worker process {worker_id}.\n" \
                    f"Original {traceback.format_exc()}"
        try:
            pickle.dumps(type(exc))
            self.type = type(exc)
        except Exception:         # a class that cannot travel between processes
            self.type = RuntimeError

    def exception(self):
        try:
            return self.type(_Message(self.text))
        except Exception:         # an exception type with a different constructor
            return RuntimeError(self.text)


def _worker_loop(loader_state, index_queue, result_queue, worker_id, num_workers, seed):
    global _worker_info
    from ..creation import manual_seed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    dataset, collate_fn, fast, init_fn = loader_state
    random.seed(seed)
    np.random.seed(seed % 2**32)
    manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_failure = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception as e:
            init_failure = _Failure(worker_id, e, "in worker_init_fn")
    while True:
        task = index_queue.get()
        if task is None:              # exit now, even if the main process no longer reads results
            result_queue.cancel_join_thread()
            return
        epoch, k, indices = task
        if init_failure is not None:
            result_queue.put((epoch, k, None, init_failure))
            continue
        try:     # pickled here: the queue's feeder thread would drop an unpicklable batch silently
            result_queue.put((epoch, k, pickle.dumps(fetch(dataset, collate_fn, fast, indices), -1), None))
        except Exception as e:
            result_queue.put((epoch, k, None, _Failure(worker_id, e, "while reading a batch")))


class WorkerPool:
    """N worker processes and their queues; `run` streams one epoch's batches."""

    def __init__(self, loader, collate_fn, fast):
        ctx = loader.multiprocessing_context
        ctx = multiprocessing.get_context(ctx) if ctx is None or isinstance(ctx, str) else ctx
        n = loader.num_workers
        base_seed = int(_generator(loader.generator).integers(2**62))
        state = (loader.dataset, collate_fn, fast, loader.worker_init_fn)
        self.timeout = loader.timeout
        self.window = loader.prefetch_factor * n
        self.epoch = 0
        self.result_queue = ctx.Queue()
        self.index_queues = [ctx.Queue() for _ in range(n)]
        self.workers = [ctx.Process(target=_worker_loop, daemon=True,
                                    args=(state, self.index_queues[i], self.result_queue, i, n, base_seed + i))
                        for i in range(n)]
        for w in self.workers:
            w.start()

    def _get(self):
        start = time.perf_counter()
        while True:
            try:
                return self.result_queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            dead = [w for w in self.workers if not w.is_alive()]
            if dead:
                self.shutdown()
                raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with "
                                   f"exit code {dead[0].exitcode}")
            if self.timeout and time.perf_counter() - start > self.timeout:
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds waiting for a batch")

    def run(self, index_batches):
        """Yield ``(batch, seconds waited)`` for each index array, in order."""
        self.epoch += 1
        epoch, sent, done, ready = self.epoch, 0, 0, {}
        for indices in index_batches:          # fill the window
            self.index_queues[sent % len(self.workers)].put((epoch, sent, indices))
            sent += 1
            if sent == self.window:
                break
        while done < sent:
            t0 = time.perf_counter()
            while done not in ready:
                e, k, payload, failure = self._get()
                if e == epoch:                 # else: left over from an abandoned epoch
                    ready[k] = (payload, failure)
            payload, failure = ready.pop(done)
            done += 1
            if failure is not None:
                raise failure.exception()
            batch = pickle.loads(payload)
            waited = time.perf_counter() - t0
            indices = next(index_batches, None)
            if indices is not None:
                self.index_queues[sent % len(self.workers)].put((epoch, sent, indices))
                sent += 1
            yield batch, waited

    def shutdown(self):
        if not self.workers:
            return
        for q, w in zip(self.index_queues, self.workers):
            if w.is_alive():
                q.put(None)
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
        for q in self.index_queues + [self.result_queue]:
            q.cancel_join_thread()
            q.close()
        self.workers = []
