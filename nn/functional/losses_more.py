"""More losses with PyTorch's functional signatures: the ops of autograd/ops/loss_more.py
and autograd/ops/ctc.py with the deprecated ``size_average``/``reduce`` arguments
(mapped to ``reduction`` as PyTorch maps them, with its warning) and autocast's
float32 policy, and ``linear_cross_entropy``."""
import math
import warnings

import numpy as np

from autograd.ops import ctc, loss_more
from autograd.ops.autocast import float32  # CPU autocast runs the losses in float32
from autograd.tensor import Tensor

from .linear import linear
from .losses import cross_entropy

__all__ = ["ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss", "linear_cross_entropy",
           "margin_ranking_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
           "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss"]


def _reduction(size_average, reduce, reduction):
    """PyTorch's _Reduction.legacy_get_string: the old flags win over ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                  f"{'sum' if size_average is False else 'mean'}' instead.", UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _floating(name, *inputs, promote=False):
    """The inputs, integers made float32 where PyTorch computes the loss on them
    (``promote``), else refused as PyTorch refuses them."""
    out = []
    for t in inputs:
        if isinstance(t, Tensor) and t.dtype.kind in "iub":
            if not promote:
                raise TypeError(f"{name}: expected floating-point input, got {t.dtype}")
            t = t.float()
        out.append(t)
    return out


@float32
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    input1, input2 = _floating("margin_ranking_loss", input1, input2, promote=True)
    return loss_more.margin_ranking_loss(input1, input2, target, margin,
                                         _reduction(size_average, reduce, reduction))


@float32
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    _floating("hinge_embedding_loss", input)
    return loss_more.hinge_embedding_loss(input, target, margin,
                                          _reduction(size_average, reduce, reduction))


@float32
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _floating("soft_margin_loss", input)
    return loss_more.soft_margin_loss(input, target, _reduction(size_average, reduce, reduction))


@float32
def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    _floating("multilabel_soft_margin_loss", input)
    return loss_more.multilabel_soft_margin_loss(input, target, weight,
                                                 _reduction(size_average, reduce, reduction))


@float32
def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _floating("multilabel_margin_loss", input)
    return loss_more.multilabel_margin_loss(input, target, _reduction(size_average, reduce, reduction))


@float32
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    input, target = _floating("poisson_nll_loss", input, target, promote=True)
    return loss_more.poisson_nll_loss(input, target, log_input, full, eps,
                                      _reduction(size_average, reduce, reduction))


@float32
def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    _floating("gaussian_nll_loss", input, target, var)
    return loss_more.gaussian_nll_loss(input, target, var, full, eps, reduction)


@float32
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    anchor, positive, negative = _floating("triplet_margin_loss", anchor, positive, negative, promote=True)
    return loss_more.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                         _reduction(size_average, reduce, reduction))


@float32
def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    return loss_more.triplet_margin_with_distance_loss(
        anchor, positive, negative, distance_function=distance_function, margin=margin, swap=swap,
        reduction=reduction)


@float32
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    return ctc.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                        zero_infinity)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction="mean", ignore_index=None, label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...): input (in,)
    or (N, in), linear_weight (C, d_1, ..., d_K, in) for logits (N, C, d_1, ..., d_K).
    ``options`` (PyTorch's chunking, a memory saving with the same values) is accepted
    and the loss computed in one piece."""
    name = "linear_cross_entropy"
    if input.ndim not in (1, 2):
        raise ValueError(f"{name}: expected input with dimensionality 1 or 2, got {input.ndim}")
    if linear_weight.ndim < 2:
        raise ValueError(f"{name}: expected linear_weight with dimensionality at least 2, got "
                         f"{linear_weight.ndim}")
    batch, in_features = tuple(input.shape[:-1]), input.shape[-1]
    if linear_weight.shape[-1] != in_features:
        raise ValueError(f"{name}: expected equal input and linear_weight last dimensions "
                         f"(in_features), got {in_features} and {linear_weight.shape[-1]}")
    classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (classes,) + out_features:
        raise ValueError(f"{name}: expected linear_bias of shape {(classes,) + out_features}, got "
                         f"{tuple(linear_bias.shape)}")
    if out_features and not batch:
        raise ValueError(f"{name}: K-dimensional loss (linear_weight {tuple(linear_weight.shape)}) "
                         f"requires batched input (N, {in_features}), got {tuple(input.shape)}")
    logits_shape = batch + (classes,) + out_features
    probabilities = tuple(np.shape(target.array if isinstance(target, Tensor) else target)) == logits_shape
    if probabilities and ignore_index is not None:
        raise ValueError(f"{name}: ignore_index cannot be specified when target contains probabilities")
    flat_bias = None if linear_bias is None else linear_bias.reshape(-1)
    logits = linear(input, linear_weight.reshape(math.prod((classes,) + out_features), in_features),
                    flat_bias).reshape(logits_shape)
    return cross_entropy(logits, target, weight, ignore_index=-100 if ignore_index is None else ignore_index,
                         reduction=reduction, label_smoothing=label_smoothing)
