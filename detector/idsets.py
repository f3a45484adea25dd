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
