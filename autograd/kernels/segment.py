"""Segmented arg-max: for each bag b (the entries ends[b-1]:ends[b] of a list of rows
picked from a table) and each column d, the entry whose row holds the largest value
(the first one on ties), or -1 for a bag with no kept entry.  It is the index
computation behind ``embedding_bag(mode='max')``, whose value and gradient are then
a gather of those entries (NumPy has no segmented arg-max)."""
import numba
import numpy as np

from . import pick


@numba.njit(cache=True)
def segment_argmax_numba(table, rows, ends, keep):
    """table (V, D), rows (M,) int in [0, V), ends (B,) non-decreasing, keep (M,) bool
    -> (B, D) int64 entry positions in [0, M), -1 where the bag is empty."""
    d_ = table.shape[1]
    out = np.full((ends.shape[0], d_), -1, np.int64)
    begin = 0
    for b in range(ends.shape[0]):
        for i in range(begin, ends[b]):
            if not keep[i]:
                continue
            r = rows[i]
            for d in range(d_):
                best = out[b, d]
                if best < 0 or table[r, d] > table[rows[best], d]:
                    out[b, d] = i
        begin = ends[b]
    return out


def segment_argmax_reference(table, rows, ends, keep):
    b_, d_ = ends.shape[0], table.shape[1]
    out = np.full((b_, d_), -1, np.int64)
    begins = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    for b in range(b_):
        entries = np.arange(begins[b], ends[b])[keep[begins[b]:ends[b]]]
        if entries.size:
            out[b] = entries[np.argmax(table[rows[entries]], axis=0)]   # argmax: the first max
    return out


segment_argmax = pick(segment_argmax_numba, segment_argmax_reference)
