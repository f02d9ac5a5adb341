"""`Function`: custom ops with PyTorch's contract (``torch.autograd.Function``).

``forward`` receives Tensors (without history, recording off) and returns Tensors;
``backward`` receives and returns Tensors.  Both of PyTorch's styles work:
``forward(ctx, *args)``, or ``forward(*args)`` with ``setup_context(ctx, inputs,
output)``.  The ctx API is PyTorch's: ``save_for_backward``, ``saved_tensors``,
``needs_input_grad``, ``mark_non_differentiable``, ``set_materialize_grads``,
``mark_dirty``.

``mark_dirty``: a forward that writes into an input marks it and returns it.  As in
PyTorch, ``apply`` then returns the input object itself, its history moved onto the
new node and its version counter advanced (by the forward's in-place writes, plus one)
so that nodes which saved the old value refuse to backward; a saved dirty input is the
returned, modified tensor.  A leaf that requires grad may not be modified while
recording; under no_grad an input that requires grad comes back detached.

It is a thin layer over `Primitive` (function.py), whose ``forward`` works on NumPy
arrays: the fast path the built-in ops use, and the one to take for a kernel.  A
subclass's ``forward`` is wrapped once, when the class is defined, into an array-level
forward: the arrays are wrapped as Tensors for the user's code and its results
unwrapped, so inputs and outputs are still recognised by identity when saved.
"""
import functools
import threading

import numpy as np

from .function import _INPUT, Primitive
from .grad_mode import STATE, no_grad
from .tensor import Tensor

# The tensors marked dirty by the forward now running, innermost apply last (a forward
# may call other Functions).  Thread-local: each thread records its own ops.
_marks = threading.local()


def _data(x):
    return x.array if isinstance(x, Tensor) else x


class Function(Primitive):
    """Subclass it and call ``MyOp.apply(*args)``.  See the module docstring."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" not in cls.__dict__:
            return
        user_forward = cls.__dict__["forward"]
        user_forward = getattr(user_forward, "__func__", user_forward)
        separate = "setup_context" in cls.__dict__      # PyTorch's second style

        def forward(ctx, *arrays):
            args = tuple(Tensor._make(a) if isinstance(a, np.ndarray) else a for a in arrays)
            # which inputs are tensors, for jvp's zero tangents (not the arrays: the
            # node must not keep inputs alive that backward does not need)
            ctx._input_meta = [(a.shape, a.dtype) if isinstance(a, np.ndarray) else None
                               for a in arrays]
            with no_grad():
                if separate:
                    out = user_forward(*args)
                    cls.setup_context(ctx, args, out)
                else:
                    out = user_forward(ctx, *args)
            return tuple(_data(o) for o in out) if isinstance(out, tuple) else _data(out)

        forward.__qualname__ = f"{cls.__qualname__}.forward"
        cls.forward = staticmethod(forward)
        for name, wrap in (("backward", _trimmed_backward), ("jvp", _user_jvp)):
            if name in cls.__dict__:
                rule = cls.__dict__[name]
                setattr(cls, name, staticmethod(wrap(cls, getattr(rule, "__func__", rule))))

    @classmethod
    def apply(cls, *args):
        outer = getattr(_marks, "dirty", None)
        _marks.dirty = dirty = []
        try:
            out = super().apply(*args)
        finally:
            _marks.dirty = outer
        return _return_dirty_inputs(cls, args, out, dirty) if dirty else out

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Override (with ``forward(*args)``) to save what backward needs."""

    @staticmethod
    def jvp(ctx, *tangents):
        """Override to use the Function under forward-mode AD (autograd.forward_ad):
        one tangent per forward input in, one per output out, as in PyTorch."""
        raise NotImplementedError(
            f"{type(ctx).__name__}: You must implement the jvp function for custom "
            "autograd.Function to use it with forward mode AD.")

    def save_for_forward(self, *tensors):
        """Keep tensors for ``jvp``, which reads them as ``ctx.saved_tensors`` (PyTorch)."""
        self._for_forward = tensors

    @property
    def saved_tensors(self):
        if self._in_jvp:
            return tuple(self._for_forward or ())
        return self._unpack_saved(False)

    _in_jvp = False
    _for_forward = None

    # ctx API: Tensors in, recognised by their arrays
    def save_for_backward(self, *tensors):
        self._to_save = tuple(_data(t) for t in tensors)

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tuple(_data(t) for t in tensors)

    def set_materialize_grads(self, value):
        """With False, backward gets None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        """Declare inputs that ``forward`` modifies in place; it must return them."""
        dirty = getattr(_marks, "dirty", None)
        if dirty is None:
            raise RuntimeError(f"{type(self).__name__}: mark_dirty can only be called inside forward")
        dirty.extend(tensors)


def _return_dirty_inputs(cls, args, out, dirty):
    """Give back each dirty input in place of the output that is its memory, rebased
    onto the node (see the module docstring)."""
    name = cls.__name__
    outs = list(out) if isinstance(out, tuple) else [out]
    node = next((o.grad_fn for o in outs if isinstance(o, Tensor) and type(o.grad_fn) is cls), None)
    for marked in dirty:
        a = next((a for a in args if isinstance(a, Tensor) and a.array is _data(marked)), None)
        if a is None:
            raise RuntimeError(f"{name}: mark_dirty was given a tensor that is not an input of forward")
        i = next((i for i, o in enumerate(outs) if o.array is a.array), None)
        if i is None:
            raise RuntimeError(f"{name}: an input marked dirty (shape {tuple(a.shape)}) was not "
                               "returned by forward; return every tensor it modifies in place")
        if STATE.grad_enabled and a.grad_fn is None and a._requires_grad:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad (shape {tuple(a.shape)}) was modified "
                "in place by forward (marked dirty); pass a clone(), or call it under "
                "autograd.no_grad()")
        o = outs[i]
        if o.grad_fn is not None and a._base is not None:
            raise RuntimeError(f"{name}: modifying a view (shape {tuple(a.shape)}) in place in a "
                               "custom Function is not supported while recording; pass a clone()")
        # The forward's own in-place writes went to the Tensor it received; PyTorch counts
        # them and one more for marking the input dirty.
        writes = marked._version.value if isinstance(marked, Tensor) else 0
        a._version.value += writes + 1
        if o.grad_fn is not None:
            a.grad_fn, a._output_nr, a._requires_grad = o.grad_fn, o._output_nr, True
            outs[i] = a
        else:       # not recorded: an input that requires grad comes back detached (PyTorch)
            outs[i] = a.detach() if a._requires_grad else a
    if node is not None and node._saved:
        _save_dirty_as_outputs(node, outs)
    return tuple(outs) if isinstance(out, tuple) else outs[0]


def _save_dirty_as_outputs(node, outs):
    """A saved dirty input is the returned tensor (its modified value), at its new version."""
    saved = list(node._saved)
    for k, (kind, obj, _) in enumerate(saved):
        if kind is _INPUT:
            j = next((j for j, o in enumerate(outs) if o is obj and o.grad_fn is node), None)
            if j is not None:
                saved[k] = node._save_output(j, obj)
    node._saved = saved


FunctionCtx = Function      # PyTorch's ctx type: a ctx here is an instance of the Function


class InplaceFunction(Function):
    """PyTorch's base for Functions that may work in place (``inplace`` is a flag the
    subclass reads)."""

    def __init__(self, inplace=False):
        self.inplace = inplace


def _trimmed_backward(cls, backward):
    """PyTorch lets ``backward`` return more values than forward had inputs when the
    extra ones are None; they are dropped here, and any other count is an error."""
    @functools.wraps(backward)
    def trimmed(ctx, *grads):
        out = backward(ctx, *grads)
        n = len(ctx.needs_input_grad)
        if isinstance(out, tuple) and len(out) > n:
            if any(g is not None for g in out[n:]):
                raise RuntimeError(
                    f"function {cls.__name__}Backward returned an incorrect number of gradients "
                    f"(expected {n}, got {len(out)}): the extra ones must be None")
            out = out[:n]
        return out
    return trimmed


def _user_jvp(cls, jvp):
    """Call a user's ``jvp`` as PyTorch does: an input without a tangent gets zeros
    (None stays for non-tensor inputs), and ``saved_tensors`` gives ``save_for_forward``'s."""
    @functools.wraps(jvp)
    def rule(ctx, *tangents):
        tangents = [t if t is not None or meta is None else Tensor._make(np.zeros(*meta))
                    for meta, t in zip(ctx._input_meta, tangents)]
        ctx._in_jvp = True
        try:
            return jvp(ctx, *tangents)
        finally:
            ctx._in_jvp = False
    return rule


def once_differentiable(backward):
    """Decorate a ``backward`` that is not itself differentiable: it runs without
    recording, and differentiating through its result raises a clear error."""
    @functools.wraps(backward)
    def first_order(ctx, *grads):
        with no_grad():
            out = backward(ctx, *grads)
        # Arrays tell the engine the gradient has no derivative of its own.
        return tuple(_data(o) for o in out) if isinstance(out, tuple) else _data(out)
    return first_order
