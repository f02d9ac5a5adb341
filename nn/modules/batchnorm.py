"""``torch.nn.modules.batchnorm``'s classes, where tapegrad keeps them."""
from ..layers.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm, _NormBase  # noqa: F401
from ..layers.normalization_nd import BatchNorm3d  # noqa: F401
