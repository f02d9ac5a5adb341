"""Layer normalisation as one fused primitive (the row-wise Numba kernels).

    y = xhat * w + b,  xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)
over the trailing ``normalized_ndim`` dims.  VJP (n = row length, gw = g * w):
    dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)),  dw = sum(g * xhat),  db = sum(g)
A normal backward runs the fused backward kernel on the arrays saved by the
forward; under ``create_graph`` the same formula runs on tensors, recomputing
xhat from x, so it can be differentiated again.
"""
import math

import numpy as np

from ..function import Primitive
from ..grad_mode import STATE, current_scope
from ..kernels import rowwise
from ..tensor import Tensor
from .half import via_float32
from .registry import SampleInput, make, op


class LayerNorm(Primitive):
    @staticmethod
    def forward(ctx, x, w, b, normalized_ndim, eps):
        n = math.prod(x.shape[x.ndim - normalized_ndim:])
        rows = np.ascontiguousarray(x).reshape(-1, n)
        w_row = np.ones(n, x.dtype) if w is None else np.asarray(w, x.dtype).reshape(n)
        b_row = np.zeros(n, x.dtype) if b is None else np.asarray(b, x.dtype).reshape(n)
        y, xhat, rstd = rowwise.layer_norm(rows, w_row, b_row, eps)
        ctx.k, ctx.eps, ctx.norm_shape = normalized_ndim, eps, x.shape[x.ndim - normalized_ndim:]
        ctx.save_for_backward(x, w, xhat, rstd, w_row)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x, w, xhat, rstd, w_row = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if STATE.grad_enabled:
            return _differentiable_vjp(ctx, g, x, w) + (None, None)
        rows = np.ascontiguousarray(g.data).reshape(xhat.shape)
        dx = rowwise.layer_norm_backward(rows, xhat.data, rstd.data, w_row.data) if need_x else None
        dw = (rows * xhat.data).sum(0).reshape(ctx.norm_shape) if need_w else None
        db = rows.sum(0).reshape(ctx.norm_shape) if need_b else None
        return (None if dx is None else Tensor._make(dx.reshape(x.shape)),
                None if dw is None else Tensor._make(dw),
                None if db is None else Tensor._make(db), None, None)


def _differentiable_vjp(ctx, g, x, w):
    dims = tuple(range(x.ndim - ctx.k, x.ndim))
    lead = tuple(range(x.ndim - ctx.k))
    xc = x - x.mean(dims, keepdim=True)
    rstd = ((xc * xc).mean(dims, keepdim=True) + ctx.eps).rsqrt()
    xhat = xc * rstd
    gw = g if w is None else g * w
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    dx = rstd * (gw - gw.mean(dims, keepdim=True) - xhat * (gw * xhat).mean(dims, keepdim=True))
    return (dx if need_x else None,
            (g * xhat).sum(lead) if need_w else None,
            g.sum(lead) if need_b else None)


def _layer_norm_ref(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    xhat = (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + eps)
    return xhat * (1 if weight is None else weight) + (0 if bias is None else bias)


def _layer_norm_samples(rng):
    yield SampleInput((make(rng, (3, 5)), (5,)), {}, "plain")
    yield SampleInput((make(rng, (2, 3, 4)), (4,), make(rng, (4,)), make(rng, (4,))), {}, "affine")
    yield SampleInput((make(rng, (2, 3, 4)), (3, 4), make(rng, (3, 4)), make(rng, (3, 4))),
                      dict(eps=1e-3), "two-dims")
    yield SampleInput((make(rng, (4, 3), noncontig=True), (3,), make(rng, (3,))), {}, "noncontig-weight-only")
    yield SampleInput((make(rng, (2, 3, 4)), (3, 4), None, make(rng, (3, 4))), {}, "bias-only")


@op(LayerNorm, samples=_layer_norm_samples, ref=_layer_norm_ref)
@via_float32
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """PyTorch's ``F.layer_norm`` over the trailing ``normalized_shape`` dims."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    scope = current_scope()
    where = f" in '{scope}'" if scope else ""          # the module path, inside nn modules
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise ValueError(f"layer_norm{where}: expected input with trailing shape "
                         f"{normalized_shape}, got {tuple(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise ValueError(f"layer_norm{where}: {name} has shape {tuple(t.shape)}, "
                             f"expected {normalized_shape}")
    return LayerNorm.apply(input, weight, bias, k, eps)
