"""``torch.nn.modules.adaptive``'s classes, where tapegrad keeps them."""
from ..layers.adaptive_softmax import AdaptiveLogSoftmaxWithLoss  # noqa: F401
