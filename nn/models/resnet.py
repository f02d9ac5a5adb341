"""ResNet (He, Zhang, Ren & Sun, 2016, "Deep Residual Learning for Image Recognition"),
torchvision's layout and key names (``layer1.0.conv1.weight``, ``layer2.0.downsample.0``):
ResNet-18 11,689,512, ResNet-34 21,797,672, ResNet-50 25,557,032 parameters (1000
classes).  ``cifar_stem=True`` swaps the 7x7/2 conv + max pool for a 3x3/1 conv
(the CIFAR variant of the paper's section 4.2 and common practice).  ``checkpoint=N``
runs the residual blocks as N checkpointed segments (autograd.utils.checkpoint) while
recording: less saved memory, one more forward of the blocks in backward."""
from autograd.grad_mode import is_grad_enabled
from autograd.utils.checkpoint import checkpoint_sequential

from .. import init
from ..containers import Flatten, Sequential
from ..layers.activation import ReLU
from ..layers.conv import Conv2d
from ..layers.linear import Linear
from ..layers.normalization import BatchNorm2d
from ..layers.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..containers import Identity
from ..module import Module


def conv3x3(cin, cout, stride=1):
    return Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convs."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(Module):
    """1x1 reduce -> 3x3 (stride here, "ResNet v1.5" as torchvision) -> 1x1 expand (x4)."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * 4)
        self.bn3 = BatchNorm2d(planes * 4)
        self.relu = ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(Module):
    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False,
                 cifar_stem=False, width=64, in_channels=3, checkpoint=0):
        super().__init__()
        self.checkpoint_segments = checkpoint
        self.inplanes = width
        if cifar_stem:
            self.conv1 = Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(width)
        self.relu = ReLU(inplace=True)
        self.maxpool = Identity() if cifar_stem else MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.flatten = Flatten()
        self.fc = Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():   # torchvision's init
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                    BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        if self.checkpoint_segments and is_grad_enabled():
            blocks = [b for layer in (self.layer1, self.layer2, self.layer3, self.layer4)
                      for b in layer]
            x = checkpoint_sequential(blocks, min(self.checkpoint_segments, len(blocks)), x,
                                      use_reentrant=False)
        else:
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet34(**kwargs) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


def resnet50(**kwargs) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)
