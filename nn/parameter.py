"""`Parameter`: a leaf Tensor that a Module registers as learnable when assigned."""
import numpy as np

from autograd.serialization import register_parameter_class
from autograd.tensor import Tensor


class Parameter(Tensor):
    """``nn.Parameter(data=None, requires_grad=True)``; shares ``data``'s memory (as
    PyTorch does) rather than copying it."""
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            arr = np.empty(0, np.float32)
        elif isinstance(data, Tensor):
            arr = data.array
        else:
            arr = np.asarray(data)
        self.array = arr
        self._init_meta()
        self.name = None
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # deepcopy/pickle: a fresh leaf with a copy of the data (grad is not carried,
        # like PyTorch's Parameter.__deepcopy__).
        return (Parameter, (self.array.copy(), self.requires_grad))


register_parameter_class(Parameter)      # PyTorch's files hold Parameters by their rebuild name


class Buffer:
    """Marker so ``self.x = nn.Buffer(t)`` registers a buffer (PyTorch >= 2.5)."""

    def __init__(self, data, persistent=True):
        self.data = data if isinstance(data, Tensor) else Tensor(data)
        self.persistent = persistent
