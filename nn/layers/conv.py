"""Conv1d, Conv2d, ConvTranspose2d (and the bases of nn/layers/conv_nd.py) over the
convolution primitives, with PyTorch's arguments and default initialisation (kaiming_uniform(a=sqrt(5)) for the weight,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias)."""
import math

from autograd.dtypes import is_int

from .. import functional as F
from .. import init
from ..module import Module, module_path
from ..parameter import Parameter
from .linear import sized_empty


def _ntuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _ConvNd(Module):
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, output_padding=0, dtype=None):
        super().__init__()
        n = self._nd
        if not is_int(groups, 1):
            raise ValueError(f"{type(self).__name__}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels {in_channels} and out_channels "
                             f"{out_channels} must be divisible by groups {groups}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{type(self).__name__}: padding_mode must be one of 'zeros', "
                             f"'reflect', 'replicate', 'circular', got {padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of 'valid', 'same'")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.dilation = _ntuple(dilation, n)
        self.output_padding = _ntuple(output_padding, n)
        self.groups, self.padding_mode = groups, padding_mode
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(sized_empty(type(self).__name__, *shape, dtype=dtype))
        if bias:
            self.bias = Parameter(sized_empty(type(self).__name__, out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check(self, input):
        n = self._nd
        if input.ndim not in (n + 1, n + 2) or input.shape[-n - 1] != self.in_channels:
            spatial = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
            raise ValueError(
                f"{module_path(self)} ({type(self).__name__}): expected input of shape "
                f"(N, {self.in_channels}, {spatial}) or ({self.in_channels}, {spatial}), got "
                f"{tuple(input.shape)}")

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _conv(self, input, fn):
        self._check(input)
        if self.padding_mode != "zeros" and self.padding != "valid":
            # F.pad's widths, last dim first; 'same' puts an odd extra after (PyTorch)
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pairs = ([(t // 2, t - t // 2) for t in totals] if self.padding == "same"
                     else [(p, p) for p in self.padding])
            widths = [w for pair in reversed(pairs) for w in pair]
            return fn(F.pad(input, widths, mode=self.padding_mode), self.weight, self.bias,
                      self.stride, 0, self.dilation, self.groups)
        return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                  self.groups)


class Conv1d(_ConvNd):
    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def forward(self, input):
        return self._conv(input, F.conv1d)


class Conv2d(_ConvNd):
    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def forward(self, input):
        return self._conv(input, F.conv2d)


class _ConvTransposeNd(_ConvNd):
    """The adjoint of the convolution; weight (in, out/groups, *kernel).  ``output_size``
    in forward picks output_padding so the output has that size (PyTorch)."""
    _transposed = True
    _fn = None       # the functional form, F.conv_transpose{1,2,3}d

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def forward(self, input, output_size=None):
        self._check(input)
        n, op = self._nd, self.output_padding
        if output_size is not None:
            want = tuple(output_size)[-n:]
            base = [(m - 1) * s - 2 * p + d * (k - 1) + 1 for m, s, p, d, k in
                    zip(input.shape[-n:], self.stride, self.padding, self.dilation, self.kernel_size)]
            op = tuple(w - b for w, b in zip(want, base))
            if any(o < 0 or o >= max(s, d) for o, s, d in zip(op, self.stride, self.dilation)):
                raise ValueError(f"{module_path(self)}: requested output size {want} is not "
                                 f"reachable from input {tuple(input.shape)} (base size {tuple(base)})")
        return self._fn(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                        self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    _nd = 2
    _fn = staticmethod(F.conv_transpose2d)
