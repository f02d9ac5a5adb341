"""`gradcheck_tape`: check the VJP of every op on the tape of a real forward pass.

``gradcheck`` checks one function on sample inputs; a model can still have a
wrong gradient that only shows on its actual inputs (a custom op at a shape the
samples missed, a kernel path taken only for large inputs).  This runs the
op-level check on each recorded op with that op's own inputs from the forward,
as float64 copies, and reports op, module path, worst error and the verdict, so
the failing layer is named directly.

The check per op is a directional derivative test: for random directions u (on
the inputs) and v (on the outputs), v . J u from the VJP, and from the JVP (forward
mode, where the op has a tangent rule), must match central differences of the op's
forward.  That costs two forwards and one backward per
direction whatever the size, so whole models are affordable.  A mismatch is
retried per input (to name the input whose gradient is wrong) and with one-sided
differences, which tell a kink (relu at 0, max-pool ties) from a wrong VJP.
"""
import weakref
from dataclasses import dataclass

import numpy as np

from . import forward_ad
from .engine import grad as _grad
from .engine import walk
from .gradcheck import GradcheckError, is_kink, one_sided_step
from .grad_mode import STATE, enable_grad, no_grad
from .tensor import Tensor


# node -> copies of its forward arguments; keyed weakly, so they go with the graph.
_ARGS_BY_NODE = weakref.WeakKeyDictionary()


def recorded_inputs(node):
    """The copies of ``node``'s forward arguments kept by ``record_inputs``, or None."""
    return _ARGS_BY_NODE.get(node)


class record_inputs:
    """Keep a copy of every recorded op's forward arguments (``recorded_inputs(node)``),
    so ``gradcheck_tape(output)`` can re-run the op.  Uses the engine's forward
    observer, so it is per thread like grad mode."""

    def __enter__(self):
        self._prev = STATE.forward_observer

        def observe(node, args, outputs):
            # Copies now: later in-place writes to the arguments can't leak in.
            _ARGS_BY_NODE[node] = tuple(_copy(a) for a in args)
        STATE.forward_observer = observe
        return self

    def __exit__(self, *exc):
        STATE.forward_observer = self._prev


def _copy(a):
    if isinstance(a, Tensor):
        return Tensor._make(a.array.copy())
    if isinstance(a, np.ndarray):
        return a.copy()
    return a


@dataclass
class OpCheck:
    position: int
    op: str
    module: str
    checked: str          # which inputs were checked, e.g. "0,1"
    abs_err: float
    rel_err: float
    result: str           # "pass" | "FAIL" | "kink" | "random" | "error"
    detail: str = ""
    node: object = None


class TapeCheck(list):
    """The per-op results; prints as a table."""

    @property
    def ok(self):
        return all(c.result in ("pass", "kink") for c in self)

    @property
    def failures(self):
        return [c for c in self if c.result not in ("pass", "kink")]

    def __str__(self):
        head = ["#", "op", "module", "inputs", "abs err", "rel err", "result"]
        rows = [[str(c.position), c.op, c.module or "-", c.checked or "-",
                 f"{c.abs_err:.2e}", f"{c.rel_err:.2e}", c.result + (f": {c.detail}" if c.detail else "")]
                for c in self]
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head[:-1])]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths + [0])).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths + [0])).rstrip() for r in rows]
        bad = self.failures
        kinks = sum(c.result == "kink" for c in self)
        lines.append(f"{len(self)} ops checked: {len(self) - len(bad)} pass"
                     + (f" ({kinks} at kinks, not differentiable there)" if kinks else "")
                     + (f", {len(bad)} FAIL" if bad else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def gradcheck_tape(fn_or_output, *args, eps=1e-6, atol=1e-5, rtol=1e-4, directions=2,
                   seed=0, print_table=True, raise_exception=False, **kwargs):
    """Gradient-check every op of a forward pass.

    ``gradcheck_tape(model, x)`` runs ``model(x)`` (any callable, any arguments)
    while recording each op's inputs, then checks each op reachable from the
    result.  ``gradcheck_tape(output)`` checks an output computed inside
    ``with autograd.tape_check.record_inputs():``.  Returns a ``TapeCheck``
    (printed as a table unless ``print_table=False``); ``raise_exception=True``
    raises ``GradcheckError`` with the table when an op fails.
    """
    if isinstance(fn_or_output, Tensor) or (isinstance(fn_or_output, (list, tuple)) and not args):
        outputs = fn_or_output
    elif callable(fn_or_output):
        with record_inputs(), enable_grad():
            outputs = fn_or_output(*args, **kwargs)
    else:
        raise TypeError("gradcheck_tape: pass a callable and its arguments, or an output tensor")
    outputs = [outputs] if isinstance(outputs, Tensor) else [o for o in outputs if isinstance(o, Tensor)]
    nodes, _ = walk(outputs)
    missing = [n for n in nodes if n not in _ARGS_BY_NODE]
    if missing:
        raise RuntimeError(
            f"gradcheck_tape: {len(missing)} of {len(nodes)} ops (first: {type(missing[0]).__name__} "
            "at tape position {0}) have no recorded inputs; run the forward inside "
            "`with autograd.tape_check.record_inputs():` or pass the model and its "
            "inputs: gradcheck_tape(model, x)".format(missing[0].sequence_nr()))
    rng = np.random.default_rng(seed)
    report = TapeCheck(_check_node(n, eps, atol, rtol, directions, rng) for n in nodes)
    if print_table:
        print(report)
    if raise_exception and not report.ok:
        raise GradcheckError("gradcheck_tape: some ops have wrong gradients\n" + str(report))
    return report


def _as_outputs(out):
    outs = out if isinstance(out, tuple) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _check_node(node, eps, atol, rtol, directions, rng):
    cls = type(node)
    base = OpCheck(node.sequence_nr(), cls.__name__, node.scope, "", 0.0, 0.0, "pass", node=node)
    inputs, idx = [], []
    edges = iter(node.next_functions)          # one per Tensor argument
    for i, a in enumerate(_ARGS_BY_NODE[node]):
        if isinstance(a, Tensor):
            edge = next(edges)
            data = a.array.astype(np.float64) if a.dtype.kind == "f" else a.array.copy()
            t = Tensor._make(data)
            if edge[0] is not None and data.dtype.kind == "f":
                t.requires_grad = True
                idx.append(i)
            inputs.append(t)
        else:
            inputs.append(a)
    base.checked = ",".join(map(str, idx))
    xs = [inputs[i] for i in idx]

    def forward(shift=None, h=0.0):
        args = list(inputs)
        if shift is not None:
            for i, u in shift.items():
                args[i] = Tensor._make(inputs[i].array + h * u)
        with no_grad():
            return [o.array.astype(np.float64) for o in _as_outputs(cls.apply(*args))]

    try:
        with enable_grad():
            outs = _as_outputs(cls.apply(*inputs))
        again = forward()
        if any(not np.array_equal(a, o.array, equal_nan=True) for a, o in zip(again, outs)):
            base.result, base.detail = "random", "forward is not deterministic; not checkable"
            return base
        low = any(o.dtype != np.float64 for o in outs)
        if low:      # the op itself computes in lower precision (e.g. a cast)
            eps, atol, rtol = max(eps, 1e-3), max(atol, 1e-3), max(rtol, 1e-2)
        worst = (0.0, 0.0, True)
        for _ in range(directions):
            us = {i: rng.standard_normal(inputs[i].shape) for i in idx}
            vs = [rng.standard_normal(o.shape) for o in outs]
            analytic = _analytic(outs, xs, idx, us, vs)
            numeric = _numeric(forward, us, vs, eps)
            err = abs(analytic - numeric)
            ok = err <= atol + rtol * abs(numeric)
            rel = err / max(abs(numeric), abs(analytic), 1e-30)
            if err > worst[0]:
                worst = (err, rel, worst[2] and ok)
            elif not ok:
                worst = (worst[0], worst[1], False)
            if not ok:
                base.abs_err, base.rel_err = worst[0], worst[1]
                return _diagnose(base, forward, outs, xs, idx, us, vs, eps, atol, rtol)
            tangent = _tangent_dot(cls, inputs, idx, us, vs)      # the JVP, in the same direction
            if tangent is not None and abs(tangent - numeric) > atol + rtol * abs(numeric):
                base.abs_err, base.rel_err = abs(tangent - numeric), \
                    abs(tangent - numeric) / max(abs(numeric), abs(tangent), 1e-30)
                base.result, base.detail = "FAIL", "JVP (forward mode) disagrees with central differences"
                return base
        base.abs_err, base.rel_err = worst[0], worst[1]
    except Exception as e:          # report and go on: one broken op must not hide the rest
        base.result, base.detail = "error", f"{type(e).__name__}: {e}".splitlines()[0][:120]
    return base


def _analytic(outs, xs, idx, us, vs):
    diff = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
    if not diff:
        return 0.0
    with enable_grad():
        gs = _grad([o for o, _ in diff], xs, [Tensor._make(v.astype(o.dtype)) for o, v in diff],
                   retain_graph=True, allow_unused=True)
    return float(sum((g.array.astype(np.float64) * us[i]).sum() for i, g in zip(idx, gs) if g is not None))


def _tangent_dot(cls, inputs, idx, us, vs):
    """v . J u by forward mode; None for an op without a tangent rule (a custom
    Function that defines no jvp)."""
    args = list(inputs)
    try:
        with forward_ad.dual_level(), no_grad():
            for i in idx:
                args[i] = forward_ad.make_dual(inputs[i].detach(), Tensor._make(us[i]))
            tangents = [forward_ad.unpack_dual(o).tangent for o in _as_outputs(cls.apply(*args))]
    except NotImplementedError:
        return None
    return float(sum((t.array.astype(np.float64) * v).sum() for t, v in zip(tangents, vs) if t is not None))


def _numeric(forward, us, vs, eps):
    plus, minus = forward(us, eps), forward(us, -eps)
    return float(sum(((p - m) / (2 * eps) * v).sum() for p, m, v in zip(plus, minus, vs)))


def _diagnose(base, forward, outs, xs, idx, us, vs, eps, atol, rtol):
    """A failed direction: kink or wrong VJP, and which input."""
    h = one_sided_step(eps)
    f0 = forward()
    fwd = float(sum(((p - z) / h * v).sum() for p, z, v in zip(forward(us, h), f0, vs)))
    bwd = float(sum(((z - m) / h * v).sum() for m, z, v in zip(forward(us, -h), f0, vs)))
    if is_kink(fwd, bwd):
        base.result = "kink"
        base.detail = "one-sided differences disagree: not differentiable at this input"
        return base
    wrong = []
    for i in idx:
        one = {i: us[i]}
        a, n = _analytic(outs, xs, idx, {**{j: np.zeros_like(us[j]) for j in idx}, **one}, vs), \
            _numeric(forward, one, vs, eps)
        if abs(a - n) > atol + rtol * abs(n):
            wrong.append(str(i))
    base.result = "FAIL"
    base.detail = (f"wrong gradient for input {', '.join(wrong)}" if wrong
                   else "VJP disagrees with central differences")
    return base
