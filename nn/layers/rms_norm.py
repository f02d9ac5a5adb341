"""RMSNorm: y = x / sqrt(mean(x^2 over normalized_shape) + eps) * weight (F.rms_norm);
eps None means the dtype's machine epsilon, as PyTorch."""
import numpy as np

from .. import functional as F
from ..module import Module, module_path
from ..parameter import Parameter
from .linear import sized_empty


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) \
            else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(sized_empty("RMSNorm", *self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.array[...] = np.ones((), self.weight.array.dtype)

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"{module_path(self)} (RMSNorm): expected input of shape "
                             f"(*, {', '.join(map(str, self.normalized_shape))}), got {tuple(x.shape)}")
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
