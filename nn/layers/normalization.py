"""Normalisation modules: BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm2d,
LocalResponseNorm and LocalContrastNorm."""
import numpy as np

from autograd import dtypes
from autograd.creation import from_numpy

from .. import functional as F
from .. import init
from ..module import Module, module_path
from ..parameter import Parameter


def _dt(dtype):
    return dtypes.as_dtype(dtype) or dtypes.get_default_dtype()


class _NormBase(Module):
    """Shared by BatchNorm and InstanceNorm: weight=1, bias=0, running_mean=0,
    running_var=1, num_batches_tracked=0 (int64), as PyTorch."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = _dt(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
            self.bias = Parameter(np.zeros(num_features, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", from_numpy(np.zeros(num_features, dt)))
            self.register_buffer("running_var", from_numpy(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked", from_numpy(np.zeros((), np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _momentum(self):
        """PyTorch: momentum=None means a cumulative moving average (1 / batches seen)."""
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array[...] += 1
            if self.momentum is None:
                return 1.0 / float(self.num_batches_tracked.array)
        return 0.0 if self.momentum is None else self.momentum

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, input):
        self._check(input)
        momentum = self._momentum()
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(input, self.running_mean if not self.training or self.track_running_stats else None,
                            self.running_var if not self.training or self.track_running_stats else None,
                            self.weight, self.bias, use_batch, momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    def _check(self, input):
        if input.ndim not in (2, 3) or input.shape[1] != self.num_features:
            raise ValueError(f"{module_path(self)} (BatchNorm1d): expected input of shape "
                             f"(N, {self.num_features}) or (N, {self.num_features}, L), got "
                             f"{tuple(input.shape)}")


class BatchNorm2d(_BatchNorm):
    def _check(self, input):
        if input.ndim != 4 or input.shape[1] != self.num_features:
            raise ValueError(f"{module_path(self)} (BatchNorm2d): expected input of shape "
                             f"(N, {self.num_features}, H, W), got {tuple(input.shape)}")


class _InstanceNorm(_NormBase):
    """Defaults differ from BatchNorm (PyTorch): affine=False, track_running_stats=False."""
    _nd = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, input):
        n = self._nd
        if input.ndim not in (n + 1, n + 2) or input.shape[-n - 1] != self.num_features:
            spatial = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
            raise ValueError(f"{module_path(self)} ({type(self).__name__}): expected input of "
                             f"shape (N, {self.num_features}, {spatial}) or ({self.num_features}, "
                             f"{spatial}), got {tuple(input.shape)}")
        unbatched = input.ndim == n + 1
        x = input.unsqueeze(0) if unbatched else input
        # PyTorch's instance norms leave num_batches_tracked alone; momentum None is 0 here
        momentum = 0.0 if self.momentum is None else self.momentum
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats, momentum, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm2d(_InstanceNorm):
    _nd = 2


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) \
            else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = _dt(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        k = len(self.normalized_shape)
        if tuple(input.shape[input.ndim - k:]) != self.normalized_shape or input.ndim < k:
            raise ValueError(f"{module_path(self)} (LayerNorm): expected input of shape "
                             f"(*, {', '.join(map(str, self.normalized_shape))}), got {tuple(input.shape)}")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dt = _dt(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_channels, dt))
            self.bias = Parameter(np.zeros(num_channels, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"{module_path(self)} (GroupNorm): expected input of shape "
                             f"(N, {self.num_channels}, *), got {tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalContrastNorm(Module):
    """Not in PyTorch: see ``F.local_contrast_norm`` (Jarrett et al., 2009)."""

    def __init__(self, kernel_size=9, eps=1e-4):
        super().__init__()
        self.kernel_size, self.eps = kernel_size, eps

    def forward(self, input):
        return F.local_contrast_norm(input, self.kernel_size, self.eps)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, eps={self.eps}"
