"""Binary search into sorted values: ``searchsorted`` and ``bucketize``.

Both return integer tensors (int64, or int32 with ``out_int32``) and have no gradient,
as in PyTorch.  ``side="left"`` (``right=False``) gives the first position i with
x <= seq[i]; ``"right"`` the first with x < seq[i].  A NaN value goes after every
number, as in PyTorch.  A NaN inside the sequence is not sorted data: NumPy's search
takes it as the largest value, PyTorch's comparisons as neither, so the two may differ.
"""
import numpy as np

from ..tensor import Tensor


def _array(x, name, what):
    if isinstance(x, Tensor):
        return x.array
    if isinstance(x, (int, float, bool, np.number)):
        return np.asarray(x)
    raise TypeError(f"{name}: expected a Tensor or a number as {what}, got {type(x).__name__}")


def _side(name, right, side):
    if side is None:
        return "right" if right else "left"
    if side not in ("left", "right"):
        raise ValueError(f"{name}: side can only be 'left' or 'right', got {side!r}")
    if right and side == "left":
        raise ValueError(f"{name}: side and right can't be set to opposites, got side of left "
                         "while right was True")
    return side


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """Indices where ``input``'s values would be inserted into ``sorted_sequence`` (along
    its last dim; its leading dims must equal ``input``'s)."""
    seq = _array(sorted_sequence, "searchsorted", "sorted_sequence")
    values = _array(input, "searchsorted", "input")
    side = _side("searchsorted", right, side)
    order = None if sorter is None else _array(sorter, "searchsorted", "sorter")
    if seq.ndim == 0:
        raise ValueError("searchsorted: sorted_sequence must have at least one dimension")
    if order is not None and (order.shape != seq.shape or order.dtype.kind not in "iu"):
        raise ValueError(f"searchsorted: sorter must be an integer tensor of sorted_sequence's "
                         f"shape {seq.shape}, got {order.dtype} {order.shape}")
    if seq.ndim == 1:
        out = np.searchsorted(seq, values, side=side, sorter=order)
    else:
        if values.shape[:-1] != seq.shape[:-1]:
            raise ValueError(
                f"searchsorted: boundaries tensor should be 1 dimension or the first N-1 "
                f"dimensions of boundaries tensor and input value tensor must match, but we got "
                f"boundaries tensor {list(seq.shape)} and input value tensor {list(values.shape)}")
        rows = seq.reshape(-1, seq.shape[-1])
        vals = values.reshape(rows.shape[0], -1)
        sorters = [None] * len(rows) if order is None else order.reshape(rows.shape)
        # one search per row: NumPy's searchsorted takes a single 1-d sequence
        out = np.stack([np.searchsorted(r, v, side=side, sorter=s)
                        for r, v, s in zip(rows, vals, sorters)]).reshape(values.shape)
    return Tensor._make(np.asarray(out, np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value of ``input``: i with boundaries[i-1] < x <= boundaries[i]
    (``right=True``: boundaries[i-1] <= x < boundaries[i])."""
    b = _array(boundaries, "bucketize", "boundaries")
    if b.ndim != 1:
        raise ValueError(f"bucketize: boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
