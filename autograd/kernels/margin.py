"""The multilabel margin loss of each row of x (N, C), and its gradient, in one pass:
  loss_n = sum_{j < count_n} sum_{i not a target} max(0, 1 - x[n, y_nj] + x[n, i]) / C
  d loss_n / d x[n, i] = (number of active terms with i) / C, and -(number with y_nj) / C
for y_nj = labels[n, j], the row's targets (the first count_n entries), ``is_target`` the
mask of classes among them.  Loops where NumPy would build the (N, C, C) pair tensor."""
import numba
import numpy as np

from . import pick


@numba.njit(cache=True)
def multilabel_margin_numba(x, labels, counts, is_target):
    n_, c_ = x.shape
    loss = np.zeros(n_, x.dtype)
    coef = np.zeros_like(x)
    for n in range(n_):
        for jj in range(counts[n]):
            j = labels[n, jj]
            for i in range(c_):
                if is_target[n, i]:
                    continue
                z = 1.0 - x[n, j] + x[n, i]
                if z > 0:
                    loss[n] += z
                    coef[n, i] += 1.0
                    coef[n, j] -= 1.0
    return loss / c_, coef / c_


def multilabel_margin_reference(x, labels, counts, is_target):
    n_, c_ = x.shape
    listed = np.arange(c_)[None, :] < counts[:, None]
    z = 1 - np.take_along_axis(x, labels, 1)[:, :, None] + x[:, None, :]       # (N, j, i)
    active = (z > 0) & listed[:, :, None] & ~is_target[:, None, :]
    coef = active.sum(1).astype(x.dtype)
    np.add.at(coef, (np.arange(n_)[:, None], labels), -active.sum(2))
    return (z * active).sum((1, 2)) / c_, coef / c_


multilabel_margin = pick(multilabel_margin_numba, multilabel_margin_reference)
