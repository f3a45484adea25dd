"""detector.engine.bytes_: copy_bytes against numpy slicing, compiled and (test below)
again with NUMBA_DISABLE_JIT=1, where its unsigned indices are numpy scalars; the
integer readers against struct."""

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine.bytes_ import be16, be32, be64, copy_bytes, le16, le32

ROOT = Path(__file__).resolve().parents[3]


@settings(max_examples=200, deadline=None)
@given(src=st.binary(max_size=300), data=st.data())
def test_copy_bytes_is_a_slice_assignment(src, data):
    dst_len = data.draw(st.integers(0, 300))
    n = data.draw(st.integers(-3, min(len(src), dst_len)))
    src_at = data.draw(st.integers(0, len(src) - max(n, 0)))
    at = data.draw(st.integers(0, dst_len - max(n, 0)))
    s = np.frombuffer(src, np.uint8)
    dst = np.arange(dst_len, dtype=np.uint8)
    want = dst.copy()
    if n > 0:
        want[at:at + n] = s[src_at:src_at + n]
    copy_bytes(dst, at, s, src_at, n)
    assert np.array_equal(dst, want)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=8, max_size=40), at=st.integers(0, 32))
def test_readers_are_struct_unpacks(data, at):
    at = min(at, len(data) - 8)
    buf = np.frombuffer(data, np.uint8)
    for read, fmt in ((be16, ">H"), (be32, ">I"), (be64, ">Q"), (le16, "<H"), (le32, "<I")):
        assert int(read(buf, at)) == struct.unpack_from(fmt, data, at)[0], fmt


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without JIT")
def test_copy_bytes_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/unit/engine/test_bytes.py", "-k", "slice_assignment or readers"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
