"""Padding modules, PyTorch's ZeroPad / ConstantPad / ReflectionPad / ReplicationPad /
CircularPad in 1-d, 2-d and 3-d, over ``F.pad``.  ``padding`` is an int (every side)
or (left, right[, top, bottom[, front, back]]), last dim first, stored as a tuple."""
from .. import functional as F
from ..module import Module, module_path


def _widths(padding, nd):
    return tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * (2 * nd)


class _PadNd(Module):
    _nd = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _widths(padding, self._nd)
        if len(self.padding) != 2 * self._nd:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of "
                             f"{2 * self._nd} ints, got {padding!r}")

    def _check(self, input):
        if input.ndim not in (self._nd + 1, self._nd + 2):
            raise ValueError(f"{module_path(self)} ({type(self).__name__}): expected a "
                             f"{self._nd + 1}-d or {self._nd + 2}-d input, got shape "
                             f"{tuple(input.shape)}")

    def forward(self, input):
        self._check(input)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def _check(self, input):
        pass                 # constant padding takes any number of dims, as PyTorch

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class _CircularPadNd(_PadNd):
    _mode = "circular"


class ConstantPad1d(_ConstantPadNd):
    _nd = 1


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_ReflectionPadNd):
    _nd = 1


class ReplicationPad1d(_ReplicationPadNd):
    _nd = 1


class CircularPad1d(_CircularPadNd):
    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    _nd = 2


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad2d(_ReflectionPadNd):
    _nd = 2


class ReplicationPad2d(_ReplicationPadNd):
    _nd = 2


class CircularPad2d(_CircularPadNd):
    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    _nd = 3


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad3d(_ReflectionPadNd):
    _nd = 3


class ReplicationPad3d(_ReplicationPadNd):
    _nd = 3


class CircularPad3d(_CircularPadNd):
    _nd = 3
