"""``torch.nn.modules.transformer``'s classes, where tapegrad keeps them."""
from ..layers.transformer import Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer  # noqa: F401
