"""Forward-mode AD: tangents that travel with the forward computation.

PyTorch's API (``torch.autograd.forward_ad`` through the alias).  Inside ``with
dual_level():``, ``make_dual(primal, tangent)`` gives a tensor that carries a tangent;
every primitive applied to a dual tensor computes its outputs' tangents from its
``jvp`` rule right after its forward, and ``unpack_dual(t)`` reads them back.  The tape
is not involved: a node is recorded, or not, exactly as without forward mode.  So
reverse over forward (the gradient of a tangent) and forward over reverse (the tangent
of a gradient: a Hessian-vector product) both work; for the second, a backward run
inside a level takes the engine's differentiable path so that tangents reach the
gradients.

A rule, ``Primitive.jvp(ctx, *tangents)``, receives one tangent per forward input (a
Tensor, or None for a zero tangent or a non-tensor argument), reads what forward saved
through ``ctx.saved_tensors`` as ``backward`` does, and returns one tangent (or None)
per output.  It runs with the level suspended (a tangent has no tangent of its own)
and is recorded when grad mode is on, so it can be differentiated.  A primitive may
declare ``jvp = derived_jvp`` instead: the VJP u -> J^T u is linear, so
J v = d/du <J^T u, v>, one differentiable backward through the node and one reverse
pass over that.

As in PyTorch, one level is open at a time, and a tangent belongs to the level it was
made in: after the level exits it is no longer seen.
"""
import itertools
from typing import NamedTuple

import numpy as np

from . import engine
from .function import Primitive, _finish, _resolve_saved, interpreters, pop_interpreter, push_interpreter
from .grad_mode import STATE, set_grad_enabled
from .tensor import Tensor

_level_numbers = itertools.count()


class UnpackedDualTensor(NamedTuple):
    """What ``unpack_dual`` returns: the primal (a view without tangent) and the tangent."""
    primal: Tensor
    tangent: object


class _Level:
    """The open dual level.  While it is open, ``Primitive.apply`` hands every call to
    its ``apply`` (it is an interpreter of function.py's stack, under any vmap levels),
    which runs the op as usual and then the jvp rule if an input is dual."""
    __slots__ = ("index", "below")

    def __init__(self):
        self.index = next(_level_numbers)
        self.below = None

    def tangent(self, t):
        fw = t._fw if isinstance(t, Tensor) else None
        return fw[1] if fw is not None and fw[0] is self else None

    def apply(self, cls, ctx, args, arrays, needs, any_needs):
        tangents = [self.tangent(a) for a in args]
        dual = any(t is not None for t in tangents)
        if dual:
            # Forward saves what the VJPs of the inputs it is told need gradients read;
            # the tangent rules of the dual inputs read the same values.
            ctx.needs_input_grad = [n or t is not None for n, t in zip(needs, tangents)]
        out = cls.forward(ctx, *arrays)
        res = _finish(ctx, args, arrays, needs, any_needs, out)
        if dual:
            _propagate(self, cls, ctx, args, arrays, out, res, tangents, any_needs)
        return res


def _propagate(level, cls, ctx, args, arrays, out, res, tangents, any_needs):
    outs = res if type(out) is tuple else (res,)
    out_arrays = out if type(out) is tuple else (out,)
    if not any_needs:       # not a tape node: resolve what forward saved for the rule
        ctx._out_meta = tuple((o.shape, o.dtype) for o in out_arrays)
        if ctx._to_save is not None:
            ctx._saved = _resolve_saved(ctx, args, arrays, out_arrays, outs)
            ctx._to_save = None
    rule = cls.jvp
    if rule is None:
        raise RuntimeError(f"{cls.__name__}: this op has no jvp rule, so it cannot be used "
                           "under forward-mode AD (autograd.forward_ad)")
    ctx._fw_record = STATE.grad_enabled and (
        any_needs or any(t is not None and t._requires_grad for t in tangents))
    ctx._fw_args = args          # for the rules that re-apply the op (linear_jvp, ...)
    with _suspended(level):
        try:
            result = rule(ctx, *tangents)
        finally:
            del ctx._fw_args
    if not any_needs:
        ctx._saved = None
    if type(result) is not tuple:
        result = (result,)
    if len(result) != len(outs):
        raise RuntimeError(f"{cls.__name__}.jvp returned {len(result)} tangent(s), expected "
                           f"{len(outs)} (one per output of forward, None for a zero tangent)")
    non_diff = ctx._non_diff or ()
    for i, (o, t) in enumerate(zip(outs, result)):
        if t is None or o.array.dtype.kind != "f" or any(o.array is nd for nd in non_diff):
            continue
        if not isinstance(t, Tensor):
            t = Tensor._make(np.asarray(t))
        if t.shape != o.shape:
            raise RuntimeError(f"{cls.__name__}.jvp returned a tangent of shape {tuple(t.shape)} "
                               f"for output {i}, but that output has shape {tuple(o.shape)}")
        if t.array.dtype != o.array.dtype:
            t = t.to(o.array.dtype)
        o._fw = (level, t)
        if o.grad_fn is ctx and ctx._saved_outputs is not None and i in ctx._saved_outputs:
            # backward rebuilds a saved output from the node: it needs the tangent too
            if ctx._out_tangents is None:
                ctx._out_tangents = {}
            ctx._out_tangents[i] = o._fw
    if any_needs and STATE.tangent_observer is not None:
        STATE.tangent_observer(ctx, outs)


def derived_jvp(ctx, *tangents):
    """J v from the node's differentiable VJP: J v = d/du <J^T u, v> (module docstring)."""
    cls = type(ctx)
    non_diff = ctx._non_diff or ()
    grads, seeds = [], []
    with set_grad_enabled(True):
        for shape, dtype in ctx._out_meta:
            z = Tensor._make(np.zeros(shape, dtype))
            if dtype.kind == "f":
                z.requires_grad = True
                seeds.append(z)
            grads.append(z)
        w = cls.backward(ctx, *grads)
        w = w if type(w) is tuple else (w,)
        terms = []
        for wi, ti in zip(w, tangents):
            if ti is None or wi is None:
                continue
            if not isinstance(wi, Tensor):
                raise RuntimeError(f"{cls.__name__}: its backward returns arrays, so a jvp cannot "
                                   "be derived from it; declare an explicit jvp rule")
            if wi._requires_grad:
                terms.append((wi * ti).sum())
        if not terms:
            return (None,) * len(grads)
        inner = terms[0]
        for t in terms[1:]:
            inner = inner + t
        jv = engine.grad(inner, seeds, create_graph=ctx._fw_record, allow_unused=True)
    jv = iter(jv)
    return tuple(next(jv) if g._requires_grad and not any(g is nd for nd in non_diff) else None
                 for g in grads)


def _is_float_tensor(a):
    return isinstance(a, Tensor) and a.array.dtype.kind == "f"


def _zeros_like(a):
    return Tensor._make(np.zeros(a.shape, a.array.dtype))


def linear_jvp(ctx, *tangents):
    """For an op linear in its floating inputs together (reshape, sum, cat, indexing,
    pooling by averages, ...): J v is the op applied to the tangents."""
    args = [(t if t is not None else _zeros_like(a)) if _is_float_tensor(a) else a
            for a, t in zip(ctx._fw_args, tangents)]
    return type(ctx).apply(*args)


def multilinear_jvp(*additive):
    """The rule of an op linear in each floating input separately (matmul, einsum,
    convolution in x and w), plus the inputs at positions ``additive`` (a bias):
    J v = sum_i f(..., v_i, ...), the other inputs kept, each term without the bias."""
    def rule(ctx, *tangents):
        cls, args = type(ctx), ctx._fw_args
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            if i in additive:        # the bias's term: its tangent, through the op at x = 0
                term_args = [t if j == i else _zeros_like(a) if _is_float_tensor(a) else a
                             for j, a in enumerate(args)]
            else:
                term_args = [t if j == i else None if j in additive else a
                             for j, a in enumerate(args)]
            term = cls.apply(*term_args)
            total = term if total is None else total + term
        return total
    return rule


def elementwise_jvp(ctx, t, *rest):
    """For a one-input elementwise op (other arguments not differentiable): its
    Jacobian is diagonal, so its own transpose, and J v = J^T v is its backward of v."""
    out = type(ctx).backward(ctx, t)
    return out[0] if type(out) is tuple else out


class _suspended:
    """The level closed for a while (a tangent rule: a tangent has no tangent of its own).
    The level is the lowest interpreter but a capture's, so the interpreters above it,
    vmap levels, are closed too: the rule's ops act on the physical values."""

    def __init__(self, level):
        self.level = level

    def __enter__(self):
        self.top = STATE.interpreter
        STATE.dual_level, STATE.interpreter = None, self.level.below

    def __exit__(self, *exc):
        STATE.dual_level, STATE.interpreter = self.level, self.top


# -- PyTorch's API ---------------------------------------------------------------------
def enter_dual_level():
    """Open a dual level and return its index (PyTorch: one level at a time)."""
    if STATE.dual_level is not None:
        raise RuntimeError("enter_dual_level: nested forward-mode AD is not supported (as in "
                           "PyTorch); exit the open dual level first")
    if any(not getattr(i, "batches", False) for i in interpreters()):
        raise RuntimeError("enter_dual_level: forward-mode AD cannot be opened while a "
                           "compiled region is captured; call the function outside compile")
    level = _Level()
    push_interpreter(level)
    STATE.dual_level = level
    return level.index


def exit_dual_level(*, level=None):
    current = STATE.dual_level
    if current is None or (level is not None and level != current.index):
        raise RuntimeError(f"exit_dual_level: level {level} is not the open dual level "
                           f"({None if current is None else current.index})")
    pop_interpreter(current)
    STATE.dual_level = None


class dual_level:
    """``with dual_level():`` opens a level for ``make_dual``; tangents made inside are
    not seen after it exits."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()


def _open_level(who, level):
    current = STATE.dual_level
    if current is None:
        raise RuntimeError(f"{who}: no dual level is open; make dual tensors inside "
                           "`with forward_ad.dual_level():`")
    if level is not None and level != current.index:
        raise RuntimeError(f"{who}: level {level} is not the open dual level ({current.index})")
    return current


class DualView(Primitive):
    """A view of its input with the same gradient: the primal side of make_dual/unpack_dual."""

    @staticmethod
    def forward(ctx, x):
        return x.view()

    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def jvp(ctx, t):
        return t


def _alias_without_tangent(t, level):
    with _suspended(level):
        return DualView.apply(t)


def make_dual(tensor, tangent, *, level=None):
    """A view of ``tensor`` that carries ``tangent`` at the open level; gradients of
    reverse mode flow through it to ``tensor`` (and to ``tangent``, if it requires grad)."""
    current = _open_level("make_dual", level)
    for name, t in (("tensor", tensor), ("tangent", tangent)):
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dual: expected a Tensor as {name}, got {type(t).__name__}")
        if t.array.dtype.kind != "f":
            raise ValueError(f"make_dual: expected a floating-point {name}, got {t.dtype} "
                             "(forward-mode AD needs floating tangents)")
    if tangent.shape != tensor.shape:
        raise ValueError(f"make_dual: the tangent's shape {tuple(tangent.shape)} does not match "
                         f"the primal's {tuple(tensor.shape)}")
    if tangent.array.dtype != tensor.array.dtype:
        raise ValueError(f"make_dual: the tangent's dtype {tangent.dtype} does not match the "
                         f"primal's {tensor.dtype}")
    if current.tangent(tensor) is not None:
        raise RuntimeError("make_dual: the primal is already a dual tensor at this level; "
                           "unpack_dual it first")
    out = _alias_without_tangent(tensor, current)
    out._fw = (current, tangent)
    if out.grad_fn is not None and STATE.tangent_observer is not None:
        STATE.tangent_observer(out.grad_fn, (out,))
    return out


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)``: the primal as a view without tangent, and the tangent (None
    if ``tensor`` has none at the open level, or no level is open)."""
    current = STATE.dual_level
    if level is not None and (current is None or level != current.index):
        raise RuntimeError(f"unpack_dual: level {level} is not the open dual level")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    if current is None:
        return UnpackedDualTensor(tensor, None)
    t = current.tangent(tensor)
    if t is None:
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(_alias_without_tangent(tensor, current), t)
