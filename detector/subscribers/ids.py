"""Subscriber ids -> codes 0, 1, ... in order of first appearance, a column at a time.

A map of a million leases names up to a million subscribers; a Python dict
from id to code costs about a microsecond per row at that size, more than
reading the row. So the ids live as UTF-8 bytes in one pool, indexed by an
open-addressing hash table, and a kernel codes a whole column of cells
(byte spans of the CSV text) in one call. Single ids (YAML, the row-by-row
CSV reader) are numbered in a dict and enter the table before the next column.
"""

from __future__ import annotations

import numpy as np

from detector.engine.config import kernel

from .csv_scan import texts

_EMPTY = -1


@kernel
def _hash(buf, s, e):
    """63-bit hash of buf[s:e]: two polynomial hashes modulo primes below 2**31
    (int64 arithmetic that cannot overflow, with or without the JIT)."""
    h1 = 0
    h2 = 0
    for i in range(s, e):
        b = int(buf[i]) + 1
        h1 = (h1 * 257 + b) % 2147483647
        h2 = (h2 * 263 + b) % 2147483629
    return (h1 << 31) | h2


@kernel
def _same(buf, s, e, pool, a, b):
    if e - s != b - a:
        return False
    for i in range(e - s):
        if buf[s + i] != pool[a + i]:
            return False
    return True


@kernel
def intern_spans(buf, s, e, pool, off, hashes, table, n, used, out):
    """Code each id buf[s[i]:e[i]]; unseen ids get the next codes, in order.

    pool   : uint8[p]   id bytes; id c is pool[off[c]:off[c + 1]], `used` bytes in use
    off    : int64[k+1] hashes : int64[k]  per code, `n` codes in use
    table  : int64[t]   code per slot, -1 = empty; t a power of two > 2 * (n + len(s))
    out    : int64[m]   written: the code of each id
    The caller makes room for len(s) more ids. Returns the new (n, used).
    """
    mask = table.shape[0] - 1
    for i in range(s.shape[0]):
        a = s[i]
        b = e[i]
        h = _hash(buf, a, b)
        slot = h & mask
        while True:
            c = table[slot]
            if c == _EMPTY:
                table[slot] = n
                hashes[n] = h
                for j in range(a, b):
                    pool[used] = buf[j]
                    used += 1
                off[n + 1] = used
                out[i] = n
                n += 1
                break
            if hashes[c] == h and _same(buf, a, b, pool, off[c], off[c + 1]):
                out[i] = c
                break
            slot = (slot + 1) & mask
    return n, used


@kernel
def _rehash(hashes, n, table):
    mask = table.shape[0] - 1
    table[:] = _EMPTY
    for c in range(n):
        slot = hashes[c] & mask
        while table[slot] != _EMPTY:
            slot = (slot + 1) & mask
        table[slot] = c


def _grown(arr, need: int):
    """arr, or a copy at least twice as large once it is too small for `need`."""
    if arr.shape[0] >= need:
        return arr
    out = np.empty(max(need, 2 * arr.shape[0]), arr.dtype)
    out[:arr.shape[0]] = arr
    return out


class SubscriberIds:
    """`ids[code]` is the id (str); `code()` / `codes()` give codes, numbering new ids.

    The hash table holds ids[:in_table]; ids given one at a time to `code()`
    wait in the dict `cache` (and ids[in_table:]) until the next `codes()`
    call. The cache holds every id while `cache_complete`; a `codes()` call
    that adds ids clears it, and the next `code()` miss fills the cache again.
    """

    def __init__(self):
        self.ids: list[str] = []
        self._pool = np.empty(1 << 12, np.uint8)
        self._used = 0
        self._off = np.zeros(1 << 10, np.int64)
        self._hashes = np.empty(1 << 10, np.int64)
        self._table = np.full(1 << 11, _EMPTY, np.int64)
        self._in_table = 0
        self._cache: dict[str, int] = {}
        self._cache_complete = True

    def __len__(self):
        return len(self.ids)

    def code(self, sub_id: str) -> int:
        code = self._cache.get(sub_id)
        if code is None and not self._cache_complete:
            self._cache.update(zip(self.ids, range(len(self.ids))))
            self._cache_complete = True
            code = self._cache.get(sub_id)
        if code is None:
            code = self._cache[sub_id] = len(self.ids)
            self.ids.append(sub_id)
        return code

    def codes(self, buf, s, e) -> np.ndarray:
        """Codes of the ids buf[s[i]:e[i]] (UTF-8 bytes, no LF), int64."""
        if self._in_table < len(self.ids):           # ids from code() first, same codes
            encoded = [sub_id.encode("utf-8", "surrogatepass")
                       for sub_id in self.ids[self._in_table:]]
            lengths = np.array([len(x) for x in encoded], np.int64)
            ends = np.cumsum(lengths)
            self._intern(np.frombuffer(b"".join(encoded), np.uint8), ends - lengths, ends)
        n0 = len(self.ids)
        out = self._intern(buf, s, e)
        if self._in_table > n0:
            self.ids.extend(texts(self._pool, self._off[n0:self._in_table],
                                  self._off[n0 + 1:self._in_table + 1]))
            self._cache_complete = False
        return out

    def _intern(self, buf, s, e) -> np.ndarray:
        n0, m = self._in_table, s.shape[0]
        self._pool = _grown(self._pool, self._used + int((e - s).sum()))
        self._off = _grown(self._off, n0 + m + 1)
        self._hashes = _grown(self._hashes, n0 + m)
        if self._table.shape[0] <= 2 * (n0 + m):
            size = self._table.shape[0]
            while size <= 2 * (n0 + m):
                size *= 2
            self._table = np.empty(size, np.int64)
            _rehash(self._hashes, n0, self._table)
        out = np.empty(m, np.int64)
        self._in_table, self._used = intern_spans(buf, s, e, self._pool, self._off,
                                                  self._hashes, self._table, n0, self._used,
                                                  out)
        return out
