"""``torch.nn.modules.normalization``'s classes, where tapegrad keeps them."""
from ..layers.normalization import GroupNorm, LayerNorm, LocalResponseNorm  # noqa: F401
from ..layers.rms_norm import RMSNorm  # noqa: F401
from ..layers.normalization_nd import CrossMapLRN2d  # noqa: F401
