"""A profiler for the tape: ``torch.autograd.profiler`` and ``torch.profiler`` (both
reach this module through the alias).

``with profile(record_shapes=False, profile_memory=False, with_stack=False) as prof:``
(or PyTorch's newer ``profile(activities=[ProfilerActivity.CPU], ...)``) records

- every primitive's forward, as it goes through ``Primitive.apply`` (an op wrapper,
  function.add_op_wrapper), named by its class (``Mul``), nested where ops run
  inside others (a custom Function's forward, a VJP recorded under create_graph);
- every node's VJP in backward (engine.set_vjp_wrapper), named as the node (``MulBackward``);
- ``record_function(name)`` ranges: the user's, and ``Optimizer.step#SGD.step`` when
  the caller marks optimizer steps so (tools.train does);

each with its start, duration and thread; the input shapes with ``record_shapes``;
the bytes of the arrays it returned with ``profile_memory`` (the outputs of a
forward, the gradients of a VJP), and the user's ``file:line`` with ``with_stack``.
With ``profile_memory`` two counters follow the step: the bytes of op outputs and
gradients still alive, and the bytes the tape holds for backward (saved tensors,
each array counted once, released as backward frees nodes); ``saved_peak`` is the
highest the second reached.

``prof.key_averages(group_by_input_shape=False).table(sort_by=..., row_limit=...)``
prints per-op counts with self and total times as PyTorch does, and
``prof.export_chrome_trace(path)`` writes the Chrome trace format (complete events
nested per thread, memory as counter tracks) that Perfetto and ``chrome://tracing``
open, and that ``autograd.viz.timeline`` draws.

Off, the profiler costs one check per op and one per replay (see function.py and
engine.py); one profiler runs at a time.
"""
import enum
import json
import os
import tempfile
import threading
import time
import weakref

import numpy as np

from . import engine
from .function import _user_frame, add_op_wrapper, remove_op_wrapper
from .tensor import Tensor

__all__ = ["profile", "record_function", "ProfilerActivity", "EventList", "FunctionEvent",
           "FunctionEventAvg"]

_clock = time.perf_counter_ns
_active = [None]            # the running profile, if any
_lock = threading.Lock()


class ProfilerActivity(enum.Enum):
    CPU = "CPU"
    CUDA = "CUDA"


class FunctionEvent:
    """One recorded range.  Times in microseconds, as PyTorch's."""
    __slots__ = ("name", "kind", "start_ns", "end_ns", "thread", "input_shapes", "cpu_memory_usage",
                 "stack", "self_cpu_time_total", "self_cpu_memory_usage", "depth")

    def __init__(self, name, kind, start_ns, end_ns, thread, input_shapes=(), memory=0, stack=None):
        input_shapes = list(input_shapes)
        self.name, self.kind, self.start_ns, self.end_ns = name, kind, start_ns, end_ns
        self.thread, self.input_shapes, self.cpu_memory_usage = thread, input_shapes, memory
        self.stack = stack
        self.self_cpu_time_total = self.self_cpu_memory_usage = self.depth = 0

    key = property(lambda self: self.name)
    cpu_time_total = property(lambda self: (self.end_ns - self.start_ns) / 1000.0)

    def __repr__(self):
        return (f"<FunctionEvent {self.name} ({self.kind}) {self.cpu_time_total:.1f} us, "
                f"thread {self.thread}>")


class FunctionEventAvg:
    """The events of one key (name, and input shapes when grouped by them), summed."""

    def __init__(self, key, input_shapes):
        self.key, self.input_shapes = key, input_shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0

    def add(self, e):
        self.count += 1
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.cpu_memory_usage += e.cpu_memory_usage
        self.self_cpu_memory_usage += e.self_cpu_memory_usage

    @property
    def cpu_time(self):
        return self.cpu_time_total / max(self.count, 1)

    def __repr__(self):
        return (f"<FunctionEventAvg {self.key} count={self.count} "
                f"cpu_time_total={self.cpu_time_total:.1f}us>")


class EventList(list):
    """A list of events (or averages) that prints as PyTorch's table."""

    def __init__(self, items=(), profile_memory=False, with_shapes=False):
        super().__init__(items)
        self._memory, self._shapes = profile_memory, with_shapes

    def table(self, sort_by=None, row_limit=100, max_name_column_width=55, header=None):
        return _table(self, sort_by, row_limit, max_name_column_width, header, self._memory,
                      self._shapes)

    def __str__(self):
        return self.table()

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)


class profile:
    """Record ops, VJPs and user ranges while open (see the module docstring)."""

    def __init__(self, enabled=True, *, activities=None, record_shapes=False,
                 profile_memory=False, with_stack=False, use_cuda=False, schedule=None,
                 on_trace_ready=None, **ignored):
        activities = [ProfilerActivity.CPU] if activities is None else list(activities)
        if use_cuda or any(a is not ProfilerActivity.CPU for a in activities):
            raise RuntimeError("profile: only ProfilerActivity.CPU can be recorded; this "
                               "library computes on the CPU only (no CUDA device)")
        if schedule is not None:
            raise NotImplementedError("profile: schedule= is not supported; open the profiler "
                                      "around the steps to record (tools.train --profile does)")
        self.enabled = bool(enabled)
        self.record_shapes, self.profile_memory = bool(record_shapes), bool(profile_memory)
        self.with_stack = bool(with_stack)
        self.on_trace_ready = on_trace_ready
        self._events = []
        self._counters = []          # (time_ns, name, bytes)
        self._live = self._held = 0
        self._saved = {}             # id(array) -> [uses by living nodes, nbytes]
        self._holding = {}           # node -> its saved array ids, until backward releases it
        self._last_vjp = None        # released (or not) by the engine right after its VJP
        self.saved_peak = 0
        self._open = False

    # -- recording -----------------------------------------------------------------
    def __enter__(self):
        if not self.enabled:
            return self
        with _lock:
            if _active[0] is not None:
                raise RuntimeError("profile: another profiler is already running; one profiler "
                                   "records at a time (close the first before opening a second)")
            _active[0] = self
        self._start = _clock()
        add_op_wrapper(self._around_op)
        self._previous_vjp = engine.set_vjp_wrapper(self._around_vjp)
        self._open = True
        return self

    def __exit__(self, *exc):
        if not self._open:
            return
        remove_op_wrapper(self._around_op)
        engine.set_vjp_wrapper(self._previous_vjp)
        self._check_released(list(self._holding))
        self._open = False
        _active[0] = None
        _nest(self._events)
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def _around_op(self, run, cls, ctx, args, arrays, needs, any_needs):
        stack = _user_frame() if self.with_stack else None
        start = _clock()
        out = run(cls, ctx, args, arrays, needs, any_needs)
        end = _clock()
        shapes = [_shape(a) for a in arrays] if self.record_shapes else []
        memory = 0
        if self.profile_memory:
            self._after_vjp()
            memory = self._allocated(out if type(out) is tuple else (out,), arrays, end)
            if any_needs:          # recorded: a tape node
                self._hold(ctx, end)
        self._events.append(FunctionEvent(cls.__name__, "forward", start, end,
                                          threading.get_ident(), shapes, memory, stack))
        return out

    def _around_vjp(self, call_vjp, node, grads, create_graph):
        if self.profile_memory:
            self._after_vjp()
            self._last_vjp = node
        start = _clock()
        in_grads = call_vjp(node, grads, create_graph)
        end = _clock()
        shapes = [_shape(g) for g in grads] if self.record_shapes else []
        memory = self._allocated(in_grads, grads, end) if self.profile_memory else 0
        self._events.append(FunctionEvent(node.name(), "backward", start, end,
                                          threading.get_ident(), shapes, memory))
        return in_grads

    def _range(self, name, start, end):
        kind = "optimizer" if name.startswith("Optimizer.") else "user"
        self._events.append(FunctionEvent(name, kind, start, end, threading.get_ident()))

    # -- memory ----------------------------------------------------------------------
    def _allocated(self, outs, inputs, now):
        """Bytes of the arrays in ``outs`` that are not views of ``inputs`` (an array of
        the library's buffer pool is a view of a pooled buffer); each is counted live
        until it is freed."""
        bases = {id(b) for b in (_base(i) for i in inputs) if b is not None}
        total = 0
        for o in outs:
            a = o.array if isinstance(o, Tensor) else o
            if type(a) is np.ndarray and a.nbytes and id(_base(a)) not in bases:
                total += a.nbytes
                weakref.finalize(a, self._freed, a.nbytes)
        if total:
            self._live += total
            self._counters.append((now, "Allocated (outputs and gradients)", self._live))
        return total

    def _freed(self, nbytes):
        if self._open:
            self._live -= nbytes
            self._counters.append((_clock(), "Allocated (outputs and gradients)", self._live))

    def _hold(self, node, now):
        ids = []
        for s in node.saved_tensor_info or ():
            if s.nbytes:
                entry = self._saved.setdefault(id(s.value), [0, s.nbytes, s.value])
                if entry[0] == 0:
                    self._held += s.nbytes
                entry[0] += 1
                ids.append(id(s.value))
        if ids:
            self._holding[node] = ids
            self._note_held(now)

    def _after_vjp(self):
        if self._last_vjp is not None:
            self._check_released((self._last_vjp,))
            self._last_vjp = None

    def _check_released(self, nodes):
        """Drop the saved bytes of those ``nodes`` that backward has released (their
        ``saved_tensor_info`` is None)."""
        changed = False
        for node in nodes:
            ids = self._holding.get(node)
            if ids is None or node.saved_tensor_info is not None:
                continue
            del self._holding[node]
            changed = True
            for i in ids:
                entry = self._saved[i]
                entry[0] -= 1
                if entry[0] == 0:
                    self._held -= entry[1]
                    del self._saved[i]
        if changed:
            self._note_held(_clock())

    def _note_held(self, now):
        self.saved_peak = max(self.saved_peak, self._held)
        self._counters.append((now, "Saved for backward", self._held))

    # -- results ---------------------------------------------------------------------
    def events(self):
        return EventList(self._events, self.profile_memory)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        groups = {}
        for e in self._events:
            shapes = str(e.input_shapes) if group_by_input_shape else ""
            key = (e.name, shapes)
            if key not in groups:
                groups[key] = FunctionEventAvg(e.name, e.input_shapes if group_by_input_shape else None)
            groups[key].add(e)
        return EventList(groups.values(), self.profile_memory, group_by_input_shape)

    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self._events)

    def table(self, *args, **kwargs):
        return self.key_averages().table(*args, **kwargs)

    def export_chrome_trace(self, path):
        """Write the Chrome trace JSON to ``path`` atomically: a failed write leaves
        nothing there (nor a half-written file)."""
        text = json.dumps(self._chrome_trace())
        folder = os.path.dirname(os.path.abspath(path))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".trace-", suffix=".json", dir=folder)
        except OSError as e:
            raise OSError(f"export_chrome_trace: cannot write {path!r}: {e.strerror or e}") from e
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def _chrome_trace(self):
        base = self._start
        tids = {}
        pid = os.getpid()
        events = []
        for e in self._events:
            tid = tids.setdefault(e.thread, len(tids))
            args = {}
            if e.input_shapes:
                args["Input Dims"] = [list(s) if s is not None else [] for s in e.input_shapes]
            if self.profile_memory:
                args["Bytes"] = e.cpu_memory_usage
            if e.stack:
                args["Call stack"] = e.stack
            events.append({"name": e.name, "cat": _CATEGORY[e.kind], "ph": "X",
                           "ts": (e.start_ns - base) / 1000.0, "dur": (e.end_ns - e.start_ns) / 1000.0,
                           "pid": pid, "tid": tid, "args": args})
        for now, name, value in self._counters:
            events.append({"name": name, "ph": "C", "ts": (now - base) / 1000.0, "pid": pid,
                           "tid": 0, "args": {"bytes": value}})
        events.sort(key=lambda ev: (ev["ts"], -ev.get("dur", 0)))
        meta = [{"name": "thread_name", "ph": "M", "pid": pid, "tid": t,
                 "args": {"name": f"thread {t} ({'main' if t == 0 else ident})"}}
                for ident, t in tids.items()]
        return {"traceEvents": meta + events, "displayTimeUnit": "ms",
                "otherData": {"producer": "tapegrad autograd.profiler"}}


_CATEGORY = {"forward": "cpu_op", "backward": "backward", "user": "user_annotation",
             "optimizer": "optimizer"}


def _base(a):
    """The array that owns ``a``'s memory (``a`` itself when it owns it)."""
    if isinstance(a, Tensor):
        a = a.array
    if not isinstance(a, np.ndarray):
        return None
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _shape(a):
    if isinstance(a, Tensor):
        a = a.array
    return list(a.shape) if isinstance(a, np.ndarray) else []


def _nest(events):
    """Self times and depths: per thread, an event's children are the events inside it."""
    by_thread = {}
    for e in events:
        by_thread.setdefault(e.thread, []).append(e)
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e.start_ns, -e.end_ns))
        stack = []
        for e in evs:
            while stack and stack[-1].end_ns <= e.start_ns:
                stack.pop()
            e.depth = len(stack)
            e.self_cpu_time_total = e.cpu_time_total
            e.self_cpu_memory_usage = e.cpu_memory_usage
            if stack:
                stack[-1].self_cpu_time_total -= e.cpu_time_total
                stack[-1].self_cpu_memory_usage -= e.cpu_memory_usage
            stack.append(e)


class record_function:
    """Mark a user range ``name`` for the running profiler (nothing when none runs);
    a context manager, or a decorator."""

    def __init__(self, name, args=None):
        self.name = str(name)

    def __enter__(self):
        self.start = _clock()
        return self

    def __exit__(self, *exc):
        prof = _active[0]
        if prof is not None and prof._open:
            prof._range(self.name, self.start, _clock())

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)
        return wrapped


def _fmt_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _fmt_mem(b):
    for unit, size in (("Gb", 2 ** 30), ("Mb", 2 ** 20), ("Kb", 2 ** 10)):
        if abs(b) >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b} B"


_SORT_KEYS = ("cpu_time_total", "self_cpu_time_total", "cpu_time", "count",
              "cpu_memory_usage", "self_cpu_memory_usage")


def _table(rows, sort_by, row_limit, width, header, memory, shapes):
    """PyTorch's key_averages table: name, self and total CPU time with their shares of
    the whole, the average, (memory), the count (and input shapes)."""
    everything = sum(r.self_cpu_time_total for r in rows)
    total = everything or 1.0
    if sort_by is not None:
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"table: sort_by must be one of {list(_SORT_KEYS)}, got {sort_by!r}")
        rows = sorted(rows, key=lambda r: getattr(r, sort_by), reverse=True)
    if row_limit is not None and row_limit > 0:
        rows = rows[:row_limit]
    names = [r.key if len(r.key) <= width else r.key[:width - 3] + "..." for r in rows]
    name_w = max([len("Name")] + [len(n) for n in names])
    heads = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if memory:
        heads += ["CPU Mem", "Self CPU Mem"]
    heads.append("# of Calls")
    if shapes:
        heads.append("Input Shapes")
    col = 12
    shape_w = max([len("Input Shapes")] + [len(str(r.input_shapes)) for r in rows]) if shapes else 0
    widths = [name_w] + [col] * (len(heads) - (1 if shapes else 0)) + ([shape_w] if shapes else [])
    rule = "  ".join("-" * w for w in widths)

    def line(cells):
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    out = [header] if header else []
    out += [rule, line(["Name"] + heads), rule]
    for n, r in zip(names, rows):
        cells = [n, f"{100 * r.self_cpu_time_total / total:.2f}%", _fmt_time(r.self_cpu_time_total),
                 f"{100 * r.cpu_time_total / total:.2f}%", _fmt_time(r.cpu_time_total),
                 _fmt_time(r.cpu_time)]
        if memory:
            cells += [_fmt_mem(r.cpu_memory_usage), _fmt_mem(r.self_cpu_memory_usage)]
        cells.append(str(r.count))
        if shapes:
            cells.append(str(r.input_shapes))
        out.append(line(cells))
    out += [rule, f"Self CPU time total: {_fmt_time(everything)}"]
    return "\n".join(out) + "\n"
