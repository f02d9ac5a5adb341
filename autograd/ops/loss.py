"""Loss primitives: where PyTorch records one node, or where its gradient is not the
chain rule of a composition.

Cross-entropy (and NLL) of logits against class indices is one primitive, instead of
log_softmax, a one-hot mask, two sums, a negation and a division.

Per row i of logits x (N, C) with target t_i, class weights w and label smoothing e:
  logp_i  = x_i - logsumexp(x_i)
  loss_i  = -sum_c a_ic logp_ic,   a_ic = (1 - e) w[t_i] [c = t_i] + (e / C) w_c
with a_i = 0 for a row whose target is ``ignore_index``.  'mean' divides the sum by
sum_i w[t_i] over the rows that are not ignored (PyTorch's normalisation, also for the
smoothing part); 'sum' sums; 'none' keeps one loss per row.

VJP: d loss_i / d x_i = (sum_c a_ic) softmax(x_i) - a_i, times the upstream gradient
(divided by the 'mean' denominator).  The weights are constants: PyTorch gives them no
gradient either.

Binary cross entropy clamps its logs at -100, so its value stays finite at p in
{0, 1}; PyTorch's VJP is not the derivative of the clamped logs (that would give
0/0 at the clamp) but (p - t) / max(p (1 - p), 1e-12), finite everywhere.
"""
import numpy as np

from ..tensor import Tensor
from .activation import log_softmax_array, softmax
from .formula import FormulaPrimitive, sum_keepdim
from .registry import SampleInput, make, op
from ..forward_ad import derived_jvp
from .batching import BatchedTensor, elementwise_batch_rule, per_sample, values_of

REDUCTIONS = ("none", "mean", "sum")


def _targets(x, target, weight, ignore_index):
    """Per row: the target class (0 where ignored), w[t_i] in x's dtype (0 if ignored),
    and whether it counts."""
    valid = target != ignore_index
    ignored = not valid.all()          # usually nothing is: two passes fewer
    t = np.where(valid, target, 0) if ignored else target
    wt = np.ones(x.shape[0], x.dtype) if weight is None else weight[t].astype(x.dtype, copy=False)
    if ignored:
        wt = wt * valid
    return t, wt, valid


def _one_hot(shape, dtype, t, values):
    """(N, C) zeros with ``values[i]`` at column ``t[i]`` of row i."""
    out = np.zeros(shape, dtype)
    out[np.arange(shape[0]), t] = values
    return out


def _coefficients(x, target, weight, ignore_index, label_smoothing):
    """The (N, C) coefficients a_ic of the module docstring, and w[t_i] per row (0 if ignored)."""
    c = x.shape[1]
    t, wt, valid = _targets(x, target, weight, ignore_index)
    coef = _one_hot(x.shape, x.dtype, t, (1 - label_smoothing) * wt)
    if label_smoothing:
        coef += (label_smoothing / c) * (1 if weight is None else weight) * valid[:, None].astype(x.dtype)
    return coef, wt


def _reduce(ctx, loss, wt, reduction, dtype):
    """Apply the reduction; keep on ctx the factor the VJP scales by (None: per row)."""
    if reduction == "none":
        ctx.scale = None
        return loss
    total = loss.sum()
    if reduction == "sum":
        ctx.scale = 1
        return np.asarray(total, dtype=dtype)
    denom = wt.sum(dtype=dtype)
    if denom:
        ctx.scale = 1 / denom
        return np.asarray(total / denom, dtype=dtype)
    # Every target ignored: 0/0 = nan, as in PyTorch, with a zero gradient (no row counted).
    ctx.scale = 0.0
    with np.errstate(invalid="ignore"):
        return np.asarray(total / denom, dtype=dtype)


def _scaled(g, d, scale):
    return d * (g * scale) if scale is not None else d * g.reshape(-1, 1)


def _class_loss_batched(b, x, target, weight, *rest):
    """The batching rule of cross_entropy and nll_loss, (N, C) logits: the batch folds
    into N with reduction 'none', and each sample's losses reduce apart, the mean by
    its own weight of valid targets (PyTorch's)."""
    if isinstance(target, Tensor) and type(target) is not Tensor:   # batched at an outer vmap too
        return per_sample(b, x, target, weight, *rest)
    B, N, C = x.shape if b.batched[0] else (b.size,) + tuple(x.shape)
    x = x if b.batched[0] else b.expand(x)
    t = np.broadcast_to(target.array if isinstance(target, Tensor) else target, (B, N))
    *params, reduction = rest
    per = b.cls.apply(x.reshape(B * N, C), t.reshape(-1), weight, *params, "none").reshape(B, N)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum(1)
    ignore_index = params[0]
    valid = t != ignore_index
    w = np.ones(C, x.array.dtype) if weight is None else weight
    total = (w[np.where(valid, t, 0)] * valid).sum(1).astype(x.array.dtype)
    return per.sum(1) / Tensor._make(total)


class CrossEntropy(FormulaPrimitive):
    @staticmethod
    def batch_rule(b, x, target, weight, *rest):
        return _class_loss_batched(b, x, target, weight, *rest)
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        if label_smoothing:
            logp = log_softmax_array(x, 1)
            coef, wt = _coefficients(x, target, weight, ignore_index, label_smoothing)
            loss = -(coef * logp).sum(axis=1)
            saved = logp
        else:
            # One class a row, a_i = w[t_i] e_{t_i}: loss_i = w[t_i] (log s_i - z_{i,t_i})
            # with z = x - max and s = sum exp(z), a gather; what backward needs is
            # e = exp(z) and s (softmax = e / s), so neither pass makes log-probabilities
            # or the (N, C) coefficients, nor backward an exp.  2048 x 1000, 1 thread,
            # forward and backward: 15.3 -> 6.8 ms (PyTorch 6.9-7.6).
            t, wt, _ = _targets(x, target, weight, ignore_index)
            rows = np.arange(x.shape[0])
            e = x - x.max(axis=1, keepdims=True)
            picked = e[rows, t]
            np.exp(e, out=e)
            total = e.sum(axis=1)
            ctx.rows = (t, wt, total)
            coef = None
            loss = wt * (np.log(total) - picked)
            saved = e
        # coef and the (N, C) array are constants, counted in the saved bytes; PyTorch's
        # log_softmax keeps its (N, C) output too.
        ctx.save_for_backward(x, coef, saved)
        return _reduce(ctx, loss, wt, reduction, x.dtype)

    def formula(ctx, m, g, x, coef, saved):
        if coef is None and m is np:
            # dx_i = r_i (e_i / s_i - onehot(t_i)), r_i = w[t_i] times g's factor
            t, wt, total = ctx.rows
            r = wt * (g * ctx.scale) if ctx.scale is not None else wt * g
            dx = saved * (r / total)[:, None]
            dx[np.arange(len(t)), t] -= r
            return (dx,) + (None,) * 5
        if coef is None:                                 # differentiable: as below
            t, wt, _ = ctx.rows
            coef = Tensor._make(_one_hot(tuple(x.shape), wt.dtype, t, wt))
        # softmax(x) = exp(log-probabilities) on arrays; on tensors it is recomputed from
        # x, so that the gradient is itself differentiable (create_graph).
        p = np.exp(saved) if m is np else softmax(x, 1)
        dx = sum_keepdim(m, coef, 1) * p - coef          # (sum_c a_ic) softmax(x_i) - a_i
        return (_scaled(g, dx, ctx.scale),) + (None,) * 5


class NllLoss(FormulaPrimitive):
    @staticmethod
    def batch_rule(b, x, target, weight, *rest):
        return _class_loss_batched(b, x, target, weight, *rest)
    """loss_i = -sum_c a_ic x_ic on log-probabilities x (no smoothing: e = 0)."""
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        coef, wt = _coefficients(x, target, weight, ignore_index, 0.0)
        ctx.save_for_backward(coef)
        return _reduce(ctx, -(coef * x).sum(axis=1), wt, reduction, x.dtype)

    def formula(ctx, m, g, coef):
        return (_scaled(g, -coef, ctx.scale),) + (None,) * 4                  # dx = -a_i


def _cross_entropy_samples(rng):
    t = Tensor._make(np.array([0, 2, 1, 2]))
    w = np.array([0.5, 2.0, 1.5])
    for kw in [dict(), dict(reduction="sum"), dict(reduction="none"), dict(weight=w),
               dict(ignore_index=2), dict(label_smoothing=0.2, weight=w),
               dict(label_smoothing=0.1, reduction="none", ignore_index=1)]:
        yield SampleInput((make(rng, (4, 3)), t), kw, "-".join(map(str, kw.values())) or "mean")
    yield SampleInput((make(rng, (4, 3), noncontig=True), t), {}, "noncontig")


def _cross_entropy_ref(x, t, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    c = x.shape[1]
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    w = np.ones(c) if weight is None else weight
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    per = -(1 - label_smoothing) * w[ts] * logp[np.arange(len(t)), ts]
    per = (per - label_smoothing / c * (logp * w).sum(1)) * valid
    if reduction == "none":
        return per
    return per.sum() / ((w[ts] * valid).sum() if reduction == "mean" else 1)


def _check(name, input, target, weight, ignore_index, reduction):
    """Validate, and return the target and weight as arrays."""
    if input.ndim != 2:
        raise ValueError(f"{name}: expected (N, C) input, got shape {tuple(input.shape)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    n, c = input.shape
    batched = type(target) is BatchedTensor    # under vmap: the primitive batches it
    t = values_of(target) if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: class-index target must be integer, got {t.dtype}")
    if tuple(target.shape if batched else t.shape) != (n,):
        raise ValueError(f"{name}: expected target of shape ({n},) for input "
                         f"{tuple(input.shape)}, got {tuple(t.shape)}")
    if t.size and (t.min() < 0 or t.max() >= c):       # out of range, or ignore_index
        valid = t[t != ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= c):
            raise IndexError(f"{name}: target {valid.min()}..{valid.max()} out of "
                             f"bounds for {c} classes")
    if batched:
        t = target
    if weight is None:
        return t, None
    w = (weight.array if isinstance(weight, Tensor) else np.asarray(weight)).astype(input.dtype)
    if w.shape != (c,):
        raise ValueError(f"{name}: weight of shape {w.shape} given for {c} classes; expected ({c},)")
    return t, w


@op(CrossEntropy, samples=_cross_entropy_samples, ref=_cross_entropy_ref)
def cross_entropy(input, target, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean"):
    """Cross-entropy of (N, C) logits against (N,) class indices, as one tape node.
    ``nn.functional.cross_entropy`` brings other layouts to this one."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t, w = _check("cross_entropy", input, target, weight, ignore_index, reduction)
    return CrossEntropy.apply(input, t, w, ignore_index, float(label_smoothing), reduction)


def _nll_samples(rng):
    for s in _cross_entropy_samples(rng):
        if "label_smoothing" not in s.kwargs:
            yield s


def _nll_ref(x, t, weight=None, ignore_index=-100, reduction="mean"):
    w = np.ones(x.shape[1]) if weight is None else weight
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    per = -w[ts] * x[np.arange(len(t)), ts] * valid
    if reduction == "none":
        return per
    return per.sum() / ((w[ts] * valid).sum() if reduction == "mean" else 1)


@op(NllLoss, samples=_nll_samples, ref=_nll_ref)
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of (N, C) log-probabilities at (N,) class indices, one node."""
    t, w = _check("nll_loss", input, target, weight, ignore_index, reduction)
    return NllLoss.apply(input, t, w, ignore_index, reduction)


_LOG_FLOOR = -100.0       # PyTorch's clamp of log(p) and log(1 - p)
_EPSILON = 1e-12          # PyTorch's floor of p (1 - p) in the VJP


class BinaryCrossEntropy(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, p, t):
        ctx.save_for_backward(p, t)
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), _LOG_FLOOR)
            log_1mp = np.maximum(np.log1p(-p), _LOG_FLOOR)
        return -(t * log_p + (1 - t) * log_1mp)

    def formula(ctx, m, g, p, t):
        need_p, need_t = ctx.needs_input_grad
        with np.errstate(divide="ignore"):
            # dp = g (p - t) / max(p (1 - p), eps)
            dp = g * (p - t) / m.maximum(p * (1.0 - p), _EPSILON) if need_p else None
            # dt = g (log(1 - p) - log p), unclamped as in PyTorch (+-inf at p in {0, 1})
            dt = g * (m.log1p(-p) - m.log(p)) if need_t else None
        return dp, dt


def _bce_ref(p, t):
    return -(t * np.maximum(np.log(p), _LOG_FLOOR) + (1 - t) * np.maximum(np.log1p(-p), _LOG_FLOOR))


def _bce_samples(rng):
    for shape in [(), (5,), (3, 4)]:
        yield SampleInput((make(rng, shape, 0.05, 0.95), make(rng, shape, 0.0, 1.0)), {}, f"shape{shape}")
    yield SampleInput((make(rng, (4, 3), 0.05, 0.95, noncontig=True),
                       make(rng, (4, 3), 0.0, 1.0, requires_grad=False)), {}, "noncontig-constant-target")


@op(BinaryCrossEntropy, samples=_bce_samples, ref=_bce_ref)
def binary_cross_entropy(input, target):
    """The elementwise binary cross entropy -[t log p + (1 - t) log(1 - p)], logs clamped
    at -100 (no weight, no reduction: ``nn.functional.binary_cross_entropy`` adds them)."""
    return BinaryCrossEntropy.apply(input, target)
