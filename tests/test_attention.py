"""The fused scaled_dot_product_attention primitive (autograd/ops/attention.py): one node
on the tape, dropout gradchecked with a fixed seed (the registry sweep covers the
other samples), agreement with PyTorch (a pinned dev dependency, imported
unconditionally) and with the composed form in float32, clear errors."""
import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
from autograd.ops.attention import ScaledDotProductAttention


def _qkv(rng, batch=(2, 3), L=4, S=5, E=6, Ev=3, dtype=np.float64):
    shapes = [batch + (L, E), batch + (S, E), batch + (S, Ev)]
    return [ag.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _node_names(out):
    """Names of every node reachable from ``out`` (walking next_functions)."""
    names, stack, seen = [], [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if not isinstance(node, ag.Primitive) or id(node) in seen:      # None, or a leaf's AccumulateGrad
            continue
        seen.add(id(node))
        names.append(type(node).__name__)
        stack.extend(edge[0] for edge in node.next_functions)
    return names


def test_one_node_on_the_tape():
    q, k, v = _qkv(np.random.default_rng(0))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=0.1)
    assert type(out.grad_fn) is ScaledDotProductAttention
    assert _node_names(out) == ["ScaledDotProductAttention"]
    assert [e[0].variable for e in out.grad_fn.next_functions[:3]] == [q, k, v]


def test_multihead_attention_without_weights_records_one_attention_node():
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = ag.tensor(np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32))
    names = _node_names(m(x, x, x, need_weights=False)[0])
    assert names.count("ScaledDotProductAttention") == 1
    assert "Softmax" not in names and "MatMul" not in names


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_dropout_gradcheck_and_gradgradcheck_with_the_seed_fixed(p):
    """A fresh mask per call would make finite differences meaningless: reset the seed
    before every call, so each evaluation drops the same weights."""
    q, k, v = _qkv(np.random.default_rng(2), batch=(2,), L=3, S=4, E=3, Ev=2)

    def f(q, k, v):
        ag.manual_seed(7)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    assert ag.gradcheck(f, [q, k, v])
    assert ag.gradgradcheck(f, [q, k, v])


@pytest.mark.parametrize("kw", [dict(is_causal=True), dict(dropout_p=0.4), dict(scale=0.2)])
def test_differentiable_backward_gives_the_array_vjps_gradients(kw):
    """gradcheck drives ``vjp`` and gradgradcheck differentiates ``backward``; this holds
    the first-order gradients of the two paths against each other."""
    rng = np.random.default_rng(8)
    q, k, v = _qkv(rng)
    bias = ag.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    if "is_causal" in kw:
        bias = None
    inputs = [q, k, v] + ([bias] if bias is not None else [])
    g = ag.tensor(rng.standard_normal((2, 3, 4, 3)))
    grads = []
    for create_graph in (False, True):
        ag.manual_seed(3)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, **kw)
        grads.append(ag.grad(out, inputs, g, create_graph=create_graph))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_dropout_drops_weights_and_scales_the_kept_ones():
    q, k, v = _qkv(np.random.default_rng(3), batch=(64,))
    ag.manual_seed(11)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    ag.manual_seed(11)
    keep = ag.creation.default_generator().random((64, 4, 5)) >= 0.25
    s = q.numpy() @ k.numpy().swapaxes(-1, -2) / np.sqrt(6)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), (w * keep / 0.75) @ v.numpy(), rtol=1e-12)
    assert 0.2 < 1 - keep.mean() < 0.3


def _torch(t):
    return torch.tensor(t.numpy(), requires_grad=True)


@pytest.mark.parametrize("kind", ["none", "bool", "float-with-grad", "causal", "scale", "broadcast"])
def test_matches_pytorch_forward_and_gradients(kind):
    rng = np.random.default_rng(4)
    q, k, v = _qkv(rng)
    kw, tkw = {}, {}
    grads = [q, k, v]
    if kind == "bool":
        m = rng.random((4, 5)) < 0.6
        m[:, 1] = True
        kw["attn_mask"], tkw["attn_mask"] = ag.tensor(m), torch.tensor(m)
    elif kind == "float-with-grad":
        m = ag.tensor(rng.standard_normal((3, 1, 5)), requires_grad=True)
        kw["attn_mask"], tkw["attn_mask"] = m, _torch(m)
        grads.append(m)
    elif kind == "causal":
        kw["is_causal"] = tkw["is_causal"] = True
    elif kind == "scale":
        kw["scale"] = tkw["scale"] = 0.7
    elif kind == "broadcast":                # one key/value set for every query batch
        k, v = (ag.tensor(t.numpy()[:1, :1], requires_grad=True) for t in (k, v))
        grads = [q, k, v]
    theirs = [_torch(t) for t in (q, k, v)]
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, **tkw)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    r = rng.standard_normal(ref.shape)
    (out * ag.tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    their_grads = theirs + ([tkw["attn_mask"]] if kind == "float-with-grad" else [])
    for a, b in zip(grads, their_grads):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_fused_agrees_with_the_composed_form_in_float32():
    """MultiheadAttention with need_weights=True runs the composed ops, with False the
    fused primitive: same output and gradients to float32 precision."""
    rng = np.random.default_rng(5)
    m = nn.MultiheadAttention(16, 4, batch_first=True)
    x = rng.standard_normal((3, 7, 16)).astype(np.float32)
    mask = rng.random((7, 7)) < 0.3
    np.fill_diagonal(mask, False)
    results = []
    for need_weights in (True, False):
        t = ag.tensor(x, requires_grad=True)
        m.zero_grad()
        out = m(t, t, t, need_weights=need_weights, attn_mask=ag.tensor(mask))[0]
        (out * out).sum().backward()
        assert out.dtype == np.float32
        results.append([out.numpy(), t.grad.numpy(), m.in_proj_weight.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_float16_runs_through_float32():
    q, k, v = (t.detach().half().requires_grad_() for t in _qkv(np.random.default_rng(9)))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out.sum().backward()
    assert out.dtype == q.grad.dtype == np.float16
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("call,match", [
    (lambda q, k, v: F.scaled_dot_product_attention(q, k[..., :2], v),
     r"scaled_dot_product_attention: query \(2, 3, 4, 6\), key \(2, 3, 5, 2\).*do not match"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), bool),
                                                    is_causal=True), r"attn_mask or is_causal"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 3), bool)),
     r"attn_mask of shape \(4, 3\) does not broadcast to the scores' \(\.\.\., 4, 5\)"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), int)),
     r"attn_mask must be bool or floating point, got int64"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k.float(), v),
     r"must have one dtype, got (torch\.)?float64, (torch\.)?float32, (torch\.)?float64"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=1.5),
     r"dropout_p must be in \[0, 1\], got 1.5"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k[:1, :2], v[:1, :2]),
     r"batch dims of .* cannot be broadcast together"),
    (lambda q, k, v: F.scaled_dot_product_attention(q[0, 0, 0], k, v), r"at least 2 dims"),
])
def test_bad_calls_are_refused_clearly(call, match):
    with pytest.raises(ValueError, match=match):
        call(*_qkv(np.random.default_rng(6)))
