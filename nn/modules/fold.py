"""``torch.nn.modules.fold``'s classes, where tapegrad keeps them."""
from ..layers.conv_nd import Fold, Unfold  # noqa: F401
