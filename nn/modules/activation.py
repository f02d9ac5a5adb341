"""``torch.nn.modules.activation``'s classes, where tapegrad keeps them."""
from ..layers.activation import ELU, GELU, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softmin, Softplus, Softsign, Tanh, Tanhshrink  # noqa: F401
from ..layers.transformer import MultiheadAttention  # noqa: F401
from ..layers.activation import CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, RReLU, Softmax2d, Softshrink, Threshold  # noqa: F401
