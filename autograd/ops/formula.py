"""Evaluate a VJP formula on arrays or on tensors.

A formula is written with operators and ``m.<function>`` calls, where ``m`` is
either NumPy or the registered ops under the same names (both spell exp, log, sin,
cos, sign, floor, ... the same way).  In a normal backward, grad mode is off and nothing
needs recording, so the formula runs on the raw arrays at NumPy speed.  Under
``create_graph=True`` it runs on tensors, is recorded on the tape and can be
differentiated again.  One formula, both paths; the op sweep checks both
(gradcheck takes the array path, gradgradcheck the tensor path).
"""
import types

import numpy as np

from ..grad_mode import STATE
from ..tensor import Tensor


def evaluate(formula, g, *saved):
    if STATE.grad_enabled:
        return formula(_tensor_namespace(), g, *saved)
    out = formula(np, g.array, *[s.array if isinstance(s, Tensor) else s for s in saved])
    return Tensor._make(out if type(out) is np.ndarray else np.asarray(out))


_NAMESPACE = None


def _tensor_namespace():
    """The registered ops by name (the registry is complete once autograd.ops is
    imported, before any backward can run), plus zeros_like."""
    global _NAMESPACE
    if _NAMESPACE is None:
        from ..creation import zeros_like
        from .registry import REGISTRY
        ops = {name: info.op for name, info in REGISTRY.items() if name.isidentifier()}
        _NAMESPACE = types.SimpleNamespace(zeros_like=zeros_like, **ops)
    return _NAMESPACE


def sgn(m, x):
    """sign(x) with sign(NaN) = 0, as PyTorch's sign and the VJPs built on it (abs, norms)."""
    if m is not np:
        return m.sign(x)
    s = np.asarray(np.sign(x))
    if s.dtype.kind == "f":
        s[np.isnan(s)] = 0
    return s


def sum_to_shape(m, g, shape):
    """Sum ``g`` (array or tensor) down to ``shape``: the adjoint of broadcasting."""
    if g.shape == shape:
        return g
    if m is np:
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and g.shape[lead + i] != 1)
        return g.sum(axis=axes, keepdims=True).reshape(shape)
    return m.sum_to(g, shape)


def sum_keepdim(m, x, dim):
    """``x`` summed over ``dim`` keeping it (NumPy says keepdims, we say keepdim)."""
    return x.sum(axis=dim, keepdims=True) if m is np else x.sum(dim, keepdim=True)
