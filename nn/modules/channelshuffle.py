"""``torch.nn.modules.channelshuffle``'s classes, where tapegrad keeps them."""
from ..layers.upsampling import ChannelShuffle  # noqa: F401
