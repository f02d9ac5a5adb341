"""``torch.nn.modules.flatten``'s classes, where tapegrad keeps them."""
from ..containers import Flatten, Unflatten  # noqa: F401
