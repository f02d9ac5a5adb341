"""TransformerDecoderLayer, TransformerDecoder and Transformer against PyTorch CPU (a
pinned dev dependency, imported unconditionally: this file fails, never skips, without
it).  PyTorch's state dicts load into ours unchanged; outputs and the gradients of
src, tgt and memory must match with every mask PyTorch's API takes."""
import math

import numpy as np
import pytest
import torch

import autograd as ag
import nn

D, HEADS, FF = 8, 2, 12
# PyTorch's own notes on the mixed float/boolean masks exercised here, and on its fast path.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched key_padding_mask:UserWarning",
    "ignore:enable_nested_tensor is True:UserWarning")


def _load(ours, theirs):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.double()
    ours.double().load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours


def _pair(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    return ag.tensor(x, dtype=ag.float64, requires_grad=True), torch.tensor(x, requires_grad=True)


def _masks(batch_first, tgt_len, src_len, n, seed=5):
    """Float causal tgt_mask, boolean memory_mask and key padding masks, as both kinds."""
    rng = np.random.default_rng(seed)
    causal = nn.Transformer.generate_square_subsequent_mask(tgt_len).numpy().astype(np.float64)
    memory_mask = rng.uniform(size=(tgt_len, src_len)) < 0.3
    memory_mask[:, 0] = False
    tgt_kpm = np.zeros((n, tgt_len), bool)
    tgt_kpm[0, -1] = True
    mem_kpm = np.zeros((n, src_len), bool)
    mem_kpm[1, -2:] = True
    arrays = dict(tgt_mask=causal, memory_mask=memory_mask, tgt_key_padding_mask=tgt_kpm,
                  memory_key_padding_mask=mem_kpm)
    return ({k: ag.tensor(v) for k, v in arrays.items()},
            {k: torch.tensor(v) for k, v in arrays.items()})


def _compare(out, ref, pairs):
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-11)
    r = np.random.default_rng(9).standard_normal(ref.shape)
    (out * ag.tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("norm_first,batch_first,activation", [
    (False, False, "relu"), (True, True, "gelu"), (False, True, "gelu"), (True, False, "relu")])
def test_transformer_decoder_matches_pytorch(norm_first, batch_first, activation):
    kw = dict(dim_feedforward=FF, dropout=0.0, activation=activation, batch_first=batch_first,
              norm_first=norm_first)
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, HEADS, **kw), 2,
                                         norm=torch.nn.LayerNorm(D))
    ours = _load(nn.TransformerDecoder(nn.TransformerDecoderLayer(D, HEADS, **kw), 2,
                                       norm=nn.LayerNorm(D)), theirs)
    n, t, s = 2, 4, 5
    tgt = _pair((n, t, D) if batch_first else (t, n, D), 0)
    mem = _pair((n, s, D) if batch_first else (s, n, D), 1)
    masks, tmasks = _masks(batch_first, t, s, n)
    out = ours(tgt[0], mem[0], tgt_is_causal=True, **masks)
    ref = theirs(tgt[1], mem[1], tgt_is_causal=True, **tmasks)
    _compare(out, ref, [tgt, mem])


def test_decoder_layer_unbatched_and_without_masks_matches_pytorch():
    theirs = torch.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0)
    ours = _load(nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0), theirs)
    tgt, mem = _pair((3, D), 0), _pair((6, D), 1)
    _compare(ours(tgt[0], mem[0]), theirs(tgt[1], mem[1]), [tgt, mem])


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_pytorch(batch_first):
    kw = dict(d_model=D, nhead=HEADS, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=FF, dropout=0.0, batch_first=batch_first)
    theirs = torch.nn.Transformer(**kw)
    ours = _load(nn.Transformer(**kw), theirs)
    n, t, s = 2, 4, 5
    src = _pair((n, s, D) if batch_first else (s, n, D), 0)
    tgt = _pair((n, t, D) if batch_first else (t, n, D), 1)
    masks, tmasks = _masks(batch_first, t, s, n)
    src_kpm = np.zeros((n, s), bool)
    src_kpm[0, -1] = True
    out = ours(src[0], tgt[0], src_key_padding_mask=ag.tensor(src_kpm), **masks)
    ref = theirs(src[1], tgt[1], src_key_padding_mask=torch.tensor(src_kpm), **tmasks)
    _compare(out, ref, [src, tgt])


def test_square_subsequent_mask_and_xavier_init_follow_pytorch():
    for sz in (1, 4):
        np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(sz).numpy(),
                                      torch.nn.Transformer.generate_square_subsequent_mask(sz).numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3).dtype == np.float32
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=32)
    w = model.decoder.layers[0].linear1.weight.numpy()
    bound = math.sqrt(6 / (16 + 32))            # xavier_uniform, not Linear's kaiming bound
    assert np.abs(w).max() <= bound and np.abs(w).max() > 1 / math.sqrt(16)
    assert list(model.state_dict()) == list(torch.nn.Transformer(
        d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
        dim_feedforward=32).state_dict())


def test_dropout_is_active_in_training_only():
    layer = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.5).double()
    tgt, mem = ag.randn(3, 2, D, dtype=ag.float64), ag.randn(4, 2, D, dtype=ag.float64)
    layer.eval()
    a, b = layer(tgt, mem).numpy(), layer(tgt, mem).numpy()
    np.testing.assert_array_equal(a, b)
    layer.train()
    assert not np.allclose(layer(tgt, mem).numpy(), a)


@pytest.mark.parametrize("call,match", [
    (lambda: nn.Transformer(D, HEADS, 1, 1, FF)(ag.zeros(5, 2, D), ag.zeros(4, 3, D)),
     r"Transformer.*batch number of src and tgt must be equal"),
    (lambda: nn.Transformer(D, HEADS, 1, 1, FF)(ag.zeros(5, 2, D), ag.zeros(4, 2, 6)),
     r"Transformer.*d_model=8"),
    (lambda: nn.TransformerDecoderLayer(D, HEADS, FF)(ag.zeros(4, 2, D), ag.zeros(5, D)),
     r"TransformerDecoderLayer.*: tgt and memory must both be batched"),
])
def test_clear_errors_name_the_module(call, match):
    with pytest.raises(ValueError, match=match):
        call()
