"""The inspection kernel (head slots, placement, automaton, events) and the followed flows'
line kernel in pure Python: the generated mining captures through `scan`, the automaton
layout, the head-slot tests and the followed-flow tests again with NUMBA_DISABLE_JIT=1,
where unsigned indices, flat head views, uint8 arithmetic and inlined helpers run as
numpy code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without JIT")
def test_scan_suite_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_scan_generated.py", "tests/unit/test_automaton.py",
         "tests/unit/engine/test_inspect_slots.py", "tests/unit/protocols/test_followed.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]
