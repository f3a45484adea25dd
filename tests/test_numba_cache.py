"""The numba cache works: a second run loads every kernel and compiles nothing."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAPTURE = REPO / "pcaps" / "zeek-negatives" / "mqtt.pcap"


def run_with_cache_debug(path):
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    r = subprocess.run([sys.executable, str(REPO / "cli.py"), "flows", "-q", "-o", os.devnull,
                        str(path)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def test_second_run_compiles_nothing(tmp_path):
    gz = tmp_path / "c.pcap.gz"   # a stream source too, so every reader path is covered
    import gzip
    gz.write_bytes(gzip.compress(CAPTURE.read_bytes()))
    run_with_cache_debug(CAPTURE)
    run_with_cache_debug(gz)
    for path in (CAPTURE, gz):
        log = run_with_cache_debug(path)
        assert "data loaded" in log
        assert "data saved" not in log, [x for x in log.splitlines() if "saved" in x]
