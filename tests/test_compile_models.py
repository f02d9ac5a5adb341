"""Every zoo model (nn.models) and every benchmark workload (../shared/bench: W1-W5,
at small sizes), compiled against eager for several training steps from one
initialisation, with SGD (momentum) and AdamW: losses, parameters and buffers
(BatchNorm's running statistics, num_batches_tracked) are equal: to float64's rounding
and to float32's (fused kernels round transcendental functions their own way, and
sum a value's gradients in their own order)."""
import warnings

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim
from nn import models


def _bench_lenet():            # W3's model (fw_ours.make_lenet), at its size
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, stride=2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, stride=2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _bench_mlp():              # W2's model, narrower
    return nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 10))


# name: (factory, input shape, classes per output: None for (N, classes) logits)
MODELS = {
    "alexnet": (lambda: models.AlexNet(num_classes=3, small_input=True, lrn=True, dropout=0.2),
                (2, 3, 32, 32)),
    "lenet5": (models.LeNet5, (2, 1, 28, 28)),
    "mlp": (lambda: models.MLP(12, [8, 8], 3, dropout=0.1, activation=nn.GELU), (3, 12)),
    "multiview": (lambda: models.MultiViewCNN(num_classes=4, width=4, dropout=0.2),
                  (2, 3, 3, 16, 16)),
    "resnet18": (lambda: models.resnet18(num_classes=5, cifar_stem=True, width=4), (2, 3, 16, 16)),
    "resnet50": (lambda: models.resnet50(num_classes=4, width=2), (2, 3, 32, 32)),
    "unet": (lambda: models.UNet(in_channels=2, num_classes=3, base_width=4, depth=2),
             (2, 2, 16, 12)),
    "vgg11_bn": (lambda: models.vgg11_bn(num_classes=3, width_div=32, pool=1, hidden=16,
                                         dropout=0.3), (2, 3, 32, 32)),
    "vit": (lambda: models.VisionTransformer(16, 4, 2, 2, 16, 32, dropout=0.1,
                                             attention_dropout=0.1, num_classes=3),
            (2, 3, 16, 16)),
    "vit_tiny": (lambda: models.vit_tiny(image_size=16, patch_size=8, num_classes=2),
                 (1, 3, 16, 16)),
    "W2-mlp": (_bench_mlp, (8, 784)),
    "W3-lenet": (_bench_lenet, (4, 1, 28, 28)),
    "W4-resnet18": (lambda: models.resnet18(num_classes=10, cifar_stem=True, width=8),
                    (2, 3, 32, 32)),
    "W5-vit": (lambda: models.VisionTransformer(32, 4, 2, 4, 32, 64, num_classes=10),
               (2, 3, 32, 32)),
}
# AdamW's step is about lr * sign(g) where |g| >> eps, so the rounding difference of a
# fused kernel on a gradient that is zero in exact arithmetic (a dead ReLU's) would
# become a whole step; a larger eps keeps the update continuous in the gradient.
OPTIMIZERS = {"sgd": (optim.SGD, dict(lr=0.05, momentum=0.9)),
              "adamw": (optim.AdamW, dict(lr=0.01, eps=1e-3))}


def _train(name, opt, dtype, compiled, steps=3):
    make, shape = MODELS[name]
    ag.manual_seed(0)
    module = make()
    if dtype == np.float64:
        module = module.double()
    cls, kw = OPTIMIZERS[opt]
    optimizer = cls(module.parameters(), **kw)
    model = ag.compile(module) if compiled else module
    rng = np.random.default_rng(1)
    ag.manual_seed(2)                      # dropout masks: one stream, both ways
    losses = []
    for _ in range(steps):
        x = ag.tensor(rng.standard_normal(shape).astype(dtype))
        out = model(x)
        classes = out.shape[1]
        target = rng.integers(0, classes, (out.shape[0],) + tuple(out.shape[2:]))
        optimizer.zero_grad()
        loss = F.cross_entropy(out, ag.tensor(target))
        loss.backward()
        optimizer.step()
        losses.append(loss.array.copy())
    state = [t.array.copy() for t in list(module.parameters()) + list(module.buffers())]
    return losses, state, model


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(MODELS))
def test_compiled_training_equals_eager(name, opt, dtype):
    losses, state, _ = _train(name, opt, dtype, compiled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no graph break, no retrace warning
        c_losses, c_state, model = _train(name, opt, dtype, compiled=True)
    for a, b in zip(losses + state, c_losses + c_state):
        _assert_close(a, b)
    assert len(model._compiled.traces) == 1 and model._compiled.graph_breaks == []


def _assert_close(a, b):
    if a.dtype == np.float64:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    elif a.dtype == np.float32:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    else:
        np.testing.assert_array_equal(a, b)


def _w1_chain(z, y):           # W1: 200 tiny elementwise ops
    for i in range(200):
        k = i % 4
        z = z + y if k == 0 else z * y if k == 1 else z.tanh() if k == 2 else z - y
    return z.sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_w1_chain_compiled_equals_eager_over_sgd_steps(dtype):
    rng = np.random.default_rng(0)
    x0, y0 = rng.uniform(-1, 1, 16).astype(dtype), rng.uniform(0.5, 1, 16).astype(dtype)
    results = []
    for fn in (_w1_chain, ag.compile(_w1_chain)):
        x, y = ag.tensor(x0, requires_grad=True), ag.tensor(y0, requires_grad=True)
        opt = optim.SGD([x, y], lr=0.01)
        losses = []
        for _ in range(4):
            opt.zero_grad()
            loss = fn(x, y)
            loss.backward()
            opt.step()
            losses.append(loss.array.copy())
        results.append(losses + [x.array.copy(), y.array.copy()])
    for a, b in zip(*results):
        _assert_close(a, b)


@pytest.mark.parametrize("name", ["lenet5", "vit", "resnet18"])
def test_compiled_loss_function_equals_eager(name):
    """The loss inside the region too: the targets' range check is a data guard."""
    make, shape = MODELS[name]
    results = []
    for compiled in (False, True):
        ag.manual_seed(0)
        module = make()
        optimizer = optim.AdamW(module.parameters(), lr=0.01, eps=1e-3)

        def loss_of(x, y):
            return F.cross_entropy(module(x), y, label_smoothing=0.1)
        step = ag.compile(loss_of) if compiled else loss_of
        rng = np.random.default_rng(1)
        ag.manual_seed(2)
        losses = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(3):
                x = ag.tensor(rng.standard_normal(shape).astype(np.float32))
                y = ag.tensor(rng.integers(0, 2, shape[0]))
                optimizer.zero_grad()
                loss = step(x, y)
                loss.backward()
                optimizer.step()
                losses.append(loss.array.copy())
        results.append(losses + [p.array.copy() for p in module.parameters()])
        if compiled:
            assert len(step.traces) == 1 and step.graph_breaks == []
    for a, b in zip(*results):
        _assert_close(a, b)
