"""The library keeps freed array memory for reuse (autograd/kernels/allocator.py)."""
import subprocess
import sys

import pytest

PROBE = """
import sys
import numpy as np
import autograd
from autograd.kernels import allocator

def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

a = np.ones(4 << 20, np.float32)          # 16 MB, above glibc's default mmap threshold
before = rss_kb()
del a
print(allocator.APPLIED, before - rss_kb())
"""


def _probe(env_value):
    env = {"PATH": "/usr/bin:/bin", "AUTOGRAD_MALLOC": env_value}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    applied, released_kb = out.stdout.split()
    return applied == "True", int(released_kb)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_arrays_stay_in_the_process_unless_opted_out():
    applied, released = _probe("")
    assert applied and released < 4 << 10                # kept: far less than 16 MB returned
    applied, released = _probe("default")
    assert not applied and released > 12 << 10           # default glibc: the mmap is returned
