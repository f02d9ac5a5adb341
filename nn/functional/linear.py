"""Linear maps, dropout and embedding lookups, composed from primitive ops."""
import numpy as np

import autograd as ag
from autograd import creation
from autograd.ops.dropout import dropout_with_mask  # one Dropout node, y = x * mask
from autograd.ops.embedding_bag import frequency_scaled, renorm_rows_
from autograd.ops.linalg import linear  # one node, x W^T + b (registered with the ops)
from autograd.tensor import Tensor

__all__ = ["linear", "bilinear", "dropout", "dropout1d", "dropout2d", "alpha_dropout",
           "embedding", "one_hot", "pad", "cosine_similarity", "pairwise_distance", "normalize"]


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k; weight is (out, in1, in2)."""
    if input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise ValueError(f"bilinear: inputs {tuple(input1.shape)} and {tuple(input2.shape)} "
                         f"do not match weight {tuple(weight.shape)} (out, in1, in2)")
    out = ag.einsum("...i,kij,...j->...k", input1, weight, input2)
    return out if bias is None else out + bias


def _keep(shape, p):
    """Which elements survive: each independently with probability 1 - p."""
    return creation.default_generator().random(shape) >= p


def _dropout(input, p, mask_shape):
    # Inverted dropout: keep with prob 1-p and scale by 1/(1-p) so E[y] = x.
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return dropout_with_mask(input, _keep(mask_shape, p) * scale)


def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _dropout(input, p, input.shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: one draw per (N, C) of an (N, C, H, W) or (C, H, W) input."""
    _check_p(p)
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-d or 4-d input, got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    return _dropout(input, p, input.shape[:-2] + (1, 1))


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _dropout(input, p, input.shape[:-1] + (1,))


_SELU_SATURATION = -1.0507009873554805 * 1.6732632423543772   # -scale * alpha of SELU


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks (PyTorch's): a dropped element takes SELU's negative
    saturation a' instead of 0, then y = a (x or a') + b with a = ((1 - p)(1 + p a'^2))^-1/2
    and b = -a a' p, which keeps a zero-mean, unit-variance input so."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _alpha_dropout(input, p, input.shape)


def _alpha_dropout(input, p, mask_shape):
    """alpha_dropout's y with one keep draw per element of mask_shape (broadcast to x)."""
    if p == 1.0:
        return input * 0.0
    keep = _keep(mask_shape, p)
    a = ((1.0 - p) * (1.0 + p * _SELU_SATURATION ** 2)) ** -0.5
    shift = np.where(keep, 0.0, a * _SELU_SATURATION) - a * _SELU_SATURATION * p
    return dropout_with_mask(input, keep * a) + ag.from_numpy(shift.astype(np.dtype(input.dtype)))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """weight[input]; the padding_idx row gets no gradient (its value is still returned).
    ``sparse=True`` is accepted; the gradient is dense (no sparse tensors here)."""
    idx = input.array if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= weight.shape[0]):
        raise IndexError(f"embedding: index out of range [0, {weight.shape[0]}) "
                         f"(min {idx.min()}, max {idx.max()})")
    if max_norm is not None and idx.size:     # PyTorch renormalises the looked-up rows in place
        renorm_rows_(weight, idx.ravel(), max_norm, norm_type)
    out = weight[idx]
    if scale_grad_by_freq and idx.size:      # each row's gradient over its index's count
        out = frequency_scaled(out.reshape(idx.size, -1), idx.ravel()).reshape(out.shape)
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        keep = (idx != padding_idx)[..., None]
        if not keep.all():
            out = ag.where(keep, out, weight.detach()[idx])
    return out


def one_hot(tensor, num_classes=-1):
    idx = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer (class index) tensor, got dtype {idx.dtype}")
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {idx.min()}")
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and idx.max() >= num_classes:
        raise ValueError(f"one_hot: class value {idx.max()} is out of range for "
                         f"num_classes={num_classes}")
    return creation.from_numpy((idx[..., None] == np.arange(num_classes)).astype(np.int64))


def pad(input, pad, mode="constant", value=None):
    return ag.pad(input, pad, mode, 0.0 if value is None else value)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """x / max(||x||_p, eps) along dim (a clamp: at ||x|| = eps the norm keeps its gradient)."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """<x1 / max(||x1||, eps), x2 / max(||x2||, eps)>, as PyTorch computes it: each norm is
    clamped outside autograd, so below eps it keeps the norm's own gradient."""
    def clamped_norm(x):
        n = x.norm(2, dim, keepdim=True)
        floor = n.detach()
        return n + (floor.clamp(min=eps) - floor)     # value max(n, eps), gradient of n
    return ((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2))).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)
