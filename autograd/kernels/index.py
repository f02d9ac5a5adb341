"""Row scatter-add: ``out[idx[i]] += g[i]`` for an integer index along the first axis.

It is the VJP of a row gather (``weight[idx]``, i.e. an embedding lookup), where an
index repeats whenever a token does.  ``np.add.at`` handles the repeats but takes a
slow generic path per element (4x PyTorch's embedding backward); a compiled loop over
rows is memory-bound.  Serial: threads would race on repeated rows.
"""
import numba
import numpy as np

from . import pick


@numba.njit(cache=True)
def index_add_rows_numba(out, idx, g):
    """out (V, D), idx (M,) int in [-V, V), g (M, D); adds in place and returns out."""
    v_ = out.shape[0]
    for i in range(idx.shape[0]):
        r = idx[i]
        if r < 0:
            r += v_
        for j in range(out.shape[1]):
            out[r, j] += g[i, j]
    return out


def index_add_rows_reference(out, idx, g):
    np.add.at(out, idx, g)
    return out


index_add_rows = pick(index_add_rows_numba, index_add_rows_reference)
