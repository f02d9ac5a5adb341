"""Tensor factories (PyTorch names and defaults) and the global random generator."""
import numpy as np

from . import dtypes
from .device import accepts_device, check_device
from .tensor import Tensor, _to_array, tensor_method

_generator = np.random.default_rng()


def manual_seed(seed):
    """Reseed the generator behind rand/randn/randint/randperm, dropout and init."""
    global _generator
    if not dtypes.is_int(seed):
        raise TypeError(f"manual_seed: seed must be an integer, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed) % 2 ** 64)   # negative seeds too, as PyTorch
    return _generator


def default_generator():
    return _generator


class Generator:
    """PyTorch's ``torch.Generator`` over a NumPy Generator: ``manual_seed`` (returns
    the generator), ``initial_seed``, ``seed``.  NumPy's methods (``random``,
    ``integers``, ...) are reached through it, so ``generator=`` of the factories, the
    samplers, ``random_split`` and the transforms takes either kind."""

    def __init__(self, device="cpu"):
        check_device(device, "Generator")
        self.seed()

    def manual_seed(self, seed):
        if not dtypes.is_int(seed):
            raise TypeError(f"Generator.manual_seed: seed must be an integer, got {type(seed).__name__}")
        self._initial_seed = int(seed) % 2 ** 64
        self._rng = np.random.default_rng(self._initial_seed)
        return self

    def seed(self):
        """Reseed from fresh entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy) % 2 ** 63)
        return self._initial_seed

    def initial_seed(self):
        return self._initial_seed

    def __getattr__(self, name):          # random, integers, standard_normal, permutation...
        return getattr(self.__dict__["_rng"], name)


@accepts_device
def multinomial(input, num_samples, replacement=False, generator=None):
    """``num_samples`` indices per row of the non-negative weights ``input`` (1-d or
    2-d), drawn with probability proportional to the weights."""
    w = np.asarray(input.array if isinstance(input, Tensor) else input, dtype=np.float64)
    if w.ndim not in (1, 2) or not np.isfinite(w).all() or (w < 0).any() or (w.sum(-1) <= 0).any():
        raise ValueError(f"multinomial: expected 1-d or 2-d finite, non-negative weights with a "
                         f"positive sum per row, got shape {w.shape}")
    if not dtypes.is_int(num_samples, 1):
        raise ValueError(f"multinomial: num_samples must be a positive integer, got {num_samples!r}")
    rows = w.reshape(-1, w.shape[-1])
    if not replacement and num_samples > np.count_nonzero(rows, axis=1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {np.count_nonzero(rows, axis=1).min()} non-zero weights")
    g = generator or _generator
    out = np.stack([g.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum())
                    for r in rows]).astype(np.int64)
    return Tensor._make(out.reshape(w.shape[:-1] + (num_samples,)))


def _finish(arr, requires_grad):
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _float(dtype):
    return dtypes.as_dtype(dtype) or dtypes.get_default_dtype()


@accepts_device
def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (Python floats -> float32, ints -> int64)."""
    return _finish(_to_array(data, dtype, copy=True), requires_grad)


@accepts_device
def as_tensor(data, dtype=None):
    """Like ``tensor`` but shares memory with a NumPy array or Tensor when it can."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return Tensor._make(_to_array(data, dtype, copy=False))


def from_numpy(array):
    """A tensor sharing memory with ``array`` (writes show through both ways)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def _shape(size, name="tensor factory"):
    """f(2, 3) and f((2, 3)) like PyTorch, each size a non-negative integer."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return check_sizes(name, tuple(size))


def check_sizes(name, size):
    for s in size:
        if not dtypes.is_int(s, 0):
            raise ValueError(f"{name}: sizes must be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


@accepts_device
def zeros(*size, dtype=None, requires_grad=False):
    return _finish(np.zeros(_shape(size, "zeros"), _float(dtype)), requires_grad)


@accepts_device
def ones(*size, dtype=None, requires_grad=False):
    return _finish(np.ones(_shape(size, "ones"), _float(dtype)), requires_grad)


@accepts_device
def empty(*size, dtype=None, requires_grad=False):
    return _finish(np.empty(_shape(size, "empty"), _float(dtype)), requires_grad)


@accepts_device
def full(size, fill_value, dtype=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.result_type(fill_value)
    return _finish(np.full(_shape((size,), "full"), fill_value, dtype), requires_grad)


@accepts_device
def eye(n, m=None, dtype=None, requires_grad=False):
    check_sizes("eye", (n,) if m is None else (n, m))
    return _finish(np.eye(n, m, dtype=_float(dtype)), requires_grad)


@accepts_device
def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Integers give int64, any float argument gives the default float dtype."""
    if end is None:
        start, end = 0, start
    for v in (start, end, step):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v):
            raise ValueError(f"arange: start, end and step must be finite numbers, got "
                             f"start={start!r}, end={end!r}, step={step!r}")
    if step == 0:
        raise ValueError(f"arange: step must be nonzero, got step={step!r}")
    if (end - start) * step < 0:
        raise ValueError(f"arange: end={end!r} lies on the wrong side of start={start!r} for "
                         f"step={step!r} (upper bound and step sign are inconsistent)")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if is_float else dtypes.int64
    return _finish(np.arange(start, end, step, dtype=dtype), requires_grad)


@accepts_device
def linspace(start, end, steps, dtype=None, requires_grad=False):
    check_sizes("linspace", (steps,))
    return _finish(np.linspace(start, end, steps, dtype=_float(dtype)), requires_grad)


@accepts_device
def logspace(start, end, steps, base=10.0, dtype=None, requires_grad=False):
    check_sizes("logspace", (steps,))
    return _finish(np.logspace(start, end, steps, base=base, dtype=_float(dtype)), requires_grad)


@accepts_device
def rand(*size, dtype=None, requires_grad=False, generator=None):
    g = generator or _generator
    return _finish(g.random(_shape(size, "rand")).astype(_float(dtype)), requires_grad)


@accepts_device
def randn(*size, dtype=None, requires_grad=False, generator=None):
    g = generator or _generator
    return _finish(g.standard_normal(_shape(size, "randn")).astype(_float(dtype)), requires_grad)


@accepts_device
def randint(low, high=None, size=(), dtype=None, generator=None):
    if isinstance(high, (tuple, list)):         # randint(high, size), PyTorch's short form
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if not low < high:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    g = generator or _generator
    values = g.integers(low, high, _shape((size,), "randint"))
    return Tensor._make(values.astype(dtypes.as_dtype(dtype) or dtypes.int64))


@accepts_device
def randperm(n, dtype=None, generator=None):
    check_sizes("randperm", (n,))
    g = generator or _generator
    return Tensor._make(g.permutation(n).astype(dtypes.as_dtype(dtype) or dtypes.int64))


def _like(factory):
    def like(input, dtype=None, requires_grad=False, device=None):
        return factory(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad,
                       device=device)
    like.__name__ = factory.__name__ + "_like"
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


@accepts_device
def full_like(input, fill_value, dtype=None, requires_grad=False):
    return full(input.shape, fill_value, dtype or input.dtype, requires_grad)


# Tensor conversion methods that are factories at heart.
def _convert(dtype):
    return lambda self: self.to(dtype)


for _name, _dt in [("float", dtypes.float32), ("double", dtypes.float64), ("half", dtypes.float16),
                   ("long", dtypes.int64), ("int", dtypes.int32), ("bool", dtypes.bool_)]:
    setattr(Tensor, _name, _convert(_dt))
Tensor.astype = lambda self, dtype: self.to(dtype)
Tensor.new_tensor = lambda self, data, dtype=None: tensor(data, dtype or self.dtype)
Tensor.new_zeros = lambda self, *size, dtype=None: zeros(*size, dtype=dtype or self.dtype)
Tensor.new_ones = lambda self, *size, dtype=None: ones(*size, dtype=dtype or self.dtype)


# -- Tensor methods that make a new tensor like this one ----------------------------------
def _new(factory):
    def new(self, *size, dtype=None, requires_grad=False, device=None):
        return factory(*size, dtype=dtype or self.dtype, requires_grad=requires_grad, device=device)
    new.__name__ = "new_" + factory.__name__
    tensor_method(new)


for _factory in (zeros, ones, empty):
    _new(_factory)


@tensor_method
def new_full(self, size, fill_value, dtype=None, requires_grad=False, device=None):
    return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad, device=device)


@tensor_method
def new_tensor(self, data, dtype=None, requires_grad=False, device=None):
    return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad, device=device)


@tensor_method
def type_as(self, other):
    return self.to(other.dtype)


class _VariableType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableType):
    """PyTorch's legacy ``Variable(tensor, requires_grad=False)``.  Since PyTorch 0.4 it
    makes a Tensor: one without history sharing ``tensor``'s memory; every Tensor is an
    instance of it."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)
