"""A plan as readable Python: the captured forward and backward, like torch.fx's ``.code``.

Each line is one entry of the plan (plan.py); values are named after what they are
(``x``, ``self.fc1.weight``, ``v12``), the comment gives the module the op ran in.  The
backward is the recorded steps' VJPs in reverse, each ``g_<value>`` the gradient of a
value, summed where a value fed several ops: the backward pass one writes by hand,
produced from the tape.
"""
import re

import numpy as np

from .effects import Draw, recipe_text
from .fusion import FusedStep
from .plan import Counter, NumpyStep, RunningStat, Scratch, Step
from .reads import call_text


def _short(x):
    if isinstance(x, np.ndarray):
        return f"<{x.dtype.name}{list(x.shape)}>" if x.size > 4 else repr(x.tolist())
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _ident(name):
    """A name as a Python identifier (``self.0.weight`` -> ``self_0_weight``)."""
    return re.sub(r"\W+", "_", name).strip("_")


def _name(plan, slot):
    return _ident(plan.names[slot])


def _arg(plan, ref):
    kind, x = ref
    if kind == "v":
        return _name(plan, x)
    if kind == "k":
        return _short(x)
    if kind == "drawn":
        slot, ops, cast = x
        return recipe_text(_name(plan, slot), ops, cast)
    if kind == "seq":
        typ, refs = x
        inner = ", ".join(_arg(plan, r) for r in refs)
        return f"[{inner}]" if typ is list else f"({inner}{',' if len(refs) == 1 else ''})"
    rows, shape, dtype = x
    shown = ", ".join(_name(plan, s) if s is not None else _short(c) for s, c in rows)
    return f"np.array([{shown}], {np.dtype(dtype).name})"


def _comment(step):
    return f"  # {step.scope}" if step.scope else ""


def forward_source(plan):
    args = [_name(plan, s) for s in dict.fromkeys(plan.inputs)]
    lines = [f"def forward({', '.join(args)}):"]
    for e in plan.entries:
        if type(e) is Step:
            outs = ", ".join(_name(plan, s) for s in e.outs)
            call = f"{e.cls.__name__}({', '.join(_arg(plan, a) for a in e.args)})"
            lines.append(f"    {outs} = {call}{_comment(e)}")
        elif type(e) is FusedStep:
            outs = ", ".join(_name(plan, s) for s in e.exports) or "_"
            lines.append(f"    {outs} = {e.name}({', '.join(_name(plan, s) for s in e.inputs)})"
                         f"  # fused: {_ops(e)}")
        elif type(e) is NumpyStep:
            args = [_arg(plan, a) for a in e.args] + [f"{k}={_short(v)}" for k, v in e.kwargs.items()]
            lines.append(f"    {_name(plan, e.out)} = {call_text(e.fn, args)}  # NumPy, at {e.site}")
        elif type(e) is Draw:
            lines.append("    " + e.describe(_name(plan, e.slot)))
        elif type(e) is Scratch:
            lines.append(f"    {_name(plan, e.slot)} = np.empty({e.template.shape}, "
                         f"{e.template.dtype.name})  # written by the next op")
        elif type(e) is RunningStat:
            name = _tensor_name(plan, e.tensor)
            stat = f"{_name(plan, e.stats)}[{e.row}]" + ("" if e.factor is None else f" * {e.factor!r}")
            lines.append(f"    {name}[...] = {1 - e.momentum!r} * {name} + {e.momentum!r} * {stat}")
        elif type(e) is Counter:
            lines.append(f"    {_ident('self.' + e.name)}[...] += {_short(e.delta)}")
    outs = [_name(plan, s) for s in plan.outputs]
    lines.append(f"    return {', '.join(outs) if outs else 'None'}")
    return "\n".join(lines)


def _tensor_name(plan, t):
    for name, b in plan.named:
        if b is t:
            return _ident(name)
    return "buffer"


def backward_source(plan):
    names = {s: "g_" + _name(plan, s) for s in plan.names}
    lines = [f"def backward({', '.join(names[s] for s in plan.outputs)}):"]
    defined = {names[s] for s in plan.outputs}
    steps = [e for e in plan.entries if type(e) in (Step, FusedStep) and e.recorded]
    for step in reversed(steps):
        fused = type(step) is FusedStep
        outs = [names[s] if names[s] in defined else "None"
                for s in (step.exports if fused else step.outs)]
        if all(o == "None" for o in outs):
            continue
        targets, sums = [], []
        args = [("v", s) for s in step.inputs] if fused else step.args
        for ref, need in zip(args, step.needs):
            if not need or ref[0] != "v":
                targets.append("_")
                continue
            g = names[ref[1]]
            if g in defined:               # a second use: its gradient is summed in
                part = f"{g}_{len(lines)}"
                sums.append((g, part))
                g = part
            defined.add(g)
            targets.append(g)
        call = f"{step.name}_backward" if fused else step.cls.name()
        note = f"  # fused: {_ops(step)}" if fused else _comment(step)
        lines.append(f"    {', '.join(targets)} = {call}({', '.join(outs)}){note}")
        for total, part in sums:
            lines.append(f"    {total} = {total} + {part}")
    results = []
    for s in dict.fromkeys(plan.inputs):
        results.append(names[s] if names[s] in defined else "None")
    lines.append(f"    return {', '.join(results)}")
    return "\n".join(lines)


def _ops(fused):
    """The ops a fused kernel holds: a cycle repeated from the start written once
    (``(Add, Mul, Tanh, Sub) x50, Sum``), runs of one op counted (``Tanh x3``)."""
    names = [m.cls.__name__ for m in fused.members]
    best, period = 0, 0          # the longest prefix that repeats a cycle of ops
    for p in range(2, len(names) // 2 + 1):
        k = 1
        while names[k * p:(k + 1) * p] == names[:p]:
            k += 1
        if k > 1 and len(set(names[:p])) > 1 and k * p > best:
            best, period = k * p, p
    head = [f"({', '.join(names[:period])}) x{best // period}"] if best else []
    runs = []
    for n in names[best:]:
        if runs and runs[-1][0] == n:
            runs[-1][1] += 1
        else:
            runs.append([n, 1])
    return ", ".join(head + [n if k == 1 else f"{n} x{k}" for n, k in runs])
