"""`Function`: custom ops with PyTorch's contract (``torch.autograd.Function``).

``forward`` receives Tensors (without history, recording off) and returns Tensors;
``backward`` receives and returns Tensors.  Both of PyTorch's styles work:
``forward(ctx, *args)``, or ``forward(*args)`` with ``setup_context(ctx, inputs,
output)``.  The ctx API is PyTorch's: ``save_for_backward``, ``saved_tensors``,
``needs_input_grad``, ``mark_non_differentiable``, ``set_materialize_grads``.

It is a thin layer over `Primitive` (function.py), whose ``forward`` works on NumPy
arrays: the fast path the built-in ops use, and the one to take for a kernel.  A
subclass's ``forward`` is wrapped once, when the class is defined, into an array-level
forward: the arrays are wrapped as Tensors for the user's code and its results
unwrapped, so inputs and outputs are still recognised by identity when saved.
"""
import functools

import numpy as np

from .function import Primitive
from .grad_mode import no_grad
from .tensor import Tensor


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
            with no_grad():
                if separate:
                    out = user_forward(*args)
                    cls.setup_context(ctx, args, out)
                else:
                    out = user_forward(ctx, *args)
            return tuple(_data(o) for o in out) if isinstance(out, tuple) else _data(out)

        forward.__qualname__ = f"{cls.__qualname__}.forward"
        cls.forward = staticmethod(forward)

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Override (with ``forward(*args)``) to save what backward needs."""

    # ctx API: Tensors in, recognised by their arrays
    def save_for_backward(self, *tensors):
        self._to_save = tuple(_data(t) for t in tensors)

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tuple(_data(t) for t in tensors)

    def set_materialize_grads(self, value):
        """With False, backward gets None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors):
        raise NotImplementedError(
            f"{type(self).__name__}: mark_dirty (a forward that writes into its inputs) is not "
            "supported; compute the result out of place and return it")


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
