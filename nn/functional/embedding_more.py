"""Bags of embeddings, pairwise distances and the Gumbel-softmax sample, with PyTorch's
functional signatures (the ops live in autograd/ops: embedding_bag.py, products.py)."""
import warnings

import numpy as np

from autograd import creation
from autograd.ops.embedding_bag import embedding_bag
from autograd.ops.products import pdist
from autograd.ops.activation import softmax
from autograd.tensor import Tensor

__all__ = ["embedding_bag", "gumbel_softmax", "pdist"]


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1) drawn from the default generator;
    ``hard`` returns the one-hot of its argmax, with the soft sample's gradient (the
    straight-through estimator: y_hard - y_soft.detach() + y_soft)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    if not isinstance(logits, Tensor) or logits.dtype.kind != "f":
        raise TypeError(f"gumbel_softmax: logits must be a floating-point tensor, got "
                        f"{getattr(logits, 'dtype', type(logits).__name__)}")
    gumbels = -np.log(creation.default_generator().exponential(size=logits.shape))
    y_soft = softmax((logits + gumbels.astype(np.dtype(logits.dtype))) / tau, dim)
    if not hard:
        return y_soft
    d = dim % max(logits.ndim, 1)
    index = np.expand_dims(np.argmax(y_soft.array, axis=d), d) if logits.ndim else None
    y_hard = np.zeros(logits.shape, np.dtype(logits.dtype))
    if index is None:
        y_hard[()] = 1
    else:
        np.put_along_axis(y_hard, index, 1.0, axis=d)
    return creation.from_numpy(y_hard) - y_soft.detach() + y_soft
