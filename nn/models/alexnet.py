"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
Convolutional Neural Networks"), torchvision's single-tower layout (61,100,840
parameters with 1000 classes), optional LocalResponseNorm as in the paper, and a
small-input variant for 32x32 images."""
from ..containers import Flatten, Sequential
from ..layers.activation import ReLU
from ..layers.conv import Conv2d
from ..layers.dropout import Dropout
from ..layers.linear import Linear
from ..layers.normalization import LocalResponseNorm
from ..layers.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..module import Module


class AlexNet(Module):
    """``small_input=True``: 3x3 stride-1 first conv and 2x2 pools so a 32x32 image
    keeps spatial extent (classifier input 256*2*2 -> widths 1024).  ``lrn=True``
    inserts LocalResponseNorm(5, 1e-4, 0.75, 2) after the first two ReLUs (parameter-free)."""

    def __init__(self, num_classes=1000, dropout=0.5, small_input=False, lrn=False):
        super().__init__()
        norm = (lambda: [LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)]) if lrn else (lambda: [])
        if small_input:
            self.features = Sequential(
                Conv2d(3, 64, 3, stride=1, padding=1), ReLU(True), *norm(), MaxPool2d(2),
                Conv2d(64, 192, 3, padding=1), ReLU(True), *norm(), MaxPool2d(2),
                Conv2d(192, 384, 3, padding=1), ReLU(True),
                Conv2d(384, 256, 3, padding=1), ReLU(True),
                Conv2d(256, 256, 3, padding=1), ReLU(True), MaxPool2d(2))
            pooled, hidden = 2, 1024
        else:
            self.features = Sequential(
                Conv2d(3, 64, 11, stride=4, padding=2), ReLU(True), *norm(), MaxPool2d(3, 2),
                Conv2d(64, 192, 5, padding=2), ReLU(True), *norm(), MaxPool2d(3, 2),
                Conv2d(192, 384, 3, padding=1), ReLU(True),
                Conv2d(384, 256, 3, padding=1), ReLU(True),
                Conv2d(256, 256, 3, padding=1), ReLU(True), MaxPool2d(3, 2))
            pooled, hidden = 6, 4096
        self.avgpool = AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = Sequential(
            Dropout(dropout), Linear(256 * pooled * pooled, hidden), ReLU(True),
            Dropout(dropout), Linear(hidden, hidden), ReLU(True), Linear(hidden, num_classes))
        self.flatten = Flatten()

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))
