"""The pointwise half of an LSTM step as one node (PyTorch fuses it too).

A step computes gates = x W_ih^T + b_ih + h W_hh^T + b_hh (GEMMs, other nodes) and
then, with i, f, g, o the four quarters of the gates along the last dim and s the
logistic function:
  c' = s(f) c + s(i) tanh(g),   h' = s(o) tanh(c')
Composed from single ops that is twelve nodes a step, each paying the engine's
per-op cost; as one primitive it is one.

VJP, from dh and dc (the gradients of h' and c') with tc = tanh(c'):
  dc* = dc + dh s(o) (1 - tc^2)                     (all of c''s gradient)
  di = dc* tanh(g) s(i) (1 - s(i)),  df = dc* c s(f) (1 - s(f)),
  dg = dc* s(i) (1 - tanh(g)^2),     do = dh tc s(o) (1 - s(o)),
  dgates = [di, df, dg, do],         dc_prev = dc* s(f)
"""
import numpy as np

from .elementwise import sigmoid_array
from .formula import FormulaPrimitive
from .registry import SampleInput, make, op


def _quarters(x):
    n = x.shape[-1] // 4
    return [x[..., k * n:(k + 1) * n] for k in range(4)]


def _activations(m, gates):
    """s(i), s(f), tanh(g), s(o); the logistic runs once over all the gates."""
    s = sigmoid_array(np.ascontiguousarray(gates)) if m is np else m.sigmoid(gates)
    si, sf, _, so = _quarters(s)
    return si, sf, m.tanh(_quarters(gates)[2]), so


class LSTMCell(FormulaPrimitive):
    @staticmethod
    def forward(ctx, gates, c):
        ctx.save_for_backward(gates, c)
        si, sf, tg, so = _activations(np, gates)
        c_next = sf * c + si * tg
        return so * np.tanh(c_next), c_next

    def formula(ctx, m, dh, dc, gates, c):
        si, sf, tg, so = _activations(m, gates)
        tc = m.tanh(sf * c + si * tg)
        dcs = dc + dh * so * (1.0 - tc * tc)
        parts = [dcs * tg * si * (1.0 - si), dcs * c * sf * (1.0 - sf),
                 dcs * si * (1.0 - tg * tg), dh * tc * so * (1.0 - so)]
        dgates = np.concatenate(parts, axis=-1) if m is np else m.cat(parts, -1)
        return dgates, dcs * sf


def _lstm_cell_samples(rng):
    yield SampleInput((make(rng, (3, 8)), make(rng, (3, 2))), {}, "batch")
    yield SampleInput((make(rng, (12,)), make(rng, (3,))), {}, "unbatched")
    yield SampleInput((make(rng, (4, 8), noncontig=True), make(rng, (4, 2))), {}, "noncontig")


def _lstm_cell_ref(gates, c):
    i, f, g, o = _quarters(gates)
    s = lambda v: 1.0 / (1.0 + np.exp(-v))
    c_next = s(f) * c + s(i) * np.tanh(g)
    return s(o) * np.tanh(c_next), c_next


@op(LSTMCell, samples=_lstm_cell_samples, ref=_lstm_cell_ref)
def lstm_cell(gates, c):
    """(h', c') of an LSTM step from its pre-activation ``gates`` (..., 4H), in
    PyTorch's order i, f, g, o, and the cell state ``c`` (..., H)."""
    if gates.shape[-1:] != (4 * c.shape[-1],) or gates.shape[:-1] != c.shape[:-1]:
        raise ValueError(f"lstm_cell: expected gates of shape (..., 4H) and a cell state of "
                         f"shape (..., H) with the same leading dims, got gates "
                         f"{tuple(gates.shape)} and c {tuple(c.shape)}")
    return LSTMCell.apply(gates, c)
