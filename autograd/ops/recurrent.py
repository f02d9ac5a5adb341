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

from ..function import Primitive
from ..kernels.recurrent import (gru_layer_backward, gru_layer_forward, lstm_layer_backward,
                                 lstm_layer_forward)
from .elementwise import sigmoid_array
from .formula import FormulaPrimitive, tensor_namespace
from .linalg import linear
from .shape import stack
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


# -- whole layers: the time loop inside one node --------------------------------------------
# Run step by step, a layer of T steps is ~4T nodes, each paying the engine's per-op
# cost, and its weight gradient T thin GEMMs.  LSTMLayer and GRULayer run the loop in
# autograd/kernels/recurrent.py: one node, a GEMM and fused pointwise kernels a step,
# and dW_hh = dG^T H_prev as one GEMM after the backward loop.  Their differentiable
# backward (create_graph) and their vmap rule unroll the layer into the step ops above
# (LSTMCell / GRUCell and Linear), whose formulas and rules they reuse.
def _time_order(n_steps, reverse):
    return list(range(n_steps - 1, -1, -1)) if reverse else list(range(n_steps))


def _lstm_step(xw_t, hw, state):
    return lstm_cell(xw_t + hw, state[1])


def _gru_step(xw_t, hw, state):
    return (gru_cell(xw_t, hw, state[0]),)


def _unrolled(step, xw, state, w_hh, b_hh, reverse):
    """The layer as step ops: (hs in time order, the last state, and per step t the
    projection h_prev W_hh^T + b_hh and the state it started from)."""
    n_steps = xw.shape[0]
    hs, hws, starts = [None] * n_steps, [None] * n_steps, [None] * n_steps
    xs = xw.unbind(0)
    for t in _time_order(n_steps, reverse):
        starts[t] = state
        hws[t] = linear(state[0], w_hh, b_hh)
        state = step(xs[t], hws[t], state)
        hs[t] = state[0]
    return hs, state, hws, starts


def _hh_grads(dproj, starts, need_w, need_b):
    """dW_hh = sum_t dproj_t^T h_prev(t) and db_hh = sum_t of dproj_t's rows (dproj_t:
    the gradient of step t's h_prev W_hh^T + b_hh), each where needed."""
    rows = stack(dproj, 0)
    rows = rows.reshape((-1, rows.shape[-1]))
    h_prev = stack([s[0] for s in starts], 0)
    dw = rows.mT @ h_prev.reshape((rows.shape[0], -1)) if need_w else None
    return dw, (rows.sum(0) if need_b else None)


def _layer_batch_rule(step, n_state):
    """vmap: the unrolled layer, each step op batched by its own rule."""
    def run(xw, *args):
        state, (w_hh, b_hh, reverse) = args[:n_state], args[n_state:]
        hs, last, _, _ = _unrolled(step, xw, state, w_hh, b_hh, reverse)
        return (stack(hs, 0),) + tuple(last[1:])

    def rule(b, *args):
        out = b.logical(run, *args)
        return out if n_state > 1 else out[0]
    return staticmethod(rule)


class LSTMLayer(Primitive):
    """(hs, c_last) of an LSTM layer over xw (T, N, 4H) = x W_ih^T + b_ih, from (h0, c0),
    with W_hh (4H, H) and b_hh (4H,) or None; ``reverse`` runs t = T-1 .. 0.
    VJP: LSTMCell's step by step in reverse, with dh_prev = dgates W_hh added to the
    previous step's dh; dxw = dgates, dW_hh = sum_t dgates_t^T h_prev(t),
    db_hh = the sum of dgates."""
    jvp = derived_jvp
    batch_rule = _layer_batch_rule(_lstm_step, 2)

    @staticmethod
    def forward(ctx, xw, h0, c0, w_hh, b_hh, reverse):
        hs, cs, tcs, gates = lstm_layer_forward(xw, h0, c0, w_hh, b_hh, reverse)
        ctx.reverse = reverse
        ctx.save_for_backward(xw, h0, c0, w_hh, b_hh, hs, cs, tcs, gates)
        return hs, cs[0 if reverse else -1].copy()

    @staticmethod
    def vjp(ctx, dhs, dc):
        _, h0, c0, w_hh, _, hs, cs, tcs, gates = ctx.saved_arrays
        need = ctx.needs_input_grad[:5]
        grads = lstm_layer_backward(dhs, dc, h0, c0, w_hh, hs, cs, tcs, gates, ctx.reverse,
                                    need[4])
        return tuple(g if n else None for g, n in zip(grads, need)) + (None,)

    @staticmethod
    def backward(ctx, dhs, dc):
        xw, h0, c0, w_hh, b_hh = ctx.saved_tensors[:5]
        m = tensor_namespace()
        hs, _, hws, starts = _unrolled(_lstm_step, xw, (h0, c0), w_hh, b_hh, ctx.reverse)
        xs, dhs = xw.unbind(0), dhs.unbind(0)
        dgates, dh = [None] * len(hs), None
        for t in reversed(_time_order(len(hs), ctx.reverse)):
            dgates[t], dc = LSTMCell.formula(ctx, m, dhs[t] if dh is None else dhs[t] + dh, dc,
                                             xs[t] + hws[t], starts[t][1])
            dh = dgates[t] @ w_hh
        need = ctx.needs_input_grad
        return ((stack(dgates, 0) if need[0] else None, dh if need[1] else None,
                 dc if need[2] else None) + _hh_grads(dgates, starts, need[3], need[4]) + (None,))


class GRULayer(Primitive):
    """hs of a GRU layer over xw (T, N, 3H) = x W_ih^T + b_ih from h0, with W_hh (3H, H)
    and b_hh (3H,) or None; ``reverse`` runs t = T-1 .. 0.  VJP: GRUCell's step by step
    in reverse, with dh_prev = dh z + dhw W_hh; dxw = [ar, az, an],
    dW_hh = sum_t dhw_t^T h_prev(t), db_hh = the sum of dhw."""
    jvp = derived_jvp
    batch_rule = _layer_batch_rule(_gru_step, 1)

    @staticmethod
    def forward(ctx, xw, h0, w_hh, b_hh, reverse):
        hs, acts, hn = gru_layer_forward(xw, h0, w_hh, b_hh, reverse)
        ctx.reverse = reverse
        ctx.save_for_backward(xw, h0, w_hh, b_hh, hs, acts, hn)
        return hs

    @staticmethod
    def vjp(ctx, dhs):
        _, h0, w_hh, _, hs, acts, hn = ctx.saved_arrays
        need = ctx.needs_input_grad[:4]
        grads = gru_layer_backward(dhs, h0, w_hh, hs, acts, hn, ctx.reverse, need[3])
        return tuple(g if n else None for g, n in zip(grads, need)) + (None,)

    @staticmethod
    def backward(ctx, dhs):
        xw, h0, w_hh, b_hh = ctx.saved_tensors[:4]
        m = tensor_namespace()
        hs, _, hws, starts = _unrolled(_gru_step, xw, (h0,), w_hh, b_hh, ctx.reverse)
        xs, dhs = xw.unbind(0), dhs.unbind(0)
        dxw, dhw, dh = [None] * len(hs), [None] * len(hs), None
        for t in reversed(_time_order(len(hs), ctx.reverse)):
            dxw[t], dhw[t], dh_z = GRUCell.formula(ctx, m, dhs[t] if dh is None else dhs[t] + dh,
                                                   xs[t], hws[t], starts[t][0])
            dh = dh_z + dhw[t] @ w_hh
        need = ctx.needs_input_grad
        return ((stack(dxw, 0) if need[0] else None, dh if need[1] else None)
                + _hh_grads(dhw, starts, need[2], need[3]) + (None,))


def _lstm_layer_samples(rng):
    args = lambda xw: (xw, make(rng, (2, 2)), make(rng, (2, 2)), make(rng, (8, 2)))  # noqa: E731
    yield SampleInput(args(make(rng, (3, 2, 8))) + (make(rng, (8,)),), {}, "bias")
    yield SampleInput(args(make(rng, (3, 2, 8))) + (make(rng, (8,)),), dict(reverse=True),
                      "reverse")
    yield SampleInput(args(make(rng, (2, 2, 8), noncontig=True)), {}, "no-bias-noncontig")


def _gru_layer_samples(rng):
    args = lambda xw: (xw, make(rng, (2, 2)), make(rng, (6, 2)))  # noqa: E731
    yield SampleInput(args(make(rng, (3, 2, 6))) + (make(rng, (6,)),), {}, "bias")
    yield SampleInput(args(make(rng, (3, 2, 6))) + (make(rng, (6,)),), dict(reverse=True),
                      "reverse")
    yield SampleInput(args(make(rng, (2, 2, 6), noncontig=True)), {}, "no-bias-noncontig")


def _layer_ref(cell, xw, state, w_hh, b_hh, reverse):
    hs = [None] * len(xw)
    for t in _time_order(len(xw), reverse):
        hw = state[0] @ w_hh.T + (0 if b_hh is None else b_hh)
        state = cell(xw[t], hw, state)
        hs[t] = state[0]
    return np.stack(hs), state


def _lstm_layer_ref(xw, h0, c0, weight_hh, bias_hh=None, reverse=False):
    hs, (_, c) = _layer_ref(lambda x, hw, s: _lstm_cell_ref(x + hw, s[1]), xw, (h0, c0),
                            weight_hh, bias_hh, reverse)
    return hs, c


def _gru_layer_ref(xw, h0, weight_hh, bias_hh=None, reverse=False):
    return _layer_ref(lambda x, hw, s: (_gru_cell_ref(x, hw, s[0]),), xw, (h0,), weight_hh,
                      bias_hh, reverse)[0]


def _check_layer(name, gates, xw, states, weight_hh, bias_hh):
    h = states[0].shape[-1] if states[0].ndim == 2 else None
    ok = (xw.ndim == 3 and h is not None and xw.shape[2] == gates * h
          and all(tuple(s.shape) == (xw.shape[1], h) for s in states)
          and tuple(weight_hh.shape) == (gates * h, h)
          and (bias_hh is None or tuple(bias_hh.shape) == (gates * h,)))
    if not ok:
        raise ValueError(
            f"{name}: expected xw (T, N, {gates}H), states (N, H), weight_hh ({gates}H, H) and "
            f"bias_hh ({gates}H,), got xw {tuple(xw.shape)}, states "
            f"{[tuple(s.shape) for s in states]}, weight_hh {tuple(weight_hh.shape)} and bias_hh "
            f"{None if bias_hh is None else tuple(bias_hh.shape)}")


@op(LSTMLayer, samples=_lstm_layer_samples, ref=_lstm_layer_ref)
def lstm_layer(xw, h0, c0, weight_hh, bias_hh=None, reverse=False):
    """(hs, c_last): an LSTM layer over all T steps of its input projection ``xw``
    (T, N, 4H) = x W_ih^T + b_ih, from the states ``h0`` and ``c0`` (N, H); hs (T, N, H)
    is h at every step, c_last the cell state after the last step (t = 0 with
    ``reverse``).  One node; as ``lstm_cell`` step by step."""
    _check_layer("lstm_layer", 4, xw, (h0, c0), weight_hh, bias_hh)
    return LSTMLayer.apply(xw, h0, c0, weight_hh, bias_hh, bool(reverse))


@op(GRULayer, samples=_gru_layer_samples, ref=_gru_layer_ref)
def gru_layer(xw, h0, weight_hh, bias_hh=None, reverse=False):
    """hs (T, N, H): a GRU layer over all T steps of its input projection ``xw``
    (T, N, 3H) = x W_ih^T + b_ih from ``h0`` (N, H).  One node; as ``gru_cell`` step
    by step."""
    _check_layer("gru_layer", 3, xw, (h0,), weight_hh, bias_hh)
    return GRULayer.apply(xw, h0, weight_hh, bias_hh, bool(reverse))
