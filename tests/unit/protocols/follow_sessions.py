"""Mining sessions generated from a seed, and a Handoff driven by them.

`session_lines(rng, dialect, n)` writes what a miner and its pool say to each
other over a long session: the opening, then jobs, vardiff, shares from one or
several workers, the pool's replies (accepted, rejected, unknown ids), polls,
hashrate reports, algorithm and target changes, id reuse and string ids, blank
lines and CRLF. `drive(chunks, ...)` feeds such a session (or a corpus
transcript) to a Handoff as the engine does: data events in batches, with the
reports a scan makes between batches, and returns what the session holds at
each report and at the end, so a run with flows followed in numba and a run
without can be compared field by field.
"""

from __future__ import annotations

import json

import numpy as np

from detector.engine.handoff import Handoff, TrackedFlow
from detector.engine.inspect import EV_DATA, EVENT_DTYPE
from detector.protocols.followed import FollowedFlows
from detector.protocols.message import TOCLIENT, TOSERVER
from detector.protocols.session import MiningSession

HEX = "0123456789abcdef"


def _hex(rng, n):
    return "".join(rng.choice(HEX) for _ in range(n))


def _render(rng, obj) -> bytes:
    compact = rng.random() < 0.5
    text = json.dumps(obj, separators=(",", ":") if compact else None)
    return text.encode() + (b"\r\n" if rng.random() < 0.05 else b"\n")


class _Pool:
    """What the generated pool remembers: job ids, requests waiting for a reply."""

    def __init__(self, rng):
        self.rng = rng
        self.jobs = []
        self.waiting = []
        self.next_id = 3

    def job_id(self, width):
        rng = self.rng
        if self.jobs and rng.random() < 0.1:          # a job id sent again
            return rng.choice(self.jobs)
        job = _hex(rng, rng.randint(1, width))
        self.jobs.append(job)
        return job

    def known_job(self):
        rng = self.rng
        if self.jobs and rng.random() < 0.9:
            return rng.choice(self.jobs[-300:])
        return _hex(rng, 6)

    def request_id(self):
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            return "s" + str(rng.randint(1, 9))        # string ids stay in Python
        if r < 0.15:
            return 4                                   # one id for every share
        self.next_id += 1
        return self.next_id

    def reply(self):
        """A reply to a waiting request (or, now and then, to none)."""
        rng = self.rng
        if self.waiting and rng.random() < 0.97:
            msg_id = self.waiting.pop(rng.randrange(len(self.waiting)) if rng.random() < 0.2
                                      else 0)
        else:
            msg_id = rng.randint(1000, 1010)
        r = rng.random()
        if r < 0.7:
            return {"id": msg_id, "result": True, "error": None}
        if r < 0.8:
            return {"id": msg_id, "result": False, "error": [23, "Low difficulty share", None]}
        if r < 0.88:
            return {"id": msg_id, "result": None, "error": [21, "Job not found", None]}
        if r < 0.94:
            return {"id": msg_id, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}
        return {"id": msg_id, "result": None, "error": None}

    def answers(self):
        """The pool's replies due now: most requests are answered within a few lines."""
        while self.waiting and self.rng.random() < 0.6:
            yield TOCLIENT, self.reply()


def _workers(rng, base):
    return [f"{base}.rig{k}" for k in range(rng.randint(1, 3))]


def _stratum(rng, pool, n):
    workers = _workers(rng, "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh")
    yield TOSERVER, {"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}
    yield TOCLIENT, {"id": 1, "result": [[["mining.set_difficulty", "1"],
                                          ["mining.notify", "1"]], "08000002", 4], "error": None}
    yield TOSERVER, {"id": 2, "method": "mining.authorize", "params": [workers[0], "x"]}
    yield TOCLIENT, {"id": 2, "result": True, "error": None}
    for _ in range(n):
        r = rng.random()
        if r < 0.06:
            value = rng.choice([1024, 1024, 2048, 0.5, 65536, 1024.0])
            yield TOCLIENT, {"id": None, "method": "mining.set_difficulty", "params": [value]}
        elif r < 0.3:
            yield TOCLIENT, {"id": None, "method": "mining.notify", "params": [
                pool.job_id(8), _hex(rng, 64), "01000000" + _hex(rng, 40), _hex(rng, 30),
                [_hex(rng, 64) for _ in range(rng.randint(0, 3))], "20000000", "1d00ffff",
                _hex(rng, 8), rng.random() < 0.3]}
        elif r < 0.65:
            if rng.random() < 0.03:
                workers.append(f"{workers[0]}x{len(workers)}")
            msg_id = pool.request_id()
            pool.waiting.append(msg_id)
            params = [rng.choice(workers), pool.known_job(), _hex(rng, 8), _hex(rng, 8),
                      _hex(rng, 8)]
            yield TOSERVER, {"id": msg_id, "method": "mining.submit", "params": params}
        else:
            yield TOCLIENT, pool.reply()


def _zcash(rng, pool, n):
    workers = _workers(rng, "t1fJuHWrfcWnYMYyP9VAF96vRnvND2NziMG")
    yield TOSERVER, {"id": 1, "method": "mining.subscribe", "params": ["nheqminer", None,
                                                                       "eu.pool", "3357"]}
    yield TOCLIENT, {"id": 1, "result": [None, "81000001"], "error": None}
    yield TOSERVER, {"id": 2, "method": "mining.authorize", "params": [workers[0], "x"]}
    yield TOCLIENT, {"id": 2, "result": True, "error": None}
    target = "0" * 6 + _hex(rng, 58)
    yield TOCLIENT, {"id": None, "method": "mining.set_target", "params": [target]}
    for _ in range(n):
        r = rng.random()
        if r < 0.04:
            target = "0" * 6 + _hex(rng, 58)
            yield TOCLIENT, {"id": None, "method": "mining.set_target", "params": [target]}
        elif r < 0.3:
            yield TOCLIENT, {"id": None, "method": "mining.notify", "params": [
                pool.job_id(20), "04000000", _hex(rng, 64), _hex(rng, 64), "00" * 32,
                _hex(rng, 8), "1d00ffff", rng.random() < 0.5]}
        elif r < 0.65:
            msg_id = pool.request_id()
            pool.waiting.append(msg_id)
            yield TOSERVER, {"id": msg_id, "method": "mining.submit", "params": [
                rng.choice(workers), pool.known_job(), _hex(rng, 8), _hex(rng, 56),
                "fd4005" + _hex(rng, 400)]}
        else:
            yield TOCLIENT, pool.reply()


def _xmrig_job(rng, pool, target, algo):
    job = {"blob": _hex(rng, 152), "job_id": pool.job_id(30), "target": target,
           "height": rng.randint(2_000_000, 3_000_000)}
    if algo is not None:
        job["algo"] = algo
    return job


def _xmrig(rng, pool, n):
    algo = "rx/0"
    target = rng.choice(["b88d0600", "f3220000", "e4a63d00"])
    yield TOSERVER, {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
        "login": "4" + _hex(rng, 94), "pass": "x", "agent": "XMRig/6.21.0", "algo": [algo]}}
    yield TOCLIENT, {"id": 1, "jsonrpc": "2.0", "error": None, "result": {
        "id": "a1b2", "job": _xmrig_job(rng, pool, target, algo), "status": "OK"}}
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            if rng.random() < 0.1:
                target = rng.choice(["b88d0600", "f3220000", "e4a63d00", "ffff3f00"])
            if rng.random() < 0.03:
                algo = rng.choice(["rx/0", "cn/r", None])
            yield TOCLIENT, {"jsonrpc": "2.0", "method": "job",
                             "params": _xmrig_job(rng, pool, target, algo)}
        elif r < 0.65:
            msg_id = pool.request_id()
            pool.waiting.append(msg_id)
            params = {"id": "a1b2", "job_id": pool.known_job(), "nonce": _hex(rng, 8),
                      "result": _hex(rng, 64)}
            if rng.random() < 0.8:
                params["algo"] = algo
            yield TOSERVER, {"id": msg_id, "jsonrpc": "2.0", "method": "submit",
                             "params": params}
        elif r < 0.68:
            yield TOSERVER, {"id": pool.request_id(), "jsonrpc": "2.0", "method": "keepalived",
                             "params": {"id": "a1b2"}}
        else:
            yield TOCLIENT, pool.reply()


def _ethproxy(rng, pool, n):
    boundary = "0x" + "0" * 8 + _hex(rng, 56)
    polls = []                       # eth_getWork requests waiting for their work
    yield TOSERVER, {"id": 1, "jsonrpc": "2.0", "method": "eth_submitLogin",
                     "params": ["0x" + _hex(rng, 40)], "worker": "rig1"}
    yield TOCLIENT, {"id": 1, "jsonrpc": "2.0", "result": True}
    for _ in range(n):
        r = rng.random()
        if r < 0.25:
            yield TOSERVER, {"id": 5, "jsonrpc": "2.0", "method": "eth_getWork", "params": []}
            polls.append(5)
        elif r < 0.5:
            if rng.random() < 0.02:
                boundary = "0x" + "0" * 8 + _hex(rng, 56)
            msg_id = polls.pop(0) if polls and rng.random() < 0.9 else 0
            header = "0x" + pool.job_id(64).rjust(64, "0")
            yield TOCLIENT, {"id": msg_id, "jsonrpc": "2.0",
                             "result": [header, "0x" + _hex(rng, 64), boundary]}
        elif r < 0.6:
            pool.waiting.append(6)
            yield TOSERVER, {"id": 6, "jsonrpc": "2.0", "method": "eth_submitHashrate",
                             "params": ["0x" + _hex(rng, rng.randint(5, 8)),
                                        "0x" + _hex(rng, 64)]}
        elif r < 0.75:
            msg_id = pool.request_id()
            pool.waiting.append(msg_id)
            yield TOSERVER, {"id": msg_id, "jsonrpc": "2.0", "method": "eth_submitWork",
                             "params": ["0x" + _hex(rng, 16), "0x" + _hex(rng, 64),
                                        "0x" + _hex(rng, 64)]}
        else:
            yield TOCLIENT, pool.reply()


SESSIONS = {"stratum": _stratum, "zcash": _zcash, "xmrig": _xmrig, "ethproxy": _ethproxy}


def session_lines(rng, dialect, n):
    """[(direction, line bytes)] of one generated session of about n + 5 lines."""
    out = []
    pool = _Pool(rng)
    for direction, obj in SESSIONS[dialect](rng, pool, n):
        out.append((direction, _render(rng, obj)))
        out += [(d, _render(rng, reply)) for d, reply in pool.answers()]
        if rng.random() < 0.01:
            out.append((direction, b"\n" if rng.random() < 0.5 else b"  \r\n"))
    return out


def chunks_of(rng, lines, start_ns=1_700_000_000_000_000_000):
    """Cut a session into segments as TCP would carry them: lines run together and are
    split anywhere; [(direction, bytes, frame, ts_ns)]."""
    chunks, ts, frame = [], start_ns, 0
    i = 0
    while i < len(lines):
        direction = lines[i][0]
        data = b""
        while i < len(lines) and lines[i][0] == direction and (not data or rng.random() < 0.3):
            data += lines[i][1]
            i += 1
        while data:
            cut = len(data) if rng.random() < 0.7 else rng.randint(1, len(data))
            frame += 1
            ts += rng.randint(1, 3_000_000_000)
            chunks.append((direction, data[:cut], frame, ts))
            data = data[cut:]
    return chunks


class _Reports:
    """What the session says at each report, and at the end."""

    def __init__(self):
        self.seen = []

    def take(self, tracked):
        s = tracked.session
        rate = s.hashrate()
        self.seen.append((s.to_dict(), rate and rate.__dict__, s.hash_family))


def snapshot(tracked):
    """Everything a followed flow's session holds that later lines or reports read."""
    s = tracked.session
    pending = [(k, [(p[0].kind, p[0].strength, p[0].signature, p[0].method,
                     p[1] and p[1].__dict__) for p in q]) for k, q in s._pending.items()]
    return {
        "summary": s.to_dict(), "tally": dict(s.tally.__dict__), "pending": pending,
        "pending_count": s._pending_count, "job_targets": list(s._job_targets.items()),
        "exposure": (s._exposure, s._exposure_ts, s._job_hashes), "current": s._current,
        "settings": list(s._settings), "methods": list(s.methods.items()),
        "votes": (list(s._variant_votes.items()), list(s._specific_votes.items())),
        "mining_dirs": sorted(s._mining_dirs), "paired": s._paired,
        "dirs": [(d.mode, d.proxied, bytes(d.buffer), d.skip_to_lf, d.bytes_seen)
                 for d in s._dirs.values()],
        "positions": (list(tracked.next_pos), list(tracked.bytes_fed)),
        "reported": s.reported_hashrate_hs, "algorithm": s.algorithm, "workers": s.workers,
    }


def drive(chunks, slots, rng, max_batch=40):
    """Feed `chunks` to a Handoff (with `slots` numba-followed flows) in batches of up to
    `max_batch` events, with a detection report after each and now and then an
    active-timeout report; returns (reports, final snapshot, FollowedFlows). A chunk is
    (direction, bytes, frame, ts_ns), placed after the direction's last bytes, or has
    its stream position as a fifth item."""
    followed = FollowedFlows(slots, 4)
    handoff = Handoff([], np.zeros(4, np.uint8), np.zeros(4, np.int64), followed=followed)
    tracked = TrackedFlow(7, 2, MiningSession(), ["test"])
    handoff.flows[7] = tracked
    reports = _Reports()
    pos = [0, 0]
    i = 0
    while i < len(chunks):
        batch = chunks[i:i + rng.randint(1, max_batch)]
        i += len(batch)
        events = np.zeros(len(batch), EVENT_DTYPE)
        arena = np.frombuffer(b"".join(c[1] for c in batch), np.uint8).copy()
        off = 0
        for j, (direction, data, frame, ts, *at) in enumerate(batch):
            d = 0 if direction == TOSERVER else 1
            at = at[0] if at else pos[d]             # a 5th item: its stream position
            events[j] = (7, 2, EV_DATA, d, frame, ts, at, off, len(data), 0, 0)
            pos[d] = max(pos[d], at + len(data))
            off += len(data)
        handoff.on_events(events, arena)
        for t in handoff.take_detected():
            reports.take(t)
        if rng.random() < 0.1:
            for t in handoff.on_expire([7], False):
                reports.take(t)
    for t in handoff.on_expire([7], True):
        reports.take(t)
    return reports.seen, snapshot(tracked), followed

