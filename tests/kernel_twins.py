"""Shared by the kernel test modules: the dtypes, float tolerances, and the fixture that
runs every test once on each twin of the kernels (serial and multi-threaded,
autograd/kernels/threads.py) by moving the size threshold between them.  A module
imports ``kernel_twin`` to make it apply there (it is autouse)."""
import numpy as np
import pytest

from autograd.kernels import threads

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True, params=["serial", "parallel"])
def kernel_twin(request, monkeypatch):
    """Route every kernel call of the test to one twin; returns the twin's name."""
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0 if request.param == "parallel" else 1 << 62)
    return request.param


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
