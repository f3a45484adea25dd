"""Any bytes in, only CaptureError out; no record ever points outside its buffer.

Random bytes, and random truncations and bit flips of generated valid captures, go
through open_capture (mmap and stream paths) and through the walker kernels both
compiled and as plain Python (`.py_func`, what NUMBA_DISABLE_JIT=1 runs).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]

from detector.capture import open_capture
from detector.capture.pcap_walk import new_pcap_state, pcap_count, pcap_walk
from detector.capture.pcapng_walk import (
    new_ifaces, new_pcapng_state, pcapng_count, pcapng_walk,
)
from detector.capture.walk_common import (
    REASON_TEXT, WALK_CORRUPT, WALK_IFACE_FULL, WALK_NEED_MORE, WALK_OK,
)
from detector.capture.walkers import new_record_arrays
from detector.errors import CaptureError
from tests.gen.capture_formats import compress, rich_pcapng, simple_pcap

SEEDS = {
    "pcap": simple_pcap(6).bytes(),
    "pcap_be_nsec": simple_pcap(4, big=True, nsec=True).bytes(),
    "pcap_modified": simple_pcap(3, modified=True).bytes(),
    "pcapng": rich_pcapng().bytes(),
}
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
STATUSES = (WALK_OK, WALK_NEED_MORE, WALK_CORRUPT, WALK_IFACE_FULL)


def check_file(path, **kw):
    """Read `path` to the end; only CaptureError may escape; check every batch's bounds."""
    records = 0
    try:
        with open_capture(path, **kw) as source:
            for batch in source.batches():
                n = len(batch)
                assert batch.first_record == records
                assert np.all(batch.offset >= 0)
                assert np.all(batch.offset + batch.caplen.astype(np.int64) <= len(batch.buf))
                assert np.all(batch.wirelen >= batch.caplen)
                assert len(batch.caplen) == len(batch.ts_ns) == len(batch.linktype) == n
                records += n
            assert source.records == records
    except CaptureError as exc:
        assert exc.record_index is None or exc.record_index == records
        assert exc.byte_offset is None or exc.byte_offset >= 0


@st.composite
def damaged(draw):
    """A generated capture, cut at a random point and with a few random bit flips."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(data[:draw(st.integers(0, len(data)))])


@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes(tmp_path, data):
    path = tmp_path / "r.bin"
    path.write_bytes(data)
    check_file(str(path))


@FUZZ
@given(data=st.binary(max_size=256), magic=st.sampled_from(
    [b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x34\xcd\xb2\xa1", b"\x0a\x0d\x0d\x0a"]))
def test_random_bytes_behind_a_valid_magic(tmp_path, data, magic):
    path = tmp_path / "m.bin"
    path.write_bytes(magic + data)
    check_file(str(path))


@FUZZ
@given(data=damaged(), batch_records=st.integers(1, 5))
def test_damaged_captures_mmap(tmp_path, data, batch_records):
    path = tmp_path / "d.bin"
    path.write_bytes(data)
    check_file(str(path), batch_records=batch_records)


@FUZZ
@given(data=damaged(), buffer_bytes=st.integers(1, 300),
       kind=st.sampled_from(["gzip", "zstd"]), cut_compressed=st.booleans())
def test_damaged_captures_stream(tmp_path, data, buffer_bytes, kind, cut_compressed):
    packed = compress(data, kind)
    if cut_compressed:
        packed = packed[:len(packed) * 3 // 4]
    path = tmp_path / "d.bin"
    path.write_bytes(packed)
    check_file(str(path), stream_buffer_bytes=buffer_bytes)


def run_kernels(buf, jit):
    """Run every walker on buf[start:] as compiled or plain Python; return the outputs."""
    pick = (lambda f: f) if jit else (lambda f: getattr(f, "py_func", f))
    out = []
    end = len(buf)
    arrays = new_record_arrays(32)
    res = pick(pcap_walk)(buf, min(24, end), end, new_pcap_state(0, 16, 0, 1), *arrays)
    out.append((tuple(int(x) for x in res), [a[:res[0]].tolist() for a in arrays]))
    out.append(tuple(int(x) for x in pick(pcap_count)(buf, min(24, end), end,
                                                       new_pcap_state(1, 24, 1, 1))))
    arrays = new_record_arrays(32)
    state, ifaces = new_pcapng_state(), new_ifaces(2)
    res = pick(pcapng_walk)(buf, 0, end, state, ifaces, *arrays)
    out.append((tuple(int(x) for x in res), [a[:res[0]].tolist() for a in arrays],
                state.tolist()))
    out.append(tuple(int(x) for x in pick(pcapng_count)(buf, 0, end, new_pcapng_state())))
    return out


def check_walk_result(res, buf_len):
    (n, pos, status, reason), arrays = res[0], res[1]
    assert 0 <= n <= 32 and status in STATUSES and 0 <= reason < len(REASON_TEXT)
    assert pos <= buf_len
    offsets, caplens = arrays[0], arrays[1]
    assert all(0 <= o and o + c <= pos for o, c in zip(offsets, caplens))


@FUZZ
@given(data=st.one_of(st.binary(max_size=400), damaged()))
def test_kernels_jit_and_python_agree(data):
    buf = np.frombuffer(data, np.uint8)
    jit, py = run_kernels(buf, True), run_kernels(buf, False)
    assert jit == py
    check_walk_result(jit[0], len(buf))
    check_walk_result(jit[2], len(buf))


@pytest.mark.slow
def test_capture_tests_pass_with_jit_disabled():
    """The reader's unit tests, run again with NUMBA_DISABLE_JIT=1 in a child pytest."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    tests = ROOT / "tests" / "unit" / "capture"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         str(tests / "test_formats.py"), str(tests / "test_damage.py"),
         str(tests / "test_walk_kernels.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
