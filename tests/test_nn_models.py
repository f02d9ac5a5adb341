"""Model zoo: parameter counts equal PyTorch's reference architectures, key names
follow torchvision, and every model runs forward and backward on small inputs."""
import numpy as np
import pytest

import autograd as ag
import nn
from nn import models


def count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("factory,expected", [
    (models.resnet18, 11_689_512), (models.resnet34, 21_797_672), (models.resnet50, 25_557_032),
    (models.AlexNet, 61_100_840), (models.vgg16, 138_357_544),
    (models.vit_b_16, 86_567_656), (models.LeNet5, 61_706)])
def test_parameter_counts_match_pytorch(factory, expected):
    assert count(factory()) == expected


def test_vgg11_count_without_allocating_the_classifier_twice():
    # VGG-11 = its conv features + the same 3-layer classifier as VGG-16 (the 123.6M
    # classifier entries are already allocated once by the VGG-16 count above).
    classifier = 512 * 7 * 7 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert count(models.vgg.make_layers(models.vgg.CFGS["A"])) + classifier == 132_863_336


def test_torchvision_key_names():
    keys = set(models.resnet18().state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.num_batches_tracked", "fc.bias"} <= keys
    v = models.VisionTransformer(32, 8, 2, 2, 16, 32, num_classes=3)
    keys = set(v.state_dict())
    assert {"class_token", "conv_proj.weight", "encoder.pos_embedding",
            "encoder.layers.encoder_layer_1.self_attention.in_proj_weight",
            "encoder.layers.encoder_layer_0.mlp.3.bias", "encoder.ln.weight",
            "heads.head.weight"} <= keys
    assert "features.0.weight" in models.vgg11(width_div=16, pool=1, hidden=8).state_dict()


def test_batchnorm_variants_add_two_parameters_per_channel():
    plain, bn = models.vgg11(width_div=16, pool=1, hidden=8), models.vgg11_bn(width_div=16, pool=1, hidden=8)
    chans = [c // 16 for c in models.vgg.CFGS["A"] if c != "M"]
    assert count(bn) - count(plain) == 2 * sum(chans)


def _train_step(model, x, n_classes):
    model.train()
    out = model(x)
    assert out.shape == (x.shape[0], n_classes)
    loss = nn.functional.cross_entropy(out, ag.tensor(np.arange(x.shape[0]) % n_classes))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing}"
    assert np.isfinite(loss.item())
    return out


def test_small_models_forward_backward():
    ag.manual_seed(0)
    x32 = ag.randn(2, 3, 32, 32)
    _train_step(models.resnet18(num_classes=5, cifar_stem=True, width=4), ag.randn(2, 3, 16, 16), 5)
    _train_step(models.resnet50(num_classes=4, width=2), x32, 4)
    _train_step(models.resnet34(num_classes=3, width=2, cifar_stem=True), ag.randn(2, 3, 8, 8), 3)
    _train_step(models.vgg16_bn(num_classes=3, width_div=32, pool=1, hidden=16), x32, 3)
    _train_step(models.vgg11(num_classes=3, width_div=32, pool=1, hidden=16, dropout=0.0), x32, 3)
    _train_step(models.LeNet5(), ag.randn(2, 1, 28, 28), 10)
    _train_step(models.MLP(12, [8, 8], 3, dropout=0.1, activation=nn.GELU), ag.randn(2, 3, 4), 3)
    _train_step(models.VisionTransformer(16, 4, 2, 2, 16, 32, num_classes=3), ag.randn(2, 3, 16, 16), 3)
    _train_step(models.MultiViewCNN(num_classes=4, width=4), ag.randn(2, 3, 3, 16, 16), 4)
    _train_step(models.vit_tiny(image_size=16, patch_size=8, num_classes=2), ag.randn(1, 3, 16, 16), 2)


def test_alexnet_variants():
    small = models.AlexNet(num_classes=10, small_input=True, lrn=True)
    assert count(small) == count(models.AlexNet(num_classes=10, small_input=True))
    assert any(isinstance(m, nn.LocalResponseNorm) for m in small.modules())
    small.eval()
    assert small(ag.randn(1, 3, 32, 32)).shape == (1, 10)


def test_unet_shapes_and_skips():
    u = models.UNet(in_channels=2, num_classes=3, base_width=4, depth=2)
    x = ag.randn(1, 2, 16, 12)
    y = u(x)
    assert y.shape == (1, 3, 16, 12)
    y.sum().backward()
    assert all(p.grad is not None for p in u.parameters())
    assert u.up[0].weight.shape == (16, 8, 2, 2) and u.up_conv[0][0].weight.shape[1] == 16
    with pytest.raises(ValueError, match="divisible by 4"):
        u(ag.randn(1, 2, 10, 12))


def test_multiview_pools_by_max_over_views():
    m = models.MultiViewCNN(num_classes=2, width=2).eval()
    x = ag.randn(1, 3, 3, 8, 8)
    out = m(x)
    feats = [m.cnn1(x[:, v]) for v in range(3)]
    pooled = np.maximum(np.maximum(feats[0].array, feats[1].array), feats[2].array)
    np.testing.assert_allclose(out.array, m.cnn2(ag.tensor(pooled)).array, rtol=1e-5)
    # permuting the views does not change the prediction
    np.testing.assert_allclose(m(x[:, [2, 0, 1]]).array, out.array, rtol=1e-5)


def test_deep_error_names_the_module_path():
    net = models.resnet18(num_classes=2, width=4, cifar_stem=True)
    net.layer2[0].conv1 = nn.Conv2d(7, 8, 3, padding=1, stride=2, bias=False)
    with pytest.raises(ValueError, match=r"^layer2\.0\.conv1 \(Conv2d\): expected input of shape "
                                         r"\(N, 7, H, W\).*got \(1, 4, 8, 8\)"):
        net(ag.randn(1, 3, 8, 8))
    vit = models.VisionTransformer(16, 4, 1, 2, 8, 16)
    with pytest.raises(ValueError, match="expected images of 16x16"):
        vit(ag.randn(1, 3, 32, 32))
