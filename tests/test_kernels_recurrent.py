"""The LSTM/GRU step kernels (autograd/kernels/recurrent.py) against their NumPy
references, on both twins (kernel_twins), and the layer loops against a step-by-step
NumPy LSTM/GRU."""
import numpy as np
import pytest

from autograd.kernels import recurrent as kr
from kernel_twins import DTYPES, kernel_twin, tolerance  # noqa: F401  (kernel_twin: autouse)


def _arrays(rng, dtype, *shapes, noncontig=False):
    out = []
    for s in shapes:
        a = rng.standard_normal(s[::-1] if noncontig else s).astype(dtype) * 2
        out.append(a.T if noncontig else a)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
def test_lstm_step_kernels_match_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    n, h = int(rng.integers(1, 40)), int(rng.integers(1, 20))
    gates, xw = _arrays(rng, dtype, (n, 4 * h), (n, 4 * h), noncontig=bool(seed % 2))
    (b,) = _arrays(rng, dtype, (4 * h,))
    ours, ref = np.ascontiguousarray(gates), np.ascontiguousarray(gates)
    kr.lstm_gates_numba(ours, xw, b)
    kr.lstm_gates_reference(ref, xw, b)
    np.testing.assert_allclose(ours, ref, **tolerance(dtype))
    assert np.all((ours[:, :2 * h] > 0) & (ours[:, :2 * h] < 1))    # the logistic ran on i, f
    np.tanh(ref[:, 2 * h:3 * h], out=ref[:, 2 * h:3 * h])
    c_prev, c, dh_out, dc = _arrays(rng, dtype, *[(n, h)] * 4)
    (dh_next_t,) = _arrays(rng, dtype, (h, n))
    c_ref = np.empty_like(c)
    kr.lstm_state_numba(ref, c_prev, c)
    kr.lstm_state_reference(ref, c_prev, c_ref)
    np.testing.assert_allclose(c, c_ref, **tolerance(dtype))
    tc = np.tanh(c)
    dg, dg_ref = np.full((n, 4 * h), np.nan, dtype), np.full((n, 4 * h), np.nan, dtype)
    dc_ref = dc.copy()
    kr.lstm_step_backward_numba(ref, c_prev, tc, dh_out, dh_next_t, dc, dg)
    kr.lstm_step_backward_reference(ref, c_prev, tc, dh_out, dh_next_t, dc_ref, dg_ref)
    np.testing.assert_allclose(dg, dg_ref, **tolerance(dtype))
    np.testing.assert_allclose(dc, dc_ref, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
def test_gru_step_kernels_match_reference(seed, dtype):
    rng = np.random.default_rng(10 + seed)
    n, h = int(rng.integers(1, 40)), int(rng.integers(1, 20))
    hw, xw = _arrays(rng, dtype, (n, 3 * h), (n, 3 * h), noncontig=bool(seed % 2))
    (b,) = _arrays(rng, dtype, (3 * h,))
    acts, acts_ref = np.empty((n, 3 * h), dtype), np.empty((n, 3 * h), dtype)
    hn, hn_ref = np.empty((n, h), dtype), np.empty((n, h), dtype)
    kr.gru_gates_numba(hw, xw, b, acts, hn)
    kr.gru_gates_reference(hw, xw, b, acts_ref, hn_ref)
    np.testing.assert_allclose(acts, acts_ref, **tolerance(dtype))
    np.testing.assert_allclose(hn, hn_ref, **tolerance(dtype))
    np.tanh(acts_ref[:, 2 * h:], out=acts_ref[:, 2 * h:])
    h_prev, dh_out, dh_next = _arrays(rng, dtype, *[(n, h)] * 3)
    (through_t,) = _arrays(rng, dtype, (h, n))
    out, out_ref = np.empty((n, h), dtype), np.empty((n, h), dtype)
    kr.gru_state_numba(acts_ref, h_prev, out)
    kr.gru_state_reference(acts_ref, h_prev, out_ref)
    np.testing.assert_allclose(out, out_ref, **tolerance(dtype))
    grads = [np.full((n, 3 * h), np.nan, dtype) for _ in range(4)]
    carry, carry_ref = dh_next.copy(), dh_next.copy()
    kr.gru_step_backward_numba(acts_ref, hn_ref, h_prev, dh_out, through_t, carry, grads[0],
                               grads[1])
    kr.gru_step_backward_reference(acts_ref, hn_ref, h_prev, dh_out, through_t, carry_ref,
                                   grads[2], grads[3])
    np.testing.assert_allclose(grads[0], grads[2], **tolerance(dtype))
    np.testing.assert_allclose(grads[1], grads[3], **tolerance(dtype))
    np.testing.assert_allclose(carry, carry_ref, **tolerance(dtype))


def _logistic(v):
    return 1 / (1 + np.exp(-v))


def _lstm_by_steps(xw, h, c, w, b, reverse):
    hs = np.empty(xw.shape[:2] + (h.shape[1],))
    for t in (reversed(range(len(xw))) if reverse else range(len(xw))):
        i, f, g, o = np.split(xw[t] + h @ w.T + b, 4, axis=1)
        c = _logistic(f) * c + _logistic(i) * np.tanh(g)
        h = hs[t] = _logistic(o) * np.tanh(c)
    return hs, c


def _gru_by_steps(xw, h, w, b, reverse):
    hs = np.empty(xw.shape[:2] + (h.shape[1],))
    for t in (reversed(range(len(xw))) if reverse else range(len(xw))):
        xr, xz, xn = np.split(xw[t], 3, axis=1)
        hr, hz, hn = np.split(h @ w.T + b, 3, axis=1)
        r, z = _logistic(xr + hr), _logistic(xz + hz)
        n = np.tanh(xn + r * hn)
        h = hs[t] = (1 - z) * n + z * h
    return hs


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n, h", [(3, 32), (2, 48), (3, 20)])
def test_step_products_match_matmul(n, h, threads, direct, monkeypatch):
    """The step GEMMs h W^T and (dG W)^T, in blocks at one thread where OpenBLAS has its
    direct small kernels and the sizes allow (the product's transposed layout of W: a
    stack of 3-d blocks), whole otherwise."""
    monkeypatch.setattr(kr, "get_num_threads", lambda: threads)
    monkeypatch.setattr(kr, "DIRECT_SMALL_GEMM", direct)
    rng = np.random.default_rng(n * h)
    for gates in (3, 4):
        w = rng.standard_normal((gates * h, h)).astype(np.float32)
        x, dg = rng.standard_normal((n, h)), rng.standard_normal((n, gates * h))
        w_step, view = kr._step_product(w, n)
        out = np.full((n, gates * h), np.nan, np.float32)
        np.matmul(x.astype(np.float32), w_step, out=view(out))
        np.testing.assert_allclose(out, x @ w.T, rtol=1e-5, atol=1e-4)
        blocked = direct and threads == 1
        assert (w_step.ndim == 3) == (blocked and gates * h % 32 == 0)
        dh_t, back = kr._grad_product(w, n)
        assert dh_t.shape == (h, n) and not dh_t.any()
        back(dg.astype(np.float32))
        np.testing.assert_allclose(dh_t, (dg @ w).T, rtol=1e-5, atol=1e-4)
        assert dh_t.flags.c_contiguous == (blocked and h % 16 == 0)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("h, threads, direct", [(4, 1, True), (32, 1, True), (32, 1, False),
                                                (32, 2, True)])
def test_layer_loops_match_steps(reverse, h, threads, direct, monkeypatch):
    """The loops' values, and their backward against central differences of
    <hs, G> + <c_last, C> in one random direction (float64); with h = 32 at one thread
    and OpenBLAS's direct kernels the step GEMMs run in blocks."""
    monkeypatch.setattr(kr, "get_num_threads", lambda: threads)
    monkeypatch.setattr(kr, "DIRECT_SMALL_GEMM", direct)
    rng = np.random.default_rng(3)
    t_, n = 5, 3
    xw4, xw3 = rng.standard_normal((t_, n, 4 * h)), rng.standard_normal((t_, n, 3 * h))
    h0, c0 = rng.standard_normal((n, h)), rng.standard_normal((n, h))
    w4, w3 = rng.standard_normal((4 * h, h)) / 2, rng.standard_normal((3 * h, h)) / 2
    b4, b3 = rng.standard_normal(4 * h), rng.standard_normal(3 * h)
    hs, cs, tcs, gates = kr.lstm_layer_forward(xw4, h0, c0, w4, b4, reverse)
    ref_hs, ref_c = _lstm_by_steps(xw4, h0, c0, w4, b4, reverse)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cs[0 if reverse else -1], ref_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kr.gru_layer_forward(xw3, h0, w3, b3, reverse)[0],
                               _gru_by_steps(xw3, h0, w3, b3, reverse), rtol=1e-12, atol=1e-12)

    g_hs, g_c = rng.standard_normal(hs.shape), rng.standard_normal(c0.shape)
    lstm_args, gru_args = [xw4, h0, c0, w4, b4], [xw3, h0, w3, b3]
    grads4 = kr.lstm_layer_backward(g_hs, g_c, h0, c0, w4, hs, cs, tcs, gates, reverse, True)
    hs3, acts, hn = kr.gru_layer_forward(*gru_args, reverse)
    grads3 = kr.gru_layer_backward(g_hs, h0, w3, hs3, acts, hn, reverse, True)
    loss4 = lambda a: (np.vdot(_lstm_by_steps(*a, reverse)[0], g_hs)          # noqa: E731
                       + np.vdot(_lstm_by_steps(*a, reverse)[1], g_c))
    loss3 = lambda a: np.vdot(_gru_by_steps(*a, reverse), g_hs)                 # noqa: E731
    for args, grads, loss in ((lstm_args, grads4, loss4), (gru_args, grads3, loss3)):
        for k, grad in enumerate(grads):
            u = rng.standard_normal(args[k].shape)
            plus = [a + 1e-6 * u if j == k else a for j, a in enumerate(args)]
            minus = [a - 1e-6 * u if j == k else a for j, a in enumerate(args)]
            numeric = (loss(plus) - loss(minus)) / 2e-6
            np.testing.assert_allclose(np.vdot(grad, u), numeric, rtol=1e-6, atol=1e-8)
