"""The math family's in-place Tensor methods (``x.asin_()``, ``x.atan2_(y)``, ...),
through inplace.py's one mechanism: the out-of-place op, written into ``self``."""
from ..tensor import Tensor, tensor_method
from .inplace import inplace

_NAMES = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin", "arccos",
          "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "deg2rad",
          "rad2deg", "trunc", "fix", "frac", "sinc", "logit", "nan_to_num", "sgn", "lgamma",
          "digamma", "polygamma", "mvlgamma", "erfc", "erfinv", "i0", "atan2", "arctan2",
          "hypot", "copysign", "fmod", "float_power", "xlogy", "ldexp", "nextafter", "clamp_min",
          "clamp_max", "true_divide"]


def _in_place(name):
    method = getattr(Tensor, name)          # the out-of-place method (self first)

    def in_place(self, *args, **kwargs):
        return inplace(self, name + "_", lambda t, *a: method(t, *a, **kwargs), *args)
    in_place.__name__ = name + "_"
    in_place.__doc__ = f"In-place ``{name}``: the result is written into ``self``."
    tensor_method(in_place, name=name + "_")


for _name in _NAMES:
    _in_place(_name)
