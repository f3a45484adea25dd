"""Which flow ids of a numpy array are in a Python collection, without a Python loop
over the array: each batch ends thousands of flows, of which few are tracked or
have anything known about them."""

import numpy as np


def members(ids, keys):
    """Boolean mask over the int64 array `ids`: which of them are in `keys` (any
    sized collection of ints: a dict, a set, a list)."""
    n = len(keys)
    if n == 0 or len(ids) == 0:
        return np.zeros(len(ids), bool)
    table = np.sort(np.fromiter(keys, np.int64, n))
    at = np.minimum(np.searchsorted(table, ids), n - 1)
    return table[at] == ids


def pair_members(hi, lo, pairs):
    """Boolean mask: which (hi[i], lo[i]) of the uint64 arrays `hi`, `lo` (addresses as
    the flow table holds them) are in `pairs`, a collection of (hi, lo) int tuples.
    numpy narrows down by the low halves; only the rows sharing one are checked whole."""
    out = np.zeros(len(lo), bool)
    if not pairs or len(lo) == 0:
        return out
    table = np.unique(np.fromiter((p[1] for p in pairs), np.uint64, len(pairs)))
    at = np.minimum(np.searchsorted(table, lo), len(table) - 1)
    near = np.flatnonzero(table[at] == lo)
    if len(near):
        out[near] = [pair in pairs for pair in zip(hi[near].tolist(), lo[near].tolist())]
    return out
