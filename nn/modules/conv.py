"""``torch.nn.modules.conv``'s classes, where tapegrad keeps them."""
from ..layers.conv import Conv1d, Conv2d, ConvTranspose2d, _ConvNd  # noqa: F401
from ..layers.conv import _ConvTransposeNd  # noqa: F401
from ..layers.conv_nd import Conv3d, ConvTranspose1d, ConvTranspose3d  # noqa: F401
