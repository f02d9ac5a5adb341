"""``torch.nn.modules.upsampling``'s classes, where tapegrad keeps them."""
from ..layers.pooling import Upsample  # noqa: F401
from ..layers.upsampling import UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401
