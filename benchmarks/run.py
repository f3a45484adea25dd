#!/usr/bin/env python3
"""Side-by-side throughput of Minewatch and reference tools on one capture.

    python benchmarks/run.py benchmarks/out/bench.pcap [--skip nfstream,...] [--json out.json]

Runs, one after another on the same classic-pcap file and pinned to one core
(os.sched_setaffinity in-process, ``taskset -c CORE`` for subprocesses):

  record walk      numba loop over the record headers of the mmap'ed file,
                   summing caplen: the floor any pcap engine in Python reaches
                   (detector.capture.record_walk_count when importable)
  minewatch flows  ``minewatch flows FILE --format jsonl -o /dev/null
                   --stats-json STATS``; a first run on an empty numba cache
                   gives the cold-compile time, the second (warm) run is timed
                   with the processing time from its stats JSON
  minewatch scan   the same for ``minewatch scan --threads 1`` (one core)
  minewatch scan, 2 threads
                   ``minewatch scan --threads 2`` on two cores (``taskset -c
                   CORE,CORE+1``): the flow table folds the next batch in a
                   second thread while detection inspects this one; the other
                   tools keep one core each
  dpkt             dpkt.pcap.Reader + Ethernet -> IP/IP6 -> TCP/UDP, ports
                   into a dict of 5-tuples
  NFStream         NFStreamer(statistical_analysis=False, n_meters=1), all
                   flows iterated (nDPI dissection with default settings)
  ndpiReader       ``ndpiReader -i FILE -n 1``; wall time minus its start-up
                   (measured on a 10-packet capture), plus its own reported
                   processing time
  paired rounds    ``--rounds`` rounds (default 5) of one warm minewatch flows,
                   minewatch scan (one thread, then two) and ndpiReader run
                   each, back to back in an
                   order that turns every round: the medians of the ratios
                   within a round judge the scan targets (steps minutes apart
                   can meet a machine whose speed changed in between)

and prints packets/s, MB/s and ratios to ndpiReader and to the record walk,
then the issue's targets.  A missing tool is reported and skipped.  Exit
status is 0 (this is a report, not a test) unless the input file is missing
(2).  Other engineers' jobs on the machine make figures noisy: compare runs
made back to back.
"""
from __future__ import annotations

import argparse
import json
import mmap
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("walk", "flows", "scan", "scan2", "dpkt", "nfstream", "ndpi")
ALIASES = {
    "record-walk": ("walk",), "recordwalk": ("walk",), "record_walk": ("walk",),
    "minewatch": ("flows", "scan", "scan2"), "minewatch-flows": ("flows",),
    "minewatch-scan": ("scan", "scan2"),
    "ndpireader": ("ndpi",), "ndpiReader": ("ndpi",),
}
TARGET_X_NDPI = 10.0
TARGET_PCT_WALK = 40.0
TARGET_STARTUP_S = 1.5
TARGET_SCAN_OVER_FLOWS = 0.25      # issue 4: detection costs at most 25% over flows
TARGET_SCAN_X_NDPI = 8.0

# what each minewatch step runs: (table name, subcommand, extra arguments, cores)
MINEWATCH_STEPS = {
    "flows": ("minewatch flows", "flows", (), 1),
    "scan": ("minewatch scan", "scan", ("--threads", "1"), 1),
    "scan2": ("minewatch scan, 2 threads", "scan", ("--threads", "2"), 2),
}
SCAN_STEP_OF_THREADS = {1: "scan", 2: "scan2"}    # judged apart, keys named after the step


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------
# pcap helpers
# ---------------------------------------------------------------------------

def pcap_header(path: Path):
    """Return (big_endian, nano, linktype) of a classic pcap, or raise ValueError."""
    with open(path, "rb") as f:
        hdr = f.read(24)
    if len(hdr) < 24:
        raise ValueError("shorter than a pcap header")
    magic = struct.unpack("<I", hdr[:4])[0]
    table = {0xA1B2C3D4: (False, False), 0xA1B23C4D: (False, True),
             0xD4C3B2A1: (True, False), 0x4D3CB2A1: (True, True)}
    if magic not in table:
        raise ValueError(f"not a classic pcap (magic {magic:#010x}; pcapng is not supported here)")
    be, nano = table[magic]
    linktype = struct.unpack(">I" if be else "<I", hdr[20:24])[0] & 0x0FFFFFFF
    return be, nano, linktype


def write_head(path: Path, out: Path, n: int) -> None:
    """Copy the file header and the first n records of a classic pcap."""
    be, _, _ = pcap_header(path)
    with open(path, "rb") as f, open(out, "wb") as o:
        o.write(f.read(24))
        for _ in range(n):
            h = f.read(16)
            if len(h) < 16:
                break
            caplen = struct.unpack(">I" if be else "<I", h[8:12])[0]
            o.write(h + f.read(caplen))


def warm_page_cache(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass
    return time.perf_counter() - t


def pin(core: int) -> bool:
    try:
        os.sched_setaffinity(0, {core})
        return True
    except (AttributeError, OSError):
        return False


def taskset(core: int, n: int = 1):
    """The prefix that pins a command to `n` cores from `core` on (wrapping around)."""
    cores = sorted({(core + k) % (os.cpu_count() or 1) for k in range(n)})
    return ["taskset", "-c", ",".join(map(str, cores))] if shutil.which("taskset") else []


# ---------------------------------------------------------------------------
# record walk
# ---------------------------------------------------------------------------

_walk_fn = None


def _local_walk():
    global _walk_fn
    if _walk_fn is None:
        import numba
        import numpy as np

        @numba.njit(nogil=True, cache=False)
        def walk(buf, off, big_endian):
            n = buf.shape[0]
            count = 0
            total = 0
            while off + 16 <= n:
                if big_endian:
                    caplen = ((np.int64(buf[off + 8]) << 24) | (np.int64(buf[off + 9]) << 16)
                              | (np.int64(buf[off + 10]) << 8) | np.int64(buf[off + 11]))
                else:
                    caplen = (np.int64(buf[off + 8]) | (np.int64(buf[off + 9]) << 8)
                              | (np.int64(buf[off + 10]) << 16) | (np.int64(buf[off + 11]) << 24))
                nxt = off + 16 + caplen
                if nxt > n:
                    break
                count += 1
                total += caplen
                off = nxt
            return count, total

        _walk_fn = walk
    return _walk_fn


def step_header_walk(path: Path, repeat: int):
    """The record walk of this script, touching record headers only (no streaming
    ahead): one dependent memory miss per record, the floor the issue's figure
    (~7.5M packets/s) describes. Since the walkers stream the file into the cache,
    the project's walk is far faster; both are reported."""
    import numpy as np

    be, _, _ = pcap_header(path)
    fn = _local_walk()
    fn(np.zeros(40, dtype=np.uint8), 24, be)
    times = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = np.frombuffer(mm, dtype=np.uint8)
        for _ in range(repeat):
            t = time.perf_counter()
            count, total = fn(buf, 24, be)
            times.append(time.perf_counter() - t)
        del buf
    return {"packets": int(count), "bytes": int(total), "seconds": statistics.median(times),
            "note": f"headers only, no streaming ahead; median of {repeat}"}


def step_walk(path: Path, repeat: int):
    import numpy as np

    be, _, _ = pcap_header(path)
    impl = "local numba walk"
    project_fn = None
    try:
        sys.path.insert(0, str(ROOT))
        from detector.capture import record_walk_count as project_fn  # type: ignore
        impl = "detector.capture.record_walk_count"
    except Exception:  # noqa: BLE001 -- not there yet, or broken: use ours
        project_fn = None
    finally:
        if sys.path and sys.path[0] == str(ROOT):
            sys.path.pop(0)

    t_c = time.perf_counter()
    if project_fn is not None:
        project_fn(str(path))  # compile / load cache, warm
    else:
        fn = _local_walk()
        fn(np.zeros(40, dtype=np.uint8), 24, be)  # compile before timing
    compile_s = time.perf_counter() - t_c

    times, count, total = [], None, None
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = np.frombuffer(mm, dtype=np.uint8)
        for _ in range(repeat):
            if project_fn is not None:
                t = time.perf_counter()
                res = project_fn(str(path))
                times.append(time.perf_counter() - t)
                if isinstance(res, tuple):
                    count = int(res[0])
                    total = int(res[1]) if len(res) > 1 else None
                else:
                    count = int(res)
            else:
                t = time.perf_counter()
                count, total = fn(buf, 24, be)
                times.append(time.perf_counter() - t)
        del buf
    if total is None:  # project function returns only the count: get bytes with ours
        fn = _local_walk()
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            buf = np.frombuffer(mm, dtype=np.uint8)
            fn(np.zeros(40, dtype=np.uint8), 24, be)
            _, total = fn(buf, 24, be)
            del buf
    return {
        "packets": int(count), "bytes": int(total), "seconds": statistics.median(times),
        "runs_s": times, "impl": impl, "compile_s": compile_s,
        "note": f"{impl}, median of {repeat}",
    }


# ---------------------------------------------------------------------------
# minewatch (subprocess)
# ---------------------------------------------------------------------------

def minewatch_cmd():
    """The command that runs minewatch: console script, else cli.py from the repo root."""
    cands = [Path(sys.executable).parent / "minewatch"]
    w = shutil.which("minewatch")
    if w:
        cands.append(Path(w))
    for c in cands:
        if c.is_file() and os.access(c, os.X_OK):
            return [str(c)], "minewatch"
    cli = ROOT / "cli.py"
    if cli.is_file():
        return [sys.executable, str(cli)], f"{Path(sys.executable).name} cli.py"
    return None, None


def run_timed(cmd, env=None, timeout=None, cwd=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, errors="replace", timeout=timeout)
    return time.perf_counter() - t, p


def tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def subcommand_available(base, sub, env) -> bool:
    try:
        _, p = run_timed(base + [sub, "--help"], env=env, timeout=120, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


class RunFailed(Exception):
    """A measured command failed; the message says how."""


def minewatch_once(base, step: str, path: Path, core: int, env, timeout: float,
                   stats_path: Path):
    """One run of minewatch step `step` (MINEWATCH_STEPS) on `path`: (wall seconds, its
    --stats-json, {} if unusable)."""
    _name, sub, extra, cores = MINEWATCH_STEPS[step]
    cmd = taskset(core, cores) + base + [sub, *extra, str(path), "--format", "jsonl", "-o",
                                         os.devnull, "--stats-json", str(stats_path)]
    try:
        wall, p = run_timed(cmd, env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"timed out after {timeout:.0f} s") from None
    ok_codes = (0, 1) if sub == "scan" else (0,)   # scan exits 1 when it finds mining
    if p.returncode not in ok_codes:
        raise RunFailed(f"exit {p.returncode}: {tail(p.stderr)}")
    try:
        return wall, json.loads(stats_path.read_text())
    except (OSError, ValueError) as e:
        log(f"minewatch {sub}: no usable --stats-json ({e.__class__.__name__}); using wall time")
        return wall, {}


def step_minewatch(step: str, path: Path, core: int, env, timeout: float, want_cold: bool,
                   repeat: int = 3):
    """Cold (first) run, then `repeat` warm runs of minewatch step `step`, of which the
    one with the median elapsed time is reported; returns a result dict or None."""
    base, label = minewatch_cmd()
    name, sub = MINEWATCH_STEPS[step][:2]
    if base is None or not subcommand_available(base, sub, env):
        log(f"{name}: not available")
        return None
    res = {"command": label}
    with tempfile.TemporaryDirectory(prefix="mw-bench-") as td:
        runs = []
        for i in range(repeat + 1 if want_cold else repeat):
            try:
                runs.append(minewatch_once(base, step, path, core, env, timeout,
                                           Path(td) / f"stats{i}.json"))
            except RunFailed as e:
                log(f"{name}: {e}")
                return {"error": str(e)}
        if want_cold:
            res["cold_wall_s"] = runs[0][0]
            res["cold_stats"] = runs[0][1]
            if min(wall for wall, _ in runs[1:]) > 0.8 * runs[0][0]:
                res["warning"] = ("the warm run was not faster than the cold one: the numba cache "
                                  "was not reused (sources edited during the run?)")
                log(f"{name}: warning: {res['warning']}")
            runs = runs[1:]
        runs.sort(key=lambda run: run[1].get("elapsed_s") or run[0])
        wall, stats = runs[len(runs) // 2]
        res["warm_elapsed_s"] = [run[1].get("elapsed_s") for run in runs]
    res["wall_s"] = wall
    res["stats"] = stats
    res["packets"] = stats.get("records")
    res["bytes"] = stats.get("bytes")
    res["startup_s"] = stats.get("startup_s")
    if isinstance(stats.get("elapsed_s"), (int, float)) and stats["elapsed_s"] > 0:
        res["seconds"] = float(stats["elapsed_s"])
        res["note"] = (f"elapsed_s from --stats-json (start-up excluded), median of "
                       f"{len(res['warm_elapsed_s'])} warm runs")
    else:
        su = stats.get("startup_s") or 0.0
        res["seconds"] = wall - su
        res["note"] = "wall time" + (" minus startup_s" if su else " (start-up included)")
    return res


def step_startup(core: int, env, repeat: int = 3):
    base, label = minewatch_cmd()
    out = {}
    if base is not None:
        times = []
        for _ in range(repeat):
            try:
                wall, p = run_timed(taskset(core) + base + ["--version"], env=env, timeout=120, cwd=ROOT)
            except (OSError, subprocess.TimeoutExpired):
                break
            if p.returncode != 0:
                break
            times.append(wall)
            out["version"] = (p.stdout or p.stderr).strip()
        if times:
            out["version_s"] = statistics.median(times)
    if (ROOT / "detector" / "pipeline.py").is_file() or (ROOT / "detector" / "pipeline").is_dir():
        times = []
        for _ in range(repeat):
            wall, p = run_timed(taskset(core) + [sys.executable, "-c", "import detector.pipeline"],
                                env=env, timeout=120, cwd=ROOT)
            if p.returncode != 0:
                break
            times.append(wall)
        if times:
            out["import_pipeline_s"] = statistics.median(times)
    return out


# ---------------------------------------------------------------------------
# dpkt and NFStream (in-process, pinned)
# ---------------------------------------------------------------------------

def step_dpkt(path: Path):
    import dpkt

    Ethernet, IP, IP6 = dpkt.ethernet.Ethernet, dpkt.ip.IP, dpkt.ip6.IP6
    TCP, UDP = dpkt.tcp.TCP, dpkt.udp.UDP
    flows = {}
    n = errors = 0
    t = time.perf_counter()
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            n += 1
            try:
                eth = Ethernet(buf)
            except (dpkt.UnpackError, struct.error, IndexError, ValueError):
                errors += 1
                continue
            ip = eth.data
            if isinstance(ip, (IP, IP6)):
                l4 = ip.data
                if isinstance(l4, (TCP, UDP)):
                    key = (ip.src, ip.dst, l4.sport, l4.dport, ip.p if isinstance(ip, IP) else ip.nxt)
                    flows[key] = flows.get(key, 0) + 1
    secs = time.perf_counter() - t
    return {"packets": n, "seconds": secs, "flows": len(flows),
            "note": f"{len(flows)} directional 5-tuples, {errors} undecodable"}


def step_nfstream(path: Path):
    from nfstream import NFStreamer

    t = time.perf_counter()
    nflows = pkts = 0
    for fl in NFStreamer(source=str(path), statistical_analysis=False, n_meters=1):
        nflows += 1
        pkts += fl.bidirectional_packets
    secs = time.perf_counter() - t
    return {"flows": nflows, "flow_packets": pkts, "seconds": secs,
            "note": f"{nflows} flows, {pkts} packets in flows"}


# ---------------------------------------------------------------------------
# ndpiReader
# ---------------------------------------------------------------------------

def _num(line: str):
    m = re.search(r"([0-9]+(?:\.[0-9]+)?)", line)
    return float(m.group(1)) if m else None


def parse_ndpi(text: str):
    out = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Setup Time:"):
            out["setup_ms"] = _num(s.split(":", 1)[1])
        elif s.startswith("Packet Processing Time:"):
            out["processing_ms"] = _num(s.split(":", 1)[1])
        elif s.startswith("nDPI throughput:"):
            m = re.search(r"([0-9.]+)\s*([KMG]?)\s*pps", s)
            if m:
                out["ndpi_pps"] = float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
            out["ndpi_throughput"] = s.split(":", 1)[1].strip()
        elif s.startswith("Traffic throughput:"):
            out["traffic_throughput"] = s.split(":", 1)[1].strip()
        elif s.startswith("Using nDPI"):
            m = re.search(r"\(([0-9][^)]*)\)", s)
            if m:
                out["version"] = m.group(1)
        elif s.startswith("Mining ") and "flows:" in s:
            m = re.search(r"packets:\s*(\d+)\s+bytes:\s*(\d+)\s+flows:\s*(\d+)", s)
            if m:
                out["mining_flows"] = int(m.group(3))
                out["mining_packets"] = int(m.group(1))
        elif s.startswith("Unique flows:"):
            v = _num(s.split(":", 1)[1])
            out["flows"] = int(v) if v is not None else None
        elif s.startswith("IP packets:"):
            m = re.search(r"IP packets:\s*([0-9]+)\s+of\s+([0-9]+)", s)
            if m:
                out["ip_packets"], out["packets_total"] = int(m.group(1)), int(m.group(2))
    return out


def ndpi_command(core: int):
    """ndpiReader's command line up to the input file, None when it is not installed."""
    exe = shutil.which("ndpiReader")
    return taskset(core) + [exe, "-n", "1", "-g", str(core), "-i"] if exe else None


def ndpi_startup(base, path: Path) -> float:
    """ndpiReader's start-up: its median wall time on the first 10 packets of `path`."""
    with tempfile.TemporaryDirectory(prefix="ndpi-bench-") as td:
        tiny = Path(td) / "tiny.pcap"
        write_head(path, tiny, 10)
        su = []
        for _ in range(3):
            wall, p = run_timed(base + [str(tiny)], timeout=120)
            if p.returncode != 0:
                raise RunFailed(f"exit {p.returncode} on a 10-packet capture: {tail(p.stderr)}")
            su.append(wall)
    return statistics.median(su)


def step_ndpi(path: Path, core: int, timeout: float, repeat: int = 3):
    base = ndpi_command(core)
    if base is None:
        log("ndpiReader: not available")
        return None
    try:
        startup = ndpi_startup(base, path)
    except RunFailed as e:
        log(f"ndpiReader: {e}")
        return {"error": str(e)}
    runs = []
    for _ in range(repeat):             # the median run, as for minewatch
        try:
            runs.append(run_timed(base + [str(path)], timeout=timeout))
        except subprocess.TimeoutExpired:
            log(f"ndpiReader: timed out after {timeout:.0f} s")
            return {"error": "timeout"}
    runs.sort(key=lambda run: run[0])
    wall, p = runs[len(runs) // 2]
    if p.returncode != 0:
        log(f"ndpiReader: exit {p.returncode}: {tail(p.stderr)}")
        return {"error": f"exit {p.returncode}"}
    rep = parse_ndpi(p.stdout + "\n" + p.stderr)
    res = {"wall_s": wall, "startup_s": startup, "seconds": max(wall - startup, 1e-9),
           "packets": rep.get("packets_total"), "flows": rep.get("flows"), "report": rep,
           "note": (f"nDPI {rep.get('version', '?')}: wall {wall:.2f} s (median of {repeat}) "
                    f"- start-up {startup:.2f} s; "
                    f"{rep.get('flows')} flows, {rep.get('mining_flows', 0)} Mining")}
    if rep.get("processing_ms"):
        res["self_seconds"] = rep["processing_ms"] / 1000.0
    return res


PAIRED = ("flows", "scan", "scan2", "ndpi")


def step_paired(path: Path, core: int, env, timeout: float, rounds: int):
    """`rounds` rounds of one warm minewatch flows, scan, scan on two threads and
    ndpiReader run each, in an order that turns every round, so the four see the same
    machine (a shared machine changes speed by more than a change in the engine between
    steps a minute apart). Returns each run's processing seconds and the ratios within
    each round."""
    base, _ = minewatch_cmd()
    nd_base = ndpi_command(core)
    if base is None or nd_base is None:
        log("paired rounds: need minewatch and ndpiReader")
        return None
    seconds = {step: [] for step in PAIRED}
    try:
        nd_startup = ndpi_startup(nd_base, path)
        with tempfile.TemporaryDirectory(prefix="mw-paired-") as td:
            for r in range(rounds):
                turn = r % len(PAIRED)
                for step in PAIRED[turn:] + PAIRED[:turn]:
                    if step == "ndpi":
                        wall, p = run_timed(nd_base + [str(path)], timeout=timeout)
                        if p.returncode != 0:
                            raise RunFailed(f"ndpiReader exit {p.returncode}")
                        seconds[step].append(max(wall - nd_startup, 1e-9))
                    else:
                        wall, stats = minewatch_once(base, step, path, core, env, timeout,
                                                     Path(td) / f"{step}{r}.json")
                        seconds[step].append(stats.get("elapsed_s") or wall)
    except (RunFailed, subprocess.TimeoutExpired) as e:
        log(f"paired rounds: {e}")
        return {"error": str(e)}
    per_round = {"flows_x_ndpi": [n / f for n, f in zip(seconds["ndpi"], seconds["flows"])]}
    for key in SCAN_STEP_OF_THREADS.values():
        per_round[f"{key}_x_ndpi"] = [n / s for n, s in zip(seconds["ndpi"], seconds[key])]
        per_round[f"{key}_over_flows"] = [s / f - 1
                                          for s, f in zip(seconds[key], seconds["flows"])]
    return {"rounds": rounds, "seconds": seconds, "ndpi_startup_s": nd_startup,
            "per_round": per_round,
            "median": {k: statistics.median(v) for k, v in per_round.items()}}


# ---------------------------------------------------------------------------

def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def core_busy(interval: float = 0.5):
    """Percent busy of each core over `interval` seconds (from /proc/stat), or {}."""
    def snap():
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                f = line.split()
                vals = [int(x) for x in f[1:]]
                idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
                out[int(f[0][3:])] = (sum(vals), idle)
        return out
    try:
        a = snap()
        time.sleep(interval)
        b = snap()
    except (OSError, ValueError, IndexError):
        return {}
    res = {}
    for c in a:
        if c in b:
            tot, idle = b[c][0] - a[c][0], b[c][1] - a[c][1]
            res[c] = round(100.0 * (tot - idle) / tot, 1) if tot > 0 else 0.0
    return res


def machine_info():
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["loadavg"] = os.getloadavg()
    except OSError:
        pass
    info["cpus"] = os.cpu_count()
    for mod in ("numba", "numpy", "dpkt", "nfstream"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return info


def print_paired(paired, targets):
    """The ratios of the paired rounds (medians, with their range), which judge the
    scan targets; adds them to `targets`."""
    med, per = paired["median"], paired["per_round"]

    def spread(key, scale=1.0, fmt="{:.1f}"):
        return "..".join(fmt.format(scale * f(per[key])) for f in (min, max))

    print(f"paired rounds ({paired['rounds']}, each: minewatch flows, scan on one thread, "
          f"scan on two and ndpiReader back to back; medians of the per-round ratios, range "
          f"in brackets):")
    print(f"  minewatch flows / ndpiReader = {med['flows_x_ndpi']:.1f}x "
          f"[{spread('flows_x_ndpi')}]")
    for threads, key in SCAN_STEP_OF_THREADS.items():
        over, x_ndpi = f"{key}_over_flows", f"{key}_x_ndpi"
        judge_scan(targets, med[over], med[x_ndpi], source="paired rounds", indent="  ",
                   threads=threads, ranges=(f" [{spread(over, 100, '{:.0f}')}%]",
                                            f" [{spread(x_ndpi)}]"))


def judge_scan(targets, over, x_ndpi, source=None, ranges=("", ""), indent="", threads=1):
    """Print the two scan targets met or missed (`over`: scan's cost over flows as a
    fraction, `x_ndpi`: scan / ndpiReader, None if not measured) and add them to
    `targets`; `ranges` are printed after each value. `threads=2`: the figures of scan
    with its detection thread on a second core (keys scan2_*)."""
    key = SCAN_STEP_OF_THREADS[threads]
    label = "minewatch scan" + (", one core," if threads == 1 else ", 2 threads on 2 cores,")
    judged = [(f"{key}_over_flows", over, TARGET_SCAN_OVER_FLOWS,
               over <= TARGET_SCAN_OVER_FLOWS,
               f"{label} costs {100 * over:.0f}% over flows{ranges[0]} "
               f"(target <= {100 * TARGET_SCAN_OVER_FLOWS:.0f}%)")]
    if x_ndpi is not None:
        judged.append((f"{key}_x_ndpi", x_ndpi, TARGET_SCAN_X_NDPI,
                       x_ndpi >= TARGET_SCAN_X_NDPI,
                       f"{label} / ndpiReader = {x_ndpi:.1f}x{ranges[1]} "
                       f"(target >= {TARGET_SCAN_X_NDPI:.0f}x)"))
    for key, value, target, ok, line in judged:
        targets[key] = {"value": value, "target": target, "ok": ok}
        if source:
            targets[key]["source"] = source
        print(f"{indent}{line}  {'ok' if ok else 'MISSED'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=f"steps: {', '.join(STEPS)}")
    ap.add_argument("pcap", type=Path, help="classic pcap (e.g. from benchmarks/make_capture.py)")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: " + ",".join(STEPS))
    ap.add_argument("--json", type=Path, help="also write all results to this JSON file")
    ap.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0)")
    ap.add_argument("--walk-repeat", type=int, default=5, help="record-walk repetitions (median; default 5)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="warm runs of each minewatch command (median; default 3)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="paired rounds of minewatch flows, scan and ndpiReader, whose "
                         "ratios judge the targets (default 5; 0: none)")
    ap.add_argument("--keep-numba-cache", action="store_true",
                    help="use minewatch's normal numba cache instead of a fresh one "
                         "(then the first run is not a cold compile)")
    ap.add_argument("--timeout", type=float, default=3600, help="per-subprocess timeout in s (default 3600)")
    args = ap.parse_args(argv)

    path = args.pcap
    if not path.is_file():
        print(f"run.py: input file not found: {path}", file=sys.stderr)
        return 2
    path = path.resolve()

    skip = set()
    for s in filter(None, (x.strip() for x in args.skip.split(","))):
        names = ALIASES.get(s, ALIASES.get(s.lower(), (s.lower(),)))
        for nme in names:
            if nme not in STEPS:
                log(f"warning: unknown step in --skip: {s} (steps: {', '.join(STEPS)})")
            skip.add(nme)

    try:
        be, nano, linktype = pcap_header(path)
    except ValueError as e:
        log(f"warning: {path.name}: {e}; steps that need a classic pcap may fail")
        be = nano = False
        linktype = None

    info = machine_info()
    info["core_busy_pct_before"] = busy = core_busy()
    pinned = pin(args.core)
    ts_ok = bool(taskset(args.core))
    log(f"file: {path} ({path.stat().st_size / 1e6:.1f} MB, linktype {linktype}"
        f"{', big-endian' if be else ''}{', nsec' if nano else ''})")
    meta_path = path.with_name(path.name + ".meta.json")
    meta = None
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            log(f"      generator: {meta['packets']} packets, mean {meta['mean_caplen']:.0f} B, "
                f"{meta['flows_5tuple']} flows (5-tuples), {meta.get('rounds')} rounds")
        except (ValueError, KeyError):
            meta = None
    log(f"machine: {info.get('cpu', '?')}, {info.get('cpus')} cpus, load {info.get('loadavg')}; "
        f"in-process pinned to core {args.core}: {'yes' if pinned else 'no'}; "
        f"taskset: {'yes' if ts_ok else 'no'}")
    if busy:
        log("busy before start (other jobs): " + ", ".join(f"core {c} {v:.0f}%" for c, v in sorted(busy.items()))
            + ("" if busy.get(args.core, 0) < 20 else f"  -- core {args.core} is busy: figures will be noisy"))
    log(f"warming page cache: {warm_page_cache(path):.1f} s")

    results = {}
    walk = None
    if "walk" not in skip:
        log("record walk ...")
        walk = step_walk(path, args.walk_repeat)
        results["record walk"] = walk
        log(f"  {walk['packets']} records, {walk['seconds'] * 1e3:.1f} ms ({walk['note']})")
        results["record walk, headers only"] = step_header_walk(path, args.walk_repeat)
    file_packets = walk["packets"] if walk else (meta or {}).get("packets")
    file_bytes = walk["bytes"] if walk else (meta or {}).get("captured_bytes")

    env = dict(os.environ)
    cache_dir = None
    if not args.keep_numba_cache:
        cache_dir = tempfile.mkdtemp(prefix="mw-numba-cache-")
        env["NUMBA_CACHE_DIR"] = cache_dir
    startup = {}
    try:
        for step, (name, *_rest) in MINEWATCH_STEPS.items():
            if step in skip:
                continue
            # scan on two threads runs the kernels scan's first run compiled: no cold run
            cold = step != "scan2"
            log(f"{name} ... " + ("(cold run, then warm runs)" if cold else "(warm runs)"))
            r = step_minewatch(step, path, args.core, env, args.timeout, want_cold=cold,
                               repeat=max(1, args.repeat))
            if r is not None:
                results[name] = r
                if "seconds" in r:
                    log(("" if "cold_wall_s" not in r else
                         f"  cold run {r['cold_wall_s']:.2f} s wall;") +
                        f"  warm run {r['wall_s']:.2f} s wall, {r['seconds']:.2f} s processing")
        if "flows" not in skip and "minewatch flows" in results:
            startup = step_startup(args.core, env)
            results["minewatch startup"] = startup
        if args.rounds > 0 and not skip & set(PAIRED) and "minewatch scan" in results:
            log(f"paired rounds: minewatch flows, scan, scan on two threads and ndpiReader, "
                f"x{args.rounds} ...")
            paired = step_paired(path, args.core, env, args.timeout, args.rounds)
            if paired is not None:
                results["paired rounds"] = paired
    finally:
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)

    if "dpkt" not in skip:
        log("dpkt ...")
        try:
            results["dpkt"] = r = step_dpkt(path)
            log(f"  {r['seconds']:.1f} s")
        except ImportError:
            log("dpkt: not available")
    if "nfstream" not in skip:
        log("NFStream ...")
        try:
            results["NFStream"] = r = step_nfstream(path)
            log(f"  {r['seconds']:.1f} s, {r['note']}")
        except ImportError:
            log("NFStream: not available")
        except Exception as e:  # noqa: BLE001 -- keep the report going
            log(f"NFStream: failed: {e.__class__.__name__}: {e}")
    if "ndpi" not in skip:
        log("ndpiReader ...")
        r = step_ndpi(path, args.core, args.timeout, repeat=max(1, args.repeat))
        if r is not None:
            results["ndpiReader"] = r
            if "seconds" in r:
                log(f"  {r['note']}; its own processing time "
                    f"{r.get('self_seconds', float('nan')):.2f} s")

    # ---- table --------------------------------------------------------------
    rows = []

    def add(name, r, secs=None, note=None):
        if not r or "seconds" not in r:
            return
        secs = secs if secs is not None else r["seconds"]
        pk = file_packets or r.get("packets")
        row = {"tool": name, "packets": pk, "seconds": secs,
               "pps": pk / secs if pk and secs > 0 else None,
               "mbps": file_bytes / secs / 1e6 if file_bytes and secs > 0 else None,
               "note": note if note is not None else r.get("note", "")}
        rows.append(row)
        return row

    add("record walk", results.get("record walk"))
    add("record walk, headers only", results.get("record walk, headers only"))
    add("minewatch flows", results.get("minewatch flows"))
    add("minewatch scan", results.get("minewatch scan"))
    add("minewatch scan, 2 threads", results.get("minewatch scan, 2 threads"))
    add("dpkt", results.get("dpkt"))
    add("NFStream", results.get("NFStream"))
    nd = results.get("ndpiReader")
    nd_row = add("ndpiReader", nd)
    if nd and nd.get("self_seconds"):
        add("ndpiReader (self-reported)", nd, secs=nd["self_seconds"],
            note=f"its 'Packet Processing Time'; 'nDPI throughput: {nd['report'].get('ndpi_throughput')}'")

    ref_nd = nd_row["pps"] if nd_row else None
    ref_walk = rows[0]["pps"] if rows and rows[0]["tool"] == "record walk" else None
    ref_header_walk = next((r["pps"] for r in rows if r["tool"] == "record walk, headers only"),
                           None)
    for row in rows:
        row["x_ndpi"] = row["pps"] / ref_nd if ref_nd and row["pps"] else None
        row["pct_walk"] = 100 * row["pps"] / ref_walk if ref_walk and row["pps"] else None
        row["pct_header_walk"] = (100 * row["pps"] / ref_header_walk
                                  if ref_header_walk and row["pps"] else None)

    for name, key in (("minewatch flows", "minewatch flows"), ("minewatch scan", "minewatch scan"),
                      ("ndpiReader", "ndpiReader")):
        r = results.get(key) or {}
        if file_packets and r.get("packets") not in (None, file_packets):
            log(f"note: {name} counted {r['packets']} packets, the file has {file_packets}")

    print()
    hdr = f"{'tool':<28}{'packets':>10}{'seconds':>10}{'packets/s':>11}{'MB/s':>9}" \
          f"{'x ndpiReader':>14}{'% walk':>9}{'% hdr walk':>12}  notes"
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        mbps = f"{row['mbps']:.1f}" if row["mbps"] is not None else "-"
        xnd = f"{row['x_ndpi']:.2f}x" if row["x_ndpi"] is not None else "-"
        pct = f"{row['pct_walk']:.1f}%" if row["pct_walk"] is not None else "-"
        hdr_pct = f"{row['pct_header_walk']:.1f}%" if row["pct_header_walk"] is not None else "-"
        print(f"{row['tool']:<28}{row['packets'] or 0:>10}{row['seconds']:>10.3f}"
              f"{fmt_rate(row['pps']):>11}{mbps:>9}{xnd:>14}{pct:>9}{hdr_pct:>12}  {row['note']}")
    print()

    # ---- targets --------------------------------------------------------------
    targets = {}
    mw = next((r for r in rows if r["tool"] == "minewatch flows"), None)
    if mw is None:
        print("targets: minewatch flows not measured -- nothing to check")
    else:
        if mw["x_ndpi"] is not None:
            ok = mw["x_ndpi"] >= TARGET_X_NDPI
            targets["x_ndpi"] = {"value": mw["x_ndpi"], "target": TARGET_X_NDPI, "ok": ok}
            print(f"minewatch flows / ndpiReader = {mw['x_ndpi']:.1f}x (target >= {TARGET_X_NDPI:.0f}x)"
                  f"  {'ok' if ok else 'MISSED'}")
        if mw["pct_walk"] is not None:
            ok = mw["pct_walk"] >= TARGET_PCT_WALK
            targets["pct_walk"] = {"value": mw["pct_walk"], "target": TARGET_PCT_WALK, "ok": ok}
            print(f"minewatch flows / record walk = {mw['pct_walk']:.0f}% (target >= {TARGET_PCT_WALK:.0f}%)"
                  f"  {'ok' if ok else 'MISSED'}")
        if mw["pct_header_walk"] is not None:
            ok = mw["pct_header_walk"] >= TARGET_PCT_WALK
            targets["pct_header_walk"] = {"value": mw["pct_header_walk"],
                                          "target": TARGET_PCT_WALK, "ok": ok}
            print(f"minewatch flows / record walk, headers only = {mw['pct_header_walk']:.0f}% "
                  f"(target >= {TARGET_PCT_WALK:.0f}%)  {'ok' if ok else 'MISSED'}")
        paired = results.get("paired rounds") or {}
        if "median" in paired:
            print_paired(paired, targets)
        sc = next((r for r in rows if r["tool"] == "minewatch scan"), None)
        sc2 = next((r for r in rows if r["tool"] == "minewatch scan, 2 threads"), None)
        if "median" not in paired:
            for threads, row in ((1, sc), (2, sc2)):
                if row is not None and row["pps"] and mw["pps"]:
                    judge_scan(targets, mw["pps"] / row["pps"] - 1, row["x_ndpi"],
                               threads=threads)
        r = results["minewatch flows"]
        su = r.get("startup_s")
        src = "startup_s of the warm flows run"
        if not isinstance(su, (int, float)):
            su = startup.get("import_pipeline_s", startup.get("version_s"))
            src = "import detector.pipeline" if "import_pipeline_s" in startup else "minewatch --version"
        if isinstance(su, (int, float)):
            ok = su <= TARGET_STARTUP_S
            targets["startup_s"] = {"value": su, "target": TARGET_STARTUP_S, "ok": ok, "source": src}
            extra = []
            if "version_s" in startup:
                extra.append(f"minewatch --version {startup['version_s']:.2f} s")
            if "import_pipeline_s" in startup:
                extra.append(f"import detector.pipeline {startup['import_pipeline_s']:.2f} s")
            if "stats" in r and isinstance(r["stats"].get("elapsed_s"), (int, float)):
                over = r["wall_s"] - r["stats"]["elapsed_s"]
                targets["startup_s"]["wall_minus_processing_s"] = over
                extra.append(f"warm run wall - processing {over:.2f} s")
            print(f"start-up {su:.2f} s (target <= {TARGET_STARTUP_S} s)  {'ok' if ok else 'MISSED'}"
                  f"  [{src}{'; ' + ', '.join(extra) if extra else ''}]")
        if "cold_wall_s" in r:
            cold, warm = r["cold_wall_s"], r["wall_s"]
            targets["cold"] = {"first_run_s": cold, "warm_run_s": warm, "compile_s": cold - warm}
            kind = "normal numba cache (may not be cold)" if args.keep_numba_cache else "empty numba cache"
            print(f"cold compile: first run {cold:.1f} s on an {kind}, warm run {warm:.1f} s "
                  f"-> compiling costs ~{cold - warm:.1f} s")
        if r.get("warning"):
            print(f"warning: {r['warning']}; figures above are not valid, run again")
    for name in ("minewatch scan", "minewatch scan, 2 threads"):
        r = results.get(name)
        if r and "cold_wall_s" in r:
            print(f"{name}: first run {r['cold_wall_s']:.1f} s, warm run {r['wall_s']:.1f} s")

    if args.json:
        doc = {"file": str(path), "file_packets": file_packets, "file_bytes": file_bytes,
               "generator": meta, "machine": info, "core": args.core,
               "pinned": pinned, "taskset": ts_ok, "results": results, "table": rows,
               "targets": targets}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
