"""The plan: a captured region as straight-line array code, and the tape node that runs it.

A plan is a program over numbered values ``v0, v1, ...`` (NumPy arrays at replay):

- ``inputs``: the values the region reads from outside, in the order of the region
  node's inputs: its tensor arguments, then the tensors it found (parameters, buffers,
  closure tensors, constants made inside the region);
- ``entries``, in capture order: a `Step` runs one primitive's ``forward``; a
  `effects.Draw` draws from the global generator; a `RunningStat` or `Counter` writes a
  buffer as the library does outside the tape;
- ``outputs``: per tensor the region returned, the value it holds.

The forward plan is the entries in order; the backward plan is the recorded steps'
``vjp``s in reverse, summing the gradients of values used more than once, exactly as the
engine's replay would over the same nodes (engine.py), but with arrays only: no Tensor,
no node, no queue.  `CompiledRegion` is the one node a call leaves on the caller's tape.
"""
import numpy as np

from .. import engine
from ..forward_ad import derived_jvp
from ..function import Primitive
from ..grad_mode import STATE, enable_grad, no_grad
from ..ops.normalization import update_running_stat
from ..tensor import Tensor, version_of
from .effects import derive
from .fusion import FusedStep

_new = object.__new__
_replay_classes = {}


def replay_class(cls):
    """``cls`` with its saved values kept as given: a step's ctx at replay.  Forward and
    VJP are the primitive's own; only where ``save_for_backward`` puts the arrays
    differs, since a replay has no tensors to resolve them against (``_unpack_saved``
    is overridden too: FormulaPrimitive's vjp reads it rather than ``saved_arrays``)."""
    sub = _replay_classes.get(cls)
    if sub is None:
        def save_for_backward(self, *arrays):
            self.replay_saved = arrays

        def unpack_saved(self, as_arrays):
            if as_arrays:
                return self.replay_saved
            return tuple(Tensor._make(a) if isinstance(a, np.ndarray) else a
                         for a in self.replay_saved)
        sub = type(cls.__name__, (cls,), {
            "__module__": cls.__module__, "replay_saved": (),
            "save_for_backward": save_for_backward, "_unpack_saved": unpack_saved,
            "saved_arrays": property(lambda self: self.replay_saved),
            "saved_tensors": property(lambda self: unpack_saved(self, False))})
        _replay_classes[cls] = sub
    return sub


class Run:
    """One execution of a plan: the values, the recorded steps' contexts (for the
    backward plan), the numbers drawn (for a recomputation) and the fused steps'
    buffers it took (``lent``: (step, flat arrays)), which go back when it ends."""
    __slots__ = ("vals", "ctxs", "draws", "given", "lent")

    def __init__(self, nslots, given=None):
        self.vals = [None] * nslots
        self.ctxs = {}
        self.draws = {}
        self.given = given
        self.lent = []

    def hand_over(self, arrays):
        """``arrays`` leave the region (its outputs, its inputs' gradients): the lent
        buffers they are, or are views of, are the caller's now, not the pool's."""
        if not self.lent:
            return
        gone = {id(_owner(a)) for a in arrays if isinstance(a, np.ndarray)}
        for _, flat in self.lent:
            for k, b in enumerate(flat):
                if id(b) in gone:
                    flat[k] = None

    def __del__(self):
        for step, flat in self.lent:
            step.give_back(flat)


def _owner(a):
    """The object that owns ``a``'s memory (NumPy's ``base`` chain; as_strided's views
    go through a wrapper that has a ``base`` too)."""
    while True:
        b = getattr(a, "base", None)
        if b is None:
            return a
        a = b


def resolve(ref, vals):
    """The array (or constant) an argument reference stands for at replay."""
    kind, x = ref
    if kind == "v":
        return vals[x]
    if kind == "k":
        return x
    if kind == "drawn":
        slot, ops, cast = x
        return derive(vals[slot], ops, cast)
    if kind == "seq":                 # a tuple of indices, some of them plan values
        typ, refs = x
        return typ(resolve(r, vals) for r in refs)
    rows, shape, dtype = x            # "rows": gathered from buffers when the step ran
    out = np.empty(shape, dtype)
    for i, (slot, const) in enumerate(rows):
        out[i] = _arrays(vals[slot]) if slot is not None else const
    return out


class Step:
    """One primitive: ``outs = cls.forward(ctx, *args)``.  ``needs`` is the
    needs_input_grad the capture saw (guards keep it valid); ``recorded``: it was a
    tape node, so its VJP belongs to the backward plan."""
    __slots__ = ("cls", "replay", "args", "outs", "needs", "recorded", "out_meta", "scope",
                 "site", "single")

    def __init__(self, cls, args, outs, needs, recorded, out_meta, scope, site, single):
        self.cls, self.replay, self.args, self.outs = cls, replay_class(cls), args, outs
        self.needs, self.recorded, self.out_meta = needs, recorded, out_meta
        self.scope, self.site, self.single = scope, site, single

    def run(self, run):
        vals = run.vals
        ctx = _new(self.replay)
        ctx.needs_input_grad = list(self.needs)
        out = self.cls.forward(ctx, *[resolve(a, vals) for a in self.args])
        if self.single:
            vals[self.outs[0]] = out if type(out) is np.ndarray else np.asarray(out)
        else:
            for s, o in zip(self.outs, out):
                vals[s] = o if type(o) is np.ndarray else np.asarray(o)
        if self.recorded:
            run.ctxs[self] = ctx

    def reads(self):
        for ref in self.args:
            yield from ref_slots(ref)


def ref_slots(ref):
    """The plan values an argument reference reads."""
    kind, x = ref
    if kind == "v":
        yield x
    elif kind == "drawn":
        yield x[0]
    elif kind == "rows":
        yield from (s for s, _ in x[0] if s is not None)
    elif kind == "seq":
        for r in x[1]:
            yield from ref_slots(r)


class NumpyStep:
    """NumPy arithmetic the region did on tensor data outside the primitives (found by
    reads.py): ``vals[out] = fn(*args, **kwargs)``, redone at every replay; no gradient
    flows through it (eager's result was a constant to the tape, too)."""
    __slots__ = ("fn", "args", "kwargs", "out", "site")

    def __init__(self, fn, args, kwargs, out, site):
        self.fn, self.args, self.kwargs, self.out, self.site = fn, args, kwargs, out, site

    def run(self, run):
        vals = run.vals
        out = self.fn(*[_arrays(resolve(a, vals)) for a in self.args], **self.kwargs)
        # a reduction's number as the 0-d array the capture saw (reads.py)
        vals[self.out] = out if type(out) is np.ndarray else np.asarray(out)

    def reads(self):
        for ref in self.args:
            yield from ref_slots(ref)


def _arrays(x):
    """Tensors to their arrays (a recomputation holds Tensors), through tuples."""
    if isinstance(x, Tensor):
        return x.array
    if type(x) in (tuple, list):
        return type(x)(_arrays(v) for v in x)
    return x


class DataGuard:
    """Python took ``value = convert(v)`` from a value ``v`` of tensor data at capture
    (an index check's ``bool(idx.min() < 0)``, an ``int()`` for a size): the call's
    path depended on it.  A replay first recomputes ``v`` from the inputs (NumPy steps
    only; capture.py refuses others) and runs the call eagerly when it differs."""
    __slots__ = ("slot", "convert", "value", "what", "site")

    def __init__(self, slot, convert, value, what, site):
        self.slot, self.convert, self.value, self.what, self.site = slot, convert, value, what, site

    def describe(self, plan):
        return f"{self.what} of {plan.names[self.slot]} at {self.site} is {self.value!r}"


class Scratch:
    """An array a step's forward writes into (BatchNorm's batch statistics): a fresh
    copy of what the capture passed, per run, so that runs never share it."""
    __slots__ = ("slot", "template")

    def __init__(self, slot, template):
        self.slot, self.template = slot, template

    def run(self, run):
        run.vals[self.slot] = self.template.copy()

    def reads(self):
        return ()


class RunningStat:
    """``running <- (1 - momentum) running + momentum * stats[row] * factor``: BatchNorm's
    update of a running statistic from the batch statistics its step wrote (see
    capture.py, which recognised it)."""
    __slots__ = ("tensor", "stats", "row", "factor", "momentum")

    def __init__(self, tensor, stats, row, factor, momentum):
        self.tensor, self.stats = tensor, stats      # the buffer; the scratch slot
        self.row, self.factor, self.momentum = row, factor, momentum

    def run(self, run):
        if run.given is not None:     # a recomputation for double backward: no effects
            return
        stats = run.vals[self.stats]
        stat = stats[self.row] if self.factor is None else stats[self.row] * self.factor
        update_running_stat(self.tensor, stat, self.momentum)

    def reads(self):
        return (self.stats,)


class Counter:
    """``buffer += delta`` on an integer buffer (``num_batches_tracked``), as nn does it:
    in NumPy, without a version bump."""
    __slots__ = ("tensor", "delta", "name")

    def __init__(self, tensor, delta, name):
        self.tensor, self.delta, self.name = tensor, delta, name

    def run(self, run):
        if run.given is None:
            self.tensor.array[...] += self.delta

    def reads(self):
        return ()


class Plan:
    def __init__(self, name, nslots, inputs, entries, outputs, meta, names):
        self.name = name
        self.nslots = nslots
        self.inputs = inputs          # slot per region-node input
        self.entries = entries
        self.outputs = outputs        # slot per node output
        self.meta = meta              # slot -> (shape, dtype)
        self.names = names            # slot -> readable name
        self.non_diff = ()            # node outputs eager returned without grad
        self.saved_inputs = None      # node input positions some recorded step saves
        self.scratch_slots = {e.slot for e in entries if type(e) is Scratch}
        self.backward_steps = None    # the recorded steps, last first (found once)
        self.last_reads = None        # per entry, the values it reads last (found once)
        self.data_guards = []         # DataGuard
        self.guard_steps = []         # the NumPy steps that compute them, in order

    def _last_reads(self):
        """Per entry, the values no later entry reads (outputs and buffers' scratch
        arrays excepted)."""
        keep = set(self.outputs) | self.scratch_slots
        seen, dead = set(), []
        for e in reversed(self.entries):
            reads = set(e.reads()) - seen - keep
            dead.append(tuple(reads))
            seen |= reads
        return dead[::-1]

    def failing_data_guard(self, arrays):
        """The first data guard whose number differs for these inputs, or None."""
        run = Run(self.nslots)
        vals = run.vals
        for s, a in zip(self.inputs, arrays):
            vals[s] = a
        for e in self.guard_steps:
            e.run(run)
        for g in self.data_guards:
            if g.convert(vals[g.slot]) != g.value:
                return g
        return None

    def forward(self, arrays, given=None, keep=False):
        """Run the entries; each value is dropped after its last read (the backward
        reads the steps' contexts, not the values), unless ``keep`` (mode="check")."""
        run = Run(self.nslots, given)
        vals = run.vals
        for s, a in zip(self.inputs, arrays):
            vals[s] = a
        if keep:
            for e in self.entries:
                e.run(run)
        else:
            if self.last_reads is None:
                self.last_reads = self._last_reads()
            for e, dead in zip(self.entries, self.last_reads):
                e.run(run)
                for s in dead:
                    vals[s] = None
        if self.saved_inputs is None:     # found once, from the first run's contexts
            saved = {id(a) for ctx in run.ctxs.values() for a in ctx.replay_saved}
            self.saved_inputs = tuple(k for k, a in enumerate(arrays) if id(a) in saved)
        return run

    def backward(self, run, grads, release=False):
        """Gradients per region input from gradients per node output (arrays or None).
        ``release``: the graph is not retained, so each step's saved arrays are dropped
        once its VJP ran, as the engine drops a node's (the peak memory of eager's
        backward)."""
        ctxs = run.ctxs
        g = {}
        for s, gr in zip(self.outputs, grads):
            if gr is not None:
                g[s] = gr if s not in g else g[s] + gr
        meta = self.meta
        if self.backward_steps is None:
            self.backward_steps = [e for e in reversed(self.entries)
                                   if (type(e) is Step or type(e) is FusedStep) and e.recorded]
        for step in self.backward_steps:
            ctx = ctxs.pop(step) if release else ctxs[step]
            if type(step) is FusedStep:
                outs = [g.pop(s, None) for s in step.exports]
                if any(o is not None for o in outs):
                    for s, r in zip(step.inputs, step.vjp(ctx, outs)):
                        if r is not None:
                            g[s] = r if s not in g else g[s] + r
                continue
            outs = [g.pop(s, None) for s in step.outs]
            if all(o is None for o in outs):
                continue
            cls = step.cls
            if cls.materialize_grads:
                outs = [np.zeros(*meta[s]) if o is None else o for o, s in zip(outs, step.outs)]
            if cls.vjp is not None:
                res = cls.vjp(ctx, *outs)
            else:
                with no_grad():
                    res = cls.backward(ctx, *[None if o is None else Tensor._make(o) for o in outs])
            if type(res) is not tuple:
                res = (res,)
            for ref, need, r in zip(step.args, step.needs, res):
                if not need or r is None or ref[0] != "v":
                    continue
                s = ref[1]
                if isinstance(r, Tensor):
                    r = r.array
                shape, dtype = meta[s]
                if r.shape != shape:
                    raise RuntimeError(f"compiled region {self.name}: {cls.__name__}'s VJP returned a "
                                       f"gradient of shape {r.shape} for an input of shape {shape}")
                if r.dtype != dtype:
                    r = r.astype(dtype)
                g[s] = r if s not in g else g[s] + r
        out, seen = [], set()
        for s in self.inputs:          # a tensor passed twice gets its gradient once
            out.append(None if s in seen else g.get(s))
            seen.add(s)
        run.hand_over(out)
        return tuple(out)


class CompiledRegion(Primitive):
    """The node a compiled call records: forward runs the forward plan, ``vjp`` the
    backward plan.  A subclass per plan (``region_class``).  Its differentiable
    ``backward`` (create_graph=True, forward-mode's derived jvp) recomputes the region
    on Tensors from its inputs, with the same random numbers, and differentiates that,
    so gradients of any order are those of eager; only first-order backward is fast."""
    plan = None
    jvp = derived_jvp
    materialize_grads = False

    @classmethod
    def name(cls):
        return f"CompiledRegion[{cls.plan.name}]"

    _pending = None

    @classmethod
    def apply(cls, *tensors):
        # forward sees arrays only; the tensors reach it here, for the version checks
        # of vjp and the recomputation of backward
        cls._pending = tensors
        try:
            return super().apply(*tensors)
        finally:
            cls._pending = None

    @staticmethod
    def forward(ctx, *arrays):
        plan = ctx.plan
        run = plan.forward(arrays)
        # None when this region is itself a step of an enclosing region's replay
        ctx.inputs = inputs = type(ctx).__dict__.get("_pending")
        if any(ctx.needs_input_grad):
            ctx.run = run
            ctx.save_for_backward()     # so that a second backward is refused as eager's is
            if inputs is not None:
                ctx.versions = [version_of(inputs[i]) for i in plan.saved_inputs]
        vals = run.vals
        outs = tuple(vals[s] for s in plan.outputs)
        run.vals = None       # the backward reads the contexts; the outputs are the node's
        run.hand_over(outs)
        if plan.non_diff:
            ctx.mark_non_differentiable(*[outs[i] for i in plan.non_diff])
        return outs if len(outs) != 1 else outs[0]

    @staticmethod
    def vjp(ctx, *grads):
        ctx.saved_arrays     # noqa: B018  raises if backward already freed this node
        for i, v in zip(ctx.plan.saved_inputs, ctx.versions if ctx.inputs is not None else ()):
            t = ctx.inputs[i]
            if version_of(t) != v:
                raise RuntimeError(
                    f"{ctx.name()}: one of the variables needed for gradient computation has "
                    f"been modified by an in-place operation: input {i} of the compiled region "
                    f"(shape {tuple(t.shape)}) is at version {version_of(t)}; expected version "
                    f"{v}. Use an out-of-place op or clone() before modifying it.")
        return ctx.plan.backward(ctx.run, grads, release=not STATE.retain_graph)

    @staticmethod
    def backward(ctx, *grads):
        ctx.saved_arrays     # noqa: B018  as in vjp
        plan = ctx.plan
        if ctx.inputs is None:
            raise RuntimeError(f"{ctx.name()}: a compiled region nested in another one's replay "
                               "cannot be differentiated twice; compile the outer function only")
        with enable_grad():
            outs = recompute(plan, ctx.inputs, ctx.run.draws)
        pairs = [(o, g) for o, g in zip(outs, grads)
                 if g is not None and isinstance(o, Tensor) and o.requires_grad]
        wanted = [(k, t) for k, t in enumerate(ctx.inputs)
                  if ctx.needs_input_grad[k] and t.requires_grad]
        result = [None] * len(ctx.inputs)
        if pairs and wanted:
            got = engine.grad([o for o, _ in pairs], [t for _, t in wanted],
                              [g for _, g in pairs], create_graph=True, allow_unused=True)
            seen = set()
            for (k, t), gk in zip(wanted, got):
                if id(t) not in seen:
                    result[k] = gk
                seen.add(id(t))
        return tuple(result)

    def captured_ops(self):
        """What the region ran, for the graph views (autograd.viz draws the region as a
        cluster of these): per captured op (fused ones one by one) its name, the plan
        values it wrote and read, their (shape, dtype)s and its module path; then the
        plan value of each node input and of each node output."""
        plan, ops = self.plan, []
        for e in plan.entries:
            for step in e.members if type(e) is FusedStep else (e,):
                if type(step) is Step:
                    ops.append((step.cls.__name__, step.outs, tuple(step.reads()),
                                step.out_meta, step.scope))
                elif type(step) is NumpyStep:
                    ops.append(("NumPy " + getattr(step.fn, "__name__", "call"), (step.out,),
                                tuple(step.reads()), (plan.meta[step.out],), ""))
        return ops, tuple(plan.inputs), tuple(plan.outputs)

    def release(self):
        super().release()
        self.run = None


def recompute(plan, inputs, draws):
    """The region's outputs on Tensors, recorded from its input Tensors, with the
    numbers in ``draws`` instead of new ones (and no buffer writes)."""
    run = Run(plan.nslots, given=draws)
    vals = run.vals
    for s, t in zip(plan.inputs, inputs):
        vals[s] = t
    for entry in plan.entries:
        if type(entry) is not Step and type(entry) is not FusedStep:
            entry.run(run)
            continue
        for e in (entry,) if type(entry) is Step else entry.members:
            out = e.cls.apply(*[vals[x] if kind == "v" else resolve((kind, x), vals)
                                for kind, x in e.args])
            for s, o in zip(e.outs, out if type(out) is tuple else (out,)):
                vals[s] = o
    return [vals[s] for s in plan.outputs]


def region_class(plan):
    return type(f"CompiledRegion_{plan.name}", (CompiledRegion,), {"plan": plan,
                                                                   "__module__": __name__})
