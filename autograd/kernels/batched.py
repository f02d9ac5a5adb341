"""Batched products of many small matrices, split across the process's threads.

OpenBLAS runs a small GEMM on the calling thread alone (attention's per-head 65 x 65
x 32 products: one thread or two, the same 0.55 ms for 128 heads), so NumPy's batched
``matmul``, a loop of such calls, leaves the other cores idle.  ``matmul`` below hands
the leading part of the batch to helper threads (NumPy releases the GIL inside
``matmul``) and runs the rest itself: on 2 cores 0.55 -> 0.33 ms for those heads.
Larger products go to NumPy whole, where OpenBLAS threads them itself.  The helpers
are made on first use and dropped in a forked child (their threads do not survive a
fork).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .threads import get_num_threads

# A product split across threads: at least this many matrices, each below this many
# multiply-adds (above it OpenBLAS uses its own threads; its threshold is about 2^16 per
# thread of work, so 2^20 stays well inside its single-threaded range).
SPLIT_MIN_BATCH = 8
SPLIT_MAX_MACS = 1 << 20

_pool = (0, None)           # (number of helper threads, their executor)


def _helpers(n):
    global _pool
    if _pool[0] != n:
        _pool = (n, ThreadPoolExecutor(n, thread_name_prefix="autograd-bmm"))
    return _pool[1]


def _forget_helpers():
    global _pool
    _pool = (0, None)


os.register_at_fork(after_in_child=_forget_helpers)


def matmul(a, b):
    """``np.matmul(a, b)`` for stacked matrices (..., m, k) @ (..., k, n) with the same
    leading dims (views are fine: the batch is split along its first axis, no copy)."""
    threads = get_num_threads()
    lead = a.shape[:-2]
    if (threads < 2 or a.ndim < 3 or lead != b.shape[:-2] or lead[0] < threads
            or np.prod(lead) < SPLIT_MIN_BATCH
            or a.shape[-2] * a.shape[-1] * b.shape[-1] > SPLIT_MAX_MACS):
        return np.matmul(a, b)
    out = np.empty(lead + (a.shape[-2], b.shape[-1]), np.result_type(a, b))
    bounds = np.linspace(0, lead[0], threads + 1).astype(int)
    parts = [slice(bounds[i], bounds[i + 1]) for i in range(threads)]
    pending = [_helpers(threads - 1).submit(np.matmul, a[s], b[s], out=out[s])
               for s in parts[:-1]]
    np.matmul(a[parts[-1]], b[parts[-1]], out=out[parts[-1]])
    for f in pending:
        f.result()
    return out
