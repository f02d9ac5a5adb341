"""nn against PyTorch CPU (a pinned test dependency, see pyproject's dev extra; this
file imports it unconditionally -- it fails, never skips, without it).  PyTorch
modules' state dicts are exported as NumPy arrays and loaded into ours unchanged;
outputs, running statistics and input gradients must match."""
import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F


def _load(ours, theirs):
    theirs.double()
    ours.double().load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours


def _same(ours_out, theirs_out, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(ours_out.array, theirs_out.detach().numpy(), rtol=rtol, atol=atol)


def _pair(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return ag.tensor(x, dtype=ag.float64, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(ours, theirs, *shapes, kwargs=None):
    """Same forward and same input gradients of sum(out * r) for a random r."""
    pairs = [_pair(s, i) for i, s in enumerate(shapes)]
    out = ours(*[p[0] for p in pairs], **(kwargs or {}))
    ref = theirs(*[p[1] for p in pairs], **(kwargs or {}))
    out, ref = (out[0], ref[0]) if isinstance(out, tuple) else (out, ref)
    _same(out, ref)
    r = np.random.default_rng(9).standard_normal(ref.shape)
    (out * ag.tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.array, b.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_small_cnn_state_dict_ports_from_pytorch():
    tn = torch.nn
    theirs = tn.Sequential(tn.Conv2d(3, 4, 3, padding=1), tn.BatchNorm2d(4), tn.ReLU(),
                           tn.MaxPool2d(2), tn.Conv2d(4, 4, 3, stride=2, groups=2),
                           tn.GroupNorm(2, 4), tn.ConvTranspose2d(4, 2, 2, stride=2),
                           tn.Flatten(), tn.Linear(2 * 2 * 2, 3))
    ours = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2, groups=2),
                         nn.GroupNorm(2, 4), nn.ConvTranspose2d(4, 2, 2, stride=2),
                         nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load(ours, theirs)
    _check(ours, theirs, (2, 3, 6, 6))
    _same(ours[1].running_var, theirs[1].running_var)
    assert int(ours[1].num_batches_tracked.item()) == int(theirs[1].num_batches_tracked)
    ours.eval(), theirs.eval()
    _check(ours, theirs, (2, 3, 6, 6))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_matches(norm_first):
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                               norm_first=norm_first, activation="gelu")
    theirs = torch.nn.TransformerEncoder(layer_t, 2, enable_nested_tensor=False)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                            norm_first=norm_first, activation="gelu"), 2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load(ours, theirs)
    _check(ours, theirs, (2, 5, 8))


def test_multihead_attention_masks_and_weights_match():
    theirs = torch.nn.MultiheadAttention(6, 3)
    ours = _load(nn.MultiheadAttention(6, 3), theirs)
    rng = np.random.default_rng(3)
    am = rng.uniform(size=(4, 5)) < 0.3
    am[:, 0] = False
    kp = np.zeros((2, 5), bool)
    kp[0, 3] = True
    q, k = rng.standard_normal((4, 2, 6)), rng.standard_normal((5, 2, 6))
    out, w = ours(ag.tensor(q), ag.tensor(k), ag.tensor(k), attn_mask=ag.tensor(am),
                  key_padding_mask=ag.tensor(kp))
    ref, rw = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(k), attn_mask=torch.tensor(am),
                     key_padding_mask=torch.tensor(kp))
    _same(out, ref)
    _same(w, rw)
    fm = rng.standard_normal((2 * 3, 4, 5))
    out, w = ours(ag.tensor(q), ag.tensor(k), ag.tensor(k), attn_mask=ag.tensor(fm),
                  average_attn_weights=False)
    ref, rw = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(k), attn_mask=torch.tensor(fm),
                     average_attn_weights=False)
    _same(out, ref)
    _same(w, rw)


@pytest.mark.parametrize("mode,kwargs", [("nearest", dict(scale_factor=2)), ("nearest", dict(size=(5, 3))),
                                         ("bilinear", dict(scale_factor=1.5)),
                                         ("bilinear", dict(size=(7, 2), align_corners=True))])
def test_interpolate_matches(mode, kwargs):
    x, xt = _pair((1, 2, 3, 4))
    _same(F.interpolate(x, mode=mode, **kwargs), torch.nn.functional.interpolate(xt, mode=mode, **kwargs))


def test_losses_match():
    tf = torch.nn.functional
    x, xt = _pair((6, 5))
    t = np.array([0, 4, 2, -100, 1, 4])
    w = np.random.default_rng(1).uniform(0.5, 2, 5)
    for kw in [dict(label_smoothing=0.3), dict(reduction="sum", label_smoothing=0.1)]:
        _same(F.cross_entropy(x, ag.tensor(t), weight=ag.tensor(w), **kw),
              tf.cross_entropy(xt, torch.tensor(t), weight=torch.tensor(w), **kw))
    p = np.random.default_rng(2).dirichlet(np.ones(5), 6)
    _same(F.cross_entropy(x, ag.tensor(p), weight=ag.tensor(w), label_smoothing=0.2),
          tf.cross_entropy(xt, torch.tensor(p), weight=torch.tensor(w), label_smoothing=0.2))
    tt = np.array([0, 4, 2, 3, 1, 4])
    _same(F.multi_margin_loss(x, ag.tensor(tt), p=2, margin=0.5, weight=ag.tensor(w)),
          tf.multi_margin_loss(xt, torch.tensor(tt), p=2, margin=0.5, weight=torch.tensor(w)))
    y = np.random.default_rng(3).uniform(size=(6, 5))
    _same(F.binary_cross_entropy_with_logits(x, ag.tensor(y), pos_weight=ag.tensor(w)),
          tf.binary_cross_entropy_with_logits(xt, torch.tensor(y), pos_weight=torch.tensor(w)))
    _same(F.smooth_l1_loss(x, ag.tensor(y), beta=0.5), tf.smooth_l1_loss(xt, torch.tensor(y), beta=0.5))
    _same(F.huber_loss(x, ag.tensor(y), delta=0.5), tf.huber_loss(xt, torch.tensor(y), delta=0.5))


def test_normalisations_match():
    for ours, theirs, shape in [
        (nn.LocalResponseNorm(3, 0.1, 0.75, 1.5), torch.nn.LocalResponseNorm(3, 0.1, 0.75, 1.5), (2, 5, 3, 3)),
        (nn.InstanceNorm2d(3, affine=True), torch.nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 4)),
        (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3)), (4, 2, 3)),
        (nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None), (4, 3, 2)),
    ]:
        _check(_load(ours, theirs), theirs, shape)


def test_parameter_counts_of_layers_match():
    pairs = [(nn.MultiheadAttention(32, 4), torch.nn.MultiheadAttention(32, 4)),
             (nn.TransformerEncoderLayer(32, 4, 64), torch.nn.TransformerEncoderLayer(32, 4, 64)),
             (nn.Bilinear(3, 4, 5), torch.nn.Bilinear(3, 4, 5)),
             (nn.PReLU(7), torch.nn.PReLU(7)), (nn.Embedding(10, 3), torch.nn.Embedding(10, 3))]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [tuple(v.shape) for v in ours.state_dict().values()] == \
            [tuple(v.shape) for v in theirs.state_dict().values()]
