"""``nn.utils.parametrize``: a tensor of a module computed from others, as PyTorch's.

``register_parametrization(module, "weight", p)`` moves the parameter into
``module.parametrizations.weight.original`` (``original0``, ``original1``, ... when
``p.right_inverse`` returns several tensors) and makes ``module.weight`` a property
that returns ``p(original)`` on every read, so gradients reach the original.  As in
PyTorch the module's class is swapped for a subclass ``Parametrized<Class>`` that
holds the property, assigning ``module.weight = value`` stores
``right_inverse(value)``, and the state_dict keys are PyTorch's
(``parametrizations.weight.original``).  Inside ``with cached():`` each property is
computed once.
"""
import contextlib

import numpy as np

from autograd.grad_mode import no_grad
from autograd.graph import increment_version
from autograd.tensor import Tensor

from .containers import ModuleDict, ModuleList
from .module import Module
from .parameter import Parameter

_cache_enabled = 0
_cache = {}


@contextlib.contextmanager
def cached():
    """Compute each parametrized tensor once inside the block (e.g. over the time steps
    of an RNN), then forget the values."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


def _store(module, name, tensor):
    """Register ``tensor`` on ``module`` as a parameter or, if not one, a buffer."""
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _assign(original, value):
    """Overwrite ``original``'s data with ``value`` (its shape may change, as set_ allows)."""
    data = value.array if isinstance(value, Tensor) else np.asarray(value)
    original.array = np.array(data, dtype=np.dtype(original.dtype))
    increment_version(original)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the original tensor(s)."""

    def __init__(self, modules, original, unsafe=False):
        if not modules:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        new = original
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:   # PyTorch's protocol: no inverse, keep the value
                        pass
        if isinstance(new, Tensor):
            self.is_tensor, self.ntensors = True, 1
            if new is not original:
                _assign(original, new)
            _store(self, "original", original)
        else:
            if not isinstance(new, (tuple, list)):
                raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors "
                                 f"(list, tuple...). Got {type(new).__name__}")
            self.is_tensor, self.ntensors = False, len(new)
            for i, part in enumerate(new):
                part = part.detach() if isinstance(part, Tensor) else Tensor(part)
                if isinstance(original, Parameter):
                    part = Parameter(part.array.copy(), requires_grad=original.requires_grad)
                _store(self, f"original{i}", part)
        if not unsafe:
            _check_same_kind(self(), original, "initial value")

    def right_inverse(self, value):
        """Store right_inverse(value) (through every parametrization, last first)."""
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                elif not self.unsafe:
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement "
                                       "right_inverse.")
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                _assign(self.original, value)
            else:
                if not isinstance(value, (tuple, list)) or len(value) != self.ntensors:
                    raise ValueError(f"'right_inverse' must return a sequence of {self.ntensors} tensors")
                for i, part in enumerate(value):
                    _assign(getattr(self, f"original{i}"), part)

    def forward(self):
        first, *rest = list(self)
        if self.is_tensor:
            x = first(self.original)
        else:
            x = first(*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in rest:
            x = module(x)
        return x


def _check_same_kind(value, original, what):
    if not isinstance(value, Tensor):
        raise ValueError(f"A parametrization must return a tensor. Got {type(value).__name__}.")
    if value.dtype != original.dtype or tuple(value.shape) != tuple(original.shape):
        raise ValueError(f"Registering a parametrization may not change the shape or dtype of the "
                         f"tensor (the {what}), unless `unsafe` flag is enabled.\n"
                         f"unparametrized shape: {tuple(original.shape)} dtype: {original.dtype}\n"
                         f"parametrized shape: {tuple(value.shape)} dtype: {value.dtype}")


def _inject_new_class(module):
    cls = module.__class__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {"__module__": cls.__module__})


def _inject_property(module, tensor_name):
    def get_parametrized(self):
        parametrization = self.parametrizations[tensor_name]
        if not _cache_enabled:
            return parametrization()
        key = (id(self), tensor_name)
        if key not in _cache:
            _cache[key] = parametrization()
        return _cache[key]

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Parametrize ``module.<tensor_name>`` by ``parametrization`` (a Module); a second
    one on the same tensor applies after the first.  Returns the module."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: parametrization must be an nn.Module, got "
                        f"{type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            value = getattr(module, tensor_name)
            _check_same_kind(parametrization(value), value, "value after the new parametrization")
        module.parametrizations[tensor_name].append(parametrization)
        module.parametrizations[tensor_name].unsafe |= unsafe
        return module
    original = module._parameters.get(tensor_name, module._buffers.get(tensor_name)) \
        if tensor_name in module._parameters or tensor_name in module._buffers else None
    if original is None:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized "
                         f"element with name '{tensor_name}'")
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    _inject_property(module, tensor_name)
    module.parametrizations[tensor_name] = parametrizations
    return module


def is_parametrized(module, tensor_name=None):
    """Whether ``module`` has any parametrization (or one on ``tensor_name``)."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Undo the parametrizations of ``tensor_name``: it becomes a parameter (or buffer)
    again holding its current parametrized value (or, with leave_parametrized=False, the
    original).  Returns the module."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                value = getattr(module, tensor_name)
            _assign(original, value)
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that "
                             "is parametrized in terms of a sequence of tensors.")
        with no_grad():
            value = getattr(module, tensor_name)
        requires_grad = parametrizations.original0.requires_grad
        original = Parameter(value.array.copy(), requires_grad=requires_grad) \
            if isinstance(parametrizations.original0, Parameter) else value.detach()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _store(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module):
    """The module's class before any parametrization was registered."""
    return module.__class__.__bases__[0] if is_parametrized(module) else type(module)
