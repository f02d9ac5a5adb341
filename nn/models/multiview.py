"""Multi-view CNN (Su, Maji, Kalogerakis & Learned-Miller, 2015, "Multi-view
Convolutional Neural Networks for 3D Shape Recognition"): one shared CNN per view,
view pooling by an element-wise max over the views' feature maps, then a second
network that classifies the pooled descriptor."""
from autograd.ops.reduction import amax

from ..containers import Flatten, Sequential
from ..layers.activation import ReLU
from ..layers.conv import Conv2d
from ..layers.dropout import Dropout
from ..layers.linear import Linear
from ..layers.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..module import Module, module_path


class MultiViewCNN(Module):
    """Input (N, V, C, H, W).  ``cnn1`` (shared across views) maps each view to a
    feature map; view pooling takes the max over V; ``cnn2`` classifies."""

    def __init__(self, num_classes=10, in_channels=3, width=32, cnn1=None, cnn2=None,
                 feature_dim=None, dropout=0.5):
        super().__init__()
        if cnn1 is None:
            cnn1 = Sequential(
                Conv2d(in_channels, width, 3, padding=1), ReLU(True), MaxPool2d(2),
                Conv2d(width, 2 * width, 3, padding=1), ReLU(True), MaxPool2d(2),
                Conv2d(2 * width, 4 * width, 3, padding=1), ReLU(True), AdaptiveAvgPool2d(2))
            feature_dim = 4 * width * 4
        self.cnn1 = cnn1
        self.cnn2 = cnn2 if cnn2 is not None else Sequential(
            Flatten(), Linear(feature_dim, 8 * width), ReLU(True), Dropout(dropout),
            Linear(8 * width, num_classes))

    def forward(self, x):
        if x.ndim != 5:
            raise ValueError(f"{module_path(self)} (MultiViewCNN): expected (N, V, C, H, W), "
                             f"got {tuple(x.shape)}")
        n, v = x.shape[:2]
        feats = self.cnn1(x.reshape(n * v, *x.shape[2:]))
        pooled = amax(feats.reshape(n, v, *feats.shape[1:]), 1)    # view pooling
        return self.cnn2(pooled)
