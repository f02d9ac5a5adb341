"""The hook forms of weight and spectral normalisation, ``nn.utils.weight_norm`` and
``nn.utils.spectral_norm`` (PyTorch keeps them, deprecated in favour of
``nn.utils.parametrizations``; older models and checkpoints use them).

Each moves the parameter ``weight`` into others (``weight_g`` and ``weight_v``;
``weight_orig`` with the buffers ``weight_u``, ``weight_v``) and recomputes ``weight``
from them in a forward pre-hook, so the state_dict keys are PyTorch's.
  weight_norm     weight = g v / ||v||, the norm over every dim but ``dim``
  spectral_norm   weight = W / sigma, sigma = u^T W v; in training each forward first
                  runs power iteration v <- normalize(W^T u), u <- normalize(W v)
"""
import warnings

import autograd as ag

from . import functional as F
from .parameter import Parameter
from .parametrizations import _TRANSPOSED_CONVS, _norm_except_dim, weight_matrix


def _find_hook(module, cls, name):
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, cls) and hook.name == name:
            return key, hook
    return None, None


def _remove(module, cls, name, what):
    """Undo ``what`` (the hook ``cls`` on ``module.<name>``): a plain parameter again."""
    key, hook = _find_hook(module, cls, name)
    if hook is None:
        raise ValueError(f"{what} of '{name}' not found in {module}")
    hook.remove(module)
    del module._forward_pre_hooks[key]
    return module


class WeightNorm:
    def __init__(self, name, dim):
        self.name, self.dim = name, -1 if dim is None else dim

    def compute_weight(self, module):
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    @staticmethod
    def apply(module, name, dim):
        if _find_hook(module, WeightNorm, name)[1] is not None:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight, fn.dim).detach().array))
        module.register_parameter(name + "_v", Parameter(weight.detach().array))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with ag.no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.array))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Deprecated in PyTorch for nn.utils.parametrizations.weight_norm, which it warns about."""
    warnings.warn("`nn.utils.weight_norm` is deprecated in favor of `nn.utils.parametrizations.weight_norm`.",
                  FutureWarning, stacklevel=2)
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    return _remove(module, WeightNorm, name, "weight_norm")


class SpectralNorm:
    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def reshape_weight_to_matrix(self, weight):
        return weight_matrix(weight, self.dim)

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with ag.no_grad():
                w = weight_mat.detach()
                for _ in range(self.n_power_iterations):
                    v.array[...] = F.normalize(w.T @ u, dim=0, eps=self.eps).array
                    u.array[...] = F.normalize(w @ v, dim=0, eps=self.eps).array
        u, v = u.detach().clone(), v.detach().clone()
        return weight / (u * (weight_mat @ v)).sum()

    def remove(self, module):
        with ag.no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        del module._parameters[self.name + "_orig"]
        del module._buffers[self.name + "_u"]
        del module._buffers[self.name + "_v"]
        module.register_parameter(self.name, Parameter(weight.array))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        if _find_hook(module, SpectralNorm, name)[1] is not None:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        h, w = fn.reshape_weight_to_matrix(weight.detach()).shape
        u = F.normalize(ag.randn(h, dtype=weight.dtype), dim=0, eps=eps)
        v = F.normalize(ag.randn(w, dtype=weight.dtype), dim=0, eps=eps)
        del module._parameters[name]
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """The hook form of spectral normalisation (weight_orig, weight_u, weight_v)."""
    if dim is None:
        dim = 1 if any(c.__name__ in _TRANSPOSED_CONVS for c in type(module).__mro__) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    return _remove(module, SpectralNorm, name, "spectral_norm")
