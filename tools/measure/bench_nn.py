"""nn workloads for tools/bench.py (``python -m tools.bench --only nn:``).

Convention (shared with tools/bench.py): ``workloads()`` returns
``{name: (setup, ours, torch_or_None, info)}``; ``state = setup()`` builds both
sides with the same initial weights (ours exported with ``state_dict`` and loaded
into a PyTorch module with the same key names), ``ours(state)`` / ``torch(state)``
run one full training iteration (forward, loss, zero_grad, backward, optimizer
step).  ``torch`` is used only when PyTorch is importable.

Workloads (issue 5):
- MLP 784-256-256-10 built from nn.Linear/nn.ReLU, batch 128, cross-entropy, optim.SGD.
- ResNet-18, CIFAR stem (3x3 conv, no max pool), batch 16 of 3x32x32, 10 classes, SGD(momentum 0.9).
- ViT-tiny: 32x32 images, patch 4, dim 128, depth 4, 4 heads, MLP ratio 4, batch 32, AdamW.
- A small GPT (issue 12): token + position embedding, 2 blocks of causal self-attention with
  ``masked_fill`` and a tanh-GELU written ``x ** 3`` (as GPT-2's), tied head, cross-entropy
  over the vocabulary, AdamW.  One source serves both frameworks.
"""
from collections import OrderedDict

import numpy as np


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _port(ours, theirs):
    """Copy our weights into the PyTorch twin (same state_dict keys)."""
    torch = _torch()
    sd = {k: torch.from_numpy(np.array(v.array)) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(sd)
    return theirs


def _setup(build_ours, build_torch, x_shape, n_classes, opt_ours, opt_torch, batch):
    import autograd as ag
    ag.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + x_shape).astype(np.float32)
    y = rng.integers(0, n_classes, batch)
    model = build_ours()
    state = {"model": model, "opt": opt_ours(model), "x": ag.tensor(x), "y": ag.tensor(y)}
    torch = _torch()
    if torch is not None:
        tm = _port(model, build_torch(torch))
        state.update(tmodel=tm, topt=opt_torch(torch, tm), tx=torch.from_numpy(x),
                     ty=torch.from_numpy(y))
    return state


def _step_ours(state):
    import nn.functional as F
    state["opt"].zero_grad()
    loss = F.cross_entropy(state["model"](state["x"]), state["y"])
    loss.backward()
    state["opt"].step()


def _step_torch(state):
    torch = _torch()
    state["topt"].zero_grad()
    loss = torch.nn.functional.cross_entropy(state["tmodel"](state["tx"]), state["ty"])
    loss.backward()
    state["topt"].step()


# -- MLP ------------------------------------------------------------------------------
def _mlp_setup():
    import nn
    import optim
    return _setup(lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                                        nn.ReLU(), nn.Linear(256, 10)),
                  lambda t: t.nn.Sequential(t.nn.Linear(784, 256), t.nn.ReLU(), t.nn.Linear(256, 256),
                                            t.nn.ReLU(), t.nn.Linear(256, 10)),
                  (784,), 10, lambda m: optim.SGD(m.parameters(), lr=0.01),
                  lambda t, m: t.optim.SGD(m.parameters(), lr=0.01), 128)


# -- ResNet-18 (CIFAR) ----------------------------------------------------------------
def _torch_resnet18(torch, num_classes=10):
    """torchvision's ResNet-18 layout with the CIFAR stem (torchvision is not a dependency)."""
    tn = torch.nn

    class Block(tn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(cout)
            self.relu = tn.ReLU(inplace=True)
            self.conv2 = tn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tn.Sequential(tn.Conv2d(cin, cout, 1, stride, bias=False),
                                                tn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(tn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = tn.BatchNorm2d(64)
            self.relu = tn.ReLU(inplace=True)
            cin = 64
            for i, w in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", tn.Sequential(Block(cin, w, stride), Block(w, w, 1)))
                cin = w
            self.avgpool = tn.AdaptiveAvgPool2d(1)
            self.fc = tn.Linear(512, num_classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))
    return Net()


def _resnet_setup():
    import optim
    from nn.models import resnet18
    return _setup(lambda: resnet18(num_classes=10, cifar_stem=True), _torch_resnet18, (3, 32, 32),
                  10, lambda m: optim.SGD(m.parameters(), lr=0.01, momentum=0.9),
                  lambda t, m: t.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), 16)


# -- ViT-tiny -----------------------------------------------------------------------
VIT = dict(image_size=32, patch_size=4, num_layers=4, num_heads=4, hidden_dim=128, mlp_dim=512)


def _torch_vit(torch, num_classes=10):
    """torchvision's VisionTransformer layout (same state_dict keys as nn.models.vit)."""
    tn = torch.nn
    c = VIT
    d = c["hidden_dim"]

    class EncoderBlock(tn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = tn.LayerNorm(d, eps=1e-6)
            self.self_attention = tn.MultiheadAttention(d, c["num_heads"], batch_first=True)
            self.dropout = tn.Dropout(0.0)
            self.ln_2 = tn.LayerNorm(d, eps=1e-6)
            self.mlp = tn.Sequential(tn.Linear(d, c["mlp_dim"]), tn.GELU(), tn.Dropout(0.0),
                                     tn.Linear(c["mlp_dim"], d), tn.Dropout(0.0))

        def forward(self, x):
            y = self.ln_1(x)
            y, _ = self.self_attention(y, y, y, need_weights=False)
            x = x + self.dropout(y)
            return x + self.mlp(self.ln_2(x))

    class Encoder(tn.Module):
        def __init__(self, seq):
            super().__init__()
            self.pos_embedding = tn.Parameter(torch.zeros(1, seq, d))
            self.dropout = tn.Dropout(0.0)
            self.layers = tn.Sequential(OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock()) for i in range(c["num_layers"])))
            self.ln = tn.LayerNorm(d, eps=1e-6)

        def forward(self, x):
            return self.ln(self.layers(self.dropout(x + self.pos_embedding)))

    class ViT(tn.Module):
        def __init__(self):
            super().__init__()
            p = c["patch_size"]
            self.conv_proj = tn.Conv2d(3, d, p, p)
            self.class_token = tn.Parameter(torch.zeros(1, 1, d))
            self.encoder = Encoder((c["image_size"] // p) ** 2 + 1)
            self.heads = tn.Sequential()
            self.heads.add_module("head", tn.Linear(d, num_classes))

        def forward(self, x):
            n = x.shape[0]
            x = self.conv_proj(x).reshape(n, d, -1).permute(0, 2, 1)
            x = torch.cat([self.class_token.expand(n, -1, -1), x], 1)
            return self.heads(self.encoder(x)[:, 0])
    return ViT()


def _vit_setup():
    import optim
    from nn.models import VisionTransformer
    return _setup(lambda: VisionTransformer(num_classes=10, **VIT), _torch_vit, (3, 32, 32), 10,
                  lambda m: optim.AdamW(m.parameters(), lr=1e-3),
                  lambda t, m: t.optim.AdamW(m.parameters(), lr=1e-3), 32)


# -- a small GPT ------------------------------------------------------------------------
GPT = dict(vocab=256, block=64, embd=128, heads=4, layers=2, batch=16)


def _gpt(torch, nn, F):
    """The model, written once: ``torch`` is PyTorch or autograd, ``nn``/``F`` their modules."""
    c = GPT

    def gelu(x):       # GPT-2's tanh approximation, spelled as ported programs spell it
        return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3.0)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d = c["embd"]
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            self.register_buffer("bias", torch.tril(torch.ones(c["block"], c["block"])))

        def forward(self, x):
            b, t, d = x.shape
            h = c["heads"]
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q, k, v = (z.reshape(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / (d // h) ** 0.5)
            att = F.softmax(att.masked_fill(self.bias[:t, :t] == 0, float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(gelu(self.c_fc(self.ln_2(x))))

    class GPTModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(c["vocab"], c["embd"])
            self.wpe = nn.Embedding(c["block"], c["embd"])
            self.h = nn.ModuleList([Block() for _ in range(c["layers"])])
            self.ln_f = nn.LayerNorm(c["embd"])
            self.lm_head = nn.Linear(c["embd"], c["vocab"], bias=False)
            self.lm_head.weight = self.wte.weight          # tied

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x)).reshape(-1, c["vocab"])
    return GPTModel()


def _gpt_setup():
    import autograd as ag
    import nn
    import nn.functional as F
    import optim
    ag.manual_seed(0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, GPT["vocab"], (GPT["batch"], GPT["block"]))
    target = rng.integers(0, GPT["vocab"], GPT["batch"] * GPT["block"])
    model = _gpt(ag, nn, F)
    state = {"model": model, "opt": optim.AdamW(model.parameters(), lr=1e-3),
             "x": ag.tensor(idx), "y": ag.tensor(target)}
    torch = _torch()
    if torch is not None:
        tm = _port(model, _gpt(torch, torch.nn, torch.nn.functional))
        state.update(tmodel=tm, topt=torch.optim.AdamW(tm.parameters(), lr=1e-3),
                     tx=torch.from_numpy(idx), ty=torch.from_numpy(target))
    return state


def workloads():
    return {
        "nn: MLP 784-256-256-10 (nn.Linear) train step, batch 128, SGD":
            (_mlp_setup, _step_ours, _step_torch, {}),
        "nn: ResNet-18 CIFAR stem, batch 16x3x32x32, fwd+bwd+SGD(momentum) step":
            (_resnet_setup, _step_ours, _step_torch, {}),
        "nn: ViT-tiny 32x32/4, dim 128, depth 4, 4 heads, batch 32, fwd+bwd+AdamW step":
            (_vit_setup, _step_ours, _step_torch, {}),
        "nn: small GPT (2 layers, embd 128, 4 heads, 64 tokens x 16, vocab 256), AdamW step":
            (_gpt_setup, _step_ours, _step_torch, {}),
    }
