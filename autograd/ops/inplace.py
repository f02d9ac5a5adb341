"""In-place ops (``add_``, ``x += y``, ``x[i] = v``, ...) on top of out-of-place ones.

An in-place op computes the out-of-place result from a snapshot of the old value
(same history, copied data), writes it into the tensor's memory and moves the
tensor onto the new node; its version counter is bumped, so any node that saved
the old value refuses to backward (PyTorch's semantics).  When nothing requires
grad the result is simply written into memory.

Views: in-place on a view made by basic indexing (``x[0]``, ``x[:, 1:]``) updates
the base through ``x[idx] = new``, so both stay correct.  In-place on other views
(reshape, permute, expand) while recording is refused with an explanation.
"""
import numpy as np

from ..grad_mode import STATE, no_grad
from ..tensor import Tensor, tensor_method
from . import binary, elementwise, indexing, pointwise
from .batching import BatchedTensor, closed_levels, to_physical, wrap


def inplace(self, name, fn, *args):
    if type(self) is BatchedTensor:
        return _batched_inplace(self, name, fn, args)
    recording = STATE.grad_enabled and (
        self._requires_grad or builtin_any(isinstance(a, Tensor) and a._requires_grad for a in args))
    if not recording:
        if _ufunc_in_place(self, fn, args):
            return self
        with no_grad():
            result = fn(self, *args)
        _write(self, name, result)
        return self
    if self.grad_fn is None and self._requires_grad:
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad (shape {tuple(self.shape)}) is being used "
            "in an in-place operation; wrap it in `with autograd.no_grad():` (e.g. for a "
            "parameter update) or use the out-of-place op")
    if self._base is not None:
        if self._view is None:
            raise RuntimeError(
                f"{name}: in-place modification of a view (shape {tuple(self.shape)}) made by "
                "reshape/permute/expand is not supported while recording gradients; apply the "
                "op to a clone() or to the base tensor instead")
        base, idx = self._view
        snapshot = _snapshot(self)
        base[idx] = fn(snapshot, *args)         # records on the base and writes the memory
        fresh = base[idx]
        self.grad_fn, self._output_nr, self._requires_grad = fresh.grad_fn, fresh._output_nr, True
        return self
    result = fn(_snapshot(self), *args)
    _write(self, name, result)
    self.grad_fn, self._output_nr = result.grad_fn, result._output_nr
    self._requires_grad = result._requires_grad
    return self


builtin_any = any


def _batched_inplace(self, name, fn, args):
    """In place on a batched tensor (inside vmap, as PyTorch's): the op out of place on
    the logical values, then the result's physical value written into the tensor's,
    with the vmap level closed (one level at a time, for nested vmaps)."""
    level = self._level
    with closed_levels([level]):          # the old value, for what the op saves
        old = wrap(self._inner.clone(), level)
    result = fn(old, *args)
    with closed_levels([level]):
        inplace(self._inner, name, _replace, to_physical(result, [level]))
    inner = self._inner
    self.grad_fn, self._output_nr, self._requires_grad = inner.grad_fn, inner._output_nr, \
        inner._requires_grad
    return self

_UFUNCS = {binary.add: np.add, binary.sub: np.subtract, binary.mul: np.multiply,
           binary.div: np.true_divide}


def _ufunc_in_place(self, fn, args):
    """``x -= lr * g`` under no_grad: write straight into x's memory (no temporary).
    Returns False, having written nothing, when the generic path must run (to
    broadcast, promote or explain an error)."""
    ufunc = _UFUNCS.get(fn)
    if ufunc is None or len(args) != 1 or not self.array.flags.writeable:
        return False
    other = args[0].array if isinstance(args[0], Tensor) else args[0]
    try:
        ufunc(self.array, other, out=self.array, casting="same_kind")
    except (ValueError, TypeError):
        return False
    self._version.value += 1
    return True


def _snapshot(t):
    """The tensor's current value and history, in memory the in-place write won't touch."""
    s = Tensor._make(t.array.copy(), t.grad_fn, t._output_nr)
    s._requires_grad = t._requires_grad
    return s


def _write(self, name, result):
    if result.shape != self.shape:
        raise RuntimeError(f"{name}: the result has shape {tuple(result.shape)}, which doesn't "
                           f"match the in-place tensor's shape {tuple(self.shape)}")
    if not np.can_cast(result.dtype, self.dtype, "same_kind"):
        raise RuntimeError(f"{name}: result dtype {result.dtype} can't be cast to the in-place "
                           f"tensor's dtype {self.dtype}")
    if not self.array.flags.writeable:
        raise RuntimeError(f"{name}: this tensor (shape {tuple(self.shape)}) is a read-only "
                           "broadcast view (from expand); clone() it before writing")
    np.copyto(self.array, result.array, casting="same_kind")
    self._version.value += 1


def _method(name, fn):
    def method(self, *args, **kwargs):
        if kwargs:               # add_(x, alpha=2), clamp_(min=0): the keywords go to fn
            return inplace(self, name, lambda t, *a: fn(t, *a, **kwargs), *args)
        return inplace(self, name, fn, *args)
    method.__name__ = name
    tensor_method(method, name=name)


for _name, _fn in [("add_", binary.add), ("sub_", binary.sub), ("mul_", binary.mul),
                   ("div_", binary.div), ("pow_", binary.pow), ("clamp_", elementwise.clamp),
                   ("exp_", elementwise.exp), ("neg_", elementwise.neg),
                   ("sqrt_", elementwise.sqrt), ("tanh_", elementwise.tanh),
                   ("sigmoid_", elementwise.sigmoid), ("addcmul_", pointwise.addcmul),
                   ("addcdiv_", pointwise.addcdiv), ("lerp_", pointwise.lerp),
                   ("masked_fill_", indexing.masked_fill), ("scatter_", indexing.scatter),
                   ("scatter_add_", indexing.scatter_add), ("index_add_", indexing.index_add)]:
    _method(_name, _fn)


for _name, _fn in [("__iadd__", binary.add), ("__isub__", binary.sub), ("__imul__", binary.mul),
                   ("__itruediv__", binary.div), ("__ipow__", binary.pow)]:
    _method(_name, _fn)


@tensor_method(name="__setitem__")
def setitem(self, idx, value):
    inplace(self, "setitem", indexing.index_put, value, idx)


@tensor_method
def zero_(self):
    return fill_(self, 0)


def _replace(t, value):
    """``value`` broadcast to ``t``'s shape; stays connected to ``t`` (with zero
    gradient) when ``t`` requires grad, as PyTorch's fill_/copy_ do."""
    value = value.to(t.dtype).expand(t.shape)
    return value + t * 0.0 if t.requires_grad else value


@tensor_method
def fill_(self, value):
    value = value if isinstance(value, Tensor) else Tensor._make(np.asarray(value, self.dtype))
    return inplace(self, "fill_", _replace, value)


@tensor_method
def copy_(self, src):
    return inplace(self, "copy_", _replace, src if isinstance(src, Tensor) else Tensor(src))


# -- random fills (PyTorch's initialisers), drawn from the global generator -------------
def _random_fill(name, draw):
    def method(self, *args, generator=None, **kwargs):
        from ..creation import default_generator
        values = draw(generator or default_generator(), self.shape, *args, **kwargs)
        return inplace(self, name, _replace, Tensor._make(np.asarray(values, self.dtype)))
    method.__name__ = name
    tensor_method(method, name=name)


_random_fill("normal_", lambda g, shape, mean=0.0, std=1.0: g.normal(mean, std, shape))
_random_fill("uniform_", lambda g, shape, a=0.0, b=1.0: g.uniform(a, b, shape))
_random_fill("exponential_", lambda g, shape, lambd=1.0: g.exponential(1.0 / lambd, shape))
