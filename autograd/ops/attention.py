"""Scaled dot-product attention, one fused primitive (PyTorch's
``F.scaled_dot_product_attention``; one node on the tape, as PyTorch's SDPA).

    S = Q K^T * scale + bias,  P = softmax(S) over the last dim,  A = P * keep,  O = A V
for Q (..., L, E), K (..., S, E), V (..., S, Ev); ``bias`` is the additive mask (a
boolean or causal mask becomes 0 / -inf), ``keep`` the dropout mask scaled by
1 / (1 - dropout_p).  The forward saves P.  VJP (dO = g):
    dV = A^T dO;  dA = dO V^T;  dP = dA * keep;  dS = P (dP - rowsum(dP P));
    dQ = dS K * scale;  dK = dS^T Q * scale;  dbias = dS
``vjp`` runs it on the saved arrays (the row-wise softmax backward kernel for dS);
``backward`` (under ``create_graph``) recomputes P on the tape from Q, K and the bias,
since P depends on them, and runs the same formula on tensors.

The products are NumPy's batched ``matmul`` on the stacked (..., L, E) arrays, the
batch split across the threads (kernels/batched.py: OpenBLAS runs each small product on
one thread): on the ViT-tiny shapes (batch 32, 4 heads, 65 tokens, head dim 32) that
beat einsum and a loop of 2-d products (README, "Kernels").
"""
import math
import operator

import numpy as np

from ..creation import default_generator
from ..function import Primitive
from ..grad_mode import current_scope
from ..kernels import batched, rowwise
from ..tensor import Tensor
from .activation import on_rows, softmax, softmax_rows
from .batching import all_batched_rule
from .binary import where
from .formula import sum_keepdim, sum_to_shape, tensor_namespace
from .half import via_float32
from .registry import SampleInput, make, op
from ..forward_ad import derived_jvp
from .autocast import lower_precision


class ScaledDotProductAttention(Primitive):
    batch_rule = all_batched_rule      # (..., L, E): the batch is one more leading dim
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, q, k, v, bias, keep, scale):
        s = batched.matmul(q, k.mT)
        s *= scale
        s = s if bias is None else s + bias
        p = softmax_rows(s)            # float16 never gets here: the op runs it in float32
        ctx.scale = scale
        ctx.save_for_backward(q, k, v, bias, keep, p)
        return batched.matmul(p if keep is None else p * keep, v)

    @staticmethod
    def vjp(ctx, g):
        q, k, v, bias, keep, p = ctx.saved_arrays
        return _grads(ctx, np, g, q, k, v, bias, keep, p, _softmax_vjp_rows, batched.matmul)

    @staticmethod
    def backward(ctx, g):
        q, k, v, bias, keep, _ = ctx.saved_tensors
        s = q @ k.mT * ctx.scale
        p = softmax(s if bias is None else s + bias, -1)
        return _grads(ctx, tensor_namespace(), g, q, k, v, bias, keep, p, _softmax_vjp,
                      operator.matmul)


def _grads(ctx, m, g, q, k, v, bias, keep, p, softmax_vjp, mm):
    """The VJP above, for arrays (m = NumPy, mm the threaded batched product) or tensors
    (mm = @); one gradient per forward input."""
    need_q, need_k, need_v, need_bias = ctx.needs_input_grad[:4]
    dv = None
    if need_v:
        a = p if keep is None else p * keep
        dv = sum_to_shape(m, mm(a.mT, g), v.shape)               # dV = A^T dO
    dq = dk = dbias = None
    if need_q or need_k or need_bias:
        dp = mm(g, v.mT)                                          # dA = dO V^T
        if keep is not None:
            dp = dp * keep                                        # dP = dA * keep
        ds = softmax_vjp(p, dp)                                   # dS = P (dP - rowsum(dP P))
        dbias = sum_to_shape(m, ds, bias.shape) if need_bias else None
        ds = ds * ctx.scale
        dq = sum_to_shape(m, mm(ds, k), q.shape) if need_q else None        # dQ = dS K scale
        dk = sum_to_shape(m, mm(ds.mT, q), k.shape) if need_k else None     # dK = dS^T Q scale
    return dq, dk, dv, dbias, None, None


def _softmax_vjp(p, dp):
    return p * (dp - sum_keepdim(tensor_namespace(), dp * p, -1))


def _softmax_vjp_rows(p, dp):
    return on_rows(rowwise.softmax_backward, p, dp)


# -- the public op --------------------------------------------------------------------------
def _where():
    s = current_scope()
    return f" in '{s}'" if s else ""


def _additive_mask(attn_mask, is_causal, L, S, dtype):
    """The bias added to the scores: None, a constant array, or a float Tensor that
    requires grad (its gradient is dS summed to its shape)."""
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"scaled_dot_product_attention{_where()}: give attn_mask or "
                             "is_causal, not both")
        return np.where(np.tril(np.ones((L, S), bool)), 0.0, -np.inf).astype(dtype)
    if attn_mask is None:
        return None
    # A tensor mask stays a tensor (tensor ops make its bias): under vmap it may be batched.
    tensor = isinstance(attn_mask, Tensor)
    m = attn_mask if tensor else np.asarray(attn_mask)
    if m.dtype == np.bool_:                    # True = take part (PyTorch's SDPA convention)
        zero, minus_inf = np.zeros((), dtype), np.asarray(-np.inf, dtype)
        return where(m, zero, minus_inf) if tensor else np.where(m, zero, minus_inf)
    if m.dtype.kind != "f":
        raise ValueError(f"scaled_dot_product_attention{_where()}: attn_mask must be bool or "
                         f"floating point, got {m.dtype}")
    if tensor and attn_mask.requires_grad and m.dtype != dtype:
        raise ValueError(f"scaled_dot_product_attention{_where()}: a float attn_mask that "
                         f"requires grad must have the query's dtype {dtype}, got {m.dtype}")
    return m.to(dtype) if tensor else m.astype(dtype, copy=False)


def _keep_mask(shape, p, dtype):
    # Inverted dropout: keep with probability 1 - p and scale by 1 / (1 - p), so E[A] = P.
    if p >= 1.0:
        return np.zeros(shape, dtype)
    keep = default_generator().random(shape) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


def _check(query, key, value, mask_shape):
    shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(f"scaled_dot_product_attention{_where()}: {shapes}: each needs at "
                         "least 2 dims (..., tokens, features)")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention{_where()}: {shapes} do not match: "
                         "need query[..., E] == key[..., E] and key[..., S, :] == value[..., S, :]")
    if not query.dtype == key.dtype == value.dtype:
        raise ValueError(f"scaled_dot_product_attention{_where()}: query, key and value must "
                         f"have one dtype, got {query.dtype}, {key.dtype}, {value.dtype}")
    try:
        return np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2],
                                   mask_shape[:-2])
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention{_where()}: the batch dims of {shapes}"
                         " (and of attn_mask) cannot be broadcast together") from None


def _reference(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    s = query @ np.swapaxes(key, -1, -2) * (scale or 1.0 / math.sqrt(query.shape[-1]))
    L, S = s.shape[-2:]
    if is_causal:
        attn_mask = np.tril(np.ones((L, S), bool))
    if attn_mask is not None:
        s = s + (np.where(attn_mask, 0.0, -np.inf) if attn_mask.dtype == bool else attn_mask)
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ value


def _samples(rng):
    # Dropout has no sample: each call draws a fresh mask, so finite differences would
    # compare different functions.  tests/test_attention.py gradchecks and
    # gradgradchecks it with the seed reset before every call.
    yield SampleInput((make(rng, (3, 4)), make(rng, (5, 4)), make(rng, (5, 2))), {}, "2d")
    yield SampleInput((make(rng, (2, 2, 3, 4)), make(rng, (2, 2, 5, 4)), make(rng, (2, 2, 5, 3))),
                      {}, "heads")
    attend = rng.random((3, 5)) < 0.6
    attend[:, 0] = True                        # every query attends somewhere (no NaN rows)
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (2, 5, 4)), make(rng, (2, 5, 3)), attend),
                      {}, "bool-mask")
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (2, 5, 4)), make(rng, (2, 5, 3)),
                       make(rng, (2, 1, 5))), {}, "float-mask-with-grad")
    yield SampleInput((make(rng, (2, 4, 3)), make(rng, (2, 4, 3)), make(rng, (2, 4, 3))),
                      dict(is_causal=True), "causal")
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (2, 5, 4)), make(rng, (2, 5, 3))),
                      dict(scale=0.3), "scale")
    yield SampleInput((make(rng, (2, 1, 3, 4)), make(rng, (3, 5, 4)), make(rng, (1, 5, 2))),
                      {}, "broadcast-batch")
    yield SampleInput((make(rng, (4, 3), noncontig=True), make(rng, (5, 3)),
                       make(rng, (5, 2), noncontig=True)), {}, "noncontig")


@op(ScaledDotProductAttention, samples=_samples, ref=_reference)
@lower_precision
@via_float32                  # the backward's softmax kernel has no float16 code
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(Q K^T * scale + M) V over (..., L, E) / (..., S, E), scale defaulting to
    1/sqrt(E).  A boolean attn_mask marks positions that *take part* (True = attend;
    PyTorch's SDPA convention); a float mask is added to the scores (and gets a
    gradient when it requires one).  dropout_p > 0 drops attention weights whenever
    given, as in PyTorch (layers pass 0 in eval mode).  enable_gqa is accepted for
    PyTorch's signature, but grouped key/value heads are not expanded: the batch dims
    of query, key and value must broadcast."""
    mask_shape = ()
    if attn_mask is not None and not is_causal:
        mask_shape = np.shape(attn_mask.array if isinstance(attn_mask, Tensor) else attn_mask)
    batch = _check(query, key, value, mask_shape)
    L, S = query.shape[-2], key.shape[-2]
    if any(t not in (1, n) for t, n in zip(mask_shape[-2:][::-1], (S, L))):
        raise ValueError(f"scaled_dot_product_attention{_where()}: attn_mask of shape "
                         f"{mask_shape} does not broadcast to the scores' (..., {L}, {S})")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention{_where()}: dropout_p must be in [0, 1], "
                         f"got {dropout_p}")
    dtype = query.dtype
    bias = _additive_mask(attn_mask, is_causal, L, S, dtype)
    keep = _keep_mask(batch + (L, S), dropout_p, dtype) if dropout_p > 0.0 else None
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    return ScaledDotProductAttention.apply(query, key, value, bias, keep, s)
