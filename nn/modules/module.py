"""``torch.nn.modules.module``'s classes, where tapegrad keeps them."""
from ..module import Module  # noqa: F401
