"""Recurrent layers: RNN, LSTM and GRU with their single-step cells.

Parameter names, shapes, order, initialisation (every weight and bias
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))), arguments and return values follow
``torch.nn``, so PyTorch state dicts load unchanged.  Backpropagation through time is
plain tape replay: a Python loop over time steps records each step's ops, and
``backward`` walks them in reverse tape order (no recursion); LSTM (without projection)
and GRU layers on padded input are one node each instead, whose loop over time runs
in autograd/kernels/recurrent.py.  The input projection ``x W_ih^T + b_ih`` of all
time steps runs as one matmul before the loop.  A
`PackedSequence` input (nn.utils.rnn) runs each step on the sequences still running
then, as PyTorch does: padding is never computed on, and each sequence's final state is
the one at its own last step.
"""
import math
import warnings

import numpy as np

from autograd import dtypes
from autograd.ops.recurrent import gru_cell, gru_layer, lstm_cell, lstm_layer
from autograd.ops.shape import cat, stack

from .. import functional as F
from .. import init
from ..module import Module, module_path
from ..parameter import Parameter
from ..utils_rnn import PackedSequence


def _empty(dtype, *shape):
    return Parameter(np.empty(shape, dtypes.as_dtype(dtype) or dtypes.get_default_dtype()))


# One time step of each recurrence.  ``xw`` is the input projection x W_ih^T + b_ih,
# ``state`` a tuple (h,) or (h, c); each returns the new state tuple.

def _tanh_step(xw, state, w_hh, b_hh, w_hr=None):
    return (F.tanh(xw + F.linear(state[0], w_hh, b_hh)),)          # h' = tanh(xw + h W_hh^T + b_hh)


def _relu_step(xw, state, w_hh, b_hh, w_hr=None):
    return (F.relu(xw + F.linear(state[0], w_hh, b_hh)),)          # h' = relu(xw + h W_hh^T + b_hh)


def _lstm_step(xw, state, w_hh, b_hh, w_hr=None):
    """i, f, g, o = split(xw + h W_hh^T + b_hh); c' = s(f) c + s(i) tanh(g);
    h' = s(o) tanh(c') (one fused node: autograd/ops/recurrent.py), projected by
    W_hr when proj_size > 0."""
    h, c = lstm_cell(xw + F.linear(state[0], w_hh, b_hh), state[1])
    return (h if w_hr is None else F.linear(h, w_hr)), c


def _gru_step(xw, state, w_hh, b_hh, w_hr=None):
    """r = s(x_r + h_r), z = s(x_z + h_z), n = tanh(x_n + r * h_n); h' = (1 - z) n + z h,
    where h_* = h W_hh^T + b_hh (the reset gate scales b_hn too, as in PyTorch); one
    fused node (autograd/ops/recurrent.py)."""
    return (gru_cell(xw, F.linear(state[0], w_hh, b_hh), state[0]),)


_STEPS = {"RNN_TANH": _tanh_step, "RNN_RELU": _relu_step, "LSTM": _lstm_step, "GRU": _gru_step}


# A whole layer in one node (autograd/ops/recurrent.py), for LSTM without projection and
# GRU on padded (not packed) input: the steps' values as _lstm_step's and _gru_step's.
# Each returns (hs (T, N, H), the final state tuple).
def _lstm_layer(xw, state, w_hh, b_hh, reverse):
    hs, c = lstm_layer(xw, state[0], state[1], w_hh, b_hh, reverse)
    return hs, (hs[0 if reverse else -1], c)


def _gru_layer(xw, state, w_hh, b_hh, reverse):
    hs = gru_layer(xw, state[0], w_hh, b_hh, reverse)
    return hs, (hs[0 if reverse else -1],)


_LAYERS = {"LSTM": _lstm_layer, "GRU": _gru_layer}


def _recur(step, xw, sizes, state, reverse, weights):
    """Run ``step`` over the time steps ``xw``, where at step t only the first
    ``sizes[t]`` sequences of the batch are running (sizes never grow: sequences are
    sorted by decreasing length; without packing they are all the batch).  Returns
    the per-step outputs h_t and the final state, each sequence's at its last step."""
    hs = [None] * len(xw)
    if not reverse:
        ended = []                        # states of sequences that stopped, latest last
        for t, b in enumerate(sizes):
            if b < state[0].shape[0]:
                ended.append(tuple(s[b:] for s in state))
                state = tuple(s[:b] for s in state)
            state = step(xw[t], state, *weights)
            hs[t] = state[0]
        if ended:
            state = tuple(cat([s] + [e[k] for e in reversed(ended)], 0) for k, s in enumerate(state))
        return hs, state
    initial = state                       # backwards, a sequence joins at its last step
    if sizes[-1] < state[0].shape[0]:
        state = tuple(s[:sizes[-1]] for s in state)
    for t in reversed(range(len(xw))):
        running = state[0].shape[0]
        if sizes[t] > running:
            state = tuple(cat([s, s0[running:sizes[t]]], 0) for s, s0 in zip(state, initial))
        state = step(xw[t], state, *weights)
        hs[t] = state[0]
    return hs, state
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_mode(nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}, expected 'tanh' or 'relu'")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _check_sizes(cls, **sizes):
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{cls}: {key} must be a positive integer, got {value!r}")


class RNNBase(Module):
    """The stacked, optionally bidirectional recurrence shared by RNN, LSTM and GRU.

    Input (L, N, H_in), or (N, L, H_in) with batch_first, or unbatched (L, H_in).
    Returns ``output`` (L, N, D * H_out) -- the last layer's h at every step -- and the
    final state ``h_n`` (D * num_layers, N, H_out) (for LSTM ``(h_n, c_n)``); the
    states are never batch-first, as in PyTorch.
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        cls = "LSTM" if mode == "LSTM" else "GRU" if mode == "GRU" else "RNN"
        _check_sizes(cls, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{cls}: dropout should be a number in [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{cls}: dropout option adds dropout after all but the last recurrent "
                          f"layer, so non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning)
        if proj_size < 0:
            raise ValueError(f"{cls}: proj_size should be a non-negative integer, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{cls}: proj_size {proj_size} has to be smaller than "
                             f"hidden_size {hidden_size}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{cls}: proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        directions = 2 if bidirectional else 1
        out_size = proj_size or hidden_size
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else out_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_size, layer_in)), ("weight_hh", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + suffix, _empty(dtype, *shape))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op: PyTorch compacts weights into one buffer for cuDNN; there is none here."""

    @property
    def all_weights(self):
        """The parameters as one list per (layer, direction), in PyTorch's order."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    def _layer_weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda name: getattr(self, name + suffix, None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")

    def _name(self):
        return f"{module_path(self)} ({type(self).__name__})"

    def _check_state(self, h, expected, batched, what):
        if not batched and h.ndim != 2:
            raise ValueError(f"{self._name()}: for unbatched 2-D input, {what} should also be 2-D "
                             f"but got a {h.ndim}-D tensor of shape {tuple(h.shape)}")
        if batched and h.ndim != 3:
            raise ValueError(f"{self._name()}: for batched 3-D input, {what} should also be 3-D "
                             f"but got a {h.ndim}-D tensor of shape {tuple(h.shape)}")
        got = tuple(h.shape) if batched else (h.shape[0], 1, h.shape[1])
        if got != expected:
            shown = expected if batched else (expected[0], expected[2])
            raise ValueError(f"{self._name()}: expected {what} of shape {shown}, "
                             f"got {tuple(h.shape)}")
        return h if batched else h.unsqueeze(1)

    def _initial_state(self, input, n, hx, batched):
        """hx as a list of per-(layer, direction) state tuples, each (N, H)."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        h_shape = (layers, n, self.proj_size or self.hidden_size)
        c_shape = (layers, n, self.hidden_size)
        if self.mode == "LSTM":
            if hx is None:
                h, c = input.new_zeros(h_shape), input.new_zeros(c_shape)
            else:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{self._name()}: expected hx to be a tuple (h_0, c_0), got "
                                    f"{type(hx).__name__}")
                h = self._check_state(hx[0], h_shape, batched, "h_0")
                c = self._check_state(hx[1], c_shape, batched, "c_0")
            return list(zip(h.unbind(0), c.unbind(0)))
        if hx is None:
            h = input.new_zeros(h_shape)
        elif isinstance(hx, (tuple, list)):
            raise TypeError(f"{self._name()}: expected hx to be a Tensor h_0, got a "
                            f"{type(hx).__name__} (only LSTM takes a tuple (h_0, c_0))")
        else:
            h = self._check_state(hx, h_shape, batched, "h_0")
        return [(s,) for s in h.unbind(0)]

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.ndim not in (2, 3):
            raise ValueError(f"{self._name()}: expected input to be 2-D (L, H_in) or 3-D "
                             f"({'N, L' if self.batch_first else 'L, N'}, H_in), got a "
                             f"{input.ndim}-D tensor of shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: input.size(-1) must be equal to input_size. "
                             f"Expected {self.input_size}, got {input.shape[-1]} "
                             f"(input of shape {tuple(input.shape)})")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        if input.shape[0] == 0:
            raise ValueError(f"{self._name()}: expected a sequence of at least one step, got "
                             f"input of shape {tuple(input.shape)}")
        states = self._initial_state(input, input.shape[1], hx, batched)
        x, finals = self._layers(input, [input.shape[1]] * input.shape[0], states, packed=False)
        h_n = stack([s[0] for s in finals], 0)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        elif not batched:
            x, h_n = x.squeeze(1), h_n.squeeze(1)
        if self.mode != "LSTM":
            return x, h_n
        c_n = stack([s[1] for s in finals], 0)
        return x, (h_n, c_n if batched else c_n.squeeze(1))

    def _forward_packed(self, input, hx):
        """A PackedSequence in, a PackedSequence out; hx and the final states are in the
        caller's batch order (permuted by sorted_indices, as in PyTorch)."""
        data = input.data
        if data.ndim != 2 or data.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: expected packed data of shape (N, {self.input_size}), "
                             f"got {tuple(data.shape)}")
        sizes = [int(b) for b in input.batch_sizes.tolist()]
        order, back = input.sorted_indices, input.unsorted_indices
        if hx is not None and order is not None:
            hx = tuple(h.index_select(1, order) for h in hx) if isinstance(hx, (tuple, list)) \
                else hx.index_select(1, order)
        states = self._initial_state(data, sizes[0], hx, True)
        x, finals = self._layers(data, sizes, states, packed=True)
        finals = [stack([s[k] for s in finals], 0) for k in range(len(finals[0]))]
        if back is not None:
            finals = [f.index_select(1, back) for f in finals]
        out = PackedSequence(x, input.batch_sizes, order, back)
        return out, (tuple(finals) if self.mode == "LSTM" else finals[0])

    def _layers(self, x, sizes, states, packed):
        """The stacked layers over x: (L, N, H_in) steps, or packed rows (sum(sizes), H_in).
        Returns the last layer's outputs, shaped as x, and the final state per
        (layer, direction)."""
        step = _STEPS[self.mode]
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, direction)
                xw = F.linear(x, w_ih, b_ih)
                state = states[layer * directions + direction]
                if not packed and w_hr is None and self.mode in _LAYERS:
                    hs, state = _LAYERS[self.mode](xw, state, w_hh, b_hh, direction == 1)
                    outputs.append(hs)
                else:
                    xw = xw.split(sizes, 0) if packed else xw.unbind(0)
                    hs, state = _recur(step, xw, sizes, state, direction == 1, (w_hh, b_hh, w_hr))
                    outputs.append(cat(hs, 0) if packed else stack(hs, 0))
                finals.append(state)
            x = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, finals

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), with optional projection
    of h (Sak et al., 2014) when proj_size > 0.  Returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014), PyTorch's variant (reset gate applied
    after the hidden projection)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)


class RNNCellBase(Module):
    """One step: ``weight_ih`` (G * hidden, input), ``weight_hh`` (G * hidden, hidden),
    ``bias_ih``/``bias_hh`` (G * hidden), all U(-1/sqrt(hidden), 1/sqrt(hidden)).
    Input (N, H_in) or unbatched (H_in); a missing state starts at zeros."""

    def __init__(self, mode, input_size, hidden_size, bias, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gate_size = _GATES[mode] * hidden_size
        self.weight_ih = _empty(dtype, gate_size, input_size)
        self.weight_hh = _empty(dtype, gate_size, hidden_size)
        if bias:
            self.bias_ih = _empty(dtype, gate_size)
            self.bias_hh = _empty(dtype, gate_size)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _name(self):
        return f"{module_path(self)} ({type(self).__name__})"

    def _state(self, x, hx, batched, what):
        """hx (N, H), or (H,) for unbatched input, as (N, H); zeros when None."""
        if hx is None:
            return x.new_zeros((x.shape[0], self.hidden_size))
        expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if tuple(hx.shape) != expected:
            raise ValueError(f"{self._name()}: expected {what} of shape {expected}, "
                             f"got {tuple(hx.shape)}")
        return hx if batched else hx.unsqueeze(0)

    def forward(self, input, hx=None):
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(input.shape)}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if self.mode == "LSTM":
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"{self._name()}: expected hx to be a tuple (h_0, c_0), got "
                                f"{type(hx).__name__}")
            hx = (None, None) if hx is None else hx
        else:
            hx = (hx,)
        state = tuple(self._state(x, h, batched, what) for h, what in zip(hx, ("h_0", "c_0")))
        out = _STEPS[self.mode](F.linear(x, self.weight_ih, self.bias_ih), state,
                                self.weight_hh, self.bias_hh)
        if not batched:
            out = tuple(h.squeeze(0) for h in out)
        return out if self.mode == "LSTM" else out[0]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step; ``hx`` is a tuple (h_0, c_0) and the result (h_1, c_1)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    """One GRU step (PyTorch's variant)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)
