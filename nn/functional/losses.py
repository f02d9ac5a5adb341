"""Loss functions with PyTorch's arguments; ``reduction`` is 'none', 'mean' or 'sum'.
All are compositions of primitive ops, so gradcheck/gradgradcheck apply."""
import numpy as np

import autograd as ag
from autograd.grad_mode import current_scope
from autograd.ops.activation import log_softmax, softplus
from autograd.ops.autocast import float32  # CPU autocast runs the losses in float32
from autograd.ops.loss import cross_entropy as _cross_entropy_rows
from autograd.ops.loss import nll_loss as _nll_rows
from autograd.ops.loss import binary_cross_entropy as _bce
from autograd.tensor import Tensor

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "multi_margin_loss",
           "kl_div", "cosine_embedding_loss"]


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _where():
    s = current_scope()
    return f" in '{s}'" if s else ""


def _same_shape(name, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}{_where()}: target size {tuple(target.shape)} must be the same as "
                         f"input size {tuple(input.shape)}")


def _array(t):
    return t.array if isinstance(t, Tensor) else np.asarray(t)


@float32
def mse_loss(input, target, reduction="mean"):
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


@float32
def l1_loss(input, target, reduction="mean"):
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction, "l1_loss")


@float32
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    _same_shape("smooth_l1_loss", input, target)
    d = input - target
    if beta == 0:
        return _reduce(d.abs(), reduction, "smooth_l1_loss")
    a = d.abs()
    loss = ag.where(a.array < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


@float32
def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)  (= delta * smooth_l1 with beta=delta)."""
    _same_shape("huber_loss", input, target)
    d = input - target
    a = d.abs()
    loss = ag.where(a.array < delta, d * d * 0.5, (a - 0.5 * delta) * delta)
    return _reduce(loss, reduction, "huber_loss")


@float32
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w [t log x + (1 - t) log(1 - x)], logs clamped at -100 like PyTorch."""
    _same_shape("binary_cross_entropy", input, target)
    x = _array(input)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"binary_cross_entropy{_where()}: all elements of input should be "
                         "between 0 and 1 (apply sigmoid, or use binary_cross_entropy_with_logits)")
    loss = _bce(input, ag.as_tensor(target).to(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


@float32
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """-w [p t log s(x) + (1 - t) log(1 - s(x))] computed stably as
    (1 - t) x + (1 + (p - 1) t) softplus(-x)   (log s(x) = -softplus(-x))."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    sp = softplus(-input)
    if pos_weight is not None:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
    else:
        loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _check_class_weight(name, weight, c, input):
    """``weight`` holds one entry per class (dim 1 of input, dim 0 when unbatched)."""
    if weight is not None and tuple(np.shape(_array(weight))) != (c,):
        raise ValueError(f"{name}{_where()}: weight of shape {tuple(np.shape(_array(weight)))} "
                         f"must have one entry per class: expected ({c},) for input "
                         f"{tuple(input.shape)}")


@float32
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-w[t] input[t] per element; 'mean' divides by the sum of w[t] over non-ignored targets."""
    return _on_rows(_nll_rows, "nll_loss", input, target, weight, ignore_index, reduction)


@float32
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 for unbatched input) followed by NLL, for class
    indices; for class probabilities -sum_c w_c t_c log p_c.  Label smoothing mixes
    the target with the uniform distribution: (1 - e) * nll + e/C * sum_c -w_c log p_c
    (PyTorch's normalisation of each part, including for 'mean' with weights)."""
    if input.ndim == 0:
        raise ValueError(f"cross_entropy{_where()}: expected input of shape (C,) or (N, C, ...), "
                         "got a 0-d tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy{_where()}: label_smoothing must be between 0.0 and 1.0, "
                         f"got {label_smoothing}")
    cdim = 1 if input.ndim > 1 else 0
    c = input.shape[cdim]
    _check_class_weight("cross_entropy", weight, c, input)
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        _same_shape("cross_entropy", input, target)
        logp = log_softmax(input, cdim)
        wshape = (c,) + (1,) * (input.ndim - cdim - 1)
        tgt = target
        if label_smoothing > 0:
            tgt = tgt * (1 - label_smoothing) + label_smoothing / c
        prod = logp * tgt
        if weight is not None:
            prod = prod * _array(weight).reshape(wshape)
        loss = -prod.sum(cdim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // c)
        return _reduce(loss, reduction, "cross_entropy")
    return _on_rows(_cross_entropy_rows, "cross_entropy", input, target, weight, ignore_index,
                    reduction, label_smoothing=label_smoothing)


def _on_rows(fused, name, input, target, weight, ignore_index, reduction, **kw):
    """Run a fused class-index loss on (rows, C): input (N, C, d...) or (C,) is brought
    there (class dim last, the rest flattened) and a per-element loss brought back."""
    if input.ndim == 0:
        raise ValueError(f"{name}{_where()}: expected input of shape (C,) or (N, C, ...), got a 0-d tensor")
    t = target if isinstance(target, Tensor) else np.asarray(target)   # a tensor stays one (vmap)
    expected = (input.shape[0],) + tuple(input.shape[2:]) if input.ndim > 1 else ()
    if t.dtype.kind in "iu" and tuple(t.shape) != expected:
        raise ValueError(f"{name}{_where()}: expected target of shape {expected} for input "
                         f"{tuple(input.shape)}, got {tuple(t.shape)}")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    rows = input if input.ndim == 2 else input.reshape(1, c) if input.ndim == 1 else \
        input.permute(0, *range(2, input.ndim), 1).reshape(-1, c)
    loss = fused(rows, t.reshape(-1), weight, ignore_index, reduction=reduction, **kw)
    return loss.reshape(expected) if reduction == "none" else loss


@float32
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Multiclass hinge (Weston & Watkins / Crammer-Singer sum form):
    sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 supported, got {p}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = _array(target).reshape(-1)
    n, c = x.shape
    if t.shape != (n,):
        raise ValueError(f"multi_margin_loss{_where()}: expected target of shape ({n},), got "
                         f"{tuple(_array(target).shape)}")
    _check_class_weight("multi_margin_loss", weight, c, input)
    if t.size and (t.min() < 0 or t.max() >= c):
        raise IndexError(f"multi_margin_loss{_where()}: target {t.min()}..{t.max()} out of "
                         f"bounds for {c} classes")
    onehot = (t[:, None] == np.arange(c)).astype(input.dtype)
    x_y = (x * onehot).sum(1, keepdim=True)
    h = (x - x_y + margin).relu() * (1 - onehot)
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * _array(weight).astype(input.dtype)[t][:, None]
    loss = h.sum(1) / c
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction, "multi_margin_loss")


@float32
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target (log target - input) with input given as log-probabilities; 'batchmean'
    divides the sum by the batch size (the true KL divergence)."""
    if log_target:
        loss = target.exp() * (target - input)
    else:
        t = _array(target)
        logt = np.log(np.where(t > 0, t, 1))     # 0 log 0 = 0, as PyTorch's xlogy
        if isinstance(target, Tensor) and target.requires_grad:
            logt = ag.where(t > 0, target, 1.0).log()
        loss = target * (logt - input)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


@float32
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) for y = 1, max(0, cos(x1, x2) - margin) for y = -1; cos uses
    sqrt((|x1|^2 + eps)(|x2|^2 + eps)) with eps = 1e-12 like PyTorch."""
    if tuple(input1.shape) != tuple(input2.shape) or input1.ndim not in (1, 2) or \
            tuple(np.shape(_array(target))) != tuple(input1.shape[:-1]):
        raise ValueError(f"cosine_embedding_loss{_where()}: expected input1 and input2 of one shape "
                         f"(N, D) or (D,) and target (N,) or (), got {tuple(input1.shape)}, "
                         f"{tuple(input2.shape)} and {tuple(np.shape(_array(target)))}")
    eps = 1e-12
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + eps
    m2 = (input2 * input2).sum(dim) + eps
    cos = prod / (m1 * m2).sqrt()
    y = _array(target)
    # a clamp, as PyTorch's: at cos = margin the gradient passes
    loss = ag.where(y == 1, 1 - cos, (cos - margin).clamp(min=0))
    loss = ag.where((y == 1) | (y == -1), loss, 0.0)
    return _reduce(loss, reduction, "cosine_embedding_loss")
