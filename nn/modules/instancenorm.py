"""``torch.nn.modules.instancenorm``'s classes, where tapegrad keeps them."""
from ..layers.normalization import InstanceNorm2d  # noqa: F401
