"""``torch.nn.modules.distance``'s classes, where tapegrad keeps them."""
from ..layers.distance import CosineSimilarity, PairwiseDistance  # noqa: F401
