"""``torch.nn.modules.instancenorm``'s classes, where tapegrad keeps them."""
from ..layers.normalization import InstanceNorm2d  # noqa: F401
from ..layers.normalization import _InstanceNorm  # noqa: F401
from ..layers.normalization_nd import InstanceNorm1d, InstanceNorm3d  # noqa: F401
