"""CTC loss: one primitive per batch of sequences, whose forward and first-order VJP are
the alpha-beta kernels of ``autograd/kernels/ctc.py`` (the recursion, and why our
gradient is the derivative of the loss where PyTorch's adds a log_softmax term, are
in that module's docstring).

The differentiable VJP (``create_graph=True``) runs the same recursion in tensor ops,
vectorised over the batch and the extended-label states, so the gradient can be
differentiated again.  There the impossible states hold a large finite negative
(``_NEG``) instead of -inf, so that logaddexp's gradient stays finite where no path
passes; their exp is 0 in every dtype we run.
"""
import numpy as np

from ..forward_ad import derived_jvp
from ..function import Primitive
from ..kernels.ctc import ctc_alpha, ctc_grad
from ..tensor import Tensor
from .binary import where
from .indexing import Gather
from .math_binary import logaddexp
from .reduction import logsumexp
from .registry import SampleInput, make, op
from .shape import cat, stack

_NEG = -1e30


class CTCLoss(Primitive):
    """nll (N,) of log-probabilities (T, N, C); zero_infinity makes infinite losses 0
    with a zero gradient."""
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, lp, labels, starts, target_lengths, input_lengths, blank, zero_infinity):
        alpha, nll = ctc_alpha(lp, labels, starts, target_lengths, input_lengths, blank)
        ctx.save_for_backward(lp, alpha, nll)        # alpha: constants, counted in the saved bytes
        ctx.sequences = (labels, starts, target_lengths, input_lengths, blank)
        ctx.dead = np.isinf(nll) if zero_infinity else np.zeros(nll.shape, bool)
        return np.where(ctx.dead, 0, nll).astype(lp.dtype)

    @staticmethod
    def batch_rule(b, lp, labels, starts, target_lengths, input_lengths, blank, zero_infinity):
        """The batch of (T, N, C) folds into the sequences: (T, B N, C), the targets repeated."""
        t_, n_, c_ = lp.shape[1:]
        folded = lp.permute(1, 0, 2, 3).reshape(t_, b.size * n_, c_)
        shifted = (starts[None, :] + (np.arange(b.size) * labels.size)[:, None]).reshape(-1)
        nll = CTCLoss.apply(folded, np.tile(labels, b.size), shifted, np.tile(target_lengths, b.size),
                            np.tile(input_lengths, b.size), blank, zero_infinity)
        return nll.reshape(b.size, n_)

    @staticmethod
    def vjp(ctx, g):
        lp, alpha, nll = ctx._unpack_saved(True)
        grad = ctc_grad(lp, alpha, nll, *ctx.sequences)
        return (np.where(ctx.dead[None, :, None], 0, grad * g[None, :, None]),) + (None,) * 6

    @staticmethod
    def backward(ctx, g):
        lp = ctx.saved_tensors[0]
        grad = _nll_gradient(lp, *ctx.sequences)
        return (where(ctx.dead[None, :, None], 0.0, grad * g.reshape(1, -1, 1)),) + (None,) * 6


def _extended_batch(labels, starts, target_lengths, blank):
    """l' for every sequence (N, S), blank past its own 2L + 1 states, and the skip mask."""
    width = 2 * int(target_lengths.max(initial=0)) + 1
    ext = np.full((len(starts), width), blank, np.int64)
    for b, (st, n) in enumerate(zip(starts, target_lengths)):
        ext[b, 1:2 * n:2] = labels[st:st + n]
    skip = np.zeros(ext.shape, bool)
    skip[:, 3::2] = (ext[:, 3::2] != ext[:, 1:-2:2]) & (np.arange(3, width, 2) < 2 * target_lengths[:, None])
    return ext, skip


def _shifted(a, k, forward):
    """a moved k states right (forward: s takes s - k) or left, filling with _NEG."""
    fill = Tensor._make(np.full((a.shape[0], k), _NEG, np.dtype(a.dtype)))
    return cat([fill, a[:, :-k]], 1) if forward else cat([a[:, k:], fill], 1)


def _nll_gradient(lp, labels, starts, target_lengths, input_lengths, blank):
    """d nll / d lp in tensor ops (differentiable): alpha and beta over (N, S), then the
    occupancy of each state scattered to its class."""
    t_, n_, c_ = lp.shape
    ext, skip = _extended_batch(labels, starts, target_lengths, blank)
    s_ = ext.shape[1]
    states = np.arange(s_)[None, :] < (2 * target_lengths + 1)[:, None]
    lpe = lp.gather(2, Tensor._make(np.broadcast_to(ext, (t_,) + ext.shape).copy()))   # lp_t(l'_s)
    alphas = [where(states & (np.arange(s_) < 2), lpe[0], _NEG)]
    for t in range(1, t_):
        prev = alphas[-1]
        a = logaddexp(prev, _shifted(prev, 1, True))
        a = where(skip, logaddexp(a, _shifted(prev, 2, True)), a)
        alphas.append(where(states, a + lpe[t], _NEG))
    last = (input_lengths - 1)[:, None]
    ends = states & (np.arange(s_)[None, :] >= (2 * target_lengths - 1)[:, None])
    betas = [None] * t_
    nxt = None
    for t in range(t_ - 1, -1, -1):
        start = where(ends & (last == t), lpe[t], _NEG)
        if nxt is not None:
            b = logaddexp(nxt, _shifted(nxt, 1, False))
            b = where(np.roll(skip, -2, axis=1) & (np.arange(s_) < s_ - 2), logaddexp(b, _shifted(nxt, 2, False)), b)
            start = where(last > t, where(states, b + lpe[t], _NEG), start)
        betas[t] = nxt = start
    alpha, beta = stack(alphas), stack(betas)
    log_p = logsumexp(alphas[0] + betas[0] - lpe[0], 1)                          # -nll (N,)
    live = (np.arange(t_)[:, None] < input_lengths[None, :])[:, :, None]
    occupancy = where(live, (alpha + beta - lpe - log_p.reshape(1, -1, 1)).exp(), 0.0)
    onehot = Tensor._make((ext[:, :, None] == np.arange(c_)).astype(np.dtype(lp.dtype)))
    return -(occupancy.unsqueeze(3) * onehot).sum(2)


def _lengths(x, name, what):
    a = np.asarray(x.array if isinstance(x, Tensor) else x)
    if a.dtype.kind not in "iu" and a.size:
        raise TypeError(f"ctc_loss: {what} must be integers, got {a.dtype}")
    return a.astype(np.int64).reshape(-1)


def _flat_targets(targets, target_lengths, n_, c_, blank):
    """The targets as flat labels and per-sequence starts, checked as PyTorch checks them."""
    t = np.asarray(targets.array if isinstance(targets, Tensor) else targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: targets must hold integer class indices, got {t.dtype}")
    if t.ndim == 2 or (t.ndim == 1 and n_ == 1 and target_lengths.sum() != t.size):
        rows = t.reshape(n_, -1)
        if target_lengths.size and target_lengths.max(initial=0) > rows.shape[1]:
            raise ValueError(f"ctc_loss: target length {target_lengths.max()} is more than the "
                             f"targets' padded length {rows.shape[1]}")
        starts = np.arange(n_, dtype=np.int64) * rows.shape[1]
        labels = rows.reshape(-1).astype(np.int64)
    else:
        if target_lengths.sum() != t.size:
            raise ValueError(f"ctc_loss: concatenated targets hold {t.size} labels, the target "
                             f"lengths sum to {target_lengths.sum()}")
        starts = np.concatenate([[0], np.cumsum(target_lengths)[:-1]]).astype(np.int64)
        labels = t.reshape(-1).astype(np.int64)
    used = np.concatenate([labels[s:s + n] for s, n in zip(starts, target_lengths)] + [np.zeros(0, np.int64)])
    if used.size and (used.min() < 0 or used.max() >= c_ or (used == blank).any()):
        raise ValueError(f"ctc_loss: target labels must be in [0, {c_}) and not the blank {blank}, "
                         f"got {used.min()}..{used.max()}")
    return labels, starts


def _ctc_samples(rng):
    def lp(shape):         # log-probabilities (any input is differentiated, these are typical)
        x = make(rng, shape)
        x.array -= np.log(np.exp(x.array).sum(-1, keepdims=True))
        return x
    targets = Tensor._make(np.array([[1, 1, 2], [3, 0, 0], [2, 3, 1]]))   # a repeat, padding
    for kw in [dict(), dict(reduction="sum"), dict(reduction="none", blank=0)]:
        yield SampleInput((lp((6, 3, 4)), targets, (6, 5, 4), (3, 1, 2)), kw, kw.get("reduction", "mean"))
    yield SampleInput((lp((5, 2, 3)), Tensor._make(np.array([1, 2, 1, 1])), (5, 3), (3, 1)), {},
                      "concatenated")
    yield SampleInput((lp((4, 3)), Tensor._make(np.array([2])), 4, 1), dict(blank=1), "unbatched")


def _ctc_ref(lp, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Sum over all alignments of the path probability, by brute force."""
    import itertools
    batched = lp.ndim == 3
    lp3 = lp if batched else lp[:, None]
    il, tl = np.atleast_1d(input_lengths), np.atleast_1d(target_lengths)
    t2 = np.asarray(targets)
    starts = np.concatenate([[0], np.cumsum(tl)[:-1]]) if t2.ndim == 1 else None
    losses = []
    for b in range(lp3.shape[1]):
        target = t2[starts[b]:starts[b] + tl[b]] if starts is not None else t2[b, :tl[b]]
        total = 0.0
        for path in itertools.product(range(lp3.shape[2]), repeat=il[b]):
            collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
            if collapsed == list(target):
                total += np.exp(sum(lp3[t, b, k] for t, k in enumerate(path)))
        losses.append(-np.log(total))
    loss = np.array(losses)
    if reduction == "mean":
        return (loss / np.maximum(tl, 1)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss[0]


@op(CTCLoss, Gather, samples=_ctc_samples, ref=_ctc_ref)
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """The CTC negative log-likelihood of log-probabilities (T, N, C) (or (T, C)) for
    targets padded (N, S) or concatenated; 'mean' divides each loss by its target length
    and averages over the batch, as PyTorch."""
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), got "
                         f"{tuple(log_probs.shape)}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"ctc_loss: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    t_, n_, c_ = lp.shape
    if not 0 <= blank < c_:
        raise ValueError(f"ctc_loss: blank must be in [0, {c_}), got {blank}")
    il = _lengths(input_lengths, "ctc_loss", "input_lengths")
    tl = _lengths(target_lengths, "ctc_loss", "target_lengths")
    if il.shape != (n_,) or tl.shape != (n_,):
        raise ValueError(f"ctc_loss: expected {n_} input and target lengths, got {il.size} and {tl.size}")
    if il.size and (il.min() < 0 or il.max() > t_ or tl.min() < 0):
        raise ValueError(f"ctc_loss: input lengths must be in [0, {t_}] (the time steps of log_probs) "
                         f"and target lengths non-negative, got {il.tolist()} and {tl.tolist()}")
    labels, starts = _flat_targets(targets, tl, n_, c_, blank)
    nll = CTCLoss.apply(lp, labels, starts, tl, il, int(blank), bool(zero_infinity))
    if reduction == "mean":
        return (nll / np.maximum(tl, 1).astype(np.dtype(lp.dtype))).mean()
    if reduction == "sum":
        return nll.sum()
    return nll if batched else nll.reshape(())


__all__ = ["ctc_loss"]
