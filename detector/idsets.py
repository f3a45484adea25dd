"""Which flow ids of a numpy array are in a Python collection, without a Python loop
over the array: each batch ends thousands of flows, of which few are tracked or
have anything known about them."""

import numpy as np

from .engine.config import kernel

FIBONACCI = np.uint64(0x9E3779B97F4A7C15)     # 2**64 / golden ratio: spreads runs of ids


def members(ids, keys):
    """Boolean mask over the int64 array `ids`: which of them are in `keys` (any
    sized collection of ints: a dict, a set, a list, an array)."""
    n = len(keys)
    if n == 0 or len(ids) == 0:
        return np.zeros(len(ids), bool)
    keys = np.ascontiguousarray(keys, np.int64) if isinstance(keys, np.ndarray) \
        else np.fromiter(keys, np.int64, n)
    return _hashed_members(np.ascontiguousarray(ids, np.int64), keys)


@kernel
def _hashed_members(ids, keys):
    """members() of the arrays `ids`, `keys` (non-empty) through an open-addressing
    hash table of `keys`: one probe or two per id, where a sorted table and a binary
    search took a dozen unpredictable branches per id (the ended ids come unsorted)."""
    bits = 1
    while (1 << bits) < 2 * len(keys):
        bits += 1
    shift = np.uint64(64 - bits)
    mask = (1 << bits) - 1
    slots = np.empty(1 << bits, np.int64)
    used = np.zeros(1 << bits, np.bool_)
    for key in keys:
        at = np.int64((np.uint64(key) * FIBONACCI) >> shift)
        while used[at] and slots[at] != key:
            at = (at + 1) & mask
        slots[at] = key
        used[at] = True
    out = np.zeros(len(ids), np.bool_)
    for i in range(len(ids)):
        at = np.int64((np.uint64(ids[i]) * FIBONACCI) >> shift)
        while used[at]:
            if slots[at] == ids[i]:
                out[i] = True
                break
            at = (at + 1) & mask
    return out


def pair_members(hi, lo, pairs):
    """Boolean mask: which (hi[i], lo[i]) of the uint64 arrays `hi`, `lo` (addresses as
    the flow table holds them) are in `pairs`, a collection of (hi, lo) int tuples.
    `members` narrows down by the low halves; the rows sharing one are checked whole."""
    out = np.zeros(len(lo), bool)
    if not pairs or len(lo) == 0:
        return out
    lows = np.fromiter((p[1] for p in pairs), np.uint64, len(pairs))
    near = np.flatnonzero(members(lo.view(np.int64), lows.view(np.int64)))
    if len(near):
        out[near] = [pair in pairs for pair in zip(hi[near].tolist(), lo[near].tolist())]
    return out
