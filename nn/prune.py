"""``nn.utils.prune``: PyTorch's mask-based pruning.

Pruning ``module.weight`` moves the parameter to ``weight_orig``, adds the buffer
``weight_mask`` and makes ``weight`` the plain tensor ``weight_orig * weight_mask``,
recomputed by a forward pre-hook (the pruning method itself) before each call, so the
pruned entries get no gradient and the state_dict keys are PyTorch's.  Pruning again
combines the masks (a PruningContainer): the new method only sees what is left.
``remove`` makes the pruning permanent.
"""
import numbers
from abc import ABC, abstractmethod

import numpy as np

import autograd as ag
from autograd import creation


def _validate_amount_init(amount):
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or \
            (not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _validate_amount(amount, tensor_size):
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to "
                         f"prune={tensor_size}")


def _nparams_toprune(amount, tensor_size):
    return amount if isinstance(amount, numbers.Integral) else round(amount * tensor_size)


def _array(t):
    return t.array if isinstance(t, ag.Tensor) else np.asarray(t)


class BasePruningMethod(ABC):
    """A pruning method: ``compute_mask(t, default_mask)`` says which entries to keep."""
    _tensor_name = None
    PRUNING_TYPE = None

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The mask (array of t's shape) to apply to t, given its current mask."""

    def apply_mask(self, module):
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * mask

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with a new ``cls(*args, **kwargs)``; returns the method."""
        hooks = [(k, h) for k, h in module._forward_pre_hooks.items()
                 if isinstance(h, BasePruningMethod) and h._tensor_name == name]
        if len(hooks) > 1:
            raise RuntimeError(f"prune: more than one pruning hook on parameter {name}")
        old = hooks[0][1] if hooks else None
        method = cls(*args, **kwargs)
        method._tensor_name = name
        if old is not None:
            del module._forward_pre_hooks[hooks[0][0]]
            if isinstance(old, PruningContainer):
                old.add_pruning_method(method)
                method = old
            else:
                container = PruningContainer(old)
                container.add_pruning_method(method)
                method = container
        orig = getattr(module, name)
        scores = orig if importance_scores is None else importance_scores
        if tuple(np.shape(_array(scores))) != tuple(orig.shape):
            raise ValueError(f"importance_scores should have the same shape as parameter {name} of "
                             f"{module}")
        if old is None:
            default_mask = np.ones(orig.shape, np.dtype(orig.dtype))
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
        else:
            default_mask = _array(getattr(module, name + "_mask")).copy()
        try:
            mask = method.compute_mask(_array(scores), default_mask=default_mask)
            module.register_buffer(name + "_mask", ag.tensor(mask.astype(np.dtype(orig.dtype))))
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if old is None:
                module.register_parameter(name, getattr(module, name + "_orig"))
                del module._parameters[name + "_orig"]
            raise
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """t with this method's mask applied (no module involved)."""
        scores = _array(t if importance_scores is None else importance_scores)
        default_mask = np.ones(scores.shape) if default_mask is None else _array(default_mask)
        return t * ag.tensor(self.compute_mask(scores, default_mask).astype(np.dtype(t.dtype)))

    def remove(self, module):
        """Make the pruning permanent: ``module.<name>`` becomes the parameter orig * mask."""
        if self._tensor_name is None:
            raise ValueError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module)
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.array = np.array(weight.array)
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


class PruningContainer(BasePruningMethod):
    """Successive pruning methods on one tensor; each computes its mask on the entries
    (unstructured) or slices (structured) the previous ones kept."""

    def __init__(self, *methods):
        self._pruning_methods = ()
        for method in methods:
            self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if self._tensor_name is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer. Found '{method._tensor_name}'")
        self._tensor_name = method._tensor_name
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        method = self._pruning_methods[-1]
        mask = default_mask.astype(t.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            keep = mask == 1
            mask[keep] = method.compute_mask(t[keep], default_mask=mask[keep])
            return mask
        if method.PRUNING_TYPE == "structured":
            dim = method.dim % t.ndim
            others = tuple(d for d in range(t.ndim) if d != dim)
            alive = np.nonzero(mask.sum(axis=others) != 0)[0]          # channels not all pruned
            slc = (slice(None),) * dim + (alive,)
            mask[slc] = method.compute_mask(t[slc], default_mask=mask[slc])
            return mask
        if method.PRUNING_TYPE == "global":
            return method.compute_mask(t, default_mask=mask)
        raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")


class Identity(BasePruningMethod):
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


def _smallest(values, k):
    """Positions of the k smallest of a flat array (stable: earlier positions first on ties)."""
    return np.argsort(values, kind="stable")[:k]


class _Unstructured(BasePruningMethod):
    """Zero the ``amount`` entries of smallest score (``_scores``)."""
    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        _validate_amount(self.amount, t.size)
        k = _nparams_toprune(self.amount, t.size)
        mask = default_mask.astype(t.dtype, copy=True)
        if k:
            mask.reshape(-1)[_smallest(self._scores(t).reshape(-1), k)] = 0
        return mask


class RandomUnstructured(_Unstructured):
    def _scores(self, t):
        return creation.default_generator().random(t.shape)

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Zero the ``amount`` entries of smallest absolute value."""

    def _scores(self, t):
        return np.abs(t)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class _Structured(BasePruningMethod):
    """Zero the ``amount`` channels along ``dim`` of smallest score (``_channel_scores``)."""
    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_amount_init(amount)
        self.amount, self.dim = amount, dim

    def compute_mask(self, t, default_mask):
        if t.ndim <= 1:
            raise ValueError("Structured pruning can only be applied to multidimensional tensors. "
                             f"Found tensor of shape {t.shape} with {t.ndim} dims")
        channels = t.shape[self.dim]
        _validate_amount(self.amount, channels)
        pruned = _smallest(self._channel_scores(t, channels), _nparams_toprune(self.amount, channels))
        keep = np.ones(channels, bool)
        keep[pruned] = False
        mask = np.zeros_like(default_mask, dtype=t.dtype)
        mask[(slice(None),) * (self.dim % t.ndim) + (keep,)] = 1
        return mask * default_mask


class RandomStructured(_Structured):
    def _channel_scores(self, t, channels):
        return creation.default_generator().random(channels)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(_Structured):
    """Zero the ``amount`` channels along ``dim`` of smallest L``n`` norm."""

    def __init__(self, amount, n, dim=-1):
        super().__init__(amount, dim)
        self.n = n

    def _channel_scores(self, t, channels):
        flat = np.moveaxis(t, self.dim, 0).reshape(channels, -1)
        return np.linalg.norm(flat, ord=2 if self.n == "fro" else self.n, axis=1)   # torch.norm's p

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = _array(mask)

    def compute_mask(self, t, default_mask):
        if default_mask.shape != self.mask.shape:
            raise ValueError(f"custom_from_mask: mask of shape {self.mask.shape} for a tensor of shape "
                             f"{default_mask.shape}")
        return default_mask * self.mask.astype(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def identity(module, name):
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name, mask):
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune the (module, name) pairs together: the method sees all their entries (or
    their importance scores) as one vector, e.g. the smallest 20% over all layers."""
    parameters = list(parameters)
    importance_scores = importance_scores or {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured: importance_scores must be a dict of (module, name) -> tensor")
    scores = np.concatenate([_array(importance_scores.get((m, n), getattr(m, n))).reshape(-1)
                             for m, n in parameters])
    default = np.concatenate([_array(getattr(m, n + "_mask", ag.ones(*getattr(m, n).shape))).reshape(-1)
                              for m, n in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found '
                        f"method {pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final = container.compute_mask(scores, default)
    start = 0
    for module, name in parameters:
        param = getattr(module, name)
        custom_from_mask(module, name, final[start:start + param.numel()].reshape(param.shape))
        start += param.numel()


def remove(module, name):
    """Make the pruning of ``module.<name>`` permanent and drop its hook, _orig and _mask."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module):
    """Whether any submodule of ``module`` holds a pruning hook."""
    return any(isinstance(hook, BasePruningMethod) for m in module.modules()
               for hook in m._forward_pre_hooks.values())


__all__ = ["BasePruningMethod", "CustomFromMask", "Identity", "L1Unstructured", "LnStructured",
           "PruningContainer", "RandomStructured", "RandomUnstructured", "custom_from_mask",
           "global_unstructured", "identity", "is_pruned", "l1_unstructured", "ln_structured",
           "random_structured", "random_unstructured", "remove"]
