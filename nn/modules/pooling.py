"""``torch.nn.modules.pooling``'s classes, where tapegrad keeps them."""
from ..layers.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, LPPool2d, MaxPool1d, MaxPool2d, _MaxPoolNd  # noqa: F401
from ..layers.pooling import _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd, _AvgPoolNd, _LPPoolNd  # noqa: F401
from ..layers.pooling_nd import (AdaptiveAvgPool1d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,  # noqa: F401
                                AdaptiveMaxPool3d, AvgPool1d, AvgPool3d, LPPool1d, LPPool3d,
                                MaxPool3d)
from ..layers.unpooling import (FractionalMaxPool2d, FractionalMaxPool3d, MaxUnpool1d,  # noqa: F401
                               MaxUnpool2d, MaxUnpool3d, _MaxUnpoolNd)
