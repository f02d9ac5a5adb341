"""Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"),
torchvision's layout and key names (``conv_proj``, ``class_token``,
``encoder.pos_embedding``, ``encoder.layers.encoder_layer_0.self_attention``, ...):
patch embedding by a stride-p conv, a class token, learned position embeddings, a
pre-norm transformer encoder and a linear head on the class token.  ``checkpoint=N`` runs
the encoder blocks as N checkpointed segments while recording (autograd.utils.checkpoint)."""
from collections import OrderedDict
import math

import numpy as np

from autograd.grad_mode import is_grad_enabled
from autograd.ops.shape import cat
from autograd.utils.checkpoint import checkpoint_sequential

from .. import init
from ..containers import Sequential
from ..layers.activation import GELU
from ..layers.conv import Conv2d
from ..layers.dropout import Dropout
from ..layers.linear import Linear
from ..layers.normalization import LayerNorm
from ..layers.transformer import MultiheadAttention
from ..module import Module, module_path
from ..parameter import Parameter


class MLPBlock(Sequential):
    """Linear -> GELU -> Dropout -> Linear -> Dropout (keys 0 and 3 as torchvision)."""

    def __init__(self, in_dim, mlp_dim, dropout):
        super().__init__(Linear(in_dim, mlp_dim), GELU(), Dropout(dropout),
                         Linear(mlp_dim, in_dim), Dropout(dropout))
        for m in (self[0], self[3]):
            init.xavier_uniform_(m.weight)
            init.normal_(m.bias, std=1e-6)


class EncoderBlock(Module):
    """Pre-norm: x = x + drop(attn(ln_1(x))); x = x + mlp(ln_2(x))."""

    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, eps=1e-6):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = LayerNorm(hidden_dim, eps=eps)
        self.self_attention = MultiheadAttention(hidden_dim, num_heads, dropout=attention_dropout,
                                                 batch_first=True)
        self.dropout = Dropout(dropout)
        self.ln_2 = LayerNorm(hidden_dim, eps=eps)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(Module):
    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                 attention_dropout, eps=1e-6, checkpoint=0):
        super().__init__()
        self.checkpoint_segments = checkpoint
        self.pos_embedding = Parameter(np.empty((1, seq_length, hidden_dim), np.float32))
        init.normal_(self.pos_embedding, std=0.02)
        self.dropout = Dropout(dropout)
        self.layers = Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout,
                                                attention_dropout, eps))
            for i in range(num_layers)))
        self.ln = LayerNorm(hidden_dim, eps=eps)

    def forward(self, x):
        if x.ndim != 3 or tuple(x.shape[1:]) != tuple(self.pos_embedding.shape[1:]):
            raise ValueError(f"{module_path(self)} (Encoder): expected (N, {self.pos_embedding.shape[1]}, "
                             f"{self.pos_embedding.shape[2]}), got {tuple(x.shape)}")
        x = self.dropout(x + self.pos_embedding)
        if self.checkpoint_segments and is_grad_enabled():       # the blocks as N segments
            x = checkpoint_sequential(self.layers, min(self.checkpoint_segments, len(self.layers)),
                                      x, use_reentrant=False)
        else:
            x = self.layers(x)
        return self.ln(x)


class VisionTransformer(Module):
    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim,
                 dropout=0.0, attention_dropout=0.0, num_classes=1000, in_channels=3,
                 checkpoint=0):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be divisible by patch_size {patch_size}")
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = Conv2d(in_channels, hidden_dim, patch_size, stride=patch_size)
        # torchvision's init of the patch embedding: truncated normal, std sqrt(1/fan_in)
        fan_in = in_channels * patch_size * patch_size
        init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1.0 / fan_in))
        init.zeros_(self.conv_proj.bias)
        self.class_token = Parameter(np.zeros((1, 1, hidden_dim), np.float32))
        seq = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(seq, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                               attention_dropout, checkpoint=checkpoint)
        self.heads = Sequential(OrderedDict(head=Linear(hidden_dim, num_classes)))
        init.zeros_(self.heads.head.weight)
        init.zeros_(self.heads.head.bias)

    def _process_input(self, x):
        n, c, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(f"{module_path(self)} (VisionTransformer): expected images of "
                             f"{self.image_size}x{self.image_size}, got {tuple(x.shape)}")
        x = self.conv_proj(x)                              # (N, D, H/p, W/p)
        return x.reshape(n, self.hidden_dim, -1).permute(0, 2, 1)   # (N, S, D)

    def forward(self, x):
        x = self._process_input(x)
        cls = self.class_token.expand(x.shape[0], 1, self.hidden_dim)
        x = self.encoder(cat([cls, x], 1))
        return self.heads(x[:, 0])


def vit_tiny(image_size=224, patch_size=16, **kwargs) -> VisionTransformer:
    """ViT-Ti (Touvron et al., 2021, DeiT): dim 192, depth 12, 3 heads, MLP 768."""
    return VisionTransformer(image_size, patch_size, 12, 3, 192, 768, **kwargs)


def vit_small(image_size=224, patch_size=16, **kwargs) -> VisionTransformer:
    """ViT-S: dim 384, depth 12, 6 heads, MLP 1536."""
    return VisionTransformer(image_size, patch_size, 12, 6, 384, 1536, **kwargs)


def vit_b_16(**kwargs) -> VisionTransformer:
    """ViT-B/16: 86,567,656 parameters with 1000 classes at 224x224."""
    return VisionTransformer(224, 16, 12, 12, 768, 3072, **kwargs)
