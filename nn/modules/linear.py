"""``torch.nn.modules.linear``'s classes, where tapegrad keeps them."""
from ..containers import Identity  # noqa: F401
from ..layers.linear import Bilinear, Linear  # noqa: F401
