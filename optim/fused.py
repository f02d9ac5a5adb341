"""The step loop of the optimizers with a fused kernel (SGD, Adam, AdamW).

PyTorch's ``foreach``/``fused`` switches choose how the update runs: ``fused=True`` or
``foreach=True``, or neither given (the default), runs the one-pass kernels of
autograd/kernels/optim_step.py, one call per parameter; ``fused=False`` or
``foreach=False`` with the other not True runs the NumPy reference, operation by
operation.  There is no separate "foreach" implementation: both switches pick the
kernel.  ``AUTOGRAD_KERNELS=numpy`` makes the kernels their references, as everywhere.
A parameter of a dtype the kernels are not compiled for (float16), or whose array or
buffers are not C-contiguous, takes the reference whatever the switches say.
"""
import numpy as np

from autograd.kernels.optim_step import KERNEL_DTYPES

from .optimizer import Optimizer


def check_fused(optimizer, foreach, fused):
    if foreach and fused:
        raise RuntimeError(f"{optimizer}: `fused` and `foreach` cannot be `True` together")


def uses_kernel(group):
    fused, foreach = group.get("fused"), group.get("foreach")
    return bool(fused) or bool(foreach) or (fused is None and foreach is None)


def run_step(kernel, reference, use_kernel, x, grad, buffers, scalars):
    """``kernel(*flat arrays, *scalars)`` when it can write through flat views of ``x``
    and ``buffers``, else ``reference(x, grad, *buffers, *scalars)``."""
    if use_kernel and x.dtype in KERNEL_DTYPES and x.flags.c_contiguous:
        flat = [x.reshape(-1), np.ascontiguousarray(grad, x.dtype).reshape(-1)]
        for b in buffers:
            if not b.flags.c_contiguous or b.dtype != x.dtype:
                break
            flat.append(b.reshape(-1))
        else:
            kernel(*flat, *scalars)
            return
    reference(x, grad, *buffers, *scalars)


class FusedOptimizer(Optimizer):
    """An optimizer whose ``_step_arrays(x, grad, group, state, use_kernel)`` does the
    whole update of one parameter, maximize and weight decay included."""

    # Its own ``step``, but array buffers like an ``_update`` optimizer: load_state_dict
    # must restore NumPy arrays, not Tensors (the base's ``_array_state`` test).
    _array_state = True

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (re-evaluating the
        loss) runs first and its value is returned."""
        loss = self._closure_loss(closure)
        state = self.state
        for group in self.param_groups:
            use_kernel = uses_kernel(group)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                s = state.get(p)
                if s is None:
                    s = state[p] = {}
                self._step_arrays(p.array, g.array, group, s, use_kernel)
                self._bump(p)
        return loss
