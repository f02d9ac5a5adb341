"""VGG (Simonyan & Zisserman, 2014, "Very Deep Convolutional Networks for Large-Scale
Image Recognition"), torchvision's layout: VGG-11 132,863,336 and VGG-16 138,357,544
parameters (1000 classes); the _bn variants add BatchNorm after every conv."""
from ..containers import Flatten, Sequential
from ..layers.activation import ReLU
from ..layers.conv import Conv2d
from ..layers.dropout import Dropout
from ..layers.linear import Linear
from ..layers.normalization import BatchNorm2d
from ..layers.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..module import Module
from .. import init

CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3, width_div=1):
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(2, 2))
            continue
        v //= width_div
        layers.append(Conv2d(in_channels, v, 3, padding=1))
        if batch_norm:
            layers.append(BatchNorm2d(v))
        layers.append(ReLU(True))
        in_channels = v
    return Sequential(*layers)


class VGG(Module):
    """``features`` then AdaptiveAvgPool2d(pool) and a 3-layer classifier.  For small
    inputs pass ``pool=1, hidden=512`` (CIFAR-style head) and optionally ``width_div``."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5, pool=7,
                 hidden=4096, channels=512):
        super().__init__()
        self.features = features
        self.avgpool = AdaptiveAvgPool2d((pool, pool))
        self.flatten = Flatten()
        self.classifier = Sequential(
            Linear(channels * pool * pool, hidden), ReLU(True), Dropout(dropout),
            Linear(hidden, hidden), ReLU(True), Dropout(dropout), Linear(hidden, num_classes))
        if init_weights:   # torchvision's init
            for m in self.modules():
                if isinstance(m, Conv2d):
                    init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        init.zeros_(m.bias)
                elif isinstance(m, BatchNorm2d):
                    init.ones_(m.weight)
                    init.zeros_(m.bias)
                elif isinstance(m, Linear):
                    init.normal_(m.weight, 0, 0.01)
                    init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def _vgg(cfg, batch_norm, width_div=1, **kwargs):
    return VGG(make_layers(CFGS[cfg], batch_norm, width_div=width_div),
               channels=512 // width_div, **kwargs)


def vgg11(**kwargs) -> VGG:
    return _vgg("A", False, **kwargs)


def vgg11_bn(**kwargs) -> VGG:
    return _vgg("A", True, **kwargs)


def vgg16(**kwargs) -> VGG:
    return _vgg("D", False, **kwargs)


def vgg16_bn(**kwargs) -> VGG:
    return _vgg("D", True, **kwargs)
