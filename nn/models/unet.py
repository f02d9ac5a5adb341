"""U-Net (Ronneberger, Fischer & Brox, 2015, "U-Net: Convolutional Networks for
Biomedical Image Segmentation"): a contracting path of double 3x3 convs and 2x2 max
pools, an expanding path of 2x2 stride-2 transposed convs whose output is
concatenated with the encoder feature map of the same level, and a 1x1 classifier.
Convs use padding 1 (output size = input size, the common variant) and optional
BatchNorm; input sizes must be divisible by 2**depth."""
from autograd.ops.shape import cat

from ..containers import ModuleList, Sequential
from ..layers.activation import ReLU
from ..layers.conv import Conv2d, ConvTranspose2d
from ..layers.normalization import BatchNorm2d
from ..layers.pooling import MaxPool2d
from ..module import Module, module_path


def double_conv(cin, cout, batch_norm=True):
    layers = []
    for a, b in ((cin, cout), (cout, cout)):
        layers.append(Conv2d(a, b, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm2d(b))
        layers.append(ReLU(inplace=True))
    return Sequential(*layers)


class UNet(Module):
    def __init__(self, in_channels=1, num_classes=2, base_width=64, depth=4, batch_norm=True):
        super().__init__()
        self.depth = depth
        widths = [base_width * 2 ** i for i in range(depth + 1)]
        self.down = ModuleList()
        cin = in_channels
        for w in widths[:-1]:
            self.down.append(double_conv(cin, w, batch_norm))
            cin = w
        self.pool = MaxPool2d(2)
        self.bottleneck = double_conv(widths[-2], widths[-1], batch_norm)
        self.up = ModuleList()
        self.up_conv = ModuleList()
        for w_hi, w in zip(widths[::-1][:-1], widths[::-1][1:]):
            self.up.append(ConvTranspose2d(w_hi, w, 2, stride=2))
            self.up_conv.append(double_conv(2 * w, w, batch_norm))
        self.head = Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        k = 2 ** self.depth
        if x.ndim != 4 or x.shape[2] % k or x.shape[3] % k:
            raise ValueError(f"{module_path(self)} (UNet): expected (N, C, H, W) with H and W "
                             f"divisible by {k}, got {tuple(x.shape)}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, conv, skip in zip(self.up, self.up_conv, reversed(skips)):
            x = conv(cat([skip, up(x)], 1))
        return self.head(x)
