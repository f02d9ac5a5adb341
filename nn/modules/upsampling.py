"""``torch.nn.modules.upsampling``'s classes, where tapegrad keeps them."""
from ..layers.pooling import Upsample  # noqa: F401
