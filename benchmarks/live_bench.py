#!/usr/bin/env python3
"""Live capture at top speed: packets/s received and dropped per worker count,
side by side with a file scan of the same capture, in one run.

    python benchmarks/live_bench.py benchmarks/out/bench.pcap [--workers 1,2]
        [--limit N] [--ring-blocks 64] [--ring-block-size 1048576] [--json out.json]

As root. A private network namespace gets a veth pair (va <-> vb, MTU 65000);
for each worker count, ``minewatch live -i vb --workers W`` starts, then
``tcpreplay --topspeed --preload-pcap`` sends the capture (or its first --limit
packets) into va, then live gets SIGTERM. Figures:

  sent, sent/s      tcpreplay's own count and rate (its "Actual" and "Rated" lines)
  received          packets live handed to its engines (its summary line). The
                    kernel reassembles IPv4 fragments for the fanout group
                    (detector/live/reassembly.py), so a fragmented datagram
                    counts once: received < sent on captures with fragments
  reasm fails       IPv4 fragments the kernel could not reassemble (ReasmFails
                    of the namespace, from live's summary line)
  veth dropped      vb's rx drop counter: frames no protocol of the stack took
                    (802.3/LLC, VLAN tags without a VLAN device: packet sockets
                    saw them first) and backlog overflows (net.core.netdev_max_backlog)
  ring dropped      packets the kernel dropped because a worker's ring was full
                    (PACKET_STATISTICS)
  received/s        received / tcpreplay's sending time: what live kept up with

With --drain-ring-blocks B, each worker count runs once more with rings of B
blocks (big enough for the whole replay) and the workers stopped (SIGSTOP)
during the replay; then they are resumed and stopped (SIGTERM: they read
their whole ring first) and timed until live exits. received / that time is
the rate the workers process at, without tcpreplay competing for the cores.

The file scan line is ``minewatch scan -q --stats-json`` of the same capture
(processing time from its stats, the same --limit applied by scanning a
prefix copy). tcpreplay needs a core of its own to send at top speed: on a
machine with few cores, the sender and the workers compete, which the table
shows as it is. The namespace is deleted at the end, even on failure.
Exit status 0 (a report), 2 when the capture is missing or this is not root.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, str(ROOT / "cli.py")]
MTU = 65000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(*args, check=True):
    r = subprocess.run(list(map(str, args)), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: {r.stderr.strip()}")
    return r


def prefix_copy(capture, limit, tmp):
    """The first `limit` packets of the capture, for the file scan (editcap -r 1-N)."""
    if not limit:
        return capture
    out = Path(tmp) / "prefix.pcap"
    sh("editcap", "-F", "pcap", "-r", capture, out, f"1-{limit}")
    return out


def file_scan(capture, tmp):
    stats = Path(tmp) / "scan.json"
    r = subprocess.run([*CLI, "scan", "-q", "-o", os.devnull, "--stats-json", stats, capture],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"scan failed: {r.stderr.strip()}")
    doc = json.loads(stats.read_text())
    return {"packets": doc["records"], "seconds": doc["elapsed_s"],
            "packets_per_s": doc["records"] / doc["elapsed_s"]}


def veth_rx(ns):
    """(packets, dropped) vb's receive counters: the veth drops past its backlog
    (net.core.netdev_max_backlog) before any packet socket sees the packet."""
    stats = json.loads(sh("ip", "-n", ns, "-s", "-j", "link", "show", "vb").stdout)[0]
    rx = stats["stats64"]["rx"]
    return rx["packets"], rx["dropped"]


def worker_pids(pid):
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def live_run(ns, capture, workers, args, tmp, drain=False):
    """One live run; with `drain`, the workers are stopped (SIGSTOP) while the capture
    is replayed into their rings, then resumed and timed until they exit."""
    err_path = Path(tmp) / f"live-{workers}-{int(drain)}.err"
    blocks = args.drain_ring_blocks if drain else args.ring_blocks
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *CLI, "live", "-i", "vb",
                                 "--workers", str(workers), "--status-interval", "0",
                                 "-o", os.devnull, "--ring-blocks", str(blocks),
                                 "--ring-block-size", str(args.ring_block_size)],
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 300
            while "capturing with" not in err_path.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"live did not start: {err_path.read_text()}")
                time.sleep(0.1)
            limit = ["--limit", str(args.limit)] if args.limit else []
            before = veth_rx(ns)
            children = worker_pids(proc.pid)
            if drain:
                for pid in children:
                    os.kill(pid, signal.SIGSTOP)
            r = sh("ip", "netns", "exec", ns, "tcpreplay", "-i", "va", "--topspeed",
                   "--preload-pcap", *limit, capture)
            drain_s = None
            if drain:
                time.sleep(0.5)      # the last blocks are handed over
                t0 = time.monotonic()
                for pid in children:
                    os.kill(pid, signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)   # workers read their whole ring first
                proc.wait(timeout=600)
                drain_s = time.monotonic() - t0
            else:
                time.sleep(2.0)      # let the workers finish what the rings hold
            after = veth_rx(ns)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err_path.read_text()
    sent = int(re.search(r"Actual: (\d+) packets", r.stdout).group(1))
    seconds = float(re.search(r"sent in ([\d.]+) seconds", r.stdout).group(1))
    summary = re.search(r"vb: (\d+) packets, (\d+) dropped", text)
    per_worker = [(int(w), int(p), int(d)) for w, p, d in
                  re.findall(r"worker (\d+): (\d+) packets (\d+) dropped", text)]
    received, dropped = int(summary.group(1)), int(summary.group(2))
    fails = re.search(r"(\d+) IPv4 fragment reassembly failures", text)
    return {"workers": workers, "drain": drain, "drain_seconds": drain_s,
            "drain_per_s": received / drain_s if drain_s else None,
            "sent": sent, "send_seconds": seconds,
            "veth_rx": after[0] - before[0], "veth_dropped": after[1] - before[1],
            "sent_per_s": sent / seconds, "received": received, "dropped": dropped,
            "reassembly_failures": int(fails.group(1)) if fails else None,
            "received_per_s": received / seconds,
            "drop_pct": 100.0 * dropped / max(1, received + dropped),  # of what reached vb
            "per_worker": [{"worker": w, "received": p, "dropped": d}
                           for w, p, d in per_worker]}


def rate(x):
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", type=Path)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--limit", type=int, default=0, help="replay only the first N packets")
    ap.add_argument("--ring-blocks", type=int, default=64)
    ap.add_argument("--ring-block-size", type=int, default=1 << 20)
    ap.add_argument("--drain-ring-blocks", type=int, default=0,
                    help="also time workers reading a ring of this many blocks that holds "
                         "the whole replay (0: skip); ring memory is pinned kernel memory")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.capture.is_file():
        log(f"error: {args.capture}: no such capture (benchmarks/make_capture.py makes one)")
        return 2
    if os.geteuid() != 0:
        log("error: needs root (network namespace, veth, AF_PACKET)")
        return 2
    ns = f"mwbench-{os.getpid()}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scan_capture = prefix_copy(args.capture, args.limit, tmp)
        log("file scan ...")
        scan = file_scan(scan_capture, tmp)
        try:
            sh("ip", "netns", "add", ns)
            for knob in ("default", "all"):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw",
                   f"net.ipv6.conf.{knob}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
            for dev in ("va", "vb"):
                sh("ip", "-n", ns, "link", "set", dev, "mtu", MTU, "up")
            for w in map(int, args.workers.split(",")):
                log(f"live, {w} worker(s) ...")
                rows.append(live_run(ns, args.capture, w, args, tmp))
            if args.drain_ring_blocks:
                for w in map(int, args.workers.split(",")):
                    log(f"live, {w} worker(s), drain ...")
                    rows.append(live_run(ns, args.capture, w, args, tmp, drain=True))
        finally:
            sh("ip", "netns", "del", ns, check=False)
    load = os.getloadavg()[0]
    print(f"capture: {args.capture} ({scan['packets']} packets), {os.cpu_count()} cores, "
          f"load {load:.2f}, ring {args.ring_blocks} x {args.ring_block_size} B per worker")
    print("| run | packets | sent/s (tcpreplay) | veth dropped | received | reasm fails "
          "| received/s | ring dropped | drop % | per worker (received / ring dropped) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| minewatch scan (file) | {scan['packets']} | - | - | {scan['packets']} | - | "
          f"{rate(scan['packets_per_s'])} | - | - | - |")
    for r in rows:
        if r["drain"]:
            continue
        per = ", ".join(f"w{p['worker']} {p['received']} / {p['dropped']}"
                        for p in r["per_worker"])
        print(f"| minewatch live, {r['workers']} worker(s) | {r['sent']} | "
              f"{rate(r['sent_per_s'])} | {r['veth_dropped']} | {r['received']} | "
              f"{r['reassembly_failures']} | {rate(r['received_per_s'])} | "
              f"{r['dropped']} | {r['drop_pct']:.1f}% | {per} |")
    drains = [r for r in rows if r["drain"]]
    if drains:
        print()
        print("| workers reading a full ring | packets | seconds to read and exit | packets/s "
              "| ring dropped |")
        print("| --- | --- | --- | --- | --- |")
        for r in drains:
            print(f"| {r['workers']} worker(s), {args.drain_ring_blocks} x "
                  f"{args.ring_block_size} B ring each | {r['received']} | "
                  f"{r['drain_seconds']:.2f} | {rate(r['drain_per_s'])} | {r['dropped']} |")
    if args.json:
        args.json.write_text(json.dumps({"scan": scan, "live": rows, "load": load,
                                         "machine": platform.platform(),
                                         "cores": os.cpu_count()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
