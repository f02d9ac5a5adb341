"""One VJP formula for both of the engine's paths (Chainer's ``xp`` convention).

A formula is written with operators and ``m.<function>`` calls, where ``m`` is
either NumPy or the registered ops under the same names (both spell exp, log, sin,
cos, where, ... the same way; the helpers below cover the few that differ).  A
`FormulaPrimitive` declares ``formula(ctx, m, *grads, *saved)`` once and gets both
VJPs from it: ``vjp``, with m = NumPy on the saved arrays, which the engine runs
in a normal backward at NumPy speed; and ``backward``, with m = the ops on the
saved Tensors, recorded under ``create_graph=True`` so it can be differentiated
again.  The op sweep checks both (gradcheck drives ``vjp``, gradgradcheck
``backward``).  An op whose fast path is a kernel writes ``vjp`` and ``backward``
by hand instead (normalization.py).
"""
import math
import types

import numpy as np

from ..function import Primitive


class FormulaPrimitive(Primitive):
    """A Primitive whose VJPs both come from ``formula`` (see the module docstring)."""

    def formula(ctx, m, *grads_and_saved):
        raise NotImplementedError(f"{type(ctx).__name__} must define formula(ctx, m, *grads, *saved)")

    @staticmethod
    def backward(ctx, *grads):
        return ctx.formula(tensor_namespace(), *grads, *ctx.saved_tensors)

    @staticmethod
    def vjp(ctx, *grads):
        return ctx.formula(np, *grads, *ctx._unpack_saved(True))


_NAMESPACE = None


def tensor_namespace():
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
        if axes == tuple(range(len(axes))):        # leading axes only: a bias, an embedding
            return sum_rows(g.reshape(math.prod(g.shape[:len(axes)]), math.prod(shape)), shape)
        return g.sum(axis=axes, keepdims=True).reshape(shape)
    return m.sum_to(g, shape)


def sum_rows(a, shape):
    """The sum of the rows of a 2-d array (its column sums) in ``shape``, as the GEMV
    1^T A: BLAS runs it 2-5x faster than NumPy's sum(0) on a bias's (tokens, features)
    gradient (2080 x 512 float32: 0.25 -> 0.12 ms).  The result owns its data, so the
    engine can keep it as a parameter's .grad without a copy.  float16 and integers
    take sum(0)."""
    if a.dtype != np.float32 and a.dtype != np.float64:
        return a.sum(0).reshape(shape)
    out = np.empty(shape, a.dtype)
    np.matmul(np.ones(a.shape[0], a.dtype), a, out=out.reshape(-1))
    return out


def channel_sums(a):
    """``a`` (N, C, ...) summed over every axis but the channels (a convolution's bias
    gradient) as two GEMVs, over each (n, c) row's positions and then over the batch:
    3-5x NumPy's sum over axes (0, 2, 3) (64x6x28x28 float32: 120 -> 33 us).  Owns
    its data, as sum_rows."""
    n, c = a.shape[:2]
    if a.dtype != np.float32 and a.dtype != np.float64:
        return a.sum(axis=(0,) + tuple(range(2, a.ndim)))
    positions = math.prod(a.shape[2:])
    per_row = np.ascontiguousarray(a).reshape(n * c, positions) @ np.ones(positions, a.dtype)
    return sum_rows(per_row.reshape(n, c), (c,))


def sum_keepdim(m, x, dim):
    """``x`` summed over ``dim`` keeping it (NumPy says keepdims, we say keepdim)."""
    return x.sum(axis=dim, keepdims=True) if m is np else x.sum(dim, keepdim=True)
