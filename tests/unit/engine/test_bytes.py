"""detector.engine.bytes_.copy_bytes against numpy slicing, compiled and (test below)
again with NUMBA_DISABLE_JIT=1, where its unsigned indices are numpy scalars."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine.bytes_ import copy_bytes

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


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without JIT")
def test_copy_bytes_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/unit/engine/test_bytes.py", "-k", "slice_assignment"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
