"""``torch.nn.modules.conv``'s classes, where tapegrad keeps them."""
from ..layers.conv import Conv1d, Conv2d, ConvTranspose2d, _ConvNd  # noqa: F401
