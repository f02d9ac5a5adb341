"""The library's two thread pools, OpenBLAS's (NumPy's matmul) and Numba's (the kernels),
made to cooperate at run time, whatever was imported first.

Three defects this module removes (issue "Threads: the same speed whatever was imported
first"):

1. **OpenBLAS spins.** After every BLAS call its worker threads busy-wait for about
   2**28 cycles (~0.1 s) before sleeping, and on a machine with few cores they steal the
   CPU from the Numba kernel that runs next.  ``OPENBLAS_THREAD_TIMEOUT`` shortens the
   wait, but OpenBLAS reads it only when it is loaded, i.e. when NumPy is first imported,
   which in most scripts is before this library.  So we set the variable, ask the loaded
   OpenBLAS to re-read its environment (``openblas_read_env``) and shut its pool down
   (``blas_thread_shutdown_``, the call OpenBLAS itself makes around ``fork``); the pool
   restarts on the next BLAS call with the short wait.  The same code runs whatever the
   import order, so there is one behaviour.  A value the user exported wins.
2. **Parallel regions stall on a busy machine.** A parallel region must wait for every
   worker it hands a chunk to; when other processes hold the cores, a worker may not be
   scheduled for a whole time slice (a 128x32 layer norm: 12 us quiet, 7.4 ms busy under
   GNU OpenMP).  Two remedies: kernels below ``PARALLEL_MIN_WORK`` elements run serially
   (they gain little from threads anyway), and the threading layer is TBB, whose calling
   thread steals the chunks of workers that are not running instead of waiting for them.
3. **Thread safety.** Numba's ``workqueue`` layer aborts the process when two Python
   threads launch kernels at once.  TBB (a declared dependency where PyPI has wheels) and
   OpenMP are thread-safe; if only ``workqueue`` is available, kernel launches are
   serialised with a lock.

``set_num_threads(n)`` is the one knob, like ``torch.set_num_threads``: it sets both
pools.  The default is the number of cores this process may run on (capped by
``NUMBA_NUM_THREADS`` when that is exported).
"""
import ctypes
import functools
import os
import sys
import threading
import types

import numba

# Below this many elements (of a kernel's first argument) a kernel runs on the calling
# thread alone.  PyTorch uses the same grain (at::internal::GRAIN_SIZE = 32768).  Measured
# with `python -m tools.measure.bench_threads --grain` (README, "Threads"): on 2 cores the parallel
# layer norm first beats the serial one at 8k-16k elements on a quiet machine, by a few
# microseconds, while on a busy machine a parallel region of that size can cost
# milliseconds; 32k keeps the small-kernel win where it is large and safe.
PARALLEL_MIN_WORK = 32768
# Streaming kernels (a few flops per element read: ReLU, its gradient, the SGD step)
# finish a 32k-element pass in 5-7 us on one thread, less than a parallel region costs:
# on 2 cores their parallel twins first win at 128k (ReLU on 32k: 7.4 serial, 13.2 us
# parallel; at 128k 32 against 25; SGD alike).  So their grain is 4 x PARALLEL_MIN_WORK.
STREAMING_GRAIN = 4


def _pick_threading_layer():
    """'tbb' when its library loads, else 'omp', else 'workqueue' (then launches are locked).

    An exported NUMBA_THREADING_LAYER naming one of the three wins.
    """
    try:                                   # a layer is already running: nothing to choose
        return numba.threading_layer()
    except ValueError:
        pass
    # The PyPI wheel of TBB puts libtbb.so.12 in <prefix>/lib, which is not on the loader's
    # path; load it by full path first so Numba's tbbpool finds it by its soname.
    for lib in ("libtbb.so.12", "libtbb.12.dylib", "tbb12.dll"):
        path = os.path.join(sys.prefix, "lib", lib)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError:
                pass
    chosen = os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower()
    if chosen in ("tbb", "omp", "workqueue"):      # the user's explicit choice wins
        return chosen
    for layer, module in (("tbb", "tbbpool"), ("omp", "omppool")):
        try:
            __import__("numba.np.ufunc." + module)
        except ImportError:
            continue
        numba.config.THREADING_LAYER = layer
        return layer
    numba.config.THREADING_LAYER = "workqueue"
    return "workqueue"


THREADING_LAYER = _pick_threading_layer()
_LAUNCH_LOCK = threading.Lock() if THREADING_LAYER == "workqueue" else None


def _openblas_controllers():
    """threadpoolctl's handles on every OpenBLAS that is loaded (NumPy's, and SciPy's if any)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:                      # a declared dependency; tolerate its absence
        return []
    return [c for c in ThreadpoolController().lib_controllers if c.internal_api == "openblas"]


def _shorten_openblas_wait(controllers):
    # 2**4 cycles: sleep at once.  A ~0.1 ms spin (18) measured no faster on a quiet
    # machine and degraded more under load (tools.measure.bench_threads, README "Threads").
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    for c in controllers:
        lib = c.dynlib
        read_env = getattr(lib, "openblas_read_env", None)
        shutdown = getattr(lib, "blas_thread_shutdown_", None)
        if read_env is not None and shutdown is not None:    # pthreads builds only
            read_env()
            shutdown()


def _default_threads():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                   # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, numba.config.NUMBA_NUM_THREADS))


_BLAS = _openblas_controllers()
_shorten_openblas_wait(_BLAS)
_num_threads = 1
_applied = threading.local()     # the thread count Numba was last told in this Python thread


def set_num_threads(n):
    """Use ``n`` threads in both pools: the Numba kernels and OpenBLAS (NumPy's matmul).

    Like ``torch.set_num_threads``, it governs intra-op parallelism for the whole process.
    ``n`` may not exceed the size Numba's pool was started with (``NUMBA_NUM_THREADS``,
    by default the number of CPUs).
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise ValueError(f"set_num_threads: {n} threads requested, but the kernel thread pool "
                         f"holds at most {limit} (NUMBA_NUM_THREADS); export a larger "
                         "NUMBA_NUM_THREADS before starting Python to use more")
    _num_threads = n
    adopt_loaded_blas()


def adopt_loaded_blas():
    """Give every loaded OpenBLAS the set thread count, including one loaded since the
    last call (SciPy's, which autograd loads on first use: ops/solve.py calls this then)."""
    global _BLAS
    current = _openblas_controllers()
    known = {c.filepath for c in _BLAS}
    new = [c for c in current if c.filepath not in known]
    if new:
        _shorten_openblas_wait(new)
        _BLAS = current
    for c in _BLAS:
        c.set_num_threads(_num_threads)


def get_num_threads():
    """The number of threads each pool uses (see ``set_num_threads``)."""
    return _num_threads


set_num_threads(_default_threads())


class Kernel:
    """One Numba kernel compiled twice from one Python function: multi-threaded (its
    ``prange`` loops spread over the pool) and serial (``prange`` runs as ``range``).

    A call runs the serial twin when the first argument has fewer than ``grain`` x
    ``PARALLEL_MIN_WORK`` elements or one thread is set; ``.parallel`` and ``.serial``
    are there for tests that hold each against the NumPy reference.
    """

    def __init__(self, fn, reassociate=False, grain=1, contract=False):
        self.py_func = fn
        self.grain = grain
        self.__name__, self.__qualname__, self.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        # reassociate: LLVM may reorder float additions and maxima, which a reduction loop
        # needs to vectorise (sums come out in a different, still deterministic, order).
        # contract: a * b + c may be one fused multiply-add (one rounding, not two).
        fastmath = {flag for flag, on in (("reassoc", reassociate), ("contract", contract)) if on}
        self.parallel = numba.njit(cache=True, parallel=True, fastmath=fastmath)(fn)
        # A separately named copy: Numba's on-disk cache is keyed by qualified name, and the
        # two compilations must not overwrite each other's entries.  error_model="numpy"
        # is what parallel=True implies (1/0 gives inf, not ZeroDivisionError).
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                                  fn.__defaults__, fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_serial"
        self.serial = numba.njit(cache=True, error_model="numpy", fastmath=fastmath)(twin)

    @property
    def signatures(self):
        return self.parallel.signatures + self.serial.signatures

    def __call__(self, *args):
        n = _num_threads
        if n == 1 or args[0].size < PARALLEL_MIN_WORK * self.grain:
            return self.serial(*args)
        if getattr(_applied, "n", None) != n:        # Numba's thread count is per thread
            numba.set_num_threads(n)
            _applied.n = n
        if _LAUNCH_LOCK is None:
            return self.parallel(*args)
        with _LAUNCH_LOCK:
            return self.parallel(*args)


parallel_kernel = Kernel     # the decorator: ``@parallel_kernel`` over a prange kernel
# ... and ``@reduction_kernel`` over one whose loops sum or take maxima (see Kernel)
reduction_kernel = functools.partial(Kernel, reassociate=True)
# ... and ``@streaming_kernel`` over one with little work per element (see STREAMING_GRAIN)
streaming_kernel = functools.partial(Kernel, grain=STREAMING_GRAIN)
# ... and ``@polynomial_kernel`` over one that evaluates polynomials (special.py): fused
# multiply-adds ran its loops 1.4-2x faster (GELU on 1M float32, one thread: 2.9 ->
# 1.7-2.0 ms).  Not the default: the optimizer steps and convolutions keep NumPy's
# two roundings, so they match their references step for step.
polynomial_kernel = functools.partial(Kernel, contract=True)
