"""Capture: run a region eagerly once and record what it did as a plan (plan.py).

The recording point is the one ``Primitive.apply`` offers every op, recorded on the tape
or not: the top of the transform stack (``STATE.interpreter``; function.py).  While a
capture runs, a `Capture` stands there; each op is handed to it, it runs the op as
usual (``cls.apply`` with the level closed) and notes the op's class, where each
argument came from and the values it produced.  So ops under ``no_grad`` and ops on
tensors that need no gradient are captured too, which tape observers would miss.

Where an argument came from (`Capture.ref`): a value an earlier op produced, a tensor
from outside (the region's arguments; parameters, buffers, closure tensors; constants
the region made), numbers drawn from the global generator (effects.py), or a constant.

What cannot be replayed is a *graph break*: the region's result depended on Python
seeing data (``.item()``, ``bool()``, ``float()``, ``.tolist()``, ``.numpy()``,
``np.asarray``, iterating), or it changed state the capture cannot follow (an in-place
write outside the tape, an unrecognised buffer write, random numbers used outside
elementwise arithmetic), or it ran a backward.  The call still ran eagerly, so its
result is right; the region then stays eager.  ``fullgraph=True`` raises instead.
"""
import sys
import weakref

import numpy as np

from .. import creation, engine
from ..custom_function import Function
from ..grad_mode import STATE
from ..ops import normalization
from ..tensor import Tensor, version_of
from .effects import DrawRecorder, OtherRandomness, RecordingGenerator, RecordingUserGenerators
from .guards import flatten
from .plan import Counter, DataGuard, NumpyStep, Plan, RunningStat, Scratch, Step, ref_slots
from .reads import ArrayReads, Watched, chain

_PACKAGES = ("autograd", "nn", "optim", "numpy")
_CONSTANTS = (int, float, complex, bool, str, bytes, type(None), np.generic, np.dtype)


class GraphBreak(RuntimeError):
    """``fullgraph=True`` and the region cannot be captured whole (see the module docstring)."""


_MOVES = ("Reshape", "Permute", "Expand", "GetItem", "Copy", "Cast", "Flip", "Cat", "Stack")


def _cheap(step):
    """A step a data guard may run before the replay: it only moves or converts."""
    return step.cls.__name__ in _MOVES


def _in_library(frame):
    return frame.f_globals.get("__name__", "").split(".")[0] in _PACKAGES


def user_site():
    """'file:line' of the innermost frame outside tapegrad (the user's line)."""
    f = sys._getframe(1)
    while f is not None and _in_library(f):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


# Tensor methods through which Python reads a tensor's data: each is a graph break.
_DATA_READS = {
    "item": "Tensor.item()", "tolist": "Tensor.tolist()", "numpy": "Tensor.numpy()",
    "__bool__": "bool(tensor)", "__float__": "float(tensor)", "__int__": "int(tensor)",
    "__index__": "using a tensor as an index", "__iter__": "iterating over a tensor",
    "__array__": "np.asarray(tensor)",
    "backward": "backward() inside the region (compile the forward, call backward outside)",
    "register_hook": "a tensor hook registered inside the region",
    "retain_grad": "retain_grad() inside the region",
}


class Capture:
    """Stands in ``STATE.interpreter`` while a region runs; see the module docstring."""
    index = -1          # forward_ad's API sees no level of its own here

    def __init__(self, name, fullgraph, named, buffers, check):
        self.name, self.fullgraph, self.check = name, fullgraph, check
        self.named = named        # (name, tensor): parameters, buffers, closure tensors
        self.buffers = buffers    # those that need no grad
        self.nslots = 0
        self.meta, self.names = {}, {}
        self.entries = []
        # id(tensor) -> (weak reference, slot, version when first seen); id(array) ->
        # (weak reference, slot): detach() and .data share it.  Weak, so that what eager
        # frees during the call is freed during the capture too (its peak memory is
        # eager's); an entry whose object died is stale, its id maybe another's now.
        self.by_id = {}
        self.by_array = {}
        self.nodes = {}        # id -> weak reference of each tape node the region recorded
        self.inputs = []       # (tensor, slot): the region node's inputs, in order
        self.scratch = {}      # slot -> (array the capture passed, the step that filled it)
        self.explained = set()  # ids of tensors whose writes a RunningStat replays
        self.breaks = []       # (reason, site)
        self.recorder = DrawRecorder(self._on_draw)
        self.reads = ArrayReads(self.number, self.numpy_call)
        self.data_guards = []
        self.eager = {}        # check mode: slot -> copy of the eager value

    # -- values -------------------------------------------------------------------
    def _slot(self, shape, dtype, name=None):
        s = self.nslots
        self.nslots += 1
        self.meta[s] = (tuple(shape), np.dtype(dtype))
        self.names[s] = name or f"v{s}"
        return s

    def _on_draw(self, draw):
        draw.slot = self._slot((), np.float64, f"r{self.nslots}")
        self.entries.append(draw)

    def add_input(self, t, name):
        e = self.tensor_entry(t)
        if e is not None:
            return e[1]
        s = self._slot(t.array.shape, t.array.dtype, name)
        self._remember(t, s)
        self.inputs.append((t, s))      # held: the region node's inputs
        return s

    def tensor_entry(self, t):
        """(weak reference, slot, version when first seen) of a tensor met, or None."""
        e = self.by_id.get(id(t))
        return e if e is not None and e[0]() is t else None

    def _remember(self, t, s):
        self.by_id[id(t)] = (weakref.ref(t), s, version_of(t))
        e = self.by_array.get(id(t.array))
        if e is None or e[0]() is None:        # the first tensor on an array names it
            self.by_array[id(t.array)] = (weakref.ref(t.array), s)

    def graph_break(self, reason):
        site = user_site()
        if (reason, site) not in self.breaks:
            self.breaks.append((reason, site))
        if self.fullgraph:
            raise GraphBreak(f"compile({self.name}, fullgraph=True): {reason} at {site}; the "
                             "region cannot be captured as one graph")

    def ref(self, a, cls):
        """Where argument ``a`` of an op ``cls`` comes from, as a plan reference."""
        if isinstance(a, Tensor):
            e = self.tensor_entry(a)
            if e is not None:
                if version_of(a) != e[2]:
                    self.graph_break(f"a tensor (shape {tuple(a.shape)}) was written in place "
                                     "outside the tape, then used")
                return ("v", e[1])
            e = self.by_array.get(id(a.array))
            if e is not None and e[0]() is a.array:
                return ("v", e[1])
            if not a.requires_grad:
                drawn = self._drawn(a.array)
                if drawn is not None:
                    return drawn
            read = self._read(a.array, cls)
            if read is not None:
                return read
            node = self.nodes.get(id(a.grad_fn)) if a.grad_fn is not None else None
            if node is not None and node() is a.grad_fn:
                self.graph_break(f"a tensor the region computed (shape {tuple(a.shape)}) reached "
                                 "an op by a path outside the tape (an in-place op?)")
            return ("v", self.add_input(a, self._external_name(a)))
        if isinstance(a, np.ndarray):
            drawn = self._drawn(a)
            if drawn is not None:
                return drawn
            read = self._read(a, cls)
            if read is not None:
                return read
        if isinstance(a, (list, tuple)):
            if any(isinstance(x, Tensor) for x in a):
                self.graph_break("a list of tensors passed to one primitive")
            refs = tuple(self.ref(x, cls) for x in a)
            if any(r[0] != "k" for r in refs):       # indices, some of them plan values
                return ("seq", (type(a), refs))
        return ("k", a)

    def _read(self, arr, cls):
        """The plan value behind an array that holds tensor data (reads.py): a view of
        a tensor's own memory is that tensor, read live at replay; a value a recorded
        NumPy call computed is that call's value.  Anything else made from tensor data
        would be frozen: a graph break.  None when ``arr`` holds no tensor's data."""
        slot = self._data_slot(arr)
        if slot is None or slot >= 0:
            return None if slot is None else ("v", slot)
        self.graph_break(f"{cls.__name__} got " + (
            "a NumPy view of tensor data made by a call the capture does not follow"
            if slot == -1 else "a value computed in NumPy from tensor data (read through "
            ".array) by a call the capture does not follow (a data-dependent shape?)"))
        return ("k", arr)

    def _data_slot(self, arr):
        """The slot holding exactly ``arr``; None if no tensor data lies behind it; -1
        for a view the plan cannot make, -2 for a computation it did not record."""
        arrays = list(chain(arr))
        # what made the data first (a value of the plan, a recorded NumPy call), then,
        # failing that, a tensor read whose origin the capture had not met: an input
        for find in (self._array_slot, self._read_slot):
            for b in arrays:
                if isinstance(b, Watched) and b._computed:
                    slot = b._slot
                    if slot is None:
                        return -2
                else:
                    slot = find(b)
                    if slot is None:
                        continue
                same = b.shape == arr.shape and b.dtype == arr.dtype and \
                    b.strides == arr.strides and \
                    b.__array_interface__["data"][0] == arr.__array_interface__["data"][0]
                return slot if same else -1
        return None

    def number(self, what, arr, convert, value):
        """Python took ``value = convert(arr)`` from tensor data (reads.py): a data guard
        on the plan value holding ``arr``, or a graph break if there is none."""
        slot = self._data_slot(arr) if arr is not None and convert is not None else None
        if slot is not None and slot >= 0:
            self.data_guards.append(DataGuard(slot, convert, value, what, user_site()))
        else:
            self.graph_break(f"{what} of tensor data read in NumPy")

    def _hoist(self, guards):
        """The steps that compute ``guards`` from the region's inputs, in order: NumPy
        steps, and ops that only move or convert values (a reshape of the targets);
        a guard on a value another op computed is a graph break (checking it before
        the replay would run the op twice)."""
        made = {}
        for e in self.entries:
            for s in (e.outs if type(e) is Step else (e.out,) if type(e) is NumpyStep
                      else (e.slot,) if hasattr(e, "slot") else ()):
                made[s] = e
        needed = set()
        for g in guards:
            todo = [g.slot]
            while todo:
                e = made.get(todo.pop())
                if e is None or id(e) in needed:
                    continue
                if type(e) is not NumpyStep and (type(e) is not Step or not _cheap(e)):
                    self.breaks.append((f"{g.what} of tensor data that "
                                        f"{getattr(getattr(e, 'cls', None), '__name__', 'a draw')}"
                                        " computed inside the region", g.site))
                    break
                needed.add(id(e))
                todo.extend(e.reads())
        return [e for e in self.entries if id(e) in needed]

    def numpy_call(self, fn, args, kwargs, result):
        """Record ``result = fn(*args, **kwargs)``, NumPy on tensor data (reads.py), as
        a plan entry; its slot, or None if an argument cannot be followed."""
        def arg(a):
            if isinstance(a, np.ndarray):
                drawn = self._drawn(a)
                if drawn is not None:
                    return drawn
                slot = self._data_slot(a)
                if slot is None:
                    return ("k", a.copy())
                return ("v", slot) if slot >= 0 else None
            if type(a) in (tuple, list):
                refs = [arg(x) for x in a]
                if any(r is None for r in refs):
                    return None
                return ("seq", (type(a), tuple(refs))) if any(r[0] != "k" for r in refs) \
                    else ("k", a)
            if isinstance(a, Tensor):        # np.where(watched, tensor, ...): through __array__
                return None
            return ("k", a)
        refs = [arg(a) for a in args]
        if any(r is None for r in refs) or any(isinstance(v, (np.ndarray, Tensor))
                                                for v in kwargs.values()):
            return None
        s = self._slot(result.shape, result.dtype, f"n{self.nslots}")
        self.entries.append(NumpyStep(fn, tuple(refs), dict(kwargs), s, user_site()))
        if self.check:
            self.eager[s] = np.array(result)
        return s

    def _array_slot(self, b):
        e = self.by_array.get(id(b))
        if e is not None and e[0]() is b:
            return e[1]
        for name, t in self.named:
            if t.array is b:
                return self.add_input(t, name)
        return None

    def _read_slot(self, b):
        e = self.reads.seen.get(id(b))
        t = e[1]() if e is not None and e[0]() is b else None
        return None if t is None else self.add_input(t, self._external_name(t))

    def _external_name(self, t):
        for name, b in self.named:
            if b is t:
                return name
        return f"c{self.nslots}"

    def _drawn(self, arr):
        m = self.recorder.match(arr)
        if m is None:
            return None
        draw, ops, cast = m
        draw.used = True
        return ("drawn", (draw.slot, ops, cast))

    def _rows(self, a):
        """BatchNorm in eval passes its running statistics as rows of one array, copied
        in Python: rows that equal exactly one buffer are read from it at replay."""
        if a.ndim != 2 or a.dtype.kind != "f":
            return None
        # the module buffers, and the tensor arguments that need no gradient
        # (F.batch_norm's running_mean, running_var)
        known = self.buffers + [(self.names[s], t) for t, s in self.inputs if not t.requires_grad
                                and not any(t is b for _, b in self.buffers)]
        rows, linked = [], False
        for row in a:
            hits = [(n, t) for n, t in known
                    if t.array.shape == row.shape and np.array_equal(t.array, row)]
            if len({id(t) for _, t in hits}) > 1:
                self.graph_break("a constant array equals several buffers ("
                                 + ", ".join(n for n, _ in hits) + "), so which one it was "
                                 "read from is unknown (e.g. BatchNorm in eval before training)")
                return None
            if hits:
                rows.append((self.add_input(hits[0][1], hits[0][0]), None))
                linked = True
            else:
                rows.append((None, row.copy()))
        return ("rows", (tuple(rows), a.shape, a.dtype)) if linked else None

    # -- the dispatch point -----------------------------------------------------------
    def tangent(self, t):
        return None

    def apply(self, cls, ctx, args, arrays, needs, any_needs):
        if issubclass(cls, Function):
            self.graph_break(f"a custom autograd.Function ({cls.__name__})")
        # the compiler's own NumPy on the arguments is neither a use of a draw nor
        # arithmetic of the region's (effects.py, reads.py)
        self.recorder.in_step = self.reads.in_step = True
        STATE.interpreter = None
        try:
            refs = [self.ref(a, cls) for a in args]
            consts = [(k, a.copy()) for k, a in enumerate(args)
                      if refs[k][0] == "k" and isinstance(a, np.ndarray)]
            if cls.__name__ == "GetItem" and any(
                    self.meta[s][1] == np.bool_ for r in refs[1:] for s in ref_slots(r)):
                self.graph_break("indexing with a boolean mask of tensor data: the result's "
                                 "shape depends on the data")
            res = cls.apply(*args)
        finally:
            STATE.interpreter = self
            self.recorder.in_step = self.reads.in_step = False
        outs = res if type(res) is tuple else (res,)
        step_slots = []
        for o in outs:
            s = self._slot(o.array.shape, o.array.dtype)
            self._remember(o, s)
            if o.grad_fn is not None:
                self.nodes[id(o.grad_fn)] = weakref.ref(o.grad_fn)
            if self.check:
                self.eager[s] = o.array.copy()
            step_slots.append(s)
        step = Step(cls, None, tuple(step_slots), tuple(needs), any_needs,
                    tuple((o.array.shape, o.array.dtype) for o in outs),
                    ".".join(STATE.scope), user_site(), type(res) is not tuple)
        for k, before in consts:
            if not np.array_equal(before, args[k], equal_nan=True):   # a scratch buffer
                s = self._slot(before.shape, before.dtype, f"scratch{self.nslots}")
                self.entries.append(Scratch(s, before))
                self.scratch[s] = (args[k], step)
                refs[k] = ("v", s)
            else:                       # read, not written: perhaps buffers' rows
                refs[k] = self._rows(args[k]) or refs[k]
        step.args = tuple(refs)
        self.entries.append(step)
        return res

    # -- effects outside the tape ---------------------------------------------------
    def running_stat(self, running, stat, momentum):
        """Stands for ops.normalization.update_running_stat during a capture: finds the
        batch statistic ``stat`` in the scratch array of the step before and records
        the update, so every replay makes it."""
        _update_running_stat(running, stat, momentum)
        if not any(running is t for _, t in self.buffers):
            self.graph_break("a running statistic that is not a module buffer (F.batch_norm's "
                             "running_mean/running_var arguments) is updated: not replayed")
            return
        for s, (a, step) in reversed(list(self.scratch.items())):
            shape = self.meta[step.args[0][1]][0] if step.args[0][0] == "v" else None
            for row in range(a.shape[0]):
                if stat.base is a and stat.shape == a[row].shape and \
                        stat.__array_interface__["data"][0] == a[row].__array_interface__["data"][0]:
                    factor = None
                elif shape is not None and len(shape) >= 2:
                    count = int(np.prod(shape)) // shape[1]   # values per channel
                    factor = count / (count - 1)              # the unbiased variance's
                    if not np.array_equal(a[row] * factor, stat):
                        continue
                else:
                    continue
                self.entries.append(RunningStat(running, s, row, factor, momentum))
                self.explained.add(id(running))
                return
        self.graph_break("a running statistic updated from values the capture cannot trace")

    def trap(self, name, original):
        what = _DATA_READS[name]

        def trapped(*args, **kwargs):
            if name == "__array__" and _in_library(sys._getframe(1)):
                # the library's np.asarray(tensor) copies it into rows (BatchNorm's eval
                # statistics, matched by `_rows`): a read of a region input
                self.reads.seen[id(args[0].array)] = (weakref.ref(args[0].array),
                                                      weakref.ref(args[0]))
                return original(*args, **kwargs)
            self.graph_break(what)
            quiet, self.reads.in_step = self.reads.in_step, True   # its read is this break
            try:
                return original(*args, **kwargs)
            finally:
                self.reads.in_step = quiet
        return trapped

    def trap_backward(self, original):
        def trapped(*args, **kwargs):
            self.graph_break("a backward pass (backward() or autograd.grad) inside the region")
            level, STATE.interpreter = STATE.interpreter, None
            try:
                return original(*args, **kwargs)
            finally:
                STATE.interpreter = level
        return trapped

    # -- the whole run ----------------------------------------------------------------
    def run(self, fn, args, kwargs):
        """``fn(*args, **kwargs)`` eagerly, captured; returns its result."""
        real_gen = creation._generator
        saved = {name: Tensor.__dict__[name] for name in _DATA_READS if name in Tensor.__dict__}
        real_replay = engine._replay
        STATE.interpreter = self
        creation._generator = RecordingGenerator(real_gen, self.recorder, user_site)
        normalization.update_running_stat = self.running_stat
        engine._replay = self.trap_backward(real_replay)
        for name, original in saved.items():
            setattr(Tensor, name, self.trap(name, original))
        others = OtherRandomness(fn, flatten((args, kwargs))[0])
        users = RecordingUserGenerators(self.recorder, user_site)
        users.install()
        self.reads.install()
        try:
            return fn(*args, **kwargs)
        finally:
            self.reads.uninstall()
            users.uninstall()
            self.recorder.in_step = True     # closed: drawn arrays left in tensors are plain
            self.breaks += others.breaks(not isinstance(creation._generator, RecordingGenerator))
            for name, original in saved.items():
                setattr(Tensor, name, original)
            engine._replay = real_replay
            normalization.update_running_stat = _update_running_stat
            if isinstance(creation._generator, RecordingGenerator):   # not reseeded inside
                creation._generator = real_gen
            STATE.interpreter = None

    def release(self):
        """Drop what the capture held of the eager run (every tensor it made, the
        arrays read), so that its memory goes when the call's graph does, not at the
        next garbage collection (the capture's closures make reference cycles)."""
        self.by_id, self.by_array, self.eager, self.scratch = {}, {}, {}, {}
        self.reads.seen = {}
        self.recorder.wrapped = []

    def finish(self, out_leaves, snapshot, modules):
        """Check what the run changed and build the plan; None after a graph break."""
        for d in self.recorder.draws:
            if d.escaped:
                self.breaks.append((f"random numbers {d.escaped}: they cannot be redrawn at "
                                    "replay", d.site))
        for t, s in self.inputs:
            if version_of(t) != self.tensor_entry(t)[2] and id(t) not in self.explained:
                self.breaks.append((f"the region writes in place into {self.names[s]} (shape "
                                    f"{tuple(t.shape)}) outside the tape", "<region>"))
        counters = []
        for name, t, before in snapshot:
            if id(t) in self.explained or np.array_equal(t.array, before):
                continue
            if t.array.dtype.kind in "iu":
                counters.append(Counter(t, t.array - before, name))
            else:
                self.breaks.append((f"buffer {name} was written outside the tape", "<region>"))
        for m in modules:
            if getattr(m, "momentum", 0) is None and getattr(m, "training", False) and \
                    getattr(m, "num_batches_tracked", None) is not None:
                self.breaks.append(("BatchNorm with momentum=None reads num_batches_tracked in "
                                    "Python (its running average cannot be replayed)", "<region>"))
        outputs = []          # per output leaf: ("node", k) | ("input", tensor) | ("const", v)
        node_slots, non_diff = [], []
        for leaf in out_leaves:
            if not isinstance(leaf, Tensor):
                if not isinstance(leaf, _CONSTANTS):
                    self.breaks.append((f"the region returns a {type(leaf).__name__}, which the "
                                        "capture cannot look into (return tensors in tuples, "
                                        "lists or dicts)", "<region>"))
                outputs.append(("const", leaf))
                continue
            e = self.tensor_entry(leaf)
            if e is not None and version_of(leaf) != e[2]:
                self.breaks.append(("the region mutates a tensor it returns", "<region>"))
            if e is not None and e[1] in {s for _, s in self.inputs}:
                outputs.append(("input", leaf))
            elif e is not None:
                if e[1] not in node_slots:
                    node_slots.append(e[1])
                    if not leaf.requires_grad:
                        non_diff.append(len(node_slots) - 1)
                outputs.append(("node", node_slots.index(e[1])))
            elif leaf.grad_fn is not None or self._drawn(leaf.array) is not None:
                self.breaks.append(("the region returns a tensor made outside the tape",
                                    "<region>"))
            else:
                slot = self._data_slot(leaf.array)
                if slot is not None and slot >= 0:       # made in NumPy from tensor data
                    if slot not in node_slots:
                        node_slots.append(slot)
                        non_diff.append(len(node_slots) - 1)
                    outputs.append(("node", node_slots.index(slot)))
                elif slot is not None:
                    self.breaks.append(("the region returns a tensor computed in NumPy from "
                                        "tensor data in a way the capture does not follow",
                                        "<region>"))
                else:
                    outputs.append(("copy", leaf))      # a constant made in the region
        if self.breaks:
            return None, outputs
        guard_steps = self._hoist(self.data_guards)
        if self.breaks:
            return None, outputs
        entries = counters + self.entries
        plan = Plan(self.name, self.nslots, [s for _, s in self.inputs], entries, node_slots,
                    self.meta, self.names)
        plan.data_guards, plan.guard_steps = self.data_guards, guard_steps
        plan.non_diff = tuple(non_diff)
        return plan, outputs


_update_running_stat = normalization.update_running_stat
