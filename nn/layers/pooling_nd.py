"""1-d and 3-d pooling modules over the functional forms, on the bases of
nn/layers/pooling.py (PyTorch's arguments, attributes and reprs)."""
from .. import functional as F
from ..module import Module
from .pooling import (_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd, _AvgPoolNd, _LPPoolNd, _MaxPoolNd,
                      _check)


class MaxPool3d(_MaxPoolNd):
    def forward(self, input):
        _check(self, input, 3)
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    """PyTorch keeps AvgPool1d's sizes as 1-tuples (and it takes no divisor_override)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        one = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,)   # noqa: E731
        self.kernel_size = one(kernel_size)
        self.stride = one(stride if stride is not None else kernel_size)
        self.padding, self.ceil_mode = one(padding), ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        _check(self, input, 1)
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding,
                            self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool3d(_AvgPoolNd):
    _nd = 3
    _fn = staticmethod(F.avg_pool3d)


class LPPool1d(_LPPoolNd):
    _nd = 1
    _fn = staticmethod(F.lp_pool1d)


class LPPool3d(_LPPoolNd):
    _nd = 3
    _fn = staticmethod(F.lp_pool3d)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    _nd = 1
    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    _nd = 3
    _fn = staticmethod(F.adaptive_avg_pool3d)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    _nd = 1
    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    _nd = 3
    _fn = staticmethod(F.adaptive_max_pool3d)
