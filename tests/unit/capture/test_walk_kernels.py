"""The walker kernels alone, compiled and as plain Python (`.py_func`), against
Python big-integer references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.capture.pcap_walk import new_pcap_state, pcap_count, pcap_walk
from detector.capture.pcapng_walk import new_ifaces, new_pcapng_state, pcapng_walk
from detector.capture.walk_common import (
    WALK_NEED_MORE, WALK_OK, divmod_u64, rd64s, units_to_ns,
)
from detector.capture.walkers import new_record_arrays
from tests.gen.capture_formats import rich_pcapng, saturate_ns, simple_pcap, tsresol_denominator


def both(fn):
    """The compiled kernel and its Python original (the same object with NUMBA_DISABLE_JIT=1)."""
    return [fn, getattr(fn, "py_func", fn)]


MODES = ["jit", "python"]
U32 = st.integers(0, 2**32 - 1)
TSRESOL = st.one_of(st.integers(0, 19), st.integers(0, 63).map(lambda k: 0x80 | k))
TSOFFSET = st.integers(-(2**40), 2**40)


def reference_ns(hi, lo, tsresol, tsoffset):
    units = (hi << 32) | lo
    return saturate_ns(units * 10**9 // tsresol_denominator(tsresol) + tsoffset * 10**9)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=400, deadline=None)
@given(hi=U32, lo=U32, tsresol=TSRESOL, tsoffset=TSOFFSET)
def test_units_to_ns_is_exact(mode, hi, lo, tsresol, tsoffset):
    fn = both(units_to_ns)[MODES.index(mode)]
    got = fn(np.int64(hi), np.int64(lo), np.int64(tsresol), np.int64(tsoffset))
    assert int(got) == reference_ns(hi, lo, tsresol, tsoffset)


@pytest.mark.parametrize("hi, lo, tsresol, tsoffset", [
    (0, 0, 6, 0), (2**32 - 1, 2**32 - 1, 0, 0), (2**32 - 1, 2**32 - 1, 0, -(2**40)),
    (2**32 - 1, 2**32 - 1, 19, 0), (2**32 - 1, 2**32 - 1, 0x80 | 63, 0),
    (2**32 - 1, 2**32 - 1, 0x80, 0), (2**31, 0, 0x80 | 1, -(2**40)),
    (374741, 2953670480, 6, 0), (0, 999_999, 6, 9223372035), (2, 636_854_775, 9, 7),
])
def test_units_to_ns_edges(hi, lo, tsresol, tsoffset):
    for fn in both(units_to_ns):
        assert int(fn(np.int64(hi), np.int64(lo), np.int64(tsresol), np.int64(tsoffset))) == \
            reference_ns(hi, lo, tsresol, tsoffset)


@settings(max_examples=300, deadline=None)
@given(hi=U32, lo=U32, d=st.integers(1, 2**46 - 1))
def test_divmod_u64(hi, lo, d):
    q, r = divmod((hi << 32) | lo, d)
    for fn in both(divmod_u64):
        q_hi, q_lo, rr = fn(np.int64(hi), np.int64(lo), np.int64(d))
        assert ((int(q_hi) << 32) | int(q_lo), int(rr)) == (q, r)


@settings(deadline=None)
@given(v=st.integers(-(2**63), 2**63 - 1), big=st.booleans())
def test_rd64s(v, big):
    buf = np.frombuffer(v.to_bytes(8, "big" if big else "little", signed=True), np.uint8)
    for fn in both(rd64s):
        assert int(fn(buf, 0, int(big))) == v


def walk_pcap_prefix(fn, data, end, m=1000):
    buf = np.frombuffer(data, np.uint8)
    arrays = new_record_arrays(m)
    n, pos, status, reason = fn(buf, 24, end, new_pcap_state(0, 16, 0, 1), *arrays)
    return n, pos, status, arrays


@pytest.mark.parametrize("mode", MODES)
def test_pcap_walk_every_prefix(mode):
    w = simple_pcap(6)
    data = w.bytes()
    fn = both(pcap_walk)[MODES.index(mode)]
    starts = [r["offset"] - 16 for r in w.expected] + [len(data)]
    for end in range(24, len(data) + 1):
        n, pos, status, arrays = walk_pcap_prefix(fn, data, end)
        complete = sum(1 for r in w.expected if r["offset"] + r["caplen"] <= end)
        assert n == complete and pos == starts[complete]
        assert status == (WALK_OK if end == pos else WALK_NEED_MORE)
        assert list(arrays[0][:n]) == [r["offset"] for r in w.expected[:n]]


@pytest.mark.parametrize("mode", MODES)
def test_pcap_walk_stops_when_output_full(mode):
    w = simple_pcap(6)
    fn = both(pcap_walk)[MODES.index(mode)]
    n, pos, status, _ = walk_pcap_prefix(fn, w.bytes(), len(w.bytes()), m=4)
    assert (n, pos, status) == (4, w.expected[4]["offset"] - 16, WALK_OK)


def test_pcap_count_matches_walk():
    w = simple_pcap(9)
    buf = np.frombuffer(w.bytes(), np.uint8)
    for fn in both(pcap_count):
        n, total, pos, status, _ = fn(buf, 24, len(buf), new_pcap_state(0, 16, 0, 1))
        assert (n, total, pos, status) == (9, sum(r["caplen"] for r in w.expected), len(buf),
                                           WALK_OK)


@pytest.mark.parametrize("mode", MODES)
def test_pcapng_walk_every_prefix(mode):
    w = rich_pcapng()
    data = w.bytes()
    fn = both(pcapng_walk)[MODES.index(mode)]
    for end in range(0, len(data) + 1, 4):
        buf = np.frombuffer(data, np.uint8)
        arrays = new_record_arrays(64)
        n, pos, status, _ = fn(buf, 0, end, new_pcapng_state(), new_ifaces(4), *arrays)
        assert status in (WALK_OK, WALK_NEED_MORE)
        assert n == sum(1 for r in w.expected if r["offset"] + r["caplen"] <= pos)
        assert list(arrays[3][:n]) == [r["ts_ns"] for r in w.expected[:n]]
        assert pos <= end
