"""More losses: margin ranking, hinge embedding, soft margin, multilabel margin and soft
margin, Poisson and Gaussian NLL, and the triplet margin losses; compositions of
primitives (so every rule comes with them) but multilabel_margin, a primitive over a
Numba kernel (kernels/margin.py).  ``nn.functional`` adds the deprecated
``size_average``/``reduce`` arguments and autocast's float32 policy.

The formulas, per element (y the target, x the input):
  margin_ranking       max(0, -y (x1 - x2) + margin)   (the hinges are clamps, as PyTorch's:
                       at 0 the gradient passes; multilabel_margin's does not, as PyTorch's)
  hinge_embedding      x where y != -1, plus max(0, margin - x) where y != 1 (PyTorch
                       adds both parts for targets outside {1, -1})
  soft_margin          log(1 + exp(-y x)), as softplus(-y x) (finite where exp overflows)
  multilabel_soft      -mean_c w_c [y_c log s(x_c) + (1 - y_c) log s(-x_c)]
  multilabel_margin    sum_{j in targets} sum_{i not in targets} max(0, 1 - x[y_j] + x[i]) / C,
                       the targets being y's leading entries up to the first -1
  poisson_nll          exp(x) - y x (log_input), else x - y log(x + eps); full adds Stirling's
                       y log y - y + log(2 pi y) / 2 where y > 1
  gaussian_nll         (log max(var, eps) + (x - y)^2 / max(var, eps)) / 2 (+ log(2 pi) / 2);
                       the clamp is outside autograd: var keeps its own gradient, as PyTorch's
  triplet_margin       max(0, margin + d(a, p) - d(a, n)), d(a, n) = min(d(a, n), d(p, n))
                       with swap; d the pairwise p-norm distance ||x1 - x2 + eps||_p
"""
import math

import numpy as np

from ..forward_ad import derived_jvp
from ..function import Primitive
from ..kernels.margin import multilabel_margin
from ..tensor import Tensor
from .activation import Softplus, softplus
from .batching import BatchedTensor, batched_fold, values_of
from .binary import minimum, where
from .elementwise import Clamp
from .reduction import Norm, norm
from .registry import SampleInput, make, op

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _reduced_ref(loss, reduction="mean"):
    """``loss`` (array or tensor) reduced as PyTorch's ``reduction`` argument says."""
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def reduced(loss, reduction, name):
    check_reduction(name, reduction)
    return _reduced_ref(loss, reduction)


def _array(t):
    return t.array if isinstance(t, Tensor) else np.asarray(t)


def _constant(array):
    return Tensor._make(np.asarray(array))


def _signs(rng, shape):
    return _constant(rng.choice([-1.0, 1.0], shape))


def _check_shapes(name, *named):
    """Every (name, tensor) pair has the first one's shape."""
    (first, a), *rest = named
    for other, b in rest:
        if tuple(np.shape(b)) != tuple(np.shape(a)):
            raise ValueError(f"{name}: {other} of shape {tuple(np.shape(b))} must have the shape of "
                             f"{first}, {tuple(np.shape(a))}")


def _reduction_samples(make_args):
    """One sample per reduction from ``make_args(rng) -> (args, kwargs)``."""
    def gen(rng):
        for reduction in REDUCTIONS:
            args, kwargs = make_args(rng)
            yield SampleInput(args, dict(kwargs, reduction=reduction), reduction)
    return gen


# -- margin ranking, hinge embedding, soft margin -------------------------------------------
@op(Clamp, samples=_reduction_samples(lambda rng: (
        (make(rng, (5,)), make(rng, (5,)), _signs(rng, (5,))), dict(margin=0.3))),
    ref=lambda x1, x2, y, margin=0.0, reduction="mean":
        _reduced_ref(np.maximum(-y * (x1 - x2) + margin, 0), reduction))
def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    if not input1.ndim == input2.ndim == np.ndim(_array(target)):
        raise ValueError(f"margin_ranking_loss: input1, input2 and target must have the same number "
                         f"of dims, got {tuple(input1.shape)}, {tuple(input2.shape)} and "
                         f"{tuple(np.shape(_array(target)))}")
    return reduced((-target * (input1 - input2) + margin).clamp(min=0), reduction, "margin_ranking_loss")


def _hinge_ref(x, y, margin=1.0, reduction="mean"):
    loss = np.where(y != 1, np.maximum(margin - x, 0), 0) + np.where(y != -1, x, 0)
    return _reduced_ref(loss, reduction)


def _hinge_args(rng):
    y = _constant(np.array([[1.0, -1.0, 1.0], [-1.0, 0.5, -1.0]]))     # 0.5: both parts
    return (make(rng, (2, 3), away=([0.7], 0.05)), y), dict(margin=0.7)


@op(Clamp, samples=_reduction_samples(_hinge_args), ref=_hinge_ref)
def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    y = target if isinstance(target, Tensor) else _array(target)     # a tensor batches
    loss = where(y != 1, (margin - input).clamp(min=0), 0.0) + where(y != -1, input, 0.0)
    return reduced(loss, reduction, "hinge_embedding_loss")


@op(Softplus, samples=_reduction_samples(lambda rng: ((make(rng, (3, 4)), _signs(rng, (3, 4))), {})),
    ref=lambda x, y, reduction="mean": _reduced_ref(np.log1p(np.exp(-y * x)), reduction))
def soft_margin_loss(input, target, reduction="mean"):
    _check_shapes("soft_margin_loss", ("input", input), ("target", _array(target)))
    return reduced(softplus(-target * input), reduction, "soft_margin_loss")


# -- multilabel losses ----------------------------------------------------------------------
def _multilabel_soft_ref(x, y, weight=None, reduction="mean"):
    logsig = lambda v: -np.log1p(np.exp(-v))        # noqa: E731
    loss = -(y * logsig(x) + (1 - y) * logsig(-x))
    if weight is not None:
        loss = loss * weight
    return _reduced_ref(loss.sum(-1) / x.shape[-1], reduction)


def _multilabel_soft_samples(rng):
    y = _constant(rng.integers(0, 2, (3, 4)).astype(np.float64))
    yield from _reduction_samples(lambda r: ((make(r, (3, 4)), y), {}))(rng)
    yield SampleInput((make(rng, (3, 4)), y), dict(weight=np.array([0.5, 1.0, 2.0, 0.1])), "weight")
    yield SampleInput((make(rng, (4,)), _constant(np.array([1.0, 0.0, 0.0, 1.0]))), {}, "unbatched")


@op(Softplus, samples=_multilabel_soft_samples, ref=_multilabel_soft_ref)
def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """-mean over classes of w [y log s(x) + (1 - y) log s(-x)]; log s(x) = -softplus(-x)."""
    _check_shapes("multilabel_soft_margin_loss", ("input", input), ("target", _array(target)))
    loss = target * softplus(-input) + (1 - target) * softplus(input)
    if weight is not None:
        loss = loss * weight
    c = input.shape[-1] if input.ndim else 1
    return reduced(loss.sum(-1) / c, reduction, "multilabel_soft_margin_loss")


def _label_sets(name, target, c):
    """The (N, C) mask of the targets before each row's first -1, the targets (0 past
    them), and the (N, C) mask of classes that are targets (PyTorch's is_target)."""
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got {target.dtype}")
    listed = np.cumprod(target != -1, axis=-1).astype(bool)      # before the first -1
    labels = np.where(listed, target, 0)
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise IndexError(f"{name}: target values must be -1 or in [0, {c}), got "
                         f"{labels.min()}..{labels.max()}")
    is_target = np.zeros(target.shape, bool)
    rows = np.nonzero(listed)[0]
    is_target[rows, labels[listed]] = True
    return listed, labels, is_target


def _multilabel_margin_ref(x, y, reduction="mean"):
    xs, ys = np.atleast_2d(x), np.atleast_2d(y)
    loss = np.zeros(len(xs))
    for n, (row, t) in enumerate(zip(xs, ys)):
        labels = t[:np.argmax(t == -1)] if (t == -1).any() else t
        others = [i for i in range(len(row)) if i not in set(labels)]
        loss[n] = sum(max(0, 1 - row[j] + row[i]) for j in labels for i in others) / len(row)
    return _reduced_ref(loss.reshape(np.shape(x)[:-1]), reduction)


def _multilabel_margin_samples(rng):
    y = _constant(np.array([[3, 0, -1, 1], [1, 2, 3, 0], [2, 2, -1, -1]]))   # all, repeats
    yield from _reduction_samples(lambda r: ((make(r, (3, 4)), y), {}))(rng)
    yield SampleInput((make(rng, (4,)), _constant(np.array([0, 3, -1, 2]))), {}, "unbatched")


class MultilabelMargin(Primitive):
    """loss (N,) of x (N, C), with the gradient computed in the same pass (kernels/margin.py).
    The loss is piecewise linear in x, so the gradient's coefficients are constants: the
    differentiable VJP is g times them (its own derivative is 0, as relu's)."""
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, labels, counts, is_target):
        loss, coef = multilabel_margin(x, labels, counts, is_target)
        ctx.save_for_backward(coef)
        return loss

    @staticmethod
    def batch_rule(b, x, labels, counts, is_target):
        """The batch folds into the rows, the targets repeated."""
        n_, c_ = x.shape[1:]
        loss = MultilabelMargin.apply(x.reshape(b.size * n_, c_), np.tile(labels, (b.size, 1)),
                                      np.tile(counts, b.size), np.tile(is_target, (b.size, 1)))
        return loss.reshape(b.size, n_)

    @staticmethod
    def vjp(ctx, g):
        coef, = ctx._unpack_saved(True)
        return g[:, None] * coef, None, None, None

    @staticmethod
    def backward(ctx, g):
        coef, = ctx.saved_tensors
        return g.reshape(-1, 1) * coef, None, None, None


@op(MultilabelMargin, samples=_multilabel_margin_samples, ref=_multilabel_margin_ref)
def multilabel_margin_loss(input, target, reduction="mean"):
    if input.ndim not in (1, 2) or tuple(np.shape(_array(target))) != tuple(input.shape):
        raise ValueError(f"multilabel_margin_loss: expected input (C,) or (N, C) and a target of "
                         f"its shape, got {tuple(input.shape)} and {tuple(np.shape(_array(target)))}")
    check_reduction("multilabel_margin_loss", reduction)
    if type(input) is BatchedTensor or type(target) is BatchedTensor:
        # vmap: the label sets come from the target's values, so fold the batch into N
        target = target if isinstance(target, Tensor) else _constant(target)
        x, y = (input, target) if input.ndim == 2 else (input.unsqueeze(0), target.unsqueeze(0))
        loss = batched_fold(lambda a, b: multilabel_margin_loss(a, b, "none"), x, y)
        return reduced(loss if input.ndim == 2 else loss.reshape(()), reduction, "multilabel_margin_loss")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    listed, labels, is_target = _label_sets("multilabel_margin_loss", np.atleast_2d(_array(target)),
                                            x.shape[1])
    loss = MultilabelMargin.apply(x, labels, listed.sum(1), is_target)
    return reduced(loss if input.ndim == 2 else loss.reshape(()), reduction, "multilabel_margin_loss")


# -- Poisson and Gaussian negative log-likelihoods ------------------------------------------
def _stirling(y):
    """y log y - y + log(2 pi y) / 2 where y > 1, else 0 (array or tensor y)."""
    if isinstance(y, Tensor):             # the mask a tensor too, so that vmap batches it
        big = y > 1
        safe = where(big, y, 2.0)
        return where(big, safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log(), 0.0)
    safe = np.where(y > 1, y, 2.0)
    return np.where(y > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * math.pi * safe), 0.0)


def _poisson_ref(x, y, log_input=True, full=False, eps=1e-8, reduction="mean"):
    loss = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
    return _reduced_ref(loss + (_stirling(y) if full else 0), reduction)


def _poisson_samples(rng):
    y = make(rng, (3, 4), 0.0, 3.0)
    for kw in [dict(), dict(full=True, reduction="sum"), dict(log_input=False, reduction="none"),
               dict(log_input=False, full=True)]:
        low = -1.0 if kw.get("log_input", True) else 0.1
        yield SampleInput((make(rng, (3, 4), low, 2.0), y), kw, "-".join(map(str, kw.items())) or "mean")


@op(samples=_poisson_samples, ref=_poisson_ref)
def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    check_reduction("poisson_nll_loss", reduction)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        loss = loss + _stirling(target)
    return reduced(loss, reduction, "poisson_nll_loss")


def _gaussian_var(input, var, eps):
    """var brought to input's rank as PyTorch does (a float, input's shape, one dim short,
    or one broadcast dim), checked non-negative, clamped at eps outside autograd."""
    name = "gaussian_nll_loss"
    if not isinstance(var, Tensor):
        if float(var) < 0:
            raise ValueError(f"{name}: var has negative entry/entries ({var})")
        return np.full(input.shape, max(float(var), eps), input.dtype)
    if (values_of(var) < 0).any():           # every sample's, under vmap
        raise ValueError(f"{name}: var has negative entry/entries")
    shape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape != shape:
        if vshape == shape[:-1]:
            var = var.unsqueeze(-1)                      # homoscedastic: one var per row
        elif len(vshape) != len(shape) or sum(v for s, v in zip(shape, vshape) if s != v) != 1:
            raise ValueError(f"{name}: var of shape {vshape} is of incorrect size for input {shape}: "
                             "expected the input's shape, one dim short of it, or a 1 in one dim")
    floor = var.detach()
    return var + (floor.clamp(min=eps) - floor)          # value max(var, eps), gradient of var


def _gaussian_ref(x, y, var, full=False, eps=1e-6, reduction="mean"):
    var = np.maximum(np.asarray(var, float), eps)
    if np.ndim(var) == np.ndim(x) - 1:
        var = var[..., None]
    loss = 0.5 * (np.log(var) + (x - y) ** 2 / var) + (0.5 * math.log(2 * math.pi) if full else 0)
    return _reduced_ref(loss, reduction)


def _gaussian_samples(rng):
    yield SampleInput((make(rng, (3, 4)), make(rng, (3, 4)), make(rng, (3, 4), 0.2, 2.0)), {}, "hetero")
    yield SampleInput((make(rng, (3, 4)), make(rng, (3, 4)), make(rng, (3,), 0.2, 2.0)),
                      dict(full=True, reduction="sum"), "one-per-row")
    yield SampleInput((make(rng, (3, 4)), make(rng, (3, 4)), make(rng, (1, 4), 0.2, 2.0)),
                      dict(reduction="none"), "broadcast-dim")
    yield SampleInput((make(rng, (3, 4)), make(rng, (3, 4)), 0.5), {}, "float-var")


@op(samples=_gaussian_samples, ref=_gaussian_ref)
def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    check_reduction("gaussian_nll_loss", reduction)
    var = _gaussian_var(input, var, eps)
    d = input - target
    loss = 0.5 * ((var.log() if isinstance(var, Tensor) else np.log(var)) + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduced(loss, reduction, "gaussian_nll_loss")


# -- triplet margin losses ------------------------------------------------------------------
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (PyTorch adds eps before the norm)."""
    return norm(x1 - x2 + eps, p, dim=max(x1.ndim, x2.ndim) - 1, keepdim=keepdim)


def _check_triplet(name, anchor, positive, negative, reduction):
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(f"{name}: anchor, positive and negative must have the same number of dims, "
                         f"got {anchor.ndim}, {positive.ndim} and {negative.ndim}")
    check_reduction(name, reduction)


def _triplet(dist_pos, dist_neg, dist_swap, margin, reduction, name):
    if dist_swap is not None:
        dist_neg = minimum(dist_neg, dist_swap)
    return reduced((margin + dist_pos - dist_neg).clamp(min=0), reduction, name)


def _triplet_ref(a, pos, neg, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean"):
    d = lambda x, y: (np.abs(x - y + eps) ** p).sum(-1) ** (1 / p)     # noqa: E731
    dn = np.minimum(d(a, neg), d(pos, neg)) if swap else d(a, neg)
    return _reduced_ref(np.maximum(margin + d(a, pos) - dn, 0), reduction)


def _triplet_samples(rng):
    for kw in [dict(), dict(swap=True, reduction="sum"), dict(p=1, margin=0.5, reduction="none")]:
        yield SampleInput(tuple(make(rng, (4, 3)) for _ in range(3)), kw,
                          "-".join(map(str, kw.items())) or "mean")
    yield SampleInput(tuple(make(rng, (3,)) for _ in range(3)), dict(margin=3.0), "unbatched")


@op(Norm, Clamp, samples=_triplet_samples, ref=_triplet_ref)
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        reduction="mean"):
    _check_triplet("triplet_margin_loss", anchor, positive, negative, reduction)
    swapped = pairwise_distance(positive, negative, p, eps) if swap else None
    return _triplet(pairwise_distance(anchor, positive, p, eps),
                    pairwise_distance(anchor, negative, p, eps), swapped, margin, reduction,
                    "triplet_margin_loss")


def _triplet_distance_ref(a, pos, neg, distance_function=None, margin=1.0, swap=False,
                          reduction="mean"):
    return _triplet_ref(a, pos, neg, margin=margin, swap=swap, reduction=reduction)


def _triplet_distance_samples(rng):
    for kw in [dict(), dict(swap=True, margin=2.0, reduction="none")]:
        yield SampleInput(tuple(make(rng, (4, 3)) for _ in range(3)), kw,
                          "-".join(map(str, kw.items())) or "mean")


@op(Norm, Clamp, samples=_triplet_distance_samples, ref=_triplet_distance_ref)
def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """As triplet_margin_loss with ``distance_function(x1, x2)`` (default: pairwise_distance)."""
    name = "triplet_margin_with_distance_loss"
    _check_triplet(name, anchor, positive, negative, reduction)
    if not margin > 0:
        raise ValueError(f"{name}: margin must be greater than 0, got {margin}")
    d = pairwise_distance if distance_function is None else distance_function
    return _triplet(d(anchor, positive), d(anchor, negative), d(positive, negative) if swap else None,
                    margin, reduction, name)


__all__ = ["gaussian_nll_loss", "hinge_embedding_loss", "margin_ranking_loss", "multilabel_margin_loss",
           "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss"]
