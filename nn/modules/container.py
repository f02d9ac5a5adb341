"""``torch.nn.modules.container``'s classes, where tapegrad keeps them."""
from ..containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
