"""The thread pools: one knob over both, the OpenBLAS fix whatever the import order, a
declared thread-safe threading layer, and two Python threads training at once."""
import os
import platform
import subprocess
import sys
import threading

import numpy as np
import pytest

import autograd
import nn
import nn.functional as F
import optim
from autograd.kernels import threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, **env):
    full = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("first", ["numpy", "autograd"])
def test_openblas_wait_is_short_whatever_was_imported_first(first):
    # openblas_thread_timeout() returns the value OpenBLAS read from its environment:
    # 0 (the long default) unless the library made it re-read OPENBLAS_THREAD_TIMEOUT.
    code = (f"import {first}\nimport numpy, autograd, ctypes\n"
            "from threadpoolctl import ThreadpoolController\n"
            "libs = [c for c in ThreadpoolController().lib_controllers if c.internal_api == 'openblas']\n"
            "print(*[c.dynlib.openblas_thread_timeout() for c in libs])\n")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() and set(out.stdout.split()) == {"4"}, out.stdout


def test_a_user_exported_timeout_wins():
    out = _python("import numpy, autograd\nfrom threadpoolctl import ThreadpoolController\n"
                  "print(*[c.dynlib.openblas_thread_timeout() for c in "
                  "ThreadpoolController().lib_controllers if c.internal_api == 'openblas'])",
                  OPENBLAS_THREAD_TIMEOUT="9")
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == {"9"}


def test_set_num_threads_governs_both_pools():
    from threadpoolctl import threadpool_info
    before = autograd.get_num_threads()
    x = autograd.randn(512, 128)       # above the serial threshold: the parallel twin runs
    try:
        autograd.set_num_threads(1)
        assert autograd.get_num_threads() == 1
        assert {i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"} == {1}
        autograd.set_num_threads(before)
        F.layer_norm(x, (128,))
        import numba
        assert numba.get_num_threads() == before
        assert {i["num_threads"] for i in threadpool_info()
                if i["internal_api"] == "openblas"} == {before}
    finally:
        autograd.set_num_threads(before)


def test_default_is_the_core_count():
    out = _python("import autograd, os; print(autograd.get_num_threads(), len(os.sched_getaffinity(0)))",
                  NUMBA_NUM_THREADS="")
    got, cores = out.stdout.split()
    assert got == cores


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2", True])
def test_set_num_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
        autograd.set_num_threads(bad)


def test_set_num_threads_names_the_pool_limit():
    import numba
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        autograd.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="TBB is a declared dependency on x86-64 Linux only")
def test_threading_layer_is_the_declared_tbb():
    x = autograd.randn(512, 128)
    F.layer_norm(x, (128,))
    import numba
    assert threads.THREADING_LAYER == "tbb"
    assert numba.threading_layer() == "tbb"


def _setup(seed):
    """A small conv + layer-norm model and its batch, made on the calling thread (the
    global generator is shared, so initialisation must not interleave)."""
    autograd.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.LayerNorm(8 * 8 * 8), nn.Linear(8 * 8 * 8, 10))
    rng = np.random.default_rng(seed)
    x = autograd.tensor(rng.standard_normal((16, 3, 16, 16)).astype(np.float32))
    y = autograd.tensor(rng.integers(0, 10, 16))
    return model, x, y


def _train(model, x, y, steps=3):
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.grad.numpy().copy() for p in model.parameters()]


def test_two_python_threads_train_at_once_as_one_after_the_other(monkeypatch):
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0)    # every kernel launches the pool
    sequential = [_train(*_setup(0)), _train(*_setup(1))]
    jobs = [_setup(0), _setup(1)]
    results, errors = [None, None], []

    def work(i):
        try:
            results[i] = _train(*jobs[i])
        except Exception as e:          # surfaced below with the thread's error
            errors.append(e)

    workers = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors
    for got, want in zip(results, sequential):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_workqueue_layer_serialises_launches_instead_of_aborting():
    # Under workqueue, two threads launching kernels at once abort the process unless
    # the library serialises the launches.
    code = ("import threading, autograd, nn.functional as F\n"
            "from autograd.kernels import threads\n"
            "threads.PARALLEL_MIN_WORK = 0\n"
            "x = autograd.randn(256, 64)\n"
            "def work():\n"
            "    for _ in range(200): F.layer_norm(x, (64,))\n"
            "ts = [threading.Thread(target=work) for _ in range(2)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "import numba; print(threads.THREADING_LAYER, numba.threading_layer())\n")
    out = _python(code, NUMBA_THREADING_LAYER="workqueue")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["workqueue", "workqueue"]


def test_a_streaming_kernel_starts_the_pool_at_four_times_the_grain(monkeypatch):
    # Only the choice of twin is under test: both spies compute on the serial one, and
    # the pool is taken as already sized, so this runs on a machine of any core count.
    from autograd.kernels import activation, rowwise
    monkeypatch.setattr(threads, "_num_threads", 2)
    monkeypatch.setattr(threads._applied, "n", 2, raising=False)
    ran = []
    for kernel, name in ((activation._select_flat, "select"), (rowwise.softmax_backward_numba, "softmax")):
        serial = kernel.serial
        for twin in ("serial", "parallel"):
            monkeypatch.setattr(kernel, twin, lambda *a, fn=serial, tag=(name, twin):
                                ran.append(tag) or fn(*a))
    n = 2 * threads.PARALLEL_MIN_WORK            # above the grain, below a streaming kernel's
    g = np.ones(n, np.float32)
    activation._select_flat(g, np.ones(n, np.bool_), np.empty_like(g))
    rowwise.softmax_backward_numba(g.reshape(-1, 64), g.reshape(-1, 64))
    activation._select_flat(*(np.ones(4 * n, t) for t in (np.float32, np.bool_, np.float32)))
    assert ran == [("select", "serial"), ("softmax", "parallel"), ("select", "parallel")]


def test_an_openblas_loaded_later_follows_the_thread_count():
    """SciPy's own OpenBLAS is loaded on first use (linalg's triangular solves); from
    then on set_num_threads governs it too, and it starts at the count already set."""
    from threadpoolctl import threadpool_info
    before = autograd.get_num_threads()
    try:
        autograd.set_num_threads(1)
        a = autograd.eye(3, dtype=autograd.float64) * 2
        autograd.linalg.solve_triangular(a, a, upper=True)      # loads SciPy's, if installed
        assert {i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"} == {1}
    finally:
        autograd.set_num_threads(before)
