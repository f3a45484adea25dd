"""DNS question names known to be unwanted, so the engine drops their answers itself.

A network asks the same names over and over, and almost none of them name a
pool. Python decides once per name (flow_intel.DnsCache.wants); each name it
rejects is added here, and the inspection kernel then skips further answers to
that question without an event (one hash and one probe instead of a trip
through Python per answer). The set holds the names themselves, so a skip is
exact: a name is dropped only when its bytes equal a rejected one. It is
cleared whenever Python may want more names (a pool host learned, a new
filter), and when half full, so its memory is fixed at construction.
"""

import secrets

import numpy as np

from .bytes_ import fnv1a
from .config import inline_kernel, kernel

MAX_WIRE_NAME = 255        # RFC 1035 3.1: longer names are never remembered
DEFAULT_SLOTS = 4096       # a power of two; ~1 MiB of names, touched as used


@inline_kernel
def name_hash(seed, buf, at, n):
    """FNV-1a (64 bit) of buf[at:at+n], started from a per-process random seed;
    never 0 (the empty slot)."""
    return fnv1a(seed, buf, at, n) | np.uint64(1)


@inline_kernel
def probe(keys, names, lengths, h, buf, at, n):
    """The slot holding the name buf[at:at+n] (hash h), or the empty slot where it would
    go; -1 when it is absent from a full table (the set is kept half full, so only a
    defensive bound)."""
    mask = np.uint64(len(keys) - 1)
    slot = h & mask
    found = np.int64(-1)
    for _ in range(len(keys)):
        if keys[slot] == 0:
            found = np.int64(slot)
            break
        if keys[slot] == h and lengths[slot] == n:
            same = True
            for j in range(n):
                if names[slot, j] != buf[at + j]:
                    same = False
                    break
            if same:
                found = np.int64(slot)
                break
        slot = (slot + np.uint64(1)) & mask
    return found


@kernel
def is_skipped(keys, names, lengths, seed, buf, at, n):
    """Whether the wire name buf[at:at+n] is in the set."""
    found = False
    if 0 < n <= MAX_WIRE_NAME:
        slot = probe(keys, names, lengths, name_hash(seed, buf, at, n), buf, at, n)
        found = slot >= 0 and keys[slot] != 0
    return found


@kernel
def insert(keys, names, lengths, seed, name):
    """Add the wire name `name` (uint8 array, 1..MAX_WIRE_NAME bytes); False when it was
    there already. The caller keeps the set at most half full."""
    n = len(name)
    h = name_hash(seed, name, 0, n)
    slot = probe(keys, names, lengths, h, name, 0, n)
    if keys[slot] != 0:
        return False
    keys[slot] = h
    lengths[slot] = n
    for j in range(n):
        names[slot, j] = name[j]
    return True


class DnsSkipSet:
    """The kernel's arrays (`arrays`: keys, names, lengths, seed) and Python's side of
    them: add a rejected name, clear."""

    def __init__(self, slots=DEFAULT_SLOTS):
        assert slots > 1 and slots & (slots - 1) == 0, "slots: a power of two"
        self.keys = np.zeros(slots, np.uint64)
        self.names = np.zeros((slots, MAX_WIRE_NAME), np.uint8)
        self.lengths = np.zeros(slots, np.int16)
        self.seed = np.uint64(secrets.randbits(64))
        self.count = 0

    @property
    def arrays(self):
        return self.keys, self.names, self.lengths, self.seed

    def add(self, wire_name: bytes):
        if not 0 < len(wire_name) <= MAX_WIRE_NAME:
            return
        if 2 * (self.count + 1) > len(self.keys):
            self.clear()
        self.count += insert(self.keys, self.names, self.lengths, self.seed,
                             np.frombuffer(wire_name, np.uint8))

    def clear(self):
        if self.count:
            self.keys[:] = 0
            self.count = 0

    def __contains__(self, wire_name: bytes):
        return bool(is_skipped(*self.arrays, np.frombuffer(wire_name, np.uint8), 0,
                               len(wire_name)))


def warm_up():
    """Load `insert` (compiled once, then from the cache) before packets are timed: the
    first rejected question would load it otherwise."""
    DnsSkipSet(2).add(b"\0")
