"""Streams: gzip/xz/zstd files and stdin pipes give the records of the plain file,
through a bounded buffer."""

import gzip
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import zstandard

from detector.capture import open_capture, record_walk_count
from tests.gen.capture_formats import (
    PcapWriter, compress, payload, read_capture, records_of, rich_pcapng, simple_pcap,
    without_offsets, write,
)

ROOT = Path(__file__).resolve().parents[3]
CAPTURES = {
    "pcap_le": lambda: simple_pcap(40),
    "pcap_be_nsec": lambda: simple_pcap(40, big=True, nsec=True),
    "pcapng_rich": rich_pcapng,
}


@pytest.mark.parametrize("kind", ["gzip", "xz", "zstd"])
@pytest.mark.parametrize("name", sorted(CAPTURES))
@pytest.mark.parametrize("buffer_bytes", [64, 1000, 16 << 20])
def test_compressed_equals_plain(tmp_path, name, kind, buffer_bytes):
    w = CAPTURES[name]()
    plain, _ = read_capture(write(tmp_path / "p", w.bytes()))
    path = write(tmp_path / "c", w.bytes(), kind)
    records, err = read_capture(path, stream_buffer_bytes=buffer_bytes, batch_records=5)
    assert err is None
    assert without_offsets(records) == without_offsets(plain) == without_offsets(w.expected)
    with open_capture(path) as source:
        assert source.compression == kind
        assert source.bytes_total == os.path.getsize(path)
        list(source.batches())
        assert source.bytes_done == os.path.getsize(path)
        assert source.records == len(w.expected)
    assert record_walk_count(path) == (len(w.expected), sum(r["caplen"] for r in w.expected))


def test_compression_is_detected_by_content_not_name(tmp_path):
    w = simple_pcap(3)
    path = write(tmp_path / "looks_plain.pcap", w.bytes(), "zstd")
    records, err = read_capture(path)
    assert err is None and without_offsets(records) == without_offsets(w.expected)


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz"])
def test_concatenated_members_and_frames(tmp_path, kind):
    w = simple_pcap(30)
    data = w.bytes()
    cut = len(data) // 3                     # cut through a record on purpose
    path = write(tmp_path / "cat", compress(data[:cut], kind) + compress(data[cut:], kind))
    records, err = read_capture(path, stream_buffer_bytes=128)
    assert err is None and without_offsets(records) == without_offsets(w.expected)


def test_record_bigger_than_buffer_grows_it(tmp_path):
    w = PcapWriter()
    w.record(1, 1, payload(1, 100)).record(2, 2, payload(2, 262144)).record(3, 3, payload(3, 9))
    path = write(tmp_path / "big.gz", w.bytes(), "gzip")
    records, err = read_capture(path, stream_buffer_bytes=64)
    assert err is None and without_offsets(records) == without_offsets(w.expected)


def test_stream_batches_reuse_one_bounded_buffer(tmp_path):
    w = simple_pcap(500)
    path = write(tmp_path / "s.zst", w.bytes(), "zstd")
    with open_capture(path, stream_buffer_bytes=4096) as source:
        sizes = {len(b.buf) for b in source.batches()}
    assert sizes == {4096}


def read_one_batch_late(path, **kw):
    """Records of `path`, each batch converted only after the next one is handed out
    (how the engine's detection thread reads them)."""
    records, held = [], None
    with open_capture(path, **kw) as source:
        for batch in source.batches():
            if held is not None:
                records.extend(records_of([held])[0])
            held = batch
        records.extend(records_of([held])[0])
    return records


@pytest.mark.parametrize("kind", [None, "gzip", "zstd"])
@pytest.mark.parametrize("name", sorted(CAPTURES))
@pytest.mark.parametrize("reuse", [False, True])
def test_two_batches_held_stay_valid(tmp_path, name, kind, reuse):
    """batches_held=2: a batch's records and bytes are intact until the batch after the
    next is asked for, with reused record arrays and a stream refilled every batch."""
    w = CAPTURES[name]()
    path = write(tmp_path / "c", w.bytes(), kind) if kind else write(tmp_path / "p", w.bytes())
    fresh, err = read_capture(path, batch_records=5)
    assert err is None
    late = read_one_batch_late(path, batch_records=5, stream_buffer_bytes=256,
                               reuse_arrays=reuse, batches_held=2)
    # a stream's offsets depend on its buffer size; what each record holds does not
    assert without_offsets(late) == without_offsets(fresh) and len(fresh) == len(w.expected)


def test_one_batch_held_is_overwritten_by_the_next():
    """The case batches_held=2 is for: with one, reading a batch late gives the
    records of the next one (reused arrays) or bytes a refill moved (streams)."""
    w = simple_pcap(40)
    with tempfile.TemporaryDirectory() as tmp:
        plain = write(Path(tmp) / "p", w.bytes())
        packed = write(Path(tmp) / "c", w.bytes(), "zstd")
        fresh, _ = read_capture(plain, batch_records=5)
        assert read_one_batch_late(plain, batch_records=5, reuse_arrays=True) != fresh
        late = read_one_batch_late(packed, batch_records=5, stream_buffer_bytes=256)
        assert without_offsets(late) != without_offsets(fresh)


# --- stdin ----------------------------------------------------------------------------
CHILD = r"""
import hashlib, json, resource, sys, time
from detector.capture import open_capture
buffer_bytes = int(sys.argv[1])
n, digest = 0, hashlib.sha256()
with open_capture("-", stream_buffer_bytes=buffer_bytes) as source:
    for batch in source.batches():
        for i in range(len(batch)):
            o, c = int(batch.offset[i]), int(batch.caplen[i])
            digest.update(bytes(batch.buf[o:o + c]))
            digest.update(int(batch.ts_ns[i]).to_bytes(8, "little", signed=True))
        n += len(batch)
        print(json.dumps({"batch": len(batch)}), flush=True)
    out = {"records": n, "sha": digest.hexdigest(), "format": source.format,
           "compression": source.compression, "bytes_total": source.bytes_total,
           "bytes_done": source.bytes_done}
print(json.dumps(out), flush=True)
"""


def expected_digest(expected):
    import hashlib
    digest = hashlib.sha256()
    for r in expected:
        digest.update(r["data"])
        digest.update(r["ts_ns"].to_bytes(8, "little", signed=True))
    return digest.hexdigest()


def start_child(tmp_path, buffer_bytes=1 << 20, script=CHILD):
    child = tmp_path / "child.py"
    child.write_text(script)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(child), str(buffer_bytes)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def read_line(proc, timeout_s):
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "child produced nothing in time"
    return json.loads(proc.stdout.readline())


@pytest.mark.parametrize("kind", [None, "gzip", "zstd", "xz"], ids=str)
def test_stdin_slow_pipe_yields_before_eof(tmp_path, kind):
    w = simple_pcap(200)
    data = w.bytes()
    first = w.expected[100]["offset"]           # records 0..99 complete, then a cut one
    proc = start_child(tmp_path)
    try:
        if kind is None:
            head, tail = data[:first], data[first:]
        else:                                   # two members / frames, flushed separately
            head, tail = compress(data[:first], kind), compress(data[first:], kind)
        for i in range(0, len(head), 997):      # dribble the first part
            proc.stdin.write(head[i:i + 997])
            proc.stdin.flush()
            time.sleep(0.001)
        line = read_line(proc, 60)              # a batch arrives while stdin is still open
        assert line["batch"] > 0
        proc.stdin.write(tail)
        proc.stdin.close()
        lines = [json.loads(x) for x in proc.stdout.read().splitlines()]
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()
    summary = lines[-1]
    assert summary["records"] == 200 and summary["sha"] == expected_digest(w.expected)
    assert (summary["format"], summary["compression"]) == ("pcap", kind)
    assert summary["bytes_total"] is None
    assert summary["bytes_done"] == len(head) + len(tail)


def test_stdin_pcapng_with_small_buffer(tmp_path):
    w = rich_pcapng()
    proc = start_child(tmp_path, buffer_bytes=64)
    out, err = proc.communicate(w.bytes(), timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["records"] == 9 and summary["sha"] == expected_digest(w.expected)


MEMORY_CHILD = r"""
import json, resource, sys
from detector.capture import open_capture
with open_capture(sys.argv[2]) as warm:        # compile and load the kernels first
    sum(len(b) for b in warm.batches())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = caplen = 0
with open_capture("-", stream_buffer_bytes=int(sys.argv[1])) as source:
    for batch in source.batches():
        n += len(batch)
        caplen += int(batch.caplen.sum())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"records": n, "caplen": caplen, "grew_kib": after - before}))
"""


@pytest.mark.slow
def test_50mb_stream_through_1mb_buffer_keeps_memory_flat(tmp_path):
    record = payload(7, 484)
    hdr = PcapWriter().bytes()
    one = struct.pack("<IIII", 1700000000, 5, len(record), len(record)) + record   # 500 bytes
    n = 100_000                                                                     # 50 MB
    warm = write(tmp_path / "warm.pcap", simple_pcap(3).bytes())
    child = tmp_path / "mem.py"
    child.write_text(MEMORY_CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(child), str(1 << 20), warm], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(hdr)
        block = one * 1000
        for _ in range(n // 1000):
            proc.stdin.write(block)
        proc.stdin.close()
        out = proc.stdout.read()
        assert proc.wait(120) == 0, proc.stderr.read()
    finally:
        proc.kill()
    result = json.loads(out)
    assert result["records"] == n and result["caplen"] == n * 484
    assert result["grew_kib"] < 16 * 1024       # 50 MB went through; RSS grew < 16 MiB


def test_gzip_file_through_small_buffer_counts_right(tmp_path):
    w = simple_pcap(2000)
    path = tmp_path / "x.pcap.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(w.bytes())
    with open_capture(str(path), stream_buffer_bytes=1024, batch_records=64) as source:
        firsts, total = [], 0
        for batch in source.batches():
            assert len(batch) <= 64
            firsts.append(batch.first_record)
            total += len(batch)
    assert total == 2000 and firsts[0] == 0 and firsts == sorted(firsts)


def test_zstd_decompressobj_api_present():
    assert hasattr(zstandard.ZstdDecompressor().decompressobj(), "eof")


@pytest.mark.parametrize("kind", [None, "zstd"])
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_reused_record_arrays_give_the_same_records(tmp_path, name, kind):
    """reuse_arrays (the engine's way) fills one set of record arrays batch after batch:
    read batch by batch, the records are those of fresh arrays."""
    w = CAPTURES[name]()
    path = write(tmp_path / "c", w.bytes(), kind) if kind else write(tmp_path / "p", w.bytes())
    fresh, err = read_capture(path, batch_records=5)
    reused, err_reused = read_capture(path, batch_records=5, reuse_arrays=True)
    assert err is None and err_reused is None
    assert reused == fresh and len(fresh) == len(w.expected)
    with open_capture(path, batch_records=5, reuse_arrays=True) as source:
        it = source.batches()
        first_offsets = next(it).offset
        assert np.shares_memory(first_offsets, next(it).offset)
