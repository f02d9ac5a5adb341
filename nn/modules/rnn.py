"""``torch.nn.modules.rnn``'s classes, where tapegrad keeps them."""
from ..layers.rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, RNNCellBase  # noqa: F401
