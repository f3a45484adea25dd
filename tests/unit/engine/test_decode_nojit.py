"""Run the decode tests and fuzz properties again with NUMBA_DISABLE_JIT=1 (pure Python)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without JIT")
def test_decode_suite_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", MINEWATCH_FUZZ_EXAMPLES="25",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/fuzz/test_decode_fuzz.py", "tests/unit/engine/test_decode.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
