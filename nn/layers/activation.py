"""Activation modules (``nn.ReLU`` ...) over ``nn.functional``; PReLU and Swish learn
their parameter."""
import numpy as np

from autograd import dtypes

from .. import functional as F
from ..module import Module
from ..parameter import Parameter


class _Simple(Module):
    _fn = None
    _args = ()

    def __init__(self, *args, **kwargs):
        super().__init__()
        names = self._args
        values = dict(zip([n for n, _ in names], [d for _, d in names]))
        values.update(zip([n for n, _ in names], args))
        values.update(kwargs)
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def forward(self, input):
        return type(self)._fn(input, **{n: getattr(self, n) for n, _ in self._args if n != "inplace"})

    def extra_repr(self):
        return ", ".join(f"{n}={getattr(self, n)}" for n, d in self._args
                         if n != "inplace" or getattr(self, n))


def _make(name, fn, args=(), doc=None):
    cls = type(name, (_Simple,), {"_fn": staticmethod(fn), "_args": tuple(args),
                                  "__doc__": doc or f"Module form of F.{fn.__name__}."})
    return cls


ReLU = _make("ReLU", F.relu, [("inplace", False)])
ReLU6 = _make("ReLU6", F.relu6, [("inplace", False)])
LeakyReLU = _make("LeakyReLU", F.leaky_relu, [("negative_slope", 0.01), ("inplace", False)])
ELU = _make("ELU", F.elu, [("alpha", 1.0), ("inplace", False)])
Sigmoid = _make("Sigmoid", F.sigmoid)
Tanh = _make("Tanh", F.tanh)
SiLU = _make("SiLU", F.silu, [("inplace", False)])
Mish = _make("Mish", F.mish, [("inplace", False)])
GELU = _make("GELU", F.gelu, [("approximate", "none")])
Softplus = _make("Softplus", F.softplus, [("beta", 1.0), ("threshold", 20.0)])
Softmax = _make("Softmax", F.softmax, [("dim", None)])
LogSoftmax = _make("LogSoftmax", F.log_softmax, [("dim", None)])
Softmin = _make("Softmin", F.softmin, [("dim", None)])
Hardtanh = _make("Hardtanh", F.hardtanh, [("min_val", -1.0), ("max_val", 1.0), ("inplace", False)])
LogSigmoid = _make("LogSigmoid", F.logsigmoid)
Softsign = _make("Softsign", F.softsign)
Tanhshrink = _make("Tanhshrink", F.tanhshrink)
SELU = _make("SELU", F.selu, [("inplace", False)])
CELU = _make("CELU", F.celu, [("alpha", 1.0), ("inplace", False)])
Hardsigmoid = _make("Hardsigmoid", F.hardsigmoid, [("inplace", False)])
Hardswish = _make("Hardswish", F.hardswish, [("inplace", False)])
GLU = _make("GLU", F.glu, [("dim", -1)])
# PyTorch prints these two without their inplace flag
Hardsigmoid.extra_repr = Hardswish.extra_repr = lambda self: ""


class _Shrink(_Simple):
    _args = (("lambd", 0.5),)

    def extra_repr(self):
        return f"{self.lambd}"                   # PyTorch prints Hardshrink(0.5)


Hardshrink = type("Hardshrink", (_Shrink,), {"_fn": staticmethod(F.hardshrink),
                                             "__doc__": "Module form of F.hardshrink."})
Softshrink = type("Softshrink", (_Shrink,), {"_fn": staticmethod(F.softshrink),
                                             "__doc__": "Module form of F.softshrink."})


class Threshold(_Simple):
    """x where x > threshold, else value (both required, as in PyTorch)."""
    _fn = staticmethod(F.threshold)
    _args = (("threshold", None), ("value", None), ("inplace", False))

    def __init__(self, threshold, value, inplace=False):
        super().__init__(threshold, value, inplace)


class RReLU(_Simple):
    """Randomized leaky ReLU: random negative slopes in training, their mean in eval."""
    _args = (("lower", 1.0 / 8), ("upper", 1.0 / 3), ("inplace", False))

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training)


class Softmax2d(Module):
    """Softmax over the channels of a (N, C, H, W) or (C, H, W) input."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D "
                             f"(shape {tuple(input.shape)}) instead")
        return F.softmax(input, -3)


class PReLU(Module):
    """max(0, x) + a min(0, x) with a learned slope a (one, or one per channel), init 0.25."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(np.full(num_parameters, init,
                                        dtypes.as_dtype(dtype) or dtypes.get_default_dtype()))

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Swish(Module):
    """x * sigmoid(beta x) with a learnable scalar beta (Ramachandran et al., 2017,
    "Searching for Activation Functions"); beta = 1 is SiLU.  Not in PyTorch."""

    def __init__(self, beta=1.0, trainable=True, dtype=None):
        super().__init__()
        self.beta = Parameter(np.full((), beta, dtypes.as_dtype(dtype) or dtypes.get_default_dtype()),
                              requires_grad=trainable)

    def forward(self, input):
        return F.swish(input, self.beta)

    def extra_repr(self):
        return f"beta={float(self.beta.array):g}"


# Every activation module, for tools that treat activations apart (nn.Monitor watches them).
ACTIVATIONS = (_Simple, PReLU, Swish, Softmax2d)
