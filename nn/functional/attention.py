"""Scaled dot-product attention (one fused primitive, autograd/ops/attention.py) and the
multi-head attention forward around it."""
import math

import numpy as np

from autograd.grad_mode import current_scope
from autograd.ops.activation import softmax
from autograd.ops.attention import scaled_dot_product_attention
from autograd.tensor import Tensor

from .linear import dropout, linear

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _where():
    s = current_scope()
    return f" in '{s}'" if s else ""


def _mask_array(mask):
    return mask.array if isinstance(mask, Tensor) else np.asarray(mask)


def _attention_with_weights(query, key, value, additive, dropout_p, training):
    """softmax(q k^T / sqrt(E) + additive) v composed from ops, for need_weights=True,
    which returns the (dropped-out) weights as PyTorch does; returns (output, weights)."""
    scores = query.matmul(key.transpose(-2, -1)) * (1.0 / math.sqrt(query.shape[-1]))
    if additive is not None:
        scores = scores + additive
    weights = dropout(softmax(scores, -1), dropout_p, training)
    return weights.matmul(value), weights


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 out_proj_weight, out_proj_bias, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, average_attn_weights=True,
                                 dropout_p=0.0, training=True, is_causal=False, batch_first=False):
    """nn.MultiheadAttention's computation.  Masks follow MultiheadAttention's convention
    (boolean True = *not allowed*; float masks are added): attn_mask is (L, S) or
    (N*num_heads, L, S), key_padding_mask is (N, S).  Returns (output, weights) with
    weights averaged over heads when average_attn_weights."""
    self_attention = query is key and key is value
    # Batch first inside: the heads are then views of the projections, (N, heads, L, hd),
    # and their gradients come back contiguous (the sequence-first layout copied both).
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        if key_padding_mask is not None:
            key_padding_mask = _mask_array(key_padding_mask)[None]
    elif not batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    N, L, E = query.shape
    S = key.shape[1]
    if E % num_heads:
        raise ValueError(f"multi_head_attention{_where()}: embed_dim {E} not divisible by "
                         f"num_heads {num_heads}")
    if in_proj_weight.shape[1] != E:
        raise ValueError(f"multi_head_attention{_where()}: expected query with embed_dim "
                         f"{in_proj_weight.shape[1]} in the last dim, got {tuple(query.shape)}")
    hd = E // num_heads
    if self_attention:
        q, k, v = linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
    else:
        wq, wk, wv = in_proj_weight.chunk(3, 0)
        bq, bk, bv = in_proj_bias.chunk(3, 0) if in_proj_bias is not None else (None,) * 3
        q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    def heads(t, n):   # (N, n, E) -> (N, heads, n, hd)
        return t.reshape(N, n, num_heads, hd).permute(0, 2, 1, 3)
    q, k, v = heads(q, L), heads(k, S), heads(v, S)

    additive = np.zeros((1, 1, 1, 1), query.dtype)
    any_mask = False
    if is_causal and attn_mask is None:
        attn_mask = ~np.tril(np.ones((L, S), bool))
    if attn_mask is not None:
        m = _mask_array(attn_mask)
        add = np.where(m, -np.inf, 0.0) if m.dtype == np.bool_ else m
        add = add.reshape(N, num_heads, L, S) if add.ndim == 3 else add.reshape(1, 1, L, S)
        if add.shape[-2:] != (L, S):
            raise ValueError(f"multi_head_attention{_where()}: attn_mask shape {m.shape} should "
                             f"be ({L}, {S}) or ({N * num_heads}, {L}, {S})")
        additive = additive + add.astype(query.dtype)
        any_mask = True
    if key_padding_mask is not None:
        kp = _mask_array(key_padding_mask)
        if kp.shape != (N, S):
            raise ValueError(f"multi_head_attention{_where()}: key_padding_mask shape {kp.shape} "
                             f"should be ({N}, {S})")
        add = np.where(kp, -np.inf, 0.0) if kp.dtype == np.bool_ else kp
        additive = additive + add.reshape(N, 1, 1, S).astype(query.dtype)
        any_mask = True
    additive = additive if any_mask else None
    if need_weights:
        out, weights = _attention_with_weights(q, k, v, additive, dropout_p, training)
    else:               # the fused primitive, one node (PyTorch's fast path, too)
        out = scaled_dot_product_attention(q, k, v, additive, dropout_p if training else 0.0)
    out = out.permute(0, 2, 1, 3).reshape(N, L, E)
    out = linear(out, out_proj_weight, out_proj_bias)
    if unbatched:
        out = out.squeeze(0)
    elif not batch_first:
        out = out.transpose(0, 1)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = weights.mean(1)
    if unbatched:
        weights = weights.squeeze(0)
    return out, weights
