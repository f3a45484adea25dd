"""Run `minewatch live` inside a network namespace and replay captures into it.

    va (tcpreplay writes here) <-- veth pair --> vb (minewatch live reads here)

Both ends live in a namespace of their own, so nothing else reaches vb.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, str(REPO / "cli.py")]
READY = "capturing with"
MTU = 65000      # bundled captures hold frames up to 4248 bytes (offloaded segments)


def live_unavailable():
    """Why the namespace tests cannot run here, or None."""
    if sys.platform != "linux":
        return "live capture is Linux only"
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, AF_PACKET)"
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (install.sh installs it)"
    probe = f"mwprobe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"network namespaces unavailable: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def sh(*args, check=True):
    r = subprocess.run(list(map(str, args)), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: {r.stderr.strip()}")
    return r


class Netns:
    """A namespace with the veth pair va <-> vb, both up, IPv6 off."""

    def __init__(self, name):
        self.name = name
        self.processes = []

    def create(self):
        sh("ip", "netns", "add", self.name)
        self.exec_check("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        self.exec_check("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", self.name, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        for dev in ("va", "vb"):
            sh("ip", "-n", self.name, "link", "set", dev, "mtu", MTU, "up")
        sh("ip", "-n", self.name, "link", "set", "lo", "up")    # for /metrics

    def exec_check(self, *args):
        return sh("ip", "netns", "exec", self.name, *args)

    def popen(self, args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *map(str, args)], **kw)
        self.processes.append(p)
        return p

    def delete(self):
        for p in self.processes:          # only what this namespace's tests started
            if p.poll() is None:
                p.kill()
                p.wait()
        sh("ip", "netns", "del", self.name, check=False)

    def replay(self, captures, pps=2000, topspeed=False):
        """tcpreplay the captures into va, one after the other; packets sent."""
        rate = ["--topspeed"] if topspeed else ["--pps", str(pps)]
        r = self.exec_check("tcpreplay", "-i", "va", *rate, *captures)
        failed = re.search(r"Failed packets:\s+(\d+)", r.stdout)
        assert failed and failed.group(1) == "0", r.stdout
        return int(re.search(r"Actual: (\d+) packets", r.stdout).group(1))


class LiveRun:
    """One `minewatch live` process on vb of a namespace."""

    def __init__(self, ns, tmp_path, *args, output="hits.jsonl"):
        self.ns = ns
        self.output = tmp_path / output
        self.stderr_path = tmp_path / f"live-{len(ns.processes)}.err"
        self.stderr = open(self.stderr_path, "wb")
        self.proc = ns.popen([*CLI, "live", "-i", "vb", "-o", self.output, *args],
                             stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.wait_for(lambda: READY in self.err_text(), "the start line")

    def err_text(self):
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, condition, what, timeout=120.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"live exited ({self.proc.returncode}) before {what}: "
                                     f"{self.err_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout} s: {self.err_text()}")
            time.sleep(0.1)

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=60):
        """SIGTERM; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.stderr.close()
        return rc

    def hits(self, path=None):
        path = path or self.output
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def summary(self):
        """(packets, dropped) from the summary line."""
        m = re.search(r"vb: (\d+) packets, (\d+) dropped", self.err_text())
        assert m, self.err_text()
        return int(m.group(1)), int(m.group(2))


def scan_hits(*captures, args=()):
    """'ended' hits of `minewatch scan` of each capture on its own."""
    hits = []
    for capture in captures:
        r = subprocess.run([*CLI, "scan", "-q", *args, str(capture)], capture_output=True,
                           timeout=600)
        assert r.returncode in (0, 1), r.stderr
        hits += [h for h in map(json.loads, r.stdout.decode().splitlines())
                 if h["state"] == "ended"]
    return hits


def hit_key(hit):
    """What must agree between a file scan and live capture of the same packets."""
    return (hit["transport"], hit["client_ip"], hit["client_port"], hit["server_ip"],
            hit["server_port"], hit["variant"], hit["coin"], hit["worker"], hit["agent"],
            hit["shares_submitted"], hit["shares_accepted"], hit["shares_rejected"],
            hit["difficulty"], hit["jobs"], hit["packets_c2s"], hit["packets_s2c"],
            hit["bytes_c2s"], hit["bytes_s2c"], tuple(hit["signatures"]))
