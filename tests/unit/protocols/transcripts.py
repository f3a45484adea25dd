"""Real TCP transcripts from the shared corpus, extracted with tshark inside the tests.

`transcripts(path)` runs tshark once per capture (``-T fields`` with
``tcp.payload``) and rebuilds each TCP stream per direction by sequence
number: retransmitted or overlapping bytes are dropped (so TCP keepalive
probes carrying one stale byte vanish), out-of-order segments wait for the
hole to fill. Chunks are delivered in frame order, which is how the engine
hands payload to :class:`detector.protocols.session.MiningSession`.
Client = sender of a SYN without ACK, else the receiver of a SYN-ACK, else
(stream picked up mid-way) the endpoint with the higher port, as the corpus
labelling script does. Nothing captured is copied into the test files.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from detector.protocols.message import TOCLIENT, TOSERVER
from detector.protocols.session import MiningSession

FIELDS = ("frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport",
          "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.seq_raw", "tcp.flags.syn", "tcp.flags.ack",
          "tcp.payload")
SEQ_MOD = 1 << 32


@dataclass
class Transcript:
    """One TCP stream: endpoints and ordered chunks (direction, bytes, frame_no, ts_ns)."""

    stream: int
    client: tuple
    server: tuple
    chunks: list = field(default_factory=list)

    def session(self) -> MiningSession:
        """A MiningSession fed with every chunk of this stream, then finished."""
        sess = MiningSession()
        for direction, data, frame_no, ts_ns in self.chunks:
            sess.feed(direction, data, frame_no, ts_ns)
        sess.finish()
        return sess


@dataclass
class _Dir:
    next_seq: int | None = None
    pending: dict = field(default_factory=dict)   # raw seq -> payload (beyond a hole)


def _take(d: _Dir, seq: int, payload: bytes) -> bytes:
    """In-order new bytes for a segment at `seq` (plus any pending segments it unblocks)."""
    if d.next_seq is None:
        d.next_seq = seq
    out = bytearray()
    d.pending.setdefault(seq, payload)
    progressed = True
    while progressed:
        progressed = False
        for s in list(d.pending):
            data = d.pending[s]
            delta = (s - d.next_seq) % SEQ_MOD
            if delta >= SEQ_MOD // 2:         # starts before next_seq: overlap or stale
                overlap = SEQ_MOD - delta
                del d.pending[s]
                if overlap < len(data):
                    out += data[overlap:]
                    d.next_seq = (d.next_seq + len(data) - overlap) % SEQ_MOD
                    progressed = True
            elif delta == 0:
                del d.pending[s]
                out += data
                d.next_seq = (d.next_seq + len(data)) % SEQ_MOD
                progressed = True
    return bytes(out)


def _tshark() -> str:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("tshark not installed (needed to extract corpus transcripts)")
    return exe


@functools.lru_cache(maxsize=32)
def transcripts(path: Path) -> tuple[Transcript, ...]:
    """Every TCP stream of `path` with payload, as Transcripts ordered by stream number."""
    cmd = [_tshark(), "-r", str(path), "-n", "-Y", "tcp", "-T", "fields", "-E", "separator=|"]
    for name in FIELDS:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    streams: dict[int, Transcript] = {}
    dirs: dict[tuple, _Dir] = {}
    for line in out.splitlines():
        cols = [col.split(",")[0] for col in line.split("|")]   # tunnels: keep the outer layer
        if len(cols) != len(FIELDS) or not cols[2] or not cols[5] or not cols[8]:
            continue
        frame, epoch, stream, ip4s, ip6s, sport, ip4d, ip6d, dport, seq, syn, ack, payload = cols
        src = (ip4s or ip6s, int(sport))
        dst = (ip4d or ip6d, int(dport))
        sid = int(stream)
        is_syn, is_ack = syn in ("1", "True"), ack in ("1", "True")
        if sid not in streams:
            if is_syn:
                client, server = (dst, src) if is_ack else (src, dst)
            else:
                client, server = (src, dst) if src[1] >= dst[1] else (dst, src)
            streams[sid] = Transcript(sid, client, server)
        tr = streams[sid]
        direction = TOSERVER if src == tr.client else TOCLIENT
        d = dirs.setdefault((sid, direction), _Dir())
        seq_raw = int(seq) if seq else 0
        if is_syn:
            d.next_seq = (seq_raw + 1) % SEQ_MOD
            d.pending.clear()
            continue
        if not payload:
            continue
        data = _take(d, seq_raw, bytes.fromhex(payload.replace(":", "")))
        if data:
            tr.chunks.append((direction, data, int(frame), int(float(epoch) * 1e9)))
    return tuple(streams[k] for k in sorted(streams) if streams[k].chunks)
