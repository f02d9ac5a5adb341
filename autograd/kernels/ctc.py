"""Connectionist temporal classification: the alpha-beta recursion (Graves et al. 2006).

For one sequence with target l (length L) the extended labels are l' = (blank, l_1,
blank, l_2, ..., l_L, blank), S = 2L + 1 states.  On log-probabilities lp (T, C):
  alpha_0(0) = lp_0(blank),  alpha_0(1) = lp_0(l_1)
  alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)])
where the s-2 term counts when l'_s is a label different from l'_{s-2} (a skip over a
blank).  nll = -logsumexp(alpha_{T-1}(S-1), alpha_{T-1}(S-2)).  beta runs the same
recursion backwards in time, and the gradient of nll is
  d nll / d lp_t(c) = -sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - lp_t(c) + nll)
(alpha and beta both hold lp_t(l'_s)).  PyTorch's CTC backward returns this plus
exp(lp_t(c)), the gradient through a log_softmax it assumes; we return the derivative
of the loss itself, so gradcheck holds on any input, and both agree after a
log_softmax (the added term sums to the one that log_softmax's VJP removes).

Sequences are given as flat ``labels`` with ``starts`` and ``target_lengths`` (the
padded (N, S) form is brought to this by the caller), ``input_lengths`` per sequence;
lp is (T, N, C).  Steps at or past a sequence's input length get no gradient.
"""
import numba
import numpy as np

from . import pick


def _extended(labels, start, length, blank):
    """l' and the mask of states s that may come from s - 2."""
    ext = np.full(2 * length + 1, blank, np.int64)
    ext[1::2] = labels[start:start + length]
    skip = np.zeros(ext.shape, bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    return ext, skip


def ctc_alpha_reference(lp, labels, starts, target_lengths, input_lengths, blank):
    """log alpha (N, T, 2 max(L) + 1), -inf outside each sequence's states, and nll (N,)."""
    t_, n_, _ = lp.shape
    width = 2 * int(target_lengths.max(initial=0)) + 1
    alpha = np.full((n_, t_, width), -np.inf, lp.dtype)
    nll = np.empty(n_, lp.dtype)
    for b in range(n_):
        ext, skip = _extended(labels, starts[b], target_lengths[b], blank)
        s_, steps = len(ext), input_lengths[b]
        if steps == 0:
            nll[b] = 0 if s_ == 1 else np.inf
            continue
        alpha[b, 0, :min(2, s_)] = lp[0, b, ext[:2]]
        for t in range(1, steps):
            prev = alpha[b, t - 1, :s_]
            a = prev.copy()
            a[1:] = np.logaddexp(a[1:], prev[:-1])
            a[2:] = np.where(skip[2:], np.logaddexp(a[2:], prev[:-2]), a[2:])
            alpha[b, t, :s_] = a + lp[t, b, ext]
        nll[b] = -np.logaddexp.reduce(alpha[b, steps - 1, max(s_ - 2, 0):s_])
    return alpha, nll


def ctc_grad_reference(lp, alpha, nll, labels, starts, target_lengths, input_lengths, blank):
    """d nll_b / d lp (T, N, C) from the saved alpha (module docstring)."""
    grad = np.zeros_like(lp)
    for b in range(lp.shape[1]):
        ext, skip = _extended(labels, starts[b], target_lengths[b], blank)
        s_, steps = len(ext), input_lengths[b]
        if steps == 0:
            continue
        beta = np.full((steps, s_), -np.inf, lp.dtype)
        beta[steps - 1, max(s_ - 2, 0):] = lp[steps - 1, b, ext[max(s_ - 2, 0):]]
        for t in range(steps - 2, -1, -1):
            nxt = beta[t + 1]
            a = nxt.copy()
            a[:-1] = np.logaddexp(a[:-1], nxt[1:])
            a[:-2] = np.where(skip[2:], np.logaddexp(a[:-2], nxt[2:]), a[:-2])
            beta[t] = a + lp[t, b, ext]
        with np.errstate(invalid="ignore"):
            occupancy = np.exp(alpha[b, :steps, :s_] + beta - lp[:steps, b, ext] + nll[b])
        onehot = (ext[:, None] == np.arange(lp.shape[2])).astype(lp.dtype)
        grad[:steps, b] = -(occupancy @ onehot)
    return grad


@numba.njit(cache=True, inline="always")
def _logadd(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    m = max(a, b)
    return m + np.log1p(np.exp(min(a, b) - m))


@numba.njit(cache=True, inline="always")
def _label(labels, start, s, blank):
    return blank if s % 2 == 0 else labels[start + s // 2]


@numba.njit(cache=True, inline="always")
def _skips(labels, start, s, blank):
    return s % 2 == 1 and s >= 3 and labels[start + s // 2] != labels[start + s // 2 - 1]


@numba.njit(cache=True)
def ctc_alpha_numba(lp, labels, starts, target_lengths, input_lengths, blank):
    t_, n_, _ = lp.shape
    width = 2 * (target_lengths.max() if n_ else 0) + 1
    alpha = np.full((n_, t_, width), -np.inf, lp.dtype)
    nll = np.empty(n_, lp.dtype)
    for b in range(n_):
        st, s_, steps = starts[b], 2 * target_lengths[b] + 1, input_lengths[b]
        if steps == 0:
            nll[b] = 0 if s_ == 1 else np.inf
            continue
        for s in range(min(2, s_)):
            alpha[b, 0, s] = lp[0, b, _label(labels, st, s, blank)]
        for t in range(1, steps):
            for s in range(s_):
                a = alpha[b, t - 1, s]
                if s >= 1:
                    a = _logadd(a, alpha[b, t - 1, s - 1])
                if _skips(labels, st, s, blank):
                    a = _logadd(a, alpha[b, t - 1, s - 2])
                alpha[b, t, s] = a + lp[t, b, _label(labels, st, s, blank)]
        last = alpha[b, steps - 1, s_ - 1]
        if s_ > 1:
            last = _logadd(last, alpha[b, steps - 1, s_ - 2])
        nll[b] = -last
    return alpha, nll


@numba.njit(cache=True)
def ctc_grad_numba(lp, alpha, nll, labels, starts, target_lengths, input_lengths, blank):
    t_, n_, _ = lp.shape
    grad = np.zeros_like(lp)
    beta = np.empty((2, alpha.shape[2]), lp.dtype)        # two time steps suffice
    for b in range(n_):
        st, s_, steps = starts[b], 2 * target_lengths[b] + 1, input_lengths[b]
        for t in range(steps - 1, -1, -1):
            cur, nxt = beta[t % 2], beta[(t + 1) % 2]
            for s in range(s_):
                if t == steps - 1:
                    a = 0.0 if s >= s_ - 2 else -np.inf
                else:
                    a = nxt[s]
                    if s + 1 < s_:
                        a = _logadd(a, nxt[s + 1])
                    if s + 2 < s_ and _skips(labels, st, s + 2, blank):
                        a = _logadd(a, nxt[s + 2])
                c = _label(labels, st, s, blank)
                cur[s] = a + lp[t, b, c]
                # alpha + beta - lp: the log-probability of the paths through (t, s)
                grad[t, b, c] -= np.exp(alpha[b, t, s] + a + nll[b])
    return grad


ctc_alpha = pick(ctc_alpha_numba, ctc_alpha_reference)
ctc_grad = pick(ctc_grad_numba, ctc_grad_reference)
