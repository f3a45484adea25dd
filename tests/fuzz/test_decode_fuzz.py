"""Hypothesis: any bytes under any link type -> a known status, bounded spans, no raise.

Runs compiled and through the pure-Python functions (`py_func`); the whole
module also runs under NUMBA_DISABLE_JIT=1 from tests/unit/engine/test_decode_nojit.py.
MINEWATCH_FUZZ_EXAMPLES sets the example count (default 300).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.engine import dtypes as dt
from detector.engine.decode import decode_batch, decode_record
from detector.engine.decode_ip import decode_ipv4, decode_ipv6, decode_l4
from detector.engine.decode_link import decode_link
from detector.engine.decode_tunnel import decode_gre, decode_gtpu, decode_teredo, decode_vxlan
from tests.gen.batch import decode_frames
from tests.gen.packets import all_cases

EXAMPLES = int(os.environ.get("MINEWATCH_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KNOWN = set(range(len(dt.DECODE_REASONS)))
LINKTYPES = sorted(dt.SUPPORTED_LINKTYPES) + [2, 147, 65535]
CASES = all_cases()


def py(fn):
    """The pure-Python body of a kernel (the function itself when JIT is disabled)."""
    return getattr(fn, "py_func", fn)


def decode_batch_record_py(buf, offset, caplen, linktype, pkts):
    """decode_batch's loop around decode_record.py_func (helpers stay compiled)."""
    for i in range(len(offset)):
        start = int(offset[i])
        py(decode_record)(buf, start, start + int(caplen[i]), int(linktype[i]), pkts[i])


DECODERS = {"jit": decode_batch, "batch_py_func": py(decode_batch), "record_py_func": decode_batch_record_py}


def check_row(pkt, start, end):
    """The invariants every decoded row holds."""
    status = int(pkt["status"])
    assert status in KNOWN
    values = pkt.tolist()
    if status != dt.DECODE_OK:
        assert all(v == 0 for v in values[1:])
        return
    off, cap, wire = int(pkt["payload_offset"]), int(pkt["payload_caplen"]), int(pkt["payload_len"])
    assert start <= off and off + cap <= end
    assert 0 <= cap <= wire
    assert pkt["ip_version"] in (4, 6)
    assert pkt["frag"] in (dt.FRAG_NONE, dt.FRAG_FIRST, dt.FRAG_LATER)
    assert int(pkt["tunnel"]) < (1 << len(dt.TUNNEL_NAMES))
    if pkt["frag"] == dt.FRAG_LATER or pkt["proto"] not in (6, 17, 132, 136):
        assert pkt["sport"] == 0 and pkt["dport"] == 0
    if pkt["ip_version"] == 4:
        assert pkt["src_hi"] == 0 and pkt["src_lo"] >> 32 == 0xFFFF


def run(decoder, records):
    """Decode (linktype, bytes) records with one decoder and check every row."""
    buf, offset, pkts = decode_frames(records, DECODERS[decoder])
    for (_, frame), start, pkt in zip(records, offset, pkts):
        check_row(pkt, int(start), int(start) + len(frame))
    return pkts


@pytest.mark.parametrize("decoder", DECODERS)
@FUZZ
@given(linktype=st.sampled_from(LINKTYPES), data=st.binary(max_size=200))
def test_random_bytes_any_linktype(decoder, linktype, data):
    run(decoder, [(linktype, data)])


@st.composite
def mutated_frames(draw):
    """A generated frame with a few bytes changed and maybe cut short."""
    case = draw(st.sampled_from(CASES))
    frame = bytearray(case.frame)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(frame) - 1))
        frame[pos] = draw(st.sampled_from([frame[pos] ^ (1 << draw(st.integers(0, 7))), 0, 0xFF,
                                           draw(st.integers(0, 255))]))
    cut = draw(st.integers(0, len(frame)))
    return case.linktype, bytes(frame[:cut])


@pytest.mark.parametrize("decoder", DECODERS)
@FUZZ
@given(records=st.lists(mutated_frames(), min_size=1, max_size=4))
def test_mutated_generated_frames(decoder, records):
    run(decoder, records)


@FUZZ
@given(records=st.lists(mutated_frames(), min_size=1, max_size=3))
def test_compiled_and_python_agree(records):
    a = run("jit", records)
    b = run("batch_py_func", records)
    assert a.tolist() == b.tolist()


def as_buf(data):
    """bytes -> a contiguous uint8 buffer with 2 trailing bytes outside `end`."""
    return np.frombuffer(bytes(data) + b"\x45\x60", np.uint8).copy()


@pytest.mark.parametrize("fn", [decode_ipv4, py(decode_ipv4), decode_ipv6, py(decode_ipv6)])
@FUZZ
@given(data=st.binary(max_size=120), skip=st.integers(0, 8))
def test_ip_helpers(fn, data, skip):
    buf = as_buf(data)
    row = np.zeros(1, dt.PACKET_DTYPE)[0]
    status, _, l4_off, l4_end, l4_len = fn(buf, skip, len(data), row)
    assert status in KNOWN
    if status == dt.DECODE_OK:
        assert skip + 20 <= l4_off <= l4_end <= len(data)
        assert l4_len >= 0


@pytest.mark.parametrize("fn", [decode_l4, py(decode_l4)])
@FUZZ
@given(data=st.binary(max_size=80), proto=st.sampled_from([1, 6, 17, 47, 132, 136]),
       wire_extra=st.integers(-10, 40), frag=st.sampled_from([0, 1, 2]))
def test_l4_helper(fn, data, proto, wire_extra, frag):
    buf = as_buf(data)
    row = np.zeros(1, dt.PACKET_DTYPE)[0]
    wire = max(0, len(data) + wire_extra)
    status = fn(buf, 0, min(len(data), wire), wire, proto, frag, row)
    assert status in KNOWN
    if status == dt.DECODE_OK:
        assert 0 <= row["payload_caplen"] <= row["payload_len"]
        assert row["payload_offset"] + row["payload_caplen"] <= len(data)


@pytest.mark.parametrize("fn", [decode_gre, py(decode_gre), decode_vxlan, py(decode_vxlan),
                                decode_gtpu, py(decode_gtpu), decode_teredo, py(decode_teredo)])
@FUZZ
@given(data=st.binary(max_size=100), wire_extra=st.integers(-10, 40))
def test_tunnel_helpers(fn, data, wire_extra):
    buf = as_buf(data)
    status, bits, nxt, off, end = fn(buf, 0, len(data), max(0, len(data) + wire_extra))
    assert status in KNOWN
    if status == dt.DECODE_OK and bits:
        assert 0 <= off <= end <= len(data)
        assert nxt in (1, 2, 3)


@pytest.mark.parametrize("fn", [decode_link, py(decode_link)])
@FUZZ
@given(data=st.binary(max_size=80), linktype=st.sampled_from(LINKTYPES))
def test_link_helper(fn, data, linktype):
    status, nxt, off = fn(as_buf(data), 0, len(data), linktype)
    assert status in KNOWN
    if status == dt.DECODE_OK:
        assert 0 <= off <= len(data) and nxt in (2, 3)
