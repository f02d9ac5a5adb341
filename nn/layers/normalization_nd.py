"""BatchNorm3d, InstanceNorm1d / 3d and CrossMapLRN2d, on the bases of
nn/layers/normalization.py (PyTorch's arguments, buffers and state_dict keys)."""
import numpy as np

import autograd as ag

from ..module import Module, module_path
from .normalization import _BatchNorm, _InstanceNorm


class BatchNorm3d(_BatchNorm):
    def _check(self, input):
        if input.ndim != 5 or input.shape[1] != self.num_features:
            raise ValueError(f"{module_path(self)} (BatchNorm3d): expected input of shape "
                             f"(N, {self.num_features}, D, H, W), got {tuple(input.shape)}")


class InstanceNorm1d(_InstanceNorm):
    _nd = 1


class InstanceNorm3d(_InstanceNorm):
    _nd = 3


def cross_map_window(channels, size):
    """The 0/1 matrix M with M[c, j] = 1 where PyTorch's CrossMapLRN2d sums x_j^2 for
    channel c.  Its forward (torch/nn/_functions/thnn/normalization.py) keeps a running
    sum: channels 0 .. pre_pad-1 for c = 0, then for each c it adds channel
    c + pre_pad - 1 (while c < C - pre_pad + 1) and drops channel c - pre_pad only
    when c > pre_pad, so channel 0 is never dropped; this replays that loop."""
    pre_pad = (size - 1) // 2 + 1
    window = np.zeros((channels, channels))
    window[0, :min(pre_pad, channels)] = 1
    for c in range(1, channels):
        window[c] = window[c - 1]
        if c < channels - pre_pad + 1:
            window[c, c + pre_pad - 1] = 1
        if c > pre_pad:
            window[c, c - pre_pad] = 0
    return window


class CrossMapLRN2d(Module):
    """y = x (k + alpha/size sum_{j in window(c)} x_j^2)^(-beta) over (N, C, H, W), with
    PyTorch's forward window (see cross_map_window).  The gradient is this forward's
    exact one; PyTorch's hand-written backward assumes a symmetric window, so the two
    differ where PyTorch's forward window is not symmetric (channels > size // 2 + 2)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        if input.ndim != 4:
            raise ValueError(f"{module_path(self)} (CrossMapLRN2d): expected a 4-d input "
                             f"(N, C, H, W), got shape {tuple(input.shape)}")
        window = ag.tensor(cross_map_window(input.shape[1], self.size), dtype=input.dtype)
        sums = ((input * input).permute(0, 2, 3, 1) @ window.T).permute(0, 3, 1, 2)
        return input * (sums * (self.alpha / self.size) + self.k) ** -self.beta

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
