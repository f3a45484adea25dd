"""Simulated miners with a known hashrate, as real Stratum V1 / xmrig sessions in a pcap.

A miner of true hashrate R finds shares as a Poisson process whose rate is
R / H(D), H(D) the expected hashes per share at the difficulty of the job it
works on (PROTOCOLS.md §12.1). The pool behaves like a real one: it pushes a
new job every 10-60 s, and every `retarget_s` its vardiff looks at the shares
it got and moves the difficulty toward one share per `target_interval_s`
(at most x2 or /2 per step); a new difficulty applies from the next job,
which it sends right away. Every share is answered `true` 20 ms later.

Nothing here looks at what Minewatch computes: the truth is R, the rate the
simulation was driven with.
"""

import json
import math
import random
from dataclasses import dataclass

from . import mining
from .conversations import ENCAPS, pcap_bytes, wrap

SHA256D_HASHES_PER_DIFF = 2 ** 48 / 0xFFFF
REPLY_NS = 20_000_000


@dataclass
class MinerSpec:
    """One simulated miner: its true hashrate and how its pool treats it."""

    dialect: str                 # "stratum-v1" (SHA-256d) or "xmrig" (CryptoNote targets)
    hashrate_hps: float          # the truth
    duration_s: float
    start_ts_ns: int
    client_ip: str
    client_port: int
    worker: str
    agent: str
    start_factor: float = 1.0    # first difficulty's share interval / the pool's target
    target_interval_s: float = 15.0
    retarget_s: float = 90.0
    seed: int = 0


def hashes_per_share(dialect, difficulty):
    return difficulty * SHA256D_HASHES_PER_DIFF if dialect == "stratum-v1" else difficulty


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class _Pool:
    """Messages of one session in its dialect (the shapes of tests/gen/mining.py)."""

    def __init__(self, spec, hexer):
        self.spec = spec
        self.h = hexer
        self.job_no = 0

    def opening(self, difficulty):
        s = self.spec
        if s.dialect == "stratum-v1":
            return [(True, _dumps({"id": 1, "method": "mining.subscribe", "params": [s.agent]})
                     + _dumps({"id": 2, "method": "mining.authorize", "params": [s.worker, "x"]})),
                    (False, _dumps({"id": 1, "result": [[["mining.notify", self.h(8)]],
                                                        self.h(4), 4], "error": None})
                     + _dumps({"id": 2, "result": True, "error": None})
                     + self.set_difficulty(difficulty)[1])]
        return [(True, _dumps({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
            "login": s.worker, "pass": "x", "agent": s.agent, "algo": ["rx/0"]}}))]

    def set_difficulty(self, difficulty):
        return (False, _dumps({"id": None, "method": "mining.set_difficulty",
                               "params": [difficulty]}))

    def job(self, difficulty, first=False):
        """(c2s, bytes, job_id) of a new job at `difficulty`."""
        self.job_no += 1
        job_id = f"{self.job_no:08x}"
        if self.spec.dialect == "stratum-v1":
            msg = _dumps({"id": None, "method": "mining.notify", "params": [
                job_id, self.h(32), "0100000001" + "00" * 32 + "ffffffff20" + self.h(16),
                self.h(30) + "88ac00000000", [self.h(32) for _ in range(6)], "20000000",
                "17034219", "66a1f0c2", False]})
            return False, msg, job_id
        target = (0xFFFFFFFF // int(difficulty)).to_bytes(4, "little").hex()
        job = {"blob": "1010" + self.h(74), "job_id": job_id, "target": target, "algo": "rx/0",
               "height": 3300000 + self.job_no, "seed_hash": "ab" * 32}
        if first:
            return False, _dumps({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
                "id": "sess1", "job": job, "status": "OK"}}), job_id
        return False, _dumps({"jsonrpc": "2.0", "method": "job", "params": job}), job_id

    def submit(self, i, job_id):
        if self.spec.dialect == "stratum-v1":
            return _dumps({"id": i, "method": "mining.submit",
                           "params": [self.spec.worker, job_id, self.h(4), "66a1f0c2", self.h(4)]})
        return _dumps({"id": i, "jsonrpc": "2.0", "method": "submit", "params": {
            "id": "sess1", "job_id": job_id, "nonce": self.h(4), "result": self.h(32)}})

    def accept(self, i):
        if self.spec.dialect == "stratum-v1":
            return _dumps({"id": i, "result": True, "error": None})
        return _dumps({"id": i, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})


def _difficulty_for(spec, share_interval_s):
    """The difficulty at which this miner finds one share per `share_interval_s`."""
    d = spec.hashrate_hps * share_interval_s / hashes_per_share(spec.dialect, 1.0)
    return max(1, int(d)) if spec.dialect == "xmrig" else max(d, 1e-6)


def session(spec: MinerSpec):
    """[(ts_ns, c2s, bytes)] of one mining session, and how many shares it submitted."""
    rng = random.Random(spec.seed)
    pool = _Pool(spec, mining.Hex(spec.seed + 1))
    t0 = spec.start_ts_ns
    end = t0 + int(spec.duration_s * 1e9)
    out = []
    difficulty = _difficulty_for(spec, spec.target_interval_s * spec.start_factor)
    for k, (c2s, data) in enumerate(pool.opening(difficulty)):
        out.append((t0 + k * REPLY_NS, c2s, data))
    t = t0 + 2 * REPLY_NS
    c2s, data, job_id = pool.job(difficulty, first=True)
    out.append((t, c2s, data))
    next_job = t + int(rng.uniform(10, 60) * 1e9)
    next_retarget = t + int(spec.retarget_s * 1e9)
    since_retarget, msg_id, submitted = 0, 10, 0
    pending_difficulty = None
    while True:
        # shares at the current job's difficulty until the next pool event
        rate = spec.hashrate_hps / hashes_per_share(spec.dialect, difficulty)
        event = min(next_job, next_retarget, end)
        while True:
            t += int(rng.expovariate(rate) * 1e9)
            if t >= event:
                t = event          # memoryless: restart the draw at the event
                break
            out.append((t, True, pool.submit(msg_id, job_id)))
            out.append((t + REPLY_NS, False, pool.accept(msg_id)))
            msg_id += 1
            submitted += 1
            since_retarget += 1
        if event == end:
            break
        if event == next_retarget:
            observed = max(since_retarget, 1) / spec.retarget_s      # shares/s seen by the pool
            wanted = 1.0 / spec.target_interval_s
            factor = min(2.0, max(0.5, observed / wanted))
            pending_difficulty = difficulty * factor
            if spec.dialect == "xmrig":
                pending_difficulty = max(1, int(pending_difficulty))
            since_retarget = 0
            next_retarget = event + int(spec.retarget_s * 1e9)
            if spec.dialect == "stratum-v1":
                out.append((event, *pool.set_difficulty(pending_difficulty)))
            next_job = event + 1_000_000       # the new difficulty comes with a new job
            continue
        if pending_difficulty is not None:
            difficulty, pending_difficulty = pending_difficulty, None
        c2s, data, job_id = pool.job(difficulty)
        out.append((event, c2s, data))
        next_job = event + int(rng.uniform(10, 60) * 1e9)
    out.sort(key=lambda m: m[0])
    return out, submitted


def session_packets(spec: MinerSpec, server_ip, server_port=3333):
    """The session as `conversations.Pkt`s with its real message times."""
    messages, submitted = session(spec)
    dialogue = mining.Dialogue(spec.dialect, [(c2s, data) for _, c2s, data in messages])
    tr = mining.Transport(cport=spec.client_port, sport=server_port)
    pkts = mining.tcp_packets(dialogue, tr, client=spec.client_ip, server=server_ip)
    assert len(pkts) == len(messages) + 6, "one segment per message"
    first, last = messages[0][0], messages[-1][0]
    for k, p in enumerate(pkts[:3]):
        p.ts_ns = first - (3 - k) * 1_000_000
    for p, (ts, _, _) in zip(pkts[3:-3], messages):
        p.ts_ns = ts
    for k, p in enumerate(pkts[-3:]):
        p.ts_ns = last + (k + 1) * 1_000_000
    return pkts, submitted


def write_miners(path, specs, server_ip="203.0.113.50"):
    """One Ethernet pcap holding every miner's session, packets in time order."""
    pkts = []
    for spec in specs:
        pkts.extend(session_packets(spec, server_ip)[0])
    pkts.sort(key=lambda p: p.ts_ns)
    data, _ = pcap_bytes(wrap(pkts, ENCAPS["ethernet"]))
    path.write_bytes(data)
    return path


def random_specs(n, seed, t0_ns=1_750_000_000_000_000_000, min_shares=10, max_shares=600):
    """`n` miners of both dialects, hashrates from a laptop CPU to an ASIC, sessions long
    enough for `min_shares`..`max_shares` expected shares (log-uniform)."""
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        dialect = "stratum-v1" if i % 2 == 0 else "xmrig"
        rate = 10 ** rng.uniform(12, 14.5) if dialect == "stratum-v1" else 10 ** rng.uniform(3, 5)
        shares = 10 ** rng.uniform(math.log10(min_shares), math.log10(max_shares))
        specs.append(MinerSpec(
            dialect=dialect, hashrate_hps=rate, duration_s=shares * 15.0,
            start_ts_ns=t0_ns + i * 7_000_000_000, client_ip=f"10.77.{i // 200}.{i % 200 + 10}",
            client_port=40000 + i, worker=f"wallet{seed}.rig{i}",
            agent="cgminer/4.12.1" if dialect == "stratum-v1" else "XMRig/6.21.0",
            start_factor=rng.uniform(0.3, 3.0), seed=seed * 1000 + i))
    return specs
