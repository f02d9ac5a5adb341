"""``torch.utils.benchmark.Timer`` over the standard library's ``timeit``.

``Timer(stmt, setup, globals=..., num_threads=1).timeit(number)`` runs ``stmt`` that
many times and returns a ``Measurement`` (time per run); ``blocked_autorange
(min_run_time=0.2)`` first finds a block size that runs for at least 0.1 ms, then
measures blocks until ``min_run_time`` has passed, as PyTorch's does.  The threads
are set with ``set_num_threads`` for the measurement, and restored after.
"""
import statistics
import timeit as _timeit
from typing import NamedTuple

from ..kernels.threads import get_num_threads, set_num_threads


class TaskSpec(NamedTuple):
    stmt: str
    setup: str
    num_threads: int
    label: object = None
    sub_label: object = None
    description: object = None


class Measurement:
    """Times of ``number_per_run`` runs each (``raw_times``); ``times`` per run."""

    def __init__(self, number_per_run, raw_times, task_spec):
        self.number_per_run = number_per_run
        self.raw_times = list(raw_times)
        self.task_spec = task_spec
        self.times = [t / number_per_run for t in self.raw_times]

    @property
    def mean(self):
        return statistics.fmean(self.times)

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def iqr(self):
        if len(self.times) < 2:
            return 0.0
        q = statistics.quantiles(self.times, n=4, method="inclusive")
        return q[2] - q[0]

    @property
    def title(self):
        return self.task_spec.label or self.task_spec.stmt

    def __repr__(self):
        n = len(self.times)
        lines = [f"<autograd.utils.benchmark.Measurement object at {hex(id(self))}>", self.title]
        if self.task_spec.setup and self.task_spec.setup != "pass":
            lines.append(f"setup: {self.task_spec.setup}")
        lines.append(f"  {'Median: ' if n > 1 else ''}{_seconds(self.median)}")
        if n > 1:
            lo, hi = (statistics.quantiles(self.times, n=4, method="inclusive")[k] for k in (0, 2))
            lines.append(f"  IQR:    {_seconds(self.iqr)} ({_seconds(lo)} to {_seconds(hi)})")
        per = "runs per measurement" if n > 1 else "runs"
        lines.append(f"  {n} measurement{'s' if n > 1 else ''}, {self.number_per_run} {per}, "
                     f"{self.task_spec.num_threads} thread{'s' if self.task_spec.num_threads > 1 else ''}")
        return "\n".join(lines)


def _seconds(t):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.2f} {unit}"
    return f"{t / 1e-9:.2f} ns"


class Timer:
    def __init__(self, stmt="pass", setup="pass", global_setup="", timer=_timeit.default_timer,
                 globals=None, label=None, sub_label=None, description=None, env=None,
                 num_threads=1, language="python"):
        if language not in ("python", "py"):
            raise ValueError(f"Timer: only language='python' is supported, got {language!r}")
        if not (isinstance(stmt, str) and isinstance(setup, str)):
            raise TypeError("Timer: stmt and setup must be strings of Python source")
        self._spec = TaskSpec(stmt, setup, num_threads, label, sub_label, description)
        self._timer = _timeit.Timer(stmt, f"{global_setup}\n{setup}", timer,
                                    globals=dict(globals or {}))

    def _run(self, number):
        before = get_num_threads()
        set_num_threads(self._spec.num_threads)
        try:
            return self._timer.timeit(number)
        finally:
            set_num_threads(before)

    def timeit(self, number=1000000):
        return Measurement(number, [self._run(number)], self._spec)

    def blocked_autorange(self, callback=None, min_run_time=0.2):
        number = 1
        while self._run(number) < 1e-4 and number < 10 ** 9:     # a block of at least 0.1 ms
            number *= 10
        times, total = [], 0.0
        while total < min_run_time or len(times) < 2:
            t = self._run(number)
            times.append(t)
            total += t
            if callback is not None:
                callback(number, t)
        return Measurement(number, times, self._spec)

    def autorange(self, callback=None):
        number, t = self._timer.autorange(callback)
        return Measurement(number, [t], self._spec)
