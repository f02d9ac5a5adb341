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


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def _scalar_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return _default_float
    return np.asarray(value).dtype


def result_type(*operands):
    """PyTorch's promotion: arrays decide within a category; a higher category wins.

    ``operands`` are arrays or Python scalars.  Python scalars are "weak": they only
    matter when their category is higher than every array's, and then the default
    dtype of their category is used (float32 for floats, int64 for ints).
    """
    arrays = [o.dtype for o in operands if isinstance(o, np.ndarray)]
    scalars = [_scalar_dtype(o) for o in operands if not isinstance(o, np.ndarray)]
    if not arrays:
        return np.result_type(*scalars) if len(scalars) > 1 else scalars[0]
    top = max(_category(d) for d in arrays)
    best = np.result_type(*[d for d in arrays if _category(d) == top])
    for d in scalars:
        if _category(d) > top:
            top, best = _category(d), d
    return best


def as_dtype(dtype):
    """Accept numpy dtypes, type objects and strings ('float32')."""
    return None if dtype is None else np.dtype(dtype)
