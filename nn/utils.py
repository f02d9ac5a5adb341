"""``nn.utils``: gradient clipping, flat parameter vectors, ``nn.utils.rnn`` (packed
sequences, in utils_rnn.py), and ``parametrize``, ``parametrizations``, ``prune`` and
``fusion`` (nn/parametrize.py, nn/parametrizations.py, nn/prune.py, nn/fusion.py)."""
import math
import sys

import numpy as np

from autograd.creation import from_numpy
from autograd.grad_mode import no_grad
from autograd.graph import increment_version
from autograd.kernels.grad_norm import squares_sum
from autograd.tensor import Tensor

from . import fusion, parametrizations, parametrize, prune
from . import utils_rnn as rnn
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights  # noqa: F401
from .norm_hooks import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm  # noqa: F401

# Also importable by PyTorch's paths: `from nn.utils.rnn import pad_sequence`,
# `import nn.utils.parametrize`, `from nn.utils import prune`, ...
for _name, _module in [("rnn", rnn), ("parametrize", parametrize), ("parametrizations", parametrizations),
                       ("prune", prune), ("fusion", fusion)]:
    sys.modules.setdefault(f"{__name__}.{_name}", _module)


def _params(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the tensors as if concatenated (a 0-d tensor), as PyTorch's."""
    tensors = [t for t in _params(tensors) if t is not None]
    if not tensors:
        return from_numpy(np.zeros((), np.float32))
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        total = max(float(np.abs(g.array).max()) if g.array.size else 0.0 for g in tensors)
    elif norm_type == 2.0 and all(g.array.dtype.kind == "f" for g in tensors):
        total = math.sqrt(sum(squares_sum(g.array.reshape(-1)) for g in tensors))   # one pass each
    else:
        total = float(sum(float((np.abs(g.array.astype(np.float64)) ** norm_type).sum())
                          for g in tensors) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. Set error_if_nonfinite=False "
                           "to clip anyway.")
    return from_numpy(np.asarray(total, tensors[0].dtype))


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale all grads by min(1, max_norm / (total_norm + 1e-6)) in place."""
    coef = max_norm / (float(total_norm) + 1e-6)
    if coef < 1:
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.array *= p.grad.array.dtype.type(coef)
                increment_version(p.grad)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all grads by min(1, max_norm / (total_norm + 1e-6)), total_norm being the
    norm of the concatenated grads; returns total_norm (a 0-d tensor), like PyTorch."""
    parameters = _params(parameters)
    total = get_total_norm([p.grad for p in parameters], norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every grad element into [-clip_value, clip_value] in place."""
    for p in _params(parameters):
        if p.grad is not None:
            np.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)
            increment_version(p.grad)


def parameters_to_vector(parameters):
    """One flat tensor (differentiable: a cat of reshaped parameters)."""
    from autograd.ops.shape import cat
    return cat([p.reshape(-1) for p in _params(parameters)])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of vec into the parameters' data (no history)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected a Tensor, got {type(vec).__name__}")
    params = _params(parameters)
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vector has {vec.numel()} elements, the "
                         f"parameters have {total}")
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.array[...] = vec.array[offset:offset + n].reshape(p.shape)
            increment_version(p)
            offset += n
