"""``autograd.compile``: torch.compile's contract over capture (capture.py) and replay
(plan.py).  The first call for a guard set (guards.py) runs eagerly and is captured;
the second is captured again and must agree with the first (guards.changed_constant);
later ones run the plan as one node on the caller's tape."""
import functools
import inspect
import warnings

import numpy as np

from .. import engine
from ..grad_mode import STATE
from ..tensor import Tensor
from . import codegen, guards
from .capture import Capture, GraphBreak
from .fusion import FusedStep, fuse
from .passes import eliminate_dead_code
from .plan import Step, region_class

_MODES = (None, "default", "check")
_TORCH_MODES = ("reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_BACKENDS = ("inductor", "eager", "aot_eager")
_OPTIONS = ("check", "cache_size_limit", "fusion")


class CompileCheckError(RuntimeError):
    """``mode="check"``: the compiled region's result differs from eager's."""


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,
            options=None, disable=False):
    """PyTorch's ``torch.compile``: ``compile(fn)``, ``@compile``, ``@compile(fullgraph=True)``;
    on a module, an `OptimizedModule` sharing its parameters (``_orig_mod``).  See the
    README's "Compiled mode" for what is captured, the guards and the graph breaks."""
    if mode not in _MODES:
        if mode in _TORCH_MODES:
            raise ValueError(f"compile: mode={mode!r} is not yet meaningful in tapegrad (no CUDA "
                             f"graphs or autotuning); use one of {_MODES}")
        raise ValueError(f"compile: unknown mode {mode!r}; expected one of {_MODES}")
    if backend not in _BACKENDS:
        raise ValueError(f"compile: unknown backend {backend!r}; tapegrad has one compiler, "
                         f"named by any of {_BACKENDS}")
    options = dict(options or {})
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"compile: unknown options {unknown}; supported: {list(_OPTIONS)}")
    if dynamic:
        raise NotImplementedError("compile: dynamic=True (shape-generic traces) is not supported "
                                  "yet; leave dynamic=None and each new shape is traced anew")
    settings = dict(fullgraph=bool(fullgraph), check=bool(options.get("check", mode == "check")),
                    cache_size_limit=int(options.get("cache_size_limit", 8)),
                    fusion=bool(options.get("fusion", True)))
    if model is None:
        return lambda m: compile(m, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                 mode=mode, options=options, disable=disable)
    if disable:
        return model
    if guards.is_module(model):
        return OptimizedModule(model, settings)
    if not callable(model):
        raise TypeError(f"compile: expected a function or an nn.Module, got {type(model).__name__}")
    return CompiledFunction(model, settings)


class Trace:
    """One cached capture: its plan, guards and readable code."""

    def __init__(self, plan, region, signature, arg_names, named, externals, outputs,
                 out_spec, tensor_positions, removed):
        self.plan, self.region, self.signature = plan, region, signature
        self.arg_names, self.named, self.externals = arg_names, named, externals
        self.outputs, self.out_spec, self.tensor_positions = outputs, out_spec, tensor_positions
        self.removed = removed
        self.confirmed = False      # by a second capture (CompiledFunction._capture)
        self.fast_check = False     # guards.fast_check's, made on the first hit (None: none)

    @property
    def code(self):
        """The captured forward and backward as Python source."""
        return codegen.forward_source(self.plan) + "\n\n" + codegen.backward_source(self.plan)

    @property
    def guards(self):
        return guards.describe(self)

    @property
    def stats(self):
        """What the plan holds and what the passes removed: ops (steps, fused ones
        counted one by one), the ops dead-code elimination dropped, the fused kernels,
        the temporaries fusion removed (values no longer stored) with their bytes, and the
        bytes of the fused kernels' outputs and scratch that their buffer pools reuse
        from call to call."""
        entries = self.plan.entries
        fused = [e for e in entries if type(e) is FusedStep]
        gone = [m.outs[0] for e in fused for m in e.members if m.outs[0] not in e.exports]
        meta = self.plan.meta
        return {"ops": sum(1 for e in entries if type(e) is Step) +
                sum(len(e.members) for e in fused),
                "removed_by_dce": self.removed, "fused_kernels": len(fused),
                "fused_ops": sum(len(e.members) for e in fused),
                "temporaries_removed": len(gone),
                "bytes_removed": sum(int(np.prod(meta[s][0])) * meta[s][1].itemsize for s in gone),
                "bytes_pooled": sum(sum(e.sizes) * e.dtype.itemsize for e in fused
                                    if e.free is not None),
                "backward_ops": sum(1 for e in entries if type(e) is Step and e.recorded) +
                sum(len(e.members) for e in fused if e.recorded)}

    @property
    def kernels(self):
        """Each fused kernel: its name, the ops it holds and its generated source."""
        return [{"name": e.name, "ops": [m.cls.__name__ for m in e.members],
                 "forward": e.forward_source, "backward": e.backward_source}
                for e in self.plan.entries if type(e) is FusedStep]

    def __call__(self, leaves):
        tensors = [leaves[i] for i in self.tensor_positions] + [t for t, *_ in self.externals]
        outs = self.region.apply(*tensors) if self.plan.outputs else (self._run_no_outputs(tensors))
        outs = outs if type(outs) is tuple else (outs,)
        result = []
        for kind, x in self.outputs:
            if kind == "node":
                result.append(outs[x])
            elif kind == "arg":
                result.append(leaves[x])
            elif kind == "copy":
                result.append(Tensor._make(x.array.copy()))
            else:                      # "input" (a tensor found outside) or "const"
                result.append(x)
        return guards.unflatten(self.out_spec, result)

    def failing_data_guard(self, leaves):
        if not self.plan.data_guards:
            return None
        tensors = [leaves[i] for i in self.tensor_positions] + [t for t, *_ in self.externals]
        return self.plan.failing_data_guard([t.array for t in tensors])

    def _run_no_outputs(self, tensors):
        # Only effects (a buffer update, draws): no node to record.
        self.plan.forward([t.array for t in tensors])
        return ()


class CompiledFunction:
    """What ``compile(fn)`` returns: calls like ``fn``; ``.code``, ``.guards``,
    ``.graph_breaks`` and ``.traces`` show what was compiled."""

    def __init__(self, fn, settings, module=None):
        self._fn = fn
        self._module = module
        self._settings = settings
        self._target = module.forward if module is not None else fn
        self.traces = {}          # signature -> Trace
        self.graph_breaks = []    # (reason, 'file:line')
        self._eager = set()       # signatures that met a graph break
        self._warned = set()
        self._last = None
        self._fast = None         # (check, trace): the last trace hit, with its fast check
        name = getattr(self._target, "__qualname__", type(fn).__name__)
        self.name = name.replace(".forward", "") if module is not None else name
        functools.update_wrapper(self, fn, updated=())

    # -- seeing what was compiled -------------------------------------------------
    @property
    def code(self):
        """The newest trace's forward and backward as Python source."""
        return self._newest("code").code

    @property
    def guards(self):
        return self._newest("guards").guards

    @property
    def kernels(self):
        """The newest trace's fused kernels (ops and generated source)."""
        return self._newest("kernels").kernels

    @property
    def stats(self):
        """The newest trace's ops and what the passes removed."""
        return self._newest("stats").stats

    def _newest(self, what):
        if self._last is None:
            raise RuntimeError(f"compile({self.name}).{what}: nothing compiled yet; call it once "
                               "(the first call captures)" + (
                                   f"; it met graph breaks: {self.graph_breaks}"
                                   if self.graph_breaks else ""))
        return self._last

    # -- calling ----------------------------------------------------------------------
    def __get__(self, obj, objtype=None):       # a compiled method binds like a function
        return self if obj is None else functools.partial(self, obj)

    def _reach(self):
        """The modules and tensors the call can read besides its arguments."""
        objs = [self._module] if self._module is not None else []
        fn = getattr(self._fn, "__func__", self._fn)
        code = getattr(fn, "__code__", None)
        if code is not None and self._module is None:
            cells = dict(zip(code.co_freevars, fn.__closure__ or ()))
            for name in code.co_freevars:
                try:
                    objs.append((name, cells[name].cell_contents))
                except ValueError:      # an empty cell
                    continue
            g = getattr(fn, "__globals__", {})
            objs += [(name, g[name]) for name in code.co_names if name in g]
            objs = [(n, o) for n, o in objs if isinstance(o, Tensor) or guards.is_module(o)]
            return objs
        return [("self", o) for o in objs]

    def __call__(self, *args, **kwargs):
        if STATE.interpreter is not None:     # capturing an enclosing region, or forward AD
            return self._fn(*args, **kwargs)
        fast = self._fast
        if fast is not None and not kwargs and fast[0](*args):
            return fast[1](list(args))
        if not kwargs and all(type(a) is Tensor for a in args):    # the common call
            leaves, spec = list(args), (tuple, ((tuple, (None,) * len(args)), (dict, ())))
        else:
            leaves, spec = guards.flatten((args, kwargs))
        reach = self._reach()
        mods = [o for _, o in reach if guards.is_module(o)] + \
            [x for x in leaves if guards.is_module(x)]
        modules = [m for top in mods for m in top.modules()]
        owners = reach + [(f"arg{k}", x) for k, x in enumerate(leaves) if guards.is_module(x)]
        tensors = []                   # parameters, buffers and tensors read besides the args
        for _, o in owners:
            if isinstance(o, Tensor):
                tensors.append(o)
            else:
                tensors += o.parameters()
                tensors += o.buffers()
        sig = guards.signature(spec, leaves, modules, tensors, [o for _, o in reach])
        trace = self.traces.get(sig)
        held = trace is not None and guards.externals_hold(trace.externals)
        if held and trace.confirmed:
            failed = trace.failing_data_guard(leaves)
            if failed is None:
                if trace.fast_check is False:
                    trace.fast_check = guards.fast_check(trace, self._fn, self._module)
                self._fast = (trace.fast_check, trace) if trace.fast_check else None
                return trace(leaves)
            self._warn_once(("data", failed.site), f"compile({self.name}): data guard failed: "
                            f"{failed.describe(trace.plan)} at capture, not now; such calls run "
                            "eagerly", stacklevel=2)
            return self._fn(*args, **kwargs)
        if sig in self._eager:
            return self._fn(*args, **kwargs)
        if trace is None and len(self.traces) >= self._settings["cache_size_limit"]:
            self._warn_full(sig)
            return self._fn(*args, **kwargs)
        named = []
        for prefix, o in owners:
            if isinstance(o, Tensor):
                named.append((prefix, o))
            else:
                named += [(f"{prefix}.{n}", t) for n, t in o.named_parameters()]
                named += [(f"{prefix}.{n}", t) for n, t in o.named_buffers()]
        # the second call of a guard set captures again, to confirm the first capture
        return self._capture(sig, args, kwargs, leaves, modules, named, trace if held else None)

    def _warn_once(self, key, message, stacklevel):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=stacklevel + 1)

    def _warn_full(self, sig):
        if "cache" in self._warned:
            return
        self._warned.add("cache")
        name, old, new = guards.failing_guard(sig, self._last.signature)
        warnings.warn(f"compile({self.name}): {self._settings['cache_size_limit']} traces cached "
                      f"(cache_size_limit) and the guard on {name} keeps failing (last trace: "
                      f"{old!r}, this call: {new!r}); calls that match no trace run eagerly",
                      stacklevel=3)

    def _arg_names(self, leaves_of_args, args, kwargs):
        try:
            params = list(inspect.signature(self._target).parameters)
        except (TypeError, ValueError):
            params = []
        names = []
        for k, a in enumerate(args):
            base = params[k] if k < len(params) else f"arg{k}"
            names += _leaf_names(base, a)
        for key, a in kwargs.items():
            names += _leaf_names(key, a)
        return names

    def _capture(self, sig, args, kwargs, leaves, modules, named, first=None):
        """Run the call eagerly, captured; cache the trace.  ``first``: the trace the
        first call of these guards made, which this second capture confirms (their
        constants agree) or refutes (a graph break: see guards.changed_constant)."""
        settings = self._settings
        arg_names = self._arg_names(leaves, args, kwargs)
        buffers = [(n, t) for n, t in named if not t.requires_grad]
        cap = Capture(self.name, settings["fullgraph"], named, buffers, settings["check"])
        positions = []
        for k, (leaf, name) in enumerate(zip(leaves, arg_names)):
            if isinstance(leaf, Tensor):
                positions.append(k)
                cap.add_input(leaf, name)
        n_args = len(cap.inputs)
        snapshot = [(n.removeprefix("self."), t, t.array.copy()) for n, t in buffers]
        out = cap.run(self._fn, args, kwargs)
        try:
            return self._plan(cap, out, sig, leaves, named, positions, n_args, arg_names,
                              snapshot, modules, first)
        finally:
            cap.release()

    def _plan(self, cap, out, sig, leaves, named, positions, n_args, arg_names, snapshot,
              modules, first):
        """The trace of a finished capture ``cap`` whose call returned ``out``."""
        settings = self._settings
        out_leaves, out_spec = guards.flatten(out)
        plan, outputs = cap.finish(out_leaves, snapshot, modules)
        if plan is None:
            self._eager.add(sig)
            self._break(cap.breaks)
            return out
        plan.named = named
        # one input per node argument: a tensor passed twice is two (plan.backward
        # gives it its gradient once)
        plan.inputs = [cap.tensor_entry(leaves[k])[1] for k in positions] + \
            [s for _, s in cap.inputs[n_args:]]
        removed = eliminate_dead_code(plan)
        if settings["fusion"]:
            fuse(plan)
        region = region_class(plan)
        arg_slots = {id(leaf): k for k, leaf in enumerate(leaves) if isinstance(leaf, Tensor)}
        outputs = [("arg", arg_slots[id(x)]) if kind == "input" and id(x) in arg_slots else (kind, x)
                   for kind, x in outputs]
        externals = [(t, t.array.shape, t.array.dtype, t.requires_grad) for t, _ in cap.inputs[n_args:]]
        trace = Trace(plan, region, sig, arg_names, named, externals, outputs, out_spec,
                      positions, removed)
        if settings["check"]:
            _check(trace, cap, out_leaves)
        for d in cap.recorder.draws:
            d.value = None
        if first is not None:
            step = guards.changed_constant(first.plan, plan)
            what = (step.cls.__name__ if type(step) is Step else "a NumPy call") if step else None
            if step is None and not guards.same_made_inside(first, trace):
                what, step = "a tensor made inside the region", None
            if what is not None:
                del self.traces[sig]
                self._eager.add(sig)
                self._break([(f"{what} got a constant that changed from the first call to the second: "
                              "it is computed from tensor data in a way the capture does not "
                              "follow (e.g. written into a NumPy array, a[...] = x.array, or "
                              "returned by a Numba kernel)", step.site if step else "<region>")])
                return out
            trace.confirmed = True
        self.traces[sig] = trace
        self._last = trace
        return out

    def _break(self, breaks):
        if self._settings["fullgraph"]:
            raise GraphBreak(f"compile({self.name}, fullgraph=True): the region cannot be captured "
                             "as one graph: " + "; ".join(f"{r} at {s}" for r, s in breaks))
        for reason, site in breaks:
            self.graph_breaks.append((reason, site))
            if (reason, site) in self._warned:
                continue
            self._warned.add((reason, site))
            file, _, line = site.rpartition(":")
            message = (f"compile({self.name}): graph break: {reason}; calls with these guards run "
                       "eagerly")
            if line.isdigit():
                warnings.warn_explicit(message, UserWarning, file, int(line))
            else:
                warnings.warn(message, stacklevel=4)


def _leaf_names(base, x):
    leaves, _ = guards.flatten(x)
    if len(leaves) == 1 and not isinstance(x, (tuple, list, dict)):
        return [base]
    return [f"{base}_{k}" for k in range(len(leaves))]


class OptimizedModule:
    """What ``compile(module)`` returns, as PyTorch's: calls the module (its hooks and
    name scopes included) through the compiled region, shares its parameters and keeps
    it as ``_orig_mod``; any other attribute is the module's."""

    def __init__(self, module, settings):
        self.__dict__["_orig_mod"] = module
        self.__dict__["_compiled"] = CompiledFunction(module.__call__, settings, module=module)

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    # what was compiled, as on a compiled function
    code = property(lambda self: self._compiled.code)
    guards = property(lambda self: self._compiled.guards)
    kernels = property(lambda self: self._compiled.kernels)
    stats = property(lambda self: self._compiled.stats)
    graph_breaks = property(lambda self: self._compiled.graph_breaks)
    traces = property(lambda self: self._compiled.traces)

    def __getattr__(self, name):
        return getattr(self.__dict__["_orig_mod"], name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def train(self, mode=True):
        self._orig_mod.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __repr__(self):
        return f"OptimizedModule({self._orig_mod!r})"


def _close(a, b):
    eps = np.finfo(a.dtype).eps if a.dtype.kind == "f" else 0
    scale = float(np.max(np.abs(b))) if b.size and b.dtype.kind == "f" else 1.0
    return a.shape == b.shape and np.allclose(a, b, rtol=64 * eps, atol=64 * eps * max(scale, 1.0),
                                              equal_nan=True)


def _check(trace, cap, out_leaves):
    """mode="check": the plan, run on the capture's inputs and random numbers, against the
    eager values of every op, then its backward against the engine's on the eager graph."""
    plan = trace.plan
    draws = {d.slot: d.value for d in cap.recorder.draws}
    run = plan.forward([t.array for t, _ in cap.inputs], given=draws, keep=True)
    for k, e in enumerate(plan.entries):
        if type(e) is FusedStep:       # its values reach the plan only where exported
            pairs = [(s, next(m for m in e.members if m.outs[0] == s)) for s in e.exports]
        elif type(e) is Step:
            pairs = [(s, e) for s in e.outs]
        else:
            continue
        for s, step in pairs:
            got, want = run.vals[s], cap.eager[s]
            if not _close(got, want):
                diff = np.max(np.abs(got.astype(np.float64) - want)) if got.shape == want.shape else "shape"
                where = f", in fused kernel {e.name}" if type(e) is FusedStep else ""
                raise CompileCheckError(
                    f"compile({plan.name}, mode='check'): {step.cls.__name__} (op {k}{where}"
                    f"{', in ' + repr(step.scope) if step.scope else ''}, called at {step.site}) "
                    f"gives {plan.names[s]} differing from eager (max |difference| {diff})")
    slot_tensor = {s: t() for t, s, _ in cap.by_id.values()}
    outs = [slot_tensor[s] for s in plan.outputs]
    wanted = [(t, s) for t, s in cap.inputs if t.requires_grad]
    pairs = [(k, o) for k, o in enumerate(outs) if o.requires_grad]
    if not (STATE.grad_enabled and wanted and pairs):
        return
    rng = np.random.default_rng(0)
    cot = [None] * len(outs)
    for k, o in pairs:
        cot[k] = rng.standard_normal(o.array.shape).astype(o.array.dtype)
    got = plan.backward(run, cot)
    want = engine.grad([o for _, o in pairs], [t for t, _ in wanted],
                       [Tensor._make(cot[k]) for k, _ in pairs], retain_graph=True,
                       allow_unused=True)
    position = {s: k for k, s in enumerate(plan.inputs)}
    for (t, s), w in zip(wanted, want):
        g = got[position[s]]
        if (g is None) != (w is None) or (g is not None and not _close(g, w.array)):
            raise CompileCheckError(
                f"compile({plan.name}, mode='check'): the compiled backward's gradient of "
                f"{plan.names[s]} differs from eager's")
