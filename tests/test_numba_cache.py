"""The numba cache works: a second run loads every kernel and compiles nothing, and a
scan loads them before its clock starts."""

import gzip
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
    gz.write_bytes(gzip.compress(CAPTURE.read_bytes()))
    run_with_cache_debug(CAPTURE)
    run_with_cache_debug(gz)
    for path in (CAPTURE, gz):
        log = run_with_cache_debug(path)
        assert "data loaded" in log
        assert "data saved" not in log, [x for x in log.splitlines() if "saved" in x]


# run as a script: `minewatch scan`, with a line printed where the engine's clock for
# a capture starts and one where it stops (pipeline.iter_capture_flows reads it twice)
MARK_TIMED = """
import runpy, sys, time
import detector.pipeline

class MarkedClock:
    timing = False
    def perf_counter(self):
        self.timing = not self.timing
        print("-- timed --" if self.timing else "-- untimed --", flush=True)
        return time.perf_counter()

detector.pipeline.time = MarkedClock()
sys.argv = ["cli.py", *sys.argv[1:]]
runpy.run_path("cli.py", run_name="__main__")
"""


def test_scan_loads_its_kernels_before_timing(tmp_path):
    """No kernel is loaded (or compiled) while packets are timed: a followed mining flow
    (hand-over hashes its job ids), a DNS answer nobody wants (its question joins the
    engine's skip set) and a compressed capture (its walker reads a stream buffer)
    take kernels of their own."""
    from tests.gen.timeline import T0_NS, Timeline
    tl = Timeline()
    tl.dns(T0_NS, "10.0.0.2", "10.0.0.53", "www.example.org", ["93.184.216.34"], qid=7)
    dns = tmp_path / "dns.pcap.gz"
    dns.write_bytes(gzip.compress(tl.write(tmp_path / "dns.pcap").read_bytes()))
    mining = REPO / "pcaps" / "peafowl" / "stratum.pcap"
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1", PYTHONPATH=str(REPO))
    env.pop("NUMBA_DISABLE_JIT", None)
    args = [sys.executable, "-c", MARK_TIMED, "scan", "--threads", "1", "-o", os.devnull,
            str(mining), str(dns)]
    for _ in range(2):          # the first run may compile (a fresh cache)
        r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=600)
        assert r.returncode == 1, r.stderr          # mining found
    timed, loads, loads_timed = False, 0, []
    for line in r.stdout.splitlines():
        if line in ("-- timed --", "-- untimed --"):
            timed = line == "-- timed --"
        elif line.startswith("[cache]"):
            loads += 1
            if timed:
                loads_timed.append(line)
    assert r.stdout.count("-- untimed --") == 2 and loads > 0
    assert loads_timed == []
