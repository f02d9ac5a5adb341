"""``torch.nn.modules.pooling``'s classes, where tapegrad keeps them."""
from ..layers.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, LPPool2d, MaxPool1d, MaxPool2d, _MaxPoolNd  # noqa: F401
