"""LSTM and GRU layers over a whole sequence: the time loops and their pointwise kernels.

A layer's input projection xw = x W_ih^T + b_ih comes in for all T steps at once (one
GEMM, done by the caller); the loop here runs the recurrence, one GEMM a step for
h W_hh^T (laid out as _step_product says) and the gates' pointwise work in fused
kernels, writing into buffers laid out for the whole sequence.
The backward loop runs in reverse and leaves the weight gradient for ONE GEMM after
it, dW_hh = dG^T H_prev over all T*N rows (PyTorch and cuDNN do the same): 64 GEMMs
with K = 32 become one with K = 2048.  Its step GEMM gives dh = dG_t W_hh, which the
step kernels read transposed, as dh^T (the blocked form below computes it so).
tanh is NumPy's (its SIMD form), the logistic
the vectorising one of kernels/special.py, so the values are today's to the last
rounding of the sums' order.  Formulas: autograd/ops/recurrent.py.

    LSTM  G = [s(i), s(f), tanh(g), s(o)] (saved), c_t = s(f) c + s(i) tanh(g),
          h_t = s(o) tanh(c_t)
    GRU   A = [r, z, n] (saved), hn = h W_hn^T + b_hn (saved), h_t = n + z (h - n)

The step kernels are streaming kernels (threads.py): a step's (N, 4H) arrays are small,
and a parallel region per step costs more than it saves.  ``reverse`` runs the steps
from T-1 down to 0 (a bidirectional layer's second direction).
"""
import numba
import numpy as np
from numba import prange
from numba import uint64 as U

from . import pick
from .special import exp_neg
from .threads import get_num_threads, streaming_kernel


@numba.njit(cache=True)
def _logistic(v, one):
    """1 / (1 + e^-v) as kernels/special.py's sigmoid computes it; ``one`` is 1 in v's
    dtype (a literal 1 would widen float32 to float64, here and in the kernels below)."""
    e = exp_neg(abs(v))
    r = one / (one + e)
    return r if v >= 0 else e * r


# -- LSTM ----------------------------------------------------------------------------------
@streaming_kernel
def lstm_gates_numba(gates, xw, b):
    """gates (N, 4H) holds h W_hh^T; adds xw + b and applies the logistic to i, f, o
    (g stays a pre-activation for NumPy's tanh)."""
    n_, g4 = gates.shape
    h_ = g4 // 4
    one = gates.dtype.type(1)
    for r in prange(n_):
        g, x = gates[r], xw[r]
        for j in range(U(2 * h_)):                 # unsigned: see kernels/conv.py's im2col
            g[j] = _logistic(g[j] + x[j] + b[j], one)
        for j in range(U(2 * h_), U(3 * h_)):
            g[j] = g[j] + x[j] + b[j]
        for j in range(U(3 * h_), U(g4)):
            g[j] = _logistic(g[j] + x[j] + b[j], one)


@streaming_kernel
def lstm_state_numba(gates, c_prev, c):
    """c = s(f) c_prev + s(i) tanh(g) from the activated gates."""
    n_, h_ = c.shape
    for r in prange(n_):
        for j in range(h_):
            c[r, j] = gates[r, h_ + j] * c_prev[r, j] + gates[r, j] * gates[r, 2 * h_ + j]


@streaming_kernel
def lstm_step_backward_numba(gates, c_prev, tc, dh_out, dh_next_t, dc, dgates):
    """One step back: dh = dh_out + dh_next_t^T; dc (in: dL/dc_t, out: dL/dc_{t-1});
    writes dgates.  Formulas: ops/recurrent.py (LSTMCell)."""
    n_, h_ = dc.shape
    one = dc.dtype.type(1)
    for r in prange(n_):
        for j in range(h_):
            si, sf = gates[r, j], gates[r, h_ + j]
            tg, so = gates[r, 2 * h_ + j], gates[r, 3 * h_ + j]
            t = tc[r, j]
            dh = dh_out[r, j] + dh_next_t[j, r]
            dcs = dc[r, j] + dh * so * (one - t * t)
            dgates[r, j] = dcs * tg * si * (one - si)
            dgates[r, h_ + j] = dcs * c_prev[r, j] * sf * (one - sf)
            dgates[r, 2 * h_ + j] = dcs * si * (one - tg * tg)
            dgates[r, 3 * h_ + j] = dh * t * so * (one - so)
            dc[r, j] = dcs * sf


def _logistic_reference(v):
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1 / (1 + e), e / (1 + e)).astype(v.dtype)


def lstm_gates_reference(gates, xw, b):
    h_ = gates.shape[1] // 4
    v = gates + xw + b
    gates[...] = _logistic_reference(v)
    gates[:, 2 * h_:3 * h_] = v[:, 2 * h_:3 * h_]


def lstm_state_reference(gates, c_prev, c):
    h_ = c.shape[1]
    c[...] = gates[:, h_:2 * h_] * c_prev + gates[:, :h_] * gates[:, 2 * h_:3 * h_]


def lstm_step_backward_reference(gates, c_prev, tc, dh_out, dh_next_t, dc, dgates):
    si, sf, tg, so = np.split(gates, 4, axis=1)
    dh = dh_out + dh_next_t.T
    dcs = dc + dh * so * (1 - tc * tc)
    dgates[...] = np.concatenate([dcs * tg * si * (1 - si), dcs * c_prev * sf * (1 - sf),
                                  dcs * si * (1 - tg * tg), dh * tc * so * (1 - so)], axis=1)
    dc[...] = dcs * sf


lstm_gates = pick(lstm_gates_numba, lstm_gates_reference)
lstm_state = pick(lstm_state_numba, lstm_state_reference)
lstm_step_backward = pick(lstm_step_backward_numba, lstm_step_backward_reference)


# -- GRU -----------------------------------------------------------------------------------
@streaming_kernel
def gru_gates_numba(hw, xw, b, acts, hn):
    """hw (N, 3H) holds h W_hh^T; writes acts = [r, z, xn + r hn] (n's pre-activation,
    for NumPy's tanh) and hn = h W_hh^T + b_hn.  Row views and unsigned loops, as in
    lstm_gates_numba: indexed [r, j] the loop did not vectorise (140 against 26 us)."""
    n_, h3 = hw.shape
    h_ = h3 // 3
    one = hw.dtype.type(1)
    for r in prange(n_):
        p, x, a, q = hw[r], xw[r], acts[r], hn[r]
        for j in range(U(2 * h_)):
            a[j] = _logistic(x[j] + (p[j] + b[j]), one)
        for j in range(U(h_)):
            v = p[2 * h_ + j] + b[2 * h_ + j]
            q[j] = v
            a[2 * h_ + j] = x[2 * h_ + j] + a[j] * v


@streaming_kernel
def gru_state_numba(acts, h_prev, h):
    """h = n + z (h_prev - n), i.e. (1 - z) n + z h_prev."""
    n_, h_ = h.shape
    for r in prange(n_):
        for j in range(h_):
            n = acts[r, 2 * h_ + j]
            h[r, j] = n + acts[r, h_ + j] * (h_prev[r, j] - n)


@streaming_kernel
def gru_step_backward_numba(acts, hn, h_prev, dh_out, through_t, carry, dxw, dhw):
    """One step back: dh = dh_out + carry + through_t^T (through_t: W_hh^T dhw^T of the
    step after, (H, N)); writes dxw = [ar, az, an], dhw = [ar, az, an r] and
    carry = dh z.  Formulas: ops/recurrent.py."""
    n_, h_ = h_prev.shape
    one = acts.dtype.type(1)
    for r in prange(n_):
        for j in range(h_):
            rr, z, n = acts[r, j], acts[r, h_ + j], acts[r, 2 * h_ + j]
            dh = dh_out[r, j] + carry[r, j] + through_t[j, r]
            an = dh * (one - z) * (one - n * n)
            ar = an * hn[r, j] * rr * (one - rr)
            az = dh * (h_prev[r, j] - n) * z * (one - z)
            dxw[r, j] = ar
            dxw[r, h_ + j] = az
            dxw[r, 2 * h_ + j] = an
            dhw[r, j] = ar
            dhw[r, h_ + j] = az
            dhw[r, 2 * h_ + j] = an * rr
            carry[r, j] = dh * z


def gru_gates_reference(hw, xw, b, acts, hn):
    h_ = hw.shape[1] // 3
    hb = hw + b
    rz = _logistic_reference(xw[:, :2 * h_] + hb[:, :2 * h_])
    hn[...] = hb[:, 2 * h_:]
    acts[...] = np.concatenate([rz, xw[:, 2 * h_:] + rz[:, :h_] * hn], axis=1)


def gru_state_reference(acts, h_prev, h):
    _, z, n = np.split(acts, 3, axis=1)
    h[...] = n + z * (h_prev - n)


def gru_step_backward_reference(acts, hn, h_prev, dh_out, through_t, carry, dxw, dhw):
    r, z, n = np.split(acts, 3, axis=1)
    dh = dh_out + carry + through_t.T
    an = dh * (1 - z) * (1 - n * n)
    ar = an * hn * r * (1 - r)
    az = dh * (h_prev - n) * z * (1 - z)
    dxw[...] = np.concatenate([ar, az, an], axis=1)
    dhw[...] = np.concatenate([ar, az, an * r], axis=1)
    carry[...] = dh * z


gru_gates = pick(gru_gates_numba, gru_gates_reference)
gru_state = pick(gru_state_numba, gru_state_reference)
gru_step_backward = pick(gru_step_backward_numba, gru_step_backward_reference)


# -- the step GEMMs --------------------------------------------------------------------------
# OpenBLAS runs a float GEMM of at most 1e6 multiply-adds (M N K) with its direct kernels,
# which read the operands in place, but only on its AVX-512 cores (the cores below:
# kernel/x86_64/sgemm_direct_skylakex.c); a larger one, and every one elsewhere, first
# copies both operands into packed buffers, which for a step's thin GEMM costs as much as
# the arithmetic.  So on those cores at one thread a step GEMM runs as blocks under that
# size, one np.matmul over a stack of them (float32, batch 32, H 256, 1 thread, us:
# h W_hh^T 193 -> 127 in blocks of 32 columns of W_hh^T; dh^T = W_hh^T dG^T 197 (as
# dG W_hh) -> 124 in blocks of 16 rows, on dG^T).  Elsewhere (NumPy's OpenBLAS on an AMD
# EPYC is its Haswell core) the blocks measured no faster (LSTM layer 64x32x256 forward,
# 1 thread: 30-34 ms in blocks, 26-32 whole) or slower (the backward's step GEMM, us:
# dh^T 294-419 in blocks against 233-282 for dG W_hh whole) and take the whole product,
# as larger blocks and more threads do (the direct kernels run serially): h W_hh^T on a
# contiguous W_hh^T (its transposed view ran 265 against 170 us), dh = dG W_hh on dG as
# the step kernel wrote it, with no copy of dG^T (at 4H = 1024 float32 columns that
# copy reads at a 4 KiB stride, every row in one cache set: 100 us a step there, 12 at
# 3H = 768).
SMALL_GEMM = 10 ** 6
_COLUMNS, _ROWS = 32, 16            # block widths of the forward and backward products
_DIRECT_CORES = ("SkylakeX", "Cooperlake", "SapphireRapids")


def _direct_small_gemm():
    """Whether NumPy's OpenBLAS runs small GEMMs with its direct kernels (see above)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:                      # a declared dependency; tolerate its absence
        return False
    return any(i.get("internal_api") == "openblas" and i.get("architecture") in _DIRECT_CORES
               for i in threadpool_info())


DIRECT_SMALL_GEMM = _direct_small_gemm()


def _small(block_madds, size, width):
    return (DIRECT_SMALL_GEMM and get_num_threads() == 1 and size % width == 0
            and block_madds <= SMALL_GEMM)


def _step_product(w_hh, n_batch):
    """(w, view) with h W_hh^T = np.matmul(h, w, out=view(out)), out (N, G)."""
    g, h = w_hh.shape
    if not _small(n_batch * _COLUMNS * h, g, _COLUMNS):
        return np.ascontiguousarray(w_hh.T), lambda out: out
    k = g // _COLUMNS                                    # block j: W_hh[32j:32j+32]^T
    w = np.ascontiguousarray(w_hh.reshape(k, _COLUMNS, h).transpose(0, 2, 1))
    return w, lambda out: out.reshape(n_batch, k, _COLUMNS).transpose(1, 0, 2)


def _grad_product(w_hh, n_batch):
    """(dh_t, back): dh_t (H, N), zero, is the carried dL/dh_prev as the backward step
    kernels read it, transposed; back(dg) sets it to (dG W_hh)^T from a step's dG (N, G)."""
    g, h = w_hh.shape
    if not _small(_ROWS * n_batch * g, h, _ROWS):
        dh = np.zeros((n_batch, h), w_hh.dtype)
        return dh.T, lambda dg: np.matmul(dg, w_hh, out=dh)
    k = h // _ROWS                                       # block j: W_hh[:, 16j:16j+16]^T
    a = w_hh.reshape(g, k, _ROWS).transpose(1, 2, 0)
    dh_t, dg_t = np.zeros((h, n_batch), w_hh.dtype), np.empty((g, n_batch), w_hh.dtype)
    blocks = dh_t.reshape(k, _ROWS, n_batch)

    def back(dg):
        # NumPy's blocked transpose, 14 us; strided writes of dG^T in the step kernel, 50
        np.copyto(dg_t, dg.T)
        np.matmul(a, dg_t, out=blocks)
    return dh_t, back


# -- the time loops --------------------------------------------------------------------------
def _steps(n_steps, reverse):
    return range(n_steps - 1, -1, -1) if reverse else range(n_steps)


def _previous(seq, first, t, reverse):
    """The state the step at t started from: ``first`` at the first step, else seq's
    entry one step earlier in the direction of travel."""
    if t == (len(seq) - 1 if reverse else 0):
        return first
    return seq[t + 1] if reverse else seq[t - 1]


def _weight_grad(dg, hs, h0, reverse):
    """dW = sum over steps of dg[t]^T h_prev(t), as two GEMMs over all but one step's rows."""
    rows = lambda a: a.reshape(-1, a.shape[-1])            # noqa: E731
    if reverse:
        dw = rows(dg[:-1]).T @ rows(hs[1:])
        dw += dg[-1].T @ h0
    else:
        dw = rows(dg[1:]).T @ rows(hs[:-1])
        dw += dg[0].T @ h0
    return dw


def _bias_grad(dg):
    """db = the sum of dg over steps and batch, as the GEMV 1^T dG."""
    rows = dg.reshape(-1, dg.shape[-1])
    return np.ones(rows.shape[0], dg.dtype) @ rows


def _bias_or_zeros(b, size, dtype):
    return np.zeros(size, dtype) if b is None else np.asarray(b, dtype)


def lstm_layer_forward(xw, h0, c0, w_hh, b_hh, reverse):
    """(hs (T, N, H), cs (T, N, H), tcs = tanh(cs), gates (T, N, 4H) activated)."""
    t_, n_, g4 = xw.shape
    h_ = g4 // 4
    b = _bias_or_zeros(b_hh, g4, xw.dtype)
    gates = np.empty((t_, n_, g4), xw.dtype)
    hs, cs, tcs = (np.empty((t_, n_, h_), xw.dtype) for _ in range(3))
    w, view = _step_product(w_hh, n_)
    for t in _steps(t_, reverse):
        g = gates[t]
        np.matmul(_previous(hs, h0, t, reverse), w, out=view(g))
        lstm_gates(g, xw[t], b)
        np.tanh(g[:, 2 * h_:3 * h_], out=g[:, 2 * h_:3 * h_])
        lstm_state(g, _previous(cs, c0, t, reverse), cs[t])
        np.tanh(cs[t], out=tcs[t])
        np.multiply(g[:, 3 * h_:], tcs[t], out=hs[t])
    return hs, cs, tcs, gates


def lstm_layer_backward(dhs, dc_last, h0, c0, w_hh, hs, cs, tcs, gates, reverse, need_bias):
    """(dxw, dh0, dc0, dW_hh, db_hh or None) from dhs (T, N, H) and dL/dc at the last step."""
    t_, n_, h_ = hs.shape
    dg = np.empty_like(gates)
    dh_next_t, back = _grad_product(w_hh, n_)            # dL/dh carried back, transposed
    dc = np.array(dc_last, hs.dtype)
    for t in reversed(_steps(t_, reverse)):
        lstm_step_backward(gates[t], _previous(cs, c0, t, reverse), tcs[t], dhs[t], dh_next_t,
                           dc, dg[t])
        back(dg[t])
    return (dg, dh_next_t.T.copy(), dc, _weight_grad(dg, hs, h0, reverse),
            _bias_grad(dg) if need_bias else None)


def gru_layer_forward(xw, h0, w_hh, b_hh, reverse):
    """(hs (T, N, H), acts (T, N, 3H) = [r, z, n], hn (T, N, H))."""
    t_, n_, h3 = xw.shape
    h_ = h3 // 3
    b = _bias_or_zeros(b_hh, h3, xw.dtype)
    acts = np.empty((t_, n_, h3), xw.dtype)
    hs, hn = np.empty((t_, n_, h_), xw.dtype), np.empty((t_, n_, h_), xw.dtype)
    hw = np.empty((n_, h3), xw.dtype)
    w, view = _step_product(w_hh, n_)
    hw_view = view(hw)
    for t in _steps(t_, reverse):
        h_prev = _previous(hs, h0, t, reverse)
        np.matmul(h_prev, w, out=hw_view)
        gru_gates(hw, xw[t], b, acts[t], hn[t])
        np.tanh(acts[t, :, 2 * h_:], out=acts[t, :, 2 * h_:])
        gru_state(acts[t], h_prev, hs[t])
    return hs, acts, hn


def gru_layer_backward(dhs, h0, w_hh, hs, acts, hn, reverse, need_bias):
    """(dxw, dh0, dW_hh, db_hh or None) from dhs (T, N, H)."""
    t_, n_, h_ = hs.shape
    dxw, dhw = np.empty_like(acts), np.empty_like(acts)
    carry = np.zeros((n_, h_), hs.dtype)                  # dL/dh carried back through z
    through_t, back = _grad_product(w_hh, n_)             # ... and through W_hh, transposed
    for t in reversed(_steps(t_, reverse)):
        gru_step_backward(acts[t], hn[t], _previous(hs, h0, t, reverse), dhs[t], through_t,
                          carry, dxw[t], dhw[t])
        back(dhw[t])
    return (dxw, carry + through_t.T, _weight_grad(dhw, hs, h0, reverse),
            _bias_grad(dhw) if need_bias else None)
