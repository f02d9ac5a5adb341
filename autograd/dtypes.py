"""Dtype rules: PyTorch's defaults and type promotion on top of NumPy arrays.

NumPy promotes ``float32 * int64`` to float64 and ``int / int`` to float64; PyTorch
keeps the floating operand's dtype and uses the default float dtype (float32).  We
follow PyTorch so that models written for it keep their precision.
"""
import numpy as np

float16, float32, float64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, bool_ = np.dtype(np.uint8), np.dtype(np.bool_)

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(dtype):
    global _default_float
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_float = dtype


def is_int(value, minimum=None):
    """``value`` is a Python or NumPy integer (not a bool), at least ``minimum`` if given:
    the check behind every size, count and index argument."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and (minimum is None or value >= minimum))


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def _scalar_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return _default_float
    dtype = np.asarray(value).dtype
    if dtype.kind not in "buif":
        raise TypeError(f"expected a tensor or a number, got {type(value).__name__} {value!r}")
    return dtype


def promote_types(a, b):
    """PyTorch's promote_types: an integer or bool meeting a float gives that float
    (NumPy would widen int64 + float16 to float64); otherwise NumPy's lattice."""
    if a is None or b is None:
        return b if a is None else a
    ca, cb = _category(a), _category(b)
    if ca != cb and max(ca, cb) >= 2:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """PyTorch's combine_categories: a lower-priority class of operands only matters
    when it brings a higher category (bool -> integer -> float)."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.kind == "f":
        return higher
    if higher == bool_ or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """PyTorch's type promotion (``torch.result_type``) for arrays and Python scalars.

    Operands fall in three classes of decreasing priority: arrays with dimensions, 0-d
    arrays (0-d tensors), and Python scalars (as the default dtype of their kind:
    float32, int64, bool).  Within a class dtypes promote as usual; a lower class only
    matters when its category is higher: ``float64 0-d * float32 (3,)`` is float32,
    ``float64 0-d * int64 (3,)`` is float64, ``2.5 * int64 (3,)`` is float32.
    """
    dim = zero = scalar = None
    for o in operands:
        if isinstance(o, np.ndarray):
            if o.ndim:
                dim = promote_types(dim, o.dtype)
            else:
                zero = promote_types(zero, o.dtype)
        else:
            scalar = promote_types(scalar, _scalar_dtype(o))
    return _combine(dim, _combine(zero, scalar))


class dtype:
    """PyTorch's ``torch.dtype``: the face of a NumPy dtype that ``Tensor.dtype`` returns
    and ``autograd.float32``, ``autograd.long``, ... are (one object per dtype, so ``is``
    works as in PyTorch).  It prints as PyTorch's (``torch.float32``), compares and
    hashes equal to the NumPy dtype, its type and its name (``x.dtype == np.float32``),
    and NumPy takes it wherever it takes a dtype.  The engine itself works on the NumPy
    dtype (``t.array.dtype``)."""
    # The NumPy dtype's most read attributes are copied (reading them is on hot paths);
    # the others are looked up on it (__getattr__).
    __slots__ = ("dtype", "kind", "itemsize", "name", "type", "char")

    def __init__(self, np_dtype):
        d = self.dtype = np.dtype(np_dtype)
        self.kind, self.itemsize, self.name, self.type, self.char = d.kind, d.itemsize, d.name, d.type, d.char

    def __repr__(self):
        return torch_name(self.dtype)

    def __eq__(self, other):
        if other is self or other is self.dtype:
            return True
        if other is None:
            return False               # np.dtype(None) would be float64
        if type(other) is dtype:
            return self.dtype == other.dtype
        try:
            return self.dtype == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.dtype)        # equal to the NumPy dtype's: interchangeable as keys

    def __getattr__(self, name):       # kind, itemsize, name, type, ... of the NumPy dtype
        if name == "dtype":
            raise AttributeError(name)
        return getattr(self.dtype, name)

    @property
    def __numpy_dtype__(self):         # NumPy's dtype protocol, looked up first
        return self.dtype

    def __reduce__(self):
        return (dtype, (self.dtype.str,))

    @property
    def is_floating_point(self):
        return self.dtype.kind == "f"

    @property
    def is_signed(self):
        return self.dtype.kind in "if"


def torch_name(np_dtype):
    """How PyTorch prints the dtype: ``torch.float32``."""
    return f"torch.{np_dtype.name}"


_BY_VALUE = {}      # NumPy dtype -> its face
_BY_ID = {}         # id of a NumPy dtype object -> its face: the fast path for the
                    # builtin dtypes, whose objects NumPy shares between arrays


def public(np_dtype):
    """The `dtype` face of a NumPy dtype (one object per dtype)."""
    face = _BY_ID.get(id(np_dtype))
    if face is not None and face.dtype is np_dtype:
        return face
    face = _BY_VALUE.get(np_dtype)
    if face is None:
        face = _BY_VALUE[np_dtype] = dtype(np_dtype)
        if np_dtype.isbuiltin and np_dtype.isnative:
            _BY_ID[id(np_dtype)] = face
    return face


def as_dtype(value):
    """Accept numpy dtypes, type objects, strings ('float32') and `dtype` faces."""
    if value is None:
        return None
    if type(value) is dtype:
        return value.dtype
    try:
        return np.dtype(value)
    except TypeError:
        raise TypeError(f"dtype {value!r} is not understood: expected a NumPy dtype, a type "
                        "like ag.float32 or a name like 'float32'") from None
