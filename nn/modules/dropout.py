"""``torch.nn.modules.dropout``'s classes, where tapegrad keeps them."""
from ..layers.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, _DropoutNd  # noqa: F401
from ..layers.dropout import Dropout3d, FeatureAlphaDropout  # noqa: F401
