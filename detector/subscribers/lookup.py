"""Lookup tables of a subscriber map: built once at load, searched per batch of hits.

Both kinds of table rest on one idea: *paint* the entries in priority order
over a line (addresses, or time), later entries over earlier ones, and keep
only the boundaries where the owner changes. A lookup is then one binary
search for the last boundary at or before the query.

- StaticTable: prefixes on the 128-bit address line. Prefixes are either
  nested or disjoint, so painting them by (first address, prefix length)
  lets the longer prefix win inside the shorter: longest-prefix match.
- BlockTable: leases and CGNAT blocks. Per public address, the port axis is
  cut into elementary segments at every block edge (a lease is one block
  over ports 0-65535); each segment gets a timeline painted by start time,
  so of the entries covering an instant the one that started last wins.

Addresses are (hi, lo) uint64 pairs, IPv4-mapped as in engine/dtypes.py.
Kernels take arrays only and never raise (STYLE.md 2.2).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from detector.engine.config import kernel

from . import values

NONE = -1                       # no subscriber from this table
PORT_SPAN = values.PORT_MAX + 2  # per-address key stride: ports 0..65535 and one past
#: elementary port segments allowed per map entry before the map is refused
#: (only pathological maps, with many differently nested port ranges on one
#: address, come near it); keeps memory bounded by the map size
MAX_SEGMENTS_PER_ENTRY = 16
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


# --------------------------------------------------------------------------- kernels

@kernel
def search_right_128(keys_hi, keys_lo, q_hi, q_lo, out):
    """out[i] = number of keys <= query i, keys sorted by (hi, lo) (searchsorted 'right').

    keys_hi, keys_lo : uint64[n]  sorted 128-bit keys
    q_hi, q_lo       : uint64[m]  queries
    out              : int64[m]   written; 0..n
    """
    n = keys_hi.shape[0]
    for i in range(q_hi.shape[0]):
        h = q_hi[i]
        lo_q = q_lo[i]
        a = 0
        b = n
        while a < b:
            m = (a + b) >> 1
            kh = keys_hi[m]
            if kh < h or (kh == h and keys_lo[m] <= lo_q):
                a = m + 1
            else:
                b = m
        out[i] = a


@kernel
def _emit(out_group, out_pos, out_label, k, group, pos, label):
    """Append boundary (group, pos) -> label; at an equal (group, pos) the last one wins."""
    if k > 0 and out_group[k - 1] == group and out_pos[k - 1] == pos:
        out_label[k - 1] = label
        return k
    out_group[k] = group
    out_pos[k] = pos
    out_label[k] = label
    return k + 1


@kernel
def paint(group, start, end, out_group, out_pos, out_label, stack_end, stack_label):
    """Paint intervals [start, end) in input order, later ones over earlier ones.

    group, start, end : int64[n]  sorted by (group, start); within a group an
                                  interval must come after every interval it
                                  should override (at equal start: the winner last)
    out_*             : int64[2n] boundaries: from out_pos on (until the next
                                  boundary of the group) interval out_label owns
                                  the line, NONE = nobody
    stack_*           : int64[n]  scratch
    Returns the number of boundaries written. Each group's boundaries are
    sorted by position and its last one has label NONE.

    The stack holds the intervals still open, their ends strictly decreasing
    toward the top: an interval ending no later than a newer one is hidden
    for good and dropped when the newer one is pushed.
    """
    k = 0
    sp = 0
    current = -1
    for i in range(group.shape[0]):
        g = group[i]
        if g != current:
            while sp > 0:
                sp -= 1
                below = stack_label[sp - 1] if sp > 0 else NONE
                k = _emit(out_group, out_pos, out_label, k, current, stack_end[sp], below)
            current = g
        s = start[i]
        while sp > 0 and stack_end[sp - 1] <= s:
            sp -= 1
            below = stack_label[sp - 1] if sp > 0 else NONE
            k = _emit(out_group, out_pos, out_label, k, g, stack_end[sp], below)
        k = _emit(out_group, out_pos, out_label, k, g, s, i)
        e = end[i]
        while sp > 0 and stack_end[sp - 1] <= e:
            sp -= 1
        stack_end[sp] = e
        stack_label[sp] = i
        sp += 1
    while sp > 0:
        sp -= 1
        below = stack_label[sp - 1] if sp > 0 else NONE
        k = _emit(out_group, out_pos, out_label, k, current, stack_end[sp], below)
    return k


@kernel
def search_slices(bounds_start, bounds_pos, seg, pos, out):
    """out[i] = index of the last boundary of segment seg[i] at or before pos[i], or NONE.

    bounds_start : int64[n_seg + 1]  CSR: segment s owns bounds_pos[bounds_start[s]:
                                     bounds_start[s + 1]], sorted
    seg          : int64[m]          segment per query, NONE = no segment
    """
    for i in range(seg.shape[0]):
        s = seg[i]
        if s < 0:
            out[i] = NONE
            continue
        first = bounds_start[s]
        a = first
        b = bounds_start[s + 1]
        t = pos[i]
        while a < b:
            m = (a + b) >> 1
            if bounds_pos[m] <= t:
                a = m + 1
            else:
                b = m
        out[i] = a - 1 if a > first else NONE


def run_paint(group, start, end):
    n = group.shape[0]
    out_group = np.empty(2 * n, np.int64)
    out_pos = np.empty(2 * n, np.int64)
    out_label = np.empty(2 * n, np.int64)
    k = paint(group, start, end, out_group, out_pos, out_label,
              np.empty(n, np.int64), np.empty(n, np.int64))
    return out_group[:k], out_pos[:k], out_label[:k]


def search_128(keys_hi, keys_lo, q_hi, q_lo):
    out = np.empty(q_hi.shape[0], np.int64)
    search_right_128(keys_hi, keys_lo, q_hi, q_lo, out)
    return out


# --------------------------------------------------------------------------- helpers

def _low_ones(bits):
    """uint64 with the low `bits` bits set (bits 0..64), vectorised."""
    bits = bits.astype(np.uint64)
    small = np.left_shift(np.uint64(1), np.minimum(bits, np.uint64(63))) - np.uint64(1)
    return np.where(bits >= 64, _ALL, small)


def _ranks(keys):
    """(distinct values sorted, rank of each key among them) = np.unique(keys,
    return_inverse=True), by one argsort: numpy's hashing unique is several times
    slower on millions of keys."""
    order = np.argsort(keys)
    ordered = keys[order]
    new = np.empty(ordered.shape[0], bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    rank = np.empty(ordered.shape[0], np.int64)
    rank[order] = np.cumsum(new) - 1
    return ordered[new], rank


def _ns_text(ns: int) -> str:
    if ns >= values.OPEN_END_NS:
        return "open end"
    moment = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc)
    frac = ns % 1_000_000_000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def _first_conflict(same_key, sub, cols, order):
    """Among rows sorted by key (order), the first pair with equal key and different
    subscriber, as (earlier entry, later entry) in file order; None if no conflict."""
    bad = np.flatnonzero(same_key & (sub[1:] != sub[:-1]))
    if bad.size == 0:
        return None
    pairs = np.stack([order[bad], order[bad + 1]], axis=1)
    file_line = [(int(cols["file"][i]), int(cols["line"][i])) for i in pairs.ravel()]
    best = None
    for p in range(pairs.shape[0]):
        a, b = sorted([(file_line[2 * p], pairs[p, 0]), (file_line[2 * p + 1], pairs[p, 1])])
        if best is None or b[0] < best[1][0]:
            best = (a, b)
    return best


# --------------------------------------------------------------------------- static

class StaticTable:
    """Static addresses and prefixes: longest-prefix match over 128-bit addresses.

    bound_hi, bound_lo : uint64[k]  first address of each painted range, sorted
    bound_sub          : int64[k]   subscriber code owning it, NONE = none
    """

    def __init__(self, bound_hi, bound_lo, bound_sub):
        self.bound_hi, self.bound_lo, self.bound_sub = bound_hi, bound_lo, bound_sub

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int64))

    @classmethod
    def build(cls, entries) -> "StaticTable":
        cols = entries.static.arrays()
        if cols["sub"].size == 0:
            return cls.empty()
        hi, lo, bits, sub = cols["hi"], cols["lo"], cols["bits"], cols["sub"]
        order = np.lexsort((sub, bits, lo, hi))
        hi, lo, bits, sub = hi[order], lo[order], bits[order], sub[order]
        same = (hi[1:] == hi[:-1]) & (lo[1:] == lo[:-1]) & (bits[1:] == bits[:-1])
        conflict = _first_conflict(same, sub, cols, order)
        if conflict is not None:
            (_, first), (where, later) = conflict
            net = (int(cols["hi"][later]) << 64) | int(cols["lo"][later])
            text = values.prefix_text(net, int(cols["bits"][later]))
            entries.fail(where, f"{text} is assigned to '{entries.ids[cols['sub'][later]]}' "
                                f"here but to '{entries.ids[cols['sub'][first]]}' at "
                                f"{entries.place(_where(cols, first))}")
        keep = np.concatenate([[True], ~same])
        hi, lo, bits, sub = hi[keep], lo[keep], bits[keep], sub[keep]

        # last address of each prefix, then one past it (with carry; 2^128 = `top`)
        last_hi = hi | _low_ones(np.clip(64 - bits, 0, 64))
        last_lo = lo | _low_ones(np.clip(128 - bits, 0, 64))
        carry = last_lo == _ALL
        end_lo = np.where(carry, np.uint64(0), last_lo + np.uint64(1))
        end_hi = np.where(carry, last_hi + np.uint64(1), last_hi)
        top = carry & (last_hi == _ALL)

        # rank every start and end point: painting runs on int64 ranks
        n = hi.shape[0]
        p_top = np.concatenate([np.zeros(n, bool), top])
        p_hi = np.concatenate([hi, end_hi])
        p_lo = np.concatenate([lo, end_lo])
        p_order = np.lexsort((p_lo, p_hi, p_top))
        s_top, s_hi, s_lo = p_top[p_order], p_hi[p_order], p_lo[p_order]
        new = np.concatenate([[True], (s_top[1:] != s_top[:-1]) | (s_hi[1:] != s_hi[:-1])
                              | (s_lo[1:] != s_lo[:-1])])
        rank_sorted = np.cumsum(new) - 1
        rank = np.empty(2 * n, np.int64)
        rank[p_order] = rank_sorted
        u_top, u_hi, u_lo = s_top[new], s_hi[new], s_lo[new]

        start, end = rank[:n], rank[n:]
        paint_order = np.lexsort((bits, start))        # outer prefixes first
        _, pos, label = run_paint(np.zeros(n, np.int64), start[paint_order], end[paint_order])
        real = ~u_top[pos]                             # nothing lives at 2^128
        pos, label = pos[real], label[real]
        owner = np.where(label >= 0, sub[paint_order][np.maximum(label, 0)], NONE)
        return cls(np.ascontiguousarray(u_hi[pos]), np.ascontiguousarray(u_lo[pos]),
                   owner.astype(np.int64))

    def lookup(self, q_hi, q_lo):
        """Subscriber code per address (NONE where no prefix covers it)."""
        if self.bound_sub.size == 0:
            return np.full(q_hi.shape[0], NONE, np.int64)
        idx = search_128(self.bound_hi, self.bound_lo, q_hi, q_lo) - 1
        return np.where(idx >= 0, self.bound_sub[np.maximum(idx, 0)], NONE)


def _where(cols, i):
    return int(cols["file"][i]), int(cols["line"][i])


# --------------------------------------------------------------------------- leases, CGNAT

class BlockTable:
    """Time-bounded (address, port range) -> subscriber: leases and CGNAT blocks.

    addr_hi, addr_lo : uint64[a]   distinct addresses, sorted; address index = gid
    seg_first        : int64[s]    gid * PORT_SPAN + first port of each segment, sorted
    seg_last         : int64[s]    gid * PORT_SPAN + last port (inclusive)
    bounds_start     : int64[s+1]  CSR into bounds_time / bounds_sub per segment
    bounds_time      : int64[k]    ns; from here on bounds_sub owns the segment
    bounds_sub       : int64[k]    subscriber code, NONE = nobody
    """

    def __init__(self, addr_hi, addr_lo, seg_first, seg_last, bounds_start, bounds_time,
                 bounds_sub):
        self.addr_hi, self.addr_lo = addr_hi, addr_lo
        self.seg_first, self.seg_last = seg_first, seg_last
        self.bounds_start, self.bounds_time, self.bounds_sub = \
            bounds_start, bounds_time, bounds_sub

    @classmethod
    def empty(cls):
        z64, zu = np.zeros(0, np.int64), np.zeros(0, np.uint64)
        return cls(zu, zu, z64, z64, np.zeros(1, np.int64), z64, z64)

    @classmethod
    def build(cls, entries, table, what) -> "BlockTable":
        cols = table.arrays()
        n = cols["sub"].size
        if n == 0:
            return cls.empty()
        hi, lo = cols["hi"], cols["lo"]
        a_order = np.lexsort((lo, hi))
        a_new = np.concatenate([[True], (hi[a_order][1:] != hi[a_order][:-1])
                                | (lo[a_order][1:] != lo[a_order][:-1])])
        gid = np.empty(n, np.int64)
        gid[a_order] = np.cumsum(a_new) - 1
        addr_hi = np.ascontiguousarray(hi[a_order][a_new])
        addr_lo = np.ascontiguousarray(lo[a_order][a_new])

        # elementary port segments: cut every address's port axis at each block edge
        key_first = gid * PORT_SPAN + cols["port_lo"]
        key_past = gid * PORT_SPAN + cols["port_hi"] + 1
        cuts, cut_rank = _ranks(np.concatenate([key_first, key_past]))
        c_first, c_past = cut_rank[:n], cut_rank[n:]
        count = c_past - c_first
        total = int(count.sum())
        if total > MAX_SEGMENTS_PER_ENTRY * n + 65536:
            entries.fail((int(cols["file"][0]), None),
                         f"{what} port ranges overlap in too many different ways "
                         f"({total} port segments for {n} entries); use the same "
                         "port blocks on each address")
        row_entry = np.repeat(np.arange(n), count)
        offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        row_cut = c_first[row_entry] + offset
        used, row_seg = _ranks(row_cut)
        seg_first = cuts[used]
        seg_last = cuts[used + 1] - 1

        start, end, sub = cols["start"][row_entry], cols["end"][row_entry], cols["sub"][row_entry]
        # by (segment, start), file order within: one sort of one key, not a lexsort
        start_rank = _ranks(start)[1]
        order = np.argsort(row_seg * (int(start_rank.max()) + 1) + start_rank, kind="stable")
        same = (row_seg[order][1:] == row_seg[order][:-1]) & \
            (start[order][1:] == start[order][:-1])
        conflict = _first_conflict(same, sub[order], cols, row_entry[order])
        if conflict is not None:
            (_, first), (where, later) = conflict
            addr = (int(cols["hi"][later]) << 64) | int(cols["lo"][later])
            ports = ""
            if what == "CGNAT block":
                ports = f" ports {cols['port_lo'][later]}-{cols['port_hi'][later]}"
            entries.fail(where, f"{what} of {values.address_text(addr)}{ports} starting "
                                f"{_ns_text(int(cols['start'][later]))} is given to "
                                f"'{entries.ids[cols['sub'][later]]}' here but to "
                                f"'{entries.ids[cols['sub'][first]]}' at "
                                f"{entries.place(_where(cols, first))} (same start)")

        group, pos, label = run_paint(row_seg[order], start[order], end[order])
        owner = np.where(label >= 0, sub[order][np.maximum(label, 0)], NONE)
        bounds_start = np.searchsorted(group, np.arange(seg_first.shape[0] + 1)).astype(np.int64)
        return cls(addr_hi, addr_lo, seg_first, seg_last, bounds_start, pos,
                   owner.astype(np.int64))

    def lookup(self, q_hi, q_lo, ports, ts_ns):
        """Subscriber code per (address, port, time) (NONE where no entry covers it)."""
        m = q_hi.shape[0]
        if self.addr_hi.size == 0:
            return np.full(m, NONE, np.int64)
        gid = search_128(self.addr_hi, self.addr_lo, q_hi, q_lo) - 1
        safe = np.maximum(gid, 0)
        known = (gid >= 0) & (self.addr_hi[safe] == q_hi) & (self.addr_lo[safe] == q_lo)
        key = gid * PORT_SPAN + ports
        seg = np.searchsorted(self.seg_first, key, side="right") - 1
        known &= (seg >= 0) & (key <= self.seg_last[np.maximum(seg, 0)])
        seg = np.where(known, seg, NONE)
        idx = np.empty(m, np.int64)
        search_slices(self.bounds_start, self.bounds_time, seg, ts_ns, idx)
        return np.where(idx >= 0, self.bounds_sub[np.maximum(idx, 0)], NONE)
