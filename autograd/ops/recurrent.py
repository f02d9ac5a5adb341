"""The pointwise halves of LSTM and GRU steps, one node each (PyTorch fuses them too).

Composed from single ops a step is a dozen nodes, each paying the engine's per-op
cost; as one primitive it is one.  The GEMMs (x W_ih^T + b_ih, h W_hh^T + b_hh)
stay Linear nodes.  s is the logistic function; the gates split into equal parts
along the last dim, in PyTorch's order.

LSTM, gates = x W_ih^T + b_ih + h W_hh^T + b_hh = [i, f, g, o]:
  c' = s(f) c + s(i) tanh(g),   h' = s(o) tanh(c')
VJP, from dh and dc (the gradients of h' and c') with tc = tanh(c'):
  dc* = dc + dh s(o) (1 - tc^2)                     (all of c''s gradient)
  di = dc* tanh(g) s(i) (1 - s(i)),  df = dc* c s(f) (1 - s(f)),
  dg = dc* s(i) (1 - tanh(g)^2),     do = dh tc s(o) (1 - s(o)),
  dgates = [di, df, dg, do],         dc_prev = dc* s(f)

GRU, xw = x W_ih^T + b_ih = [xr, xz, xn], hw = h W_hh^T + b_hh = [hr, hz, hn]:
  r = s(xr + hr),  z = s(xz + hz),  n = tanh(xn + r hn),  h' = (1 - z) n + z h
VJP, from dh:
  an = dh (1 - z) (1 - n^2),  ar = an hn r (1 - r),  az = dh (h - n) z (1 - z),
  dxw = [ar, az, an],  dhw = [ar, az, an r],  dh_prev = dh z
"""
import numpy as np

from .elementwise import sigmoid_array
from .formula import FormulaPrimitive
from .registry import SampleInput, make, op
from ..forward_ad import derived_jvp
from .batching import elementwise_batch_rule


def _parts(x, k):
    n = x.shape[-1] // k
    return [x[..., j * n:(j + 1) * n] for j in range(k)]


def _sigmoid(m, x):
    return sigmoid_array(np.ascontiguousarray(x)) if m is np else m.sigmoid(x)


def _join(m, parts):
    return np.concatenate(parts, axis=-1) if m is np else m.cat(parts, -1)


def _activations(m, gates):
    """s(i), s(f), tanh(g), s(o); the logistic runs once over all the gates."""
    si, sf, _, so = _parts(_sigmoid(m, gates), 4)
    return si, sf, m.tanh(_parts(gates, 4)[2]), so


class LSTMCell(FormulaPrimitive):
    batch_rule = elementwise_batch_rule       # gates and states: rows alike
    jvp = derived_jvp

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
        return _join(m, parts), dcs * sf


def _lstm_cell_samples(rng):
    yield SampleInput((make(rng, (3, 8)), make(rng, (3, 2))), {}, "batch")
    yield SampleInput((make(rng, (12,)), make(rng, (3,))), {}, "unbatched")
    yield SampleInput((make(rng, (4, 8), noncontig=True), make(rng, (4, 2))), {}, "noncontig")


def _logistic(v):
    return 1.0 / (1.0 + np.exp(-v))


def _lstm_cell_ref(gates, c):
    i, f, g, o = _parts(gates, 4)
    c_next = _logistic(f) * c + _logistic(i) * np.tanh(g)
    return _logistic(o) * np.tanh(c_next), c_next


@op(LSTMCell, samples=_lstm_cell_samples, ref=_lstm_cell_ref)
def lstm_cell(gates, c):
    """(h', c') of an LSTM step from its pre-activation ``gates`` (..., 4H), in
    PyTorch's order i, f, g, o, and the cell state ``c`` (..., H)."""
    if gates.shape[-1:] != (4 * c.shape[-1],) or gates.shape[:-1] != c.shape[:-1]:
        raise ValueError(f"lstm_cell: expected gates of shape (..., 4H) and a cell state of "
                         f"shape (..., H) with the same leading dims, got gates "
                         f"{tuple(gates.shape)} and c {tuple(c.shape)}")
    return LSTMCell.apply(gates, c)


def _gru_gates(m, xw, hw):
    """r, z, n and hn of the module docstring."""
    xr, xz, xn = _parts(xw, 3)
    hr, hz, hn = _parts(hw, 3)
    r, z = _parts(_sigmoid(m, _join(m, [xr + hr, xz + hz])), 2)
    return r, z, m.tanh(xn + r * hn), hn


class GRUCell(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, xw, hw, h):
        ctx.save_for_backward(xw, hw, h)
        _, z, n, _ = _gru_gates(np, xw, hw)
        return n + z * (h - n)                              # (1 - z) n + z h

    def formula(ctx, m, dh, xw, hw, h):
        r, z, n, hn = _gru_gates(m, xw, hw)
        an = dh * (1.0 - z) * (1.0 - n * n)
        ar = an * hn * r * (1.0 - r)
        az = dh * (h - n) * z * (1.0 - z)
        return _join(m, [ar, az, an]), _join(m, [ar, az, an * r]), dh * z


def _gru_cell_samples(rng):
    yield SampleInput((make(rng, (3, 6)), make(rng, (3, 6)), make(rng, (3, 2))), {}, "batch")
    yield SampleInput((make(rng, (9,)), make(rng, (9,)), make(rng, (3,))), {}, "unbatched")
    yield SampleInput((make(rng, (4, 6), noncontig=True), make(rng, (4, 6)), make(rng, (4, 2))),
                      {}, "noncontig")


def _gru_cell_ref(xw, hw, h):
    xr, xz, xn = _parts(xw, 3)
    hr, hz, hn = _parts(hw, 3)
    r, z = _logistic(xr + hr), _logistic(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h


@op(GRUCell, samples=_gru_cell_samples, ref=_gru_cell_ref)
def gru_cell(xw, hw, h):
    """h' of a GRU step from its input and hidden projections ``xw`` and ``hw``
    (..., 3H), in PyTorch's order r, z, n, and the hidden state ``h`` (..., H)."""
    if xw.shape != hw.shape or xw.shape[-1:] != (3 * h.shape[-1],) or xw.shape[:-1] != h.shape[:-1]:
        raise ValueError(f"gru_cell: expected projections of shape (..., 3H) and a hidden state "
                         f"of shape (..., H) with the same leading dims, got {tuple(xw.shape)}, "
                         f"{tuple(hw.shape)} and {tuple(h.shape)}")
    return GRUCell.apply(xw, hw, h)
