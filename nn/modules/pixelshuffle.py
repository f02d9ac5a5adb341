"""``torch.nn.modules.pixelshuffle``'s classes, where tapegrad keeps them."""
from ..layers.upsampling import PixelShuffle, PixelUnshuffle  # noqa: F401
