"""Layer and batch normalisation, each one fused primitive on Numba kernels.

Layer norm (the row-wise kernels, autograd/kernels/rowwise.py):

    y = xhat * w + b,  xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)
over the trailing ``normalized_ndim`` dims.  VJP (n = row length, gw = g * w):
    dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)),  dw = sum(g * xhat),  db = sum(g)
``vjp`` (a normal backward) runs the fused backward kernel on the arrays saved by
the forward; ``backward`` (under ``create_graph``) runs the same formula on
tensors, recomputing xhat from x, so it can be differentiated again.

Batch norm (autograd/kernels/batchnorm.py) normalises each channel (dim 1) over the
batch and spatial dims, with the batch statistics (training) or the running ones
(eval); its VJP is in the BatchNorm class.  The same two VJPs: the fused kernel
(``vjp``), and composed tensor ops (``backward``).
"""
import math

import numpy as np

from ..function import Primitive
from ..grad_mode import current_scope, no_grad
from ..kernels import rowwise
from ..kernels.batchnorm import batch_norm_backward, batch_norm_forward
from ..tensor import Tensor
from .formula import sum_rows
from .half import via_float32
from .registry import SampleInput, make, op
from ..forward_ad import derived_jvp
from .batching import BatchedTensor


def _affine_layer_norm(x, w, bias, normalized_ndim, eps):
    y = LayerNorm.apply(x, None, None, normalized_ndim, eps)
    y = y if w is None else y * w
    return y if bias is None else y + bias


class LayerNorm(Primitive):
    @staticmethod
    def batch_rule(b, x, w, bias, normalized_ndim, eps):
        if not (b.batched[1] or b.batched[2]):          # the batch is one more leading dim
            return LayerNorm.apply(x, w, bias, normalized_ndim, eps)
        # per-sample affine parameters (an ensemble): normalise, then scale and shift
        return b.logical(_affine_layer_norm, x, w, bias, normalized_ndim, eps)
    jvp = derived_jvp

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
    def vjp(ctx, g):
        x, w, xhat, rstd, w_row = ctx.saved_arrays
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        rows = np.ascontiguousarray(g).reshape(xhat.shape)
        dx = rowwise.layer_norm_backward(rows, xhat, rstd, w_row) if need_x else None
        dw = sum_rows(rows * xhat, ctx.norm_shape) if need_w else None
        db = sum_rows(rows, ctx.norm_shape) if need_b else None
        return (None if dx is None else dx.reshape(x.shape), dw, db, None, None)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors[:2]
        return _differentiable_vjp(ctx, g, x, w) + (None, None)


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


# -- batch norm --------------------------------------------------------------------------
def _channels_view(a):
    """(N, C, *spatial) -> a contiguous (N, C, S) view or copy."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


class BatchNorm(Primitive):
    """y = (x - mean) * rstd * w + b per channel.  ``stats`` is a float64 (2, C) array
    (mean, biased var): filled from the batch when ``training``, else read (running).
    VJP (sums over batch and spatial dims, m values per channel):
      train: dx = w * rstd * (g - sum(g) / m - xhat * sum(g * xhat) / m)
      eval:  dx = w * rstd * g;   both: dw = sum(g * xhat), db = sum(g)"""
    @staticmethod
    def batch_rule(b, x, w, bias, stats, training, eps):
        # Each sample's channels become channels of one call, (N, B*C, ...): statistics per
        # sample and channel, weights per sample where batched.  Training fills statistics
        # of its own (batch_norm refuses running statistics for a batched input, as
        # PyTorch); eval reads the caller's, once per sample.
        B = b.size
        x = x if b.batched[0] else b.expand(x)
        N, C = x.shape[1], x.shape[2]
        folded = x.transpose(0, 1).reshape((N, B * C) + tuple(x.shape[3:]))
        w, bias = [None if p is None else (p if k else b.expand(p)).reshape(-1)
                   for p, k in zip((w, bias), b.batched[1:3])]
        stats = np.empty((2, B * C), np.float64) if training else np.tile(stats, (1, B))
        y = BatchNorm.apply(folded, w, bias, stats, training, eps)
        return y.reshape((N, B, C) + tuple(y.shape[2:])).transpose(0, 1)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, w, b, stats, training, eps):
        c = x.shape[1]
        w_c = np.ones(c, x.dtype) if w is None else np.asarray(w, x.dtype)
        b_c = np.zeros(c, x.dtype) if b is None else np.asarray(b, x.dtype)
        y = batch_norm_forward(_channels_view(x), w_c, b_c, stats[0], stats[1], eps, training)
        ctx.stats, ctx.training, ctx.eps = stats, training, eps
        ctx.save_for_backward(x, w, w_c)
        return y.reshape(x.shape)

    @staticmethod
    def vjp(ctx, g):
        x, w, w_c = ctx.saved_arrays
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx, dw, db = batch_norm_backward(_channels_view(g), _channels_view(x), ctx.stats[0],
                                         ctx.stats[1], w_c, ctx.eps, ctx.training)
        return (dx.reshape(x.shape) if need_x else None, dw if need_w else None,
                db if need_b else None, None, None, None)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors[:2]
        return _batch_norm_differentiable_vjp(ctx, g, x, w) + (None, None, None)


def _batch_norm_differentiable_vjp(ctx, g, x, w):
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if ctx.training:                 # the statistics depend on x: recompute them on the tape
        xc = x - x.mean(dims, keepdim=True)
        rstd = ((xc * xc).mean(dims, keepdim=True) + ctx.eps).rsqrt()
    else:
        mean, var = (Tensor._make(s.astype(x.dtype).reshape(shape)) for s in ctx.stats)
        xc, rstd = x - mean, (var + ctx.eps).rsqrt()
    xhat = xc * rstd
    gw = g if w is None else g * w.reshape(shape)
    if ctx.training:
        dx = rstd * (gw - gw.mean(dims, keepdim=True) - xhat * (gw * xhat).mean(dims, keepdim=True))
    else:
        dx = gw * rstd
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    return (dx if need_x else None,
            (g * xhat).sum(dims) if need_w else None,
            g.sum(dims) if need_b else None)


def update_running_stat(running, stat, momentum):
    """running <- (1 - momentum) running + momentum stat, in place, outside the tape."""
    running.array[...] = (1 - momentum) * running.array + momentum * stat
    running._version.value += 1


def _normalized(input, mean, var, weight, bias, eps):
    """(x - mean) / sqrt(var + eps) weight + bias per channel (dim 1), by tensor ops: the
    way for statistics that differ per sample under vmap (each op batches)."""
    per_channel = (input.shape[1],) + (1,) * (input.ndim - 2)
    y = (input - mean.reshape(per_channel)) / (var.reshape(per_channel) + eps).sqrt()
    y = y if weight is None else y * weight.reshape(per_channel)
    return y if bias is None else y + bias.reshape(per_channel)


def _batch_norm_per_sample_stats(input, running_mean, running_var, weight, bias, momentum, eps):
    """Training under vmap with batched running statistics (PyTorch's rule): each sample's
    batch statistics normalise it and update its own running_* in place."""
    dims = (0,) + tuple(range(2, input.ndim))
    mean, var = input.mean(dims), input.var(dims, correction=0)
    count = input.numel() // input.shape[1]
    with no_grad():
        for t, stat in ((running_mean, mean), (running_var, var * (count / (count - 1)))):
            if t is not None:
                t.mul_(1 - momentum).add_(stat.detach() * momentum)
    return _normalized(input, mean, var, weight, bias, eps)


def _batch_norm_ref(x, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5):
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(dims, keepdims=True), x.var(dims, keepdims=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    y = (x - mean) / np.sqrt(var + eps)
    return (y * (1 if weight is None else weight.reshape(shape))
            + (0 if bias is None else bias.reshape(shape)))


def _batch_norm_samples(rng):
    c = 3
    stats = lambda: (make(rng, (c,), requires_grad=False),
                     make(rng, (c,), 0.5, 2.0, requires_grad=False))
    yield SampleInput((make(rng, (4, c, 2, 3)), None, None, make(rng, (c,)), make(rng, (c,))),
                      dict(training=True), "train-affine")
    yield SampleInput((make(rng, (5, c)), *stats(), make(rng, (c,))),
                      dict(training=True, momentum=0.3, eps=1e-3), "train-2d-running-weight-only")
    yield SampleInput((make(rng, (2, c, 4), noncontig=True), None, None),
                      dict(training=True), "train-noncontig-no-affine")
    yield SampleInput((make(rng, (2, c, 3, 2)), *stats(), make(rng, (c,)), make(rng, (c,))),
                      dict(training=False), "eval-affine")
    yield SampleInput((make(rng, (3, c, 2)), *stats(), None, make(rng, (c,))), {}, "eval-bias-only")


@op(BatchNorm, samples=_batch_norm_samples, ref=_batch_norm_ref)
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """PyTorch's ``F.batch_norm``: normalise each channel (dim 1) over the batch and spatial
    dims.  Training: batch statistics, and running_* <- (1 - momentum) running_* +
    momentum * batch stat (unbiased variance, as PyTorch); eval: the running statistics."""
    scope = current_scope()
    where = f" in '{scope}'" if scope else ""
    if input.ndim < 2:
        raise ValueError(f"batch_norm{where}: expected input of shape (N, C, ...), got "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm{where}: expected {name} of shape ({c},) for input "
                             f"{tuple(input.shape)} with {c} channels, got {tuple(t.shape)}")
    # NaN-filled, not empty: a compile capture finds this output buffer by its values
    # changing in the step, and np.empty can hand back the last call's block holding
    # these very statistics
    stats = np.full((2, c), np.nan)
    running = [t for t in (running_mean, running_var) if t is not None]
    if training and type(input) is BatchedTensor and running:
        if not all(type(t) is BatchedTensor for t in running):
            raise RuntimeError(f"batch_norm{where}: got a batched tensor as input (inside vmap) "
                               "while running_mean / running_var, to be updated in place with "
                               "statistics that differ per sample, are not batched (as PyTorch); "
                               "batch them too, use eval mode or track_running_stats=False")
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"batch_norm{where}: expected more than 1 value per channel when "
                             f"training, got input size {tuple(input.shape)}")
        if type(input) is BatchedTensor and running:
            return _batch_norm_per_sample_stats(input, running_mean, running_var, weight, bias,
                                                momentum, eps)
        y = BatchNorm.apply(input, weight, bias, stats, True, eps)
        if running_mean is not None:
            update_running_stat(running_mean, stats[0], momentum)
        if running_var is not None:
            update_running_stat(running_var, stats[1] * (count / (count - 1)), momentum)
        return y
    if running_mean is None or running_var is None:
        raise ValueError(f"batch_norm{where}: running_mean and running_var are needed in eval "
                         "mode")
    if type(running_mean) is BatchedTensor or type(running_var) is BatchedTensor:
        return _normalized(input, running_mean, running_var, weight, bias, eps)
    stats[0], stats[1] = np.asarray(running_mean), np.asarray(running_var)
    return BatchNorm.apply(input, weight, bias, stats, False, eps)
