"""``torch.nn.modules.sparse``'s classes, where tapegrad keeps them."""
from ..layers.linear import Embedding  # noqa: F401
from ..layers.embedding_bag import EmbeddingBag  # noqa: F401
