"""Guards: what a trace assumed about a call, so that a call which differs retraces.

A call's *signature* is one tuple, a component per guard in `GUARDS`; traces are cached
by it, so finding one is a dict lookup.  When none matches, the first component that
differs from the newest trace's names the guard that failed (for the warning when the
cache is full).  Beyond the signature, each trace checks the tensors it found during
its capture (closure tensors reached through objects, constants): shape, dtype and
requires_grad (`externals_hold`).

Building and hashing the signature costs about as much as a small region's replay, so
the trace a function last ran also gets its guards as one generated check
(`fast_check`), which the next call tries first: straight-line comparisons of the
arguments, the modes and the objects the function reads, with no tuple built.  When
it fails, the call takes the signature path, which decides.
"""
import numpy as np

from .. import dtypes
from ..grad_mode import STATE
from ..tensor import Tensor

GUARDS = ("grad mode", "anomaly mode", "default dtype", "arguments", "training flags",
          "parameters and buffers", "closure and global objects")


def is_module(obj):
    """Duck-typed nn.Module test (nn sits above the compiler, which may not import it)."""
    return callable(obj) and hasattr(obj, "named_parameters") and hasattr(obj, "named_buffers") \
        and hasattr(obj, "modules") and hasattr(obj, "training")


def flatten(tree):
    """Leaves of nested tuples, lists and dicts, and the structure to rebuild them."""
    leaves = []

    def walk(x):
        if type(x) in (tuple, list) or (isinstance(x, tuple) and hasattr(x, "_fields")):
            return (type(x), tuple(walk(v) for v in x))       # namedtuples: max(dim)'s
        if type(x) is dict:
            return (dict, tuple((k, walk(v)) for k, v in x.items()))
        leaves.append(x)
        return None
    return leaves, walk(tree)


def unflatten(spec, leaves):
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, items = s
        if kind is dict:
            return {k: build(v) for k, v in items}
        if kind in (tuple, list):
            return kind(build(v) for v in items)
        return kind(*[build(v) for v in items])
    return build(spec)


def leaf_key(x, tensor_ids):
    """What the guard keeps of one argument: a tensor's shape, dtype, requires_grad and
    which earlier argument it is (aliasing); a module's identity; a value otherwise."""
    if isinstance(x, Tensor):
        first = tensor_ids.setdefault(id(x), len(tensor_ids))
        return (x.array.shape, x.array.dtype.str, x.requires_grad, first)
    if is_module(x) or isinstance(x, np.ndarray):
        return ("id", id(x))
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return (type(x), x)


def signature(spec, leaves, modules, tensors, reach):
    ids = {}
    return (STATE.grad_enabled, STATE.anomaly, dtypes.get_default_dtype(),
            (spec, tuple(leaf_key(x, ids) for x in leaves)),
            tuple(m.training for m in modules),
            tuple((id(t), t.array.shape, t.array.dtype.str, t.requires_grad) for t in tensors),
            tuple(id(o) for o in reach))


def failing_guard(new, old):
    """(name, old value, new value) of the first guard that differs."""
    for name, a, b in zip(GUARDS, old, new):
        if a != b:
            return name, a, b
    return "captured tensors", None, None


def externals_hold(externals):
    """Whether the tensors a capture found still have the shape, dtype and
    requires_grad it saw."""
    return all(t.array.shape == shape and t.array.dtype == dtype and t.requires_grad == rg
               for t, shape, dtype, rg in externals)


def describe(trace):
    """The guards of a trace, one readable line each."""
    sig = trace.signature
    lines = [f"grad mode is {'on' if sig[0] else 'off'}",
             f"anomaly mode is {'on' if sig[1] else 'off'}",
             f"default dtype is {np.dtype(sig[2]).name}"]
    for name, key in zip(trace.arg_names, sig[3][1]):
        if len(key) == 4:
            shape, dt, rg, _ = key
            lines.append(f"{name}: shape {shape}, {np.dtype(dt).name}, requires_grad={rg}")
        elif key[0] == "id":
            lines.append(f"{name} is the same object")
        else:
            lines.append(f"{name} == {key[1]!r}")
    if sig[4]:
        lines.append(f"training flags of {len(sig[4])} modules: {sig[4]}")
    for (name, _), (_, shape, dt, rg) in zip(trace.named, sig[5]):
        lines.append(f"{name} is the same tensor: shape {shape}, {np.dtype(dt).name}, "
                     f"requires_grad={rg}")
    if sig[6]:
        lines.append(f"{len(sig[6])} closure/global tensors and modules are the same objects")
    lines += [f"data: {g.describe(trace.plan)}" for g in trace.plan.data_guards]
    for t, shape, dtype, rg in trace.externals:
        lines.append(f"a captured tensor keeps shape {shape}, {np.dtype(dtype).name}, "
                     f"requires_grad={rg}")
    return lines


def changed_constant(old, new):
    """The first step of plan ``new`` whose constant arguments differ from ``old``'s (two
    captures of one guard set): a value computed from tensor data by a way the capture
    does not follow (written into a NumPy array, ``a[...] = x.array``) would be frozen.
    Also when the plans differ in shape.  None when they agree."""
    a, b = _constants(old), _constants(new)
    if len(a) != len(b):
        return b[0][0] if b else None
    for (step, x), (step2, y) in zip(a, b):
        if _callee(step) != _callee(step2) or not _same(x, y):    # (bound methods: ==)
            return step2
    return None


def _callee(step):
    return getattr(step, "fn", None) or step.cls


def _constants(plan):
    from .fusion import FusedStep
    from .plan import NumpyStep, Step
    out = []
    for e in plan.entries:
        for s in e.members if type(e) is FusedStep else (e,):
            if type(s) in (Step, NumpyStep):
                out.append((s, tuple(_ref_constant(r) for r in s.args) +
                            tuple(getattr(s, "kwargs", {}).values())))
    return out


def _ref_constant(ref):
    kind, x = ref
    if kind == "k":
        return x
    if kind == "seq":
        return tuple(_ref_constant(r) for r in x[1])
    return kind


def _same(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.shape == y.shape \
            and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
    if type(x) in (tuple, list):
        return type(x) is type(y) and len(x) == len(y) and all(map(_same, x, y))
    try:
        return bool(x == y)
    except Exception:           # an object without a comparison: its identity
        return x is y


def same_made_inside(old, new):
    """Whether the tensors two traces found that the region made itself (not its
    parameters, buffers or closure tensors: constants to the plan) hold equal values."""
    def made(trace):
        return [t for t, *_ in trace.externals if not any(t is n for _, n in trace.named)]
    a, b = made(old), made(new)
    return len(a) == len(b) and all(_same(x.array, y.array) for x, y in zip(a, b))


def fast_check(trace, fn, module=None):
    """``check(args) -> bool``: whether a call of ``fn`` (a plain function, or the
    compiled ``module``'s call, with tensors only) with ``args`` holds every guard of
    ``trace``, generated from the trace's signature; None where a check would need more
    (modules a function reaches, keyword arguments, data guards).  False means "take
    the signature path", never "retrace"."""
    sig = trace.signature
    spec, keys = sig[3]
    if (sig[4] and module is None) or trace.plan.data_guards or \
            any(len(k) != 4 for k in keys) or \
            spec != (tuple, ((tuple, (None,) * len(keys)), (dict, ()))):
        return None
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if module is None and (code is None or not all(_full(c) for c in fn.__closure__ or ())):
        return None
    env = {"STATE": STATE, "dtypes": dtypes, "Tensor": Tensor, "G": fn.__globals__}
    names = [f"a{k}" for k in range(len(keys))]
    lines = [f"def check({', '.join(names)}):",
             "    return (STATE.grad_enabled is GRAD and STATE.anomaly is ANOMALY and "
             "dtypes.get_default_dtype() is DEFAULT"]
    env["GRAD"], env["ANOMALY"], env["DEFAULT"] = sig[:3]
    conds = []
    for k, (shape, dt, rg, first) in enumerate(keys):
        env[f"S{k}"], env[f"D{k}"] = shape, np.dtype(dt)
        conds.append(f"isinstance(a{k}, Tensor) and a{k}.array.shape == S{k} and "
                     f"a{k}.array.dtype is D{k} and a{k}._requires_grad is {rg}")
        firsts = [keys[j][3] for j in range(k)]
        conds += [f"a{k} is a{j}" if first == keys[j][3] else f"a{k} is not a{j}"
                  for j in range(k) if first == keys[j][3] or first not in firsts]
    if module is not None:
        conds += _module_checks(module, env)
    else:
        # what the function reads besides its arguments: the same objects (any change,
        # of a tensor or of anything else, sends the call to the signature path)
        for k, cell in enumerate(fn.__closure__ or ()):
            env[f"C{k}"], env[f"CV{k}"] = cell, cell.cell_contents
            conds.append(f"C{k}.cell_contents is CV{k}")
        for k, name in enumerate(code.co_names):
            if name in fn.__globals__:
                env[f"GV{k}"] = fn.__globals__[name]
                conds.append(f"G.get({name!r}) is GV{k}")
            else:
                conds.append(f"{name!r} not in G")
    # the tensors it reads there (the objects the checks above hold), then those its
    # capture found: shape, dtype and requires_grad
    for k, ((_, t), (_, shape, dt, rg)) in enumerate(zip(trace.named, sig[5])):
        env[f"T{k}"], env[f"TS{k}"], env[f"TD{k}"] = t, shape, np.dtype(dt)
        conds.append(f"T{k}.array.shape == TS{k} and T{k}.array.dtype is TD{k} and "
                     f"T{k}._requires_grad is {rg}")
    for k, (t, shape, dt, rg) in enumerate(trace.externals):
        env[f"E{k}"], env[f"ES{k}"], env[f"ED{k}"] = t, shape, dt
        conds.append(f"E{k}.array.shape == ES{k} and E{k}.array.dtype == ED{k} and "
                     f"E{k}._requires_grad is {rg}")
    lines += [f"            and {c}" for c in conds]
    lines[-1] += ")"
    source = "\n".join(lines)
    exec(compile(source, f"<guards of {trace.plan.name}>", "exec"), env)
    check = env["check"]
    check.source = source
    return check


def _module_checks(module, env):
    """The module tree as the signature saw it: each module's training flag, and the
    same children, parameters and buffers (objects, and no more of them)."""
    conds = []
    for k, m in enumerate(module.modules()):
        env[f"M{k}"] = m
        conds.append(f"M{k}.training is {m.training}")
        for store in ("_modules", "_parameters", "_buffers"):
            held = m.__dict__[store]
            conds.append(f"len(M{k}.{store}) == {len(held)}")
            for j, (name, value) in enumerate(held.items()):
                env[f"M{k}{store}{j}"] = value
                conds.append(f"M{k}.{store}.get({name!r}) is M{k}{store}{j}")
    return conds


def _full(cell):
    try:
        cell.cell_contents         # noqa: B018
    except ValueError:             # an empty cell: a name the function may bind later
        return False
    return True
