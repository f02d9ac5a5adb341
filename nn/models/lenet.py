"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998, "Gradient-based learning applied
to document recognition"), in its common modern form: 28x28 input padded to 32x32
by the first convolution, average pooling subsampling, tanh (or any) activation."""
from ..containers import Flatten, Sequential
from ..layers.activation import Tanh
from ..layers.conv import Conv2d
from ..layers.linear import Linear
from ..layers.pooling import AvgPool2d, MaxPool2d
from ..module import Module


class LeNet5(Module):
    """C1 conv5 (6) -> S2 pool -> C3 conv5 (16) -> S4 pool -> F5 120 -> F6 84 -> 10.
    61,706 parameters with 10 classes and 1 input channel."""

    def __init__(self, num_classes=10, in_channels=1, activation=Tanh, pool="avg"):
        super().__init__()
        Pool = AvgPool2d if pool == "avg" else MaxPool2d
        self.features = Sequential(
            Conv2d(in_channels, 6, 5, padding=2), activation(), Pool(2),
            Conv2d(6, 16, 5), activation(), Pool(2))
        self.classifier = Sequential(
            Flatten(), Linear(16 * 5 * 5, 120), activation(), Linear(120, 84), activation(),
            Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
