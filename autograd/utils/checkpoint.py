"""Activation checkpointing: ``torch.utils.checkpoint`` (reached as ``autograd.utils.checkpoint``).

``checkpoint(function, *args, use_reentrant=..., preserve_rng_state=True, **kwargs)``
trades compute for memory: the tensors ``function``'s ops save for backward are not
kept; backward runs ``function`` again, under recording and with the random
generator as forward left it (so dropout draws the same masks), and uses what that
run saves.  Both of PyTorch's variants:

- ``use_reentrant=False`` (recommended): forward records its ops as usual, but under
  saved-tensor hooks (autograd.graph) whose pack keeps only a handle.  The first
  unpack in backward recomputes the segment and hands each node the value its op
  saves again, matched by order.  Gradients flow to every tensor the function uses,
  parameters it closes over included; ``autograd.grad`` and ``inputs=`` work;
  keyword arguments are passed on.  The segment's nodes stay on the tape (small
  objects); their saved tensors do not.
- ``use_reentrant=True``: one node for the whole segment (a Function), whose forward
  runs without recording and saves only the inputs; its backward recomputes the
  segment and runs a backward of its own through it, which accumulates into the
  ``.grad`` of the parameters the function uses.  As in PyTorch, keyword arguments
  are refused, and the result is for ``backward()`` (not ``autograd.grad``).
  Without ``use_reentrant`` it is this variant, with PyTorch's warning.

Either way the function runs twice, so a BatchNorm in training mode updates its
running statistics twice, as in PyTorch.
"""
import warnings

import numpy as np

from .. import creation, engine
from ..custom_function import Function
from ..graph import saved_tensors_hooks
from ..grad_mode import enable_grad
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


def _use_reentrant(use_reentrant, who):
    if use_reentrant is None:
        warnings.warn(
            f"torch.utils.checkpoint{who}: the use_reentrant parameter should be passed "
            "explicitly. use_reentrant=False is recommended, but if you need to preserve "
            "the current default behavior, you can pass use_reentrant=True.", stacklevel=3)
        return True
    return bool(use_reentrant)


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, keeping none of what its ops save for backward:
    backward recomputes it (see the module docstring)."""
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got {type(function).__name__}")
    if _use_reentrant(use_reentrant, ""):
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          stacklevel=2)
        return _Reentrant.apply(function, bool(preserve_rng_state), *args)
    frame = _Frame(function, args, kwargs, preserve_rng_state)
    with saved_tensors_hooks(frame.pack, frame.unpack):
        return function(*args, **kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a list, or an ``nn.Sequential``) in order on ``input``, as
    ``segments`` checkpointed segments but the last, which runs as usual (PyTorch's)."""
    use_reentrant = _use_reentrant(use_reentrant, ".checkpoint_sequential")
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if hasattr(functions, "children"):
        functions = list(functions.children())
    functions = list(functions)
    if not isinstance(segments, int) or not 1 <= segments <= max(1, len(functions)):
        raise ValueError(f"checkpoint_sequential: segments must be an int from 1 to "
                         f"{len(functions)} (the number of functions), got {segments!r}")

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1)(input)


class _RngState:
    """The default generator's state, put back for a recomputation and then restored."""

    def __init__(self, preserve):
        self.state = creation.default_generator().bit_generator.state if preserve else None

    def __enter__(self):
        if self.state is not None:
            gen = creation.default_generator().bit_generator
            self.outer = gen.state
            gen.state = self.state

    def __exit__(self, *exc):
        if self.state is not None:
            creation.default_generator().bit_generator.state = self.outer


def _detached(args):
    """The inputs for a recomputation: the same data, cut from the graph, requiring
    grad where the originals do (PyTorch's detach_variable)."""
    return tuple(a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a
                 for a in args)


class _Frame:
    """One non-reentrant checkpointed call: packs hand out handles; the first unpack
    recomputes the call and collects, in order, the tensors its ops save."""

    def __init__(self, function, args, kwargs, preserve):
        self.function, self.kwargs = function, kwargs
        # The inputs are saved by a node of their own, outside the frame's hooks, so an
        # outer pack hook sees them once (as PyTorch's _NoopSaveInputs does).
        dummy = Tensor._make(np.empty(0, np.float32)).requires_grad_()
        self.inputs = _SaveInputs.apply(dummy, *args).grad_fn
        self.rng = _RngState(preserve)
        self.count = 0
        self.values = None

    def pack(self, t):
        handle = _Handle(self, self.count)
        self.count += 1
        return handle

    def unpack(self, handle):
        if self.values is None:
            self._recompute()
        value = self.values[handle.index]
        if value is None:
            raise RuntimeError("checkpoint: a recomputed saved tensor was asked for after it "
                               "was freed (backward through the graph a second time? pass "
                               "retain_graph=True to the first backward)")
        return value

    def _recompute(self):
        values = []

        def keep(t):
            values.append(t)
        with self.rng, enable_grad(), saved_tensors_hooks(keep, _never_unpacked):
            self.function(*_detached(self.inputs.args()), **self.kwargs)
        if len(values) != self.count:
            raise RuntimeError(
                f"torch.utils.checkpoint: the recomputed forward saved {len(values)} tensors "
                f"for backward, but the original forward saved {self.count}. The function "
                "must do the same operations when it runs again (same control flow, and "
                "the same random draws with preserve_rng_state=True).")
        self.values = values


def _never_unpacked(_):
    raise AssertionError("the recomputation's own graph is never differentiated")


class _Handle:
    """What a checkpointed node keeps for one saved tensor; when the node drops it
    (backward released the node), the recomputed value goes too."""
    __slots__ = ("frame", "index")

    def __init__(self, frame, index):
        self.frame, self.index = frame, index

    def __del__(self):
        values = self.frame.values
        if values is not None:
            values[self.index] = None


class _SaveInputs(Function):
    """Keeps a checkpointed call's inputs: tensors saved for backward, the rest as is.
    Its output is not used, so its backward never runs."""

    @staticmethod
    def forward(ctx, dummy, *args):
        ctx.tensor_at = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*[args[i] for i in ctx.tensor_at])
        ctx.plain = [None if isinstance(a, Tensor) else a for a in args]
        return np.empty(0, np.float32)

    def args(self):
        args = list(self.plain)
        for i, t in zip(self.tensor_at, self.saved_tensors):
            args[i] = t
        return args

    @staticmethod
    def backward(ctx, g):
        raise AssertionError("never reached: the output of _SaveInputs is not used")


class _Reentrant(Function):
    """``use_reentrant=True``: the segment as one node (see the module docstring)."""

    @staticmethod
    def forward(ctx, function, preserve, *args):
        ctx.function, ctx.rng = function, _RngState(preserve)
        # tensors are saved (and version-checked) through the ctx, the rest kept as is
        ctx.tensor_at = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*[args[i] for i in ctx.tensor_at])
        ctx.args = [None if isinstance(a, Tensor) else a for a in args]
        return function(*args)

    @staticmethod
    def backward(ctx, *grads):
        args = list(ctx.args)
        for i, t in zip(ctx.tensor_at, ctx.saved_tensors):
            args[i] = t
        inputs = _detached(args)
        with ctx.rng, enable_grad():
            outputs = ctx.function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is "
                               "not necessary")
        engine.backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(a.grad if isinstance(a, Tensor) else None for a in inputs)
