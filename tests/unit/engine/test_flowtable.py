"""Flow table kernel against a dict-based reference, timeouts, eviction, memory."""

import collections

import numpy as np
import pytest

from detector.engine.dtypes import (DECODE_OK, DECODE_TRUNCATED, END_ACTIVE, END_EOF,
                                    END_FORCED, END_IDLE, FLOW_DTYPE, FRAG_FIRST, FRAG_LATER,
                                    IPV4_MAPPED, PACKET_DTYPE)
from detector.engine.flowtable import (META_FORCED, META_FRAG_ORPHANS, META_LIVE, META_OUT_N,
                                       flush_flows, new_flow_table, update_flows)
from detector.engine.records import copy_rows, take_rows

SEC = 1_000_000_000


def make_packets(src, dst, sport, dport, proto=6, flags=0x10):
    n = len(src)
    p = np.zeros(n, PACKET_DTYPE)
    p["status"] = DECODE_OK
    p["ip_version"] = 4
    p["proto"] = proto
    p["src_lo"] = IPV4_MAPPED | np.asarray(src, np.uint64)
    p["dst_lo"] = IPV4_MAPPED | np.asarray(dst, np.uint64)
    p["sport"] = sport
    p["dport"] = dport
    p["tcp_flags"] = flags
    p["payload_len"] = 10
    return p


def run(table, pkts, ts, wirelen=None, out_rows=64, sides=None):
    """Feed pkts through the table in one batch, then flush; return all emitted flows.
    `sides` (uint8 array, len(pkts)) receives which side sent each packet."""
    if wirelen is None:
        wirelen = np.full(len(pkts), 100, np.uint32)
    if sides is None:
        sides = np.zeros(len(pkts), np.uint8)
    out = np.zeros(out_rows, FLOW_DTYPE)
    fop = np.zeros(len(pkts), np.int32)
    got = []
    i = 0
    while i < len(pkts):
        i = update_flows(*table, pkts, np.asarray(ts, np.int64), wirelen, 0, i, out, fop,
                         np.zeros(len(pkts), np.int64), sides)
        got.append(out[:table[6][META_OUT_N]].copy())
    while True:
        left = flush_flows(*table[:5], table[6], out, END_EOF)
        got.append(out[:table[6][META_OUT_N]].copy())
        if not left:
            break
    return np.concatenate(got)


def reference(pkts):
    """Packets per unordered 5-tuple and the first sender of each."""
    count = collections.Counter()
    first = {}
    for p in pkts:
        a = (int(p["src_lo"]), int(p["sport"]))
        b = (int(p["dst_lo"]), int(p["dport"]))
        key = (int(p["proto"]), frozenset((a, b)))
        count[key] += 1
        first.setdefault(key, a)
    return count, first


def test_matches_reference_without_limits():
    rng = np.random.default_rng(7)
    n = 20000
    src = rng.integers(1, 50, n)
    dst = rng.integers(1, 50, n)
    sport = rng.integers(1, 30, n)
    dport = rng.integers(1, 30, n)
    pkts = make_packets(src, dst, sport, dport, proto=17)
    flows = run(new_flow_table(1 << 16), pkts, np.arange(n))
    count, first = reference(pkts)
    got = collections.Counter()
    for f in flows:
        a = (int(f["client_lo"]), int(f["client_port"]))
        b = (int(f["server_lo"]), int(f["server_port"]))
        key = (int(f["proto"]), frozenset((a, b)))
        assert key not in got, "one record per flow"
        got[key] = int(f["packets_c2s"] + f["packets_s2c"])
        assert first[key] == a, "client is the first sender"
        assert f["end_reason"] == END_EOF
    assert got == count
    assert int(flows["bytes_c2s"].sum() + flows["bytes_s2c"].sum()) == 100 * n


def test_client_is_syn_sender_even_when_synack_seen_first():
    # SYN+ACK from server 2:80 arrives first, then the client's ACK
    pkts = make_packets([2, 1], [1, 2], [80, 5000], [5000, 80], flags=0)
    pkts["tcp_flags"] = [0x12, 0x10]
    sides = np.full(2, 9, np.uint8)
    (f,) = run(new_flow_table(8), pkts, [0, 1], sides=sides)
    assert int(f["client_lo"]) & 0xFFFFFFFF == 1 and f["client_port"] == 5000
    assert sides.tolist() == [1, 0]           # what inspection reads instead of the row
    assert f["packets_c2s"] == 1 and f["packets_s2c"] == 1
    assert f["flags_s2c"] == 0x12 and f["flags_c2s"] == 0x10


def test_a_flow_to_itself_has_one_side():
    pkts = make_packets([1, 1], [1, 1], [5000, 5000], [5000, 5000])
    sides = np.full(2, 9, np.uint8)
    (f,) = run(new_flow_table(8), pkts, [0, 1], sides=sides)
    assert f["packets_c2s"] == 2 and f["packets_s2c"] == 0
    assert sides.tolist() == [0, 0]


def test_idle_timeout_splits_and_orders_by_end():
    table = new_flow_table(16, idle_timeout_s=10)
    pkts = make_packets([1, 3, 1], [2, 4, 2], [10, 30, 10], [20, 40, 20])
    flows = run(table, pkts, [0, 5 * SEC, 30 * SEC])
    # flow 1-2 idles out at 30 s (after 1 packet), 3-4 too, then 1-2 restarts
    reasons = [int(r) for r in flows["end_reason"]]
    assert reasons == [END_IDLE, END_IDLE, END_EOF]
    assert [int(x) for x in flows["flow_id"]] == [1, 2, 3]
    assert flows["packets_c2s"].tolist() == [1, 1, 1]


def test_active_timeout_emits_and_keeps_orientation():
    table = new_flow_table(16, active_timeout_s=60)
    n = 5
    pkts = make_packets([1] * n, [2] * n, [10] * n, [20] * n)
    pkts["src_lo"][3] = IPV4_MAPPED | np.uint64(2)   # a reply after the split
    pkts["dst_lo"][3] = IPV4_MAPPED | np.uint64(1)
    pkts["sport"][3], pkts["dport"][3] = 20, 10
    flows = run(table, pkts, [0, 30 * SEC, 61 * SEC, 62 * SEC, 200 * SEC])
    assert [int(r) for r in flows["end_reason"]] == [END_ACTIVE, END_ACTIVE, END_EOF]
    assert flows["packets_c2s"].tolist() == [2, 1, 1]
    assert flows["packets_s2c"].tolist() == [0, 1, 0]
    assert len(set(flows["flow_id"].tolist())) == 1


def test_forced_expiry_keeps_every_packet():
    table = new_flow_table(100)
    n = 5000
    pkts = make_packets(np.arange(n) % 700 + 1, [9] * n, [1] * n, [2] * n)
    flows = run(table, pkts, np.arange(n))
    assert int(flows["packets_c2s"].sum()) == n
    assert table[6][META_FORCED] == int((flows["end_reason"] == END_FORCED).sum())
    assert table[6][META_FORCED] > 0
    assert table[6][META_LIVE] == 0


def test_undecoded_packets_join_no_flow():
    pkts = make_packets([1, 1], [2, 2], [1, 1], [2, 2])
    pkts["status"][1] = DECODE_TRUNCATED
    (f,) = run(new_flow_table(4), pkts, [0, 1])
    assert f["packets_c2s"] == 1


def test_later_fragments_join_their_flow_by_ip_id():
    pkts = make_packets([1, 1, 1, 1], [2, 2, 2, 2], [53, 0, 0, 0], [99, 0, 0, 0], proto=17)
    pkts["frag"] = [FRAG_FIRST, FRAG_LATER, FRAG_LATER, FRAG_LATER]
    pkts["ip_id"] = [7, 7, 7, 8]          # id 8: its first fragment was never seen
    table = new_flow_table(4)
    (f,) = run(table, pkts, [0, 1, 2, 3])
    assert (f["client_port"], f["server_port"]) == (53, 99)
    assert f["packets_c2s"] == 3 and f["fragments"] == 2
    assert table[6][META_FRAG_ORPHANS] == 1


def rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.slow
def test_million_distinct_flows_bounded_memory_and_nothing_lost():
    """1M distinct 5-tuples through a 10 000-flow table: flat memory, 1M records."""
    table = new_flow_table(10000, idle_timeout_s=0)
    batch = 65536
    out = np.zeros(16384, FLOW_DTYPE)
    fop = np.zeros(batch, np.int32)
    fids = np.zeros(batch, np.int64)
    sides = np.zeros(batch, np.uint8)
    wirelen = np.full(batch, 60, np.uint32)
    total = 1_000_000
    emitted = 0
    packets = 0
    rss = []
    for start in range(0, total, batch):
        k = np.arange(start, min(start + batch, total), dtype=np.int64)
        pkts = make_packets(k // 65536 + 1, [0x0A000001] * len(k), k % 65536, [80] * len(k))
        ts = k * 1000
        i = 0
        while i < len(k):
            i = update_flows(*table, pkts, ts, wirelen[:len(k)], 0, i, out, fop[:len(k)],
                             fids[:len(k)], sides[:len(k)])
            m = table[6][META_OUT_N]
            emitted += m
            packets += int(out["packets_c2s"][:m].sum())
        rss.append(rss_bytes())
    while True:
        left = flush_flows(*table[:5], table[6], out, END_EOF)
        m = table[6][META_OUT_N]
        emitted += m
        packets += int(out["packets_c2s"][:m].sum())
        if not left:
            break
    assert emitted == total and packets == total
    assert table[6][META_FORCED] == total - 10000
    # after warm-up the resident size does not grow with the number of flows
    growth = max(rss[3:]) - rss[3]
    assert growth < 8 << 20, f"RSS grew by {growth} bytes over 1M flows"


def test_idle_gap_splits_a_flow_queued_behind_a_fresh_one():
    """Y went idle while queued behind X: its next packet starts a new record."""
    table = new_flow_table(16, idle_timeout_s=10)
    # Y Y X Z Y at 0, 2, 3, 10, 12.5 s
    pkts = make_packets([1, 1, 3, 5, 1], [2, 2, 4, 6, 2], [10, 10, 30, 50, 10],
                        [20, 20, 40, 60, 20])
    flows = run(table, pkts, [0, 2 * SEC, 3 * SEC, 10 * SEC, 12 * SEC + SEC // 2])
    y = flows[flows["client_port"] == 10]
    assert y["packets_c2s"].tolist() == [2, 1]
    assert [int(r) for r in y["end_reason"]] == [END_IDLE, END_EOF]
    assert y["last_ts"].tolist()[0] == 2 * SEC


def test_copy_rows_is_an_independent_exact_copy():

    rng = np.random.default_rng(7)
    out = np.zeros(40, FLOW_DTYPE)
    out.view(np.uint8)[:] = rng.integers(0, 256, out.nbytes, dtype=np.uint8)
    got = copy_rows(out[3:29])
    assert got.dtype == FLOW_DTYPE and len(got) == 26
    for name in FLOW_DTYPE.names:                 # every field, bit for bit
        assert got[name].tobytes() == out[3:29][name].tobytes()
    out[3:29] = np.zeros(26, FLOW_DTYPE)          # the engine reuses its buffer
    assert got["flow_id"].tobytes() != out[3:29]["flow_id"].tobytes()
    assert len(copy_rows(out[:0])) == 0


@pytest.mark.parametrize("index", [[], [0], [5, 2, 5, 39], list(range(40))[::-1]])
def test_take_rows_equals_fancy_indexing(index):
    rng = np.random.default_rng(11)
    rows = np.zeros(40, FLOW_DTYPE)
    rows.view(np.uint8)[:] = rng.integers(0, 256, rows.nbytes, dtype=np.uint8)
    got = take_rows(rows, index)
    assert got.dtype == FLOW_DTYPE
    assert got.tobytes() == rows[np.asarray(index, np.intp)].tobytes()
    strided = rows[::2]                             # not contiguous: still right
    inside = np.asarray([k for k in index if k < len(strided)], np.intp)
    assert take_rows(strided, inside).tobytes() == strided[inside].tobytes()
    assert copy_rows(strided).tobytes() == strided.copy().tobytes()
