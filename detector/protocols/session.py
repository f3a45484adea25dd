"""Per-flow slow-path state: framing, pairing, share counts and the is-mining decision.

The engine calls :meth:`MiningSession.feed` with reassembled payload bytes of
one direction (``"toserver"``/``"toclient"``, client = flow initiator), in
order. Each direction is framed on its own: newline JSON-RPC, HTTP/1.x or
plaintext Stratum V2 (detected from its first bytes; a first segment cut
inside the SV2 opening frame is buffered until that frame is whole, see
``stratum_v2.opening_prefix``). Parsed messages are
paired by JSON-RPC id (FIFO per id: some miners reuse one id for every
submit), so shares are counted accepted/rejected by the pool's reply.

Decision (PROTOCOLS.md §13, §14): each distinct evidence signature has a
strength; one *conclusive* message in its expected direction is enough, a
*strong* one needs a second distinct indication, *weak* ones only add score.
A generic method name never counts: parsers only return a message when the
mining shape is there. ``confidence`` is ``"dpi"`` when mining messages were
seen from both sides (or a request was answered), else ``"dpi_partial"``;
``score`` is the noisy-or of the evidence weights. Difficulties and targets
are kept as sent and converted when read, in the hash family known then
(a Zcash ``set_target`` precedes the notify that identifies Zcash).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field

from .. import hashrate as hr
from . import dispatch, http_mining, proxy_request, steady, stratum_v2
from .jsonrpc import DEFAULT_MAX_LINE_BYTES, EVENT_LINE_TOO_LONG, decode_json, split_lines
from .message import (CONCLUSIVE, DIRECTIONS, ETHEREUMSTRATUM_1, ETHEREUMSTRATUM_2, ETHPROXY,
                      GETBLOCKTEMPLATE, GETWORK, KIND_DIFFICULTY, KIND_JOB,
                      KIND_REPLY, KIND_SHARE, KIND_SHARE_RESULT, KIND_TARGET,
                      STRATUM_V1, STRATUM_V2, STRONG, TOCLIENT, TOSERVER, WEAK, XMRIG, ZCASH,
                      MiningMessage)

log = logging.getLogger(__name__)

STRENGTH_WEIGHT = {CONCLUSIVE: 0.9, STRONG: 0.6, WEAK: 0.25}
MINING_STRENGTHS = (CONCLUSIVE, STRONG)     # a message strong enough to show mining
MINING_SCORE_THRESHOLD = 0.7
FIRST_BYTES_KEPT = 4096
MAX_PENDING_REQUESTS = 1024
MAX_JOB_TARGETS = 256
MAX_WORKERS = 16
MAX_EVENTS = 32
MAX_EVIDENCE = 64            # kinds of evidence kept per flow
MAX_DIFFICULTY_HISTORY = 64
DEFAULT_MAX_HTTP_BYTES = 256 * 1024
MEMO_LINE_BYTES = 160        # JSON lines this short are remembered with their parse ...
MEMO_LINES = 8               # ... this many per direction (oldest forgotten first)
_UNPARSED = object()

MODE_JSON = "json"
MODE_HTTP = "http"
MODE_SV2 = "sv2"
MODE_OTHER = "other"

EVENT_BAD_DIRECTION = "bad_direction"
EVENT_HTTP_TOO_LONG = "http_too_long"
EVENT_HTTP_MALFORMED = "http_malformed"
EVENT_SV2_MALFORMED = "sv2_malformed"
EVENT_PENDING_OVERFLOW = "pending_overflow"
EVENT_NOISE_HANDSHAKE = "noise_handshake"

# variant -> hash family for hashes per share (§12.1)
VARIANT_FAMILY = {
    STRATUM_V1: hr.FAMILY_SHA256D, XMRIG: hr.FAMILY_CRYPTONOTE, ETHPROXY: hr.FAMILY_ETHASH,
    ETHEREUMSTRATUM_1: hr.FAMILY_ETHASH_STRATUM, ETHEREUMSTRATUM_2: hr.FAMILY_ETHASH,
    ZCASH: hr.FAMILY_EQUIHASH, STRATUM_V2: hr.FAMILY_SV2, GETWORK: hr.FAMILY_GETWORK,
    GETBLOCKTEMPLATE: hr.FAMILY_SHA256D,
}
ALGO_FAMILY = {"kawpow": hr.FAMILY_KAWPOW, "equihash": hr.FAMILY_EQUIHASH,
               "ethash": hr.FAMILY_ETHASH, "scrypt": hr.FAMILY_SCRYPT}
VARIANT_ALGORITHM = {ETHPROXY: "ethash", ZCASH: "equihash", ETHEREUMSTRATUM_2: "ethash"}
VARIANT_COIN = {ZCASH: "ZEC"}


@dataclass
class _Direction:
    """Framing state of one direction."""

    mode: str | None = None
    buffer: bytearray = field(default_factory=bytearray)
    skip_to_lf: bool = False
    first_bytes: bytearray = field(default_factory=bytearray)
    bytes_seen: int = 0
    proxied: bool | None = None     # opened with a proxy request/reply (None: not known yet)
    # the last short lines parsed and their messages: miners repeat a request line
    # (eth_getWork with a fixed id) and pools a reply, so each is parsed once
    parsed: dict = field(default_factory=dict)


@dataclass
class _Share:
    """One submitted share, resolved when its reply arrives."""

    ts_ns: int | None
    difficulty: float | None
    target: str | None
    target_format: str | None
    exposure: float | None = None     # ShareTally exposure at submit time


class MiningSession:
    """Slow-path state of one flow; feed bytes in, read the verdict out.

    Parameters: ``max_line_bytes`` caps one JSON line (longer lines are dropped
    with the event ``line_too_long``); ``max_http_bytes`` caps one buffered
    HTTP message. Nothing else grows without bound.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 max_http_bytes: int = DEFAULT_MAX_HTTP_BYTES):
        self.max_line_bytes = max_line_bytes
        self.max_http_bytes = max_http_bytes
        self._dirs = {d: _Direction() for d in DIRECTIONS}
        self._evidence: dict[str, dict] = {}
        self._events: list[str] = []
        self._pending: dict[object, deque] = {}
        self._pending_count = 0
        self._variant_votes: Counter = Counter()
        self._specific_votes: Counter = Counter()
        self._mining_dirs: set[str] = set()
        self._paired = False
        self.tally = hr.ShareTally()         # accepted shares -> hashrate
        self._exposure = 0.0                 # integral of dt / H(t) over the jobs seen
        self._exposure_ts: int | None = None
        self._job_hashes: float | None = None   # H of the job being worked on now
        self._job_targets: dict[str, tuple] = {}
        self._current = (None, None, None)   # (difficulty, target, target_format) in force
        self._settings: list[tuple] = []     # raw settings as sent, last MAX_DIFFICULTY_HISTORY
        self.worker: str | None = None
        self.workers: list[str] = []
        self.agent: str | None = None
        self.algorithm: str | None = None
        self.coin: str | None = None
        self.pool: str | None = None
        self.pool_port: int | None = None
        self.shares_submitted = 0
        self.shares_accepted = 0
        self.shares_rejected = 0
        self.jobs = 0
        self.difficulty_changes = 0
        self.reported_hashrate_hs: float | None = None
        self.methods: Counter = Counter()

    # ------------------------------------------------------------ input

    def feed(self, direction: str, data: bytes, frame_no: int | None = None,
             ts_ns: int | None = None) -> list[MiningMessage]:
        """Consume the next reassembled bytes of `direction`; returns the messages parsed."""
        state = self._dirs.get(direction)
        if state is None:
            self._event(EVENT_BAD_DIRECTION)
            return []
        data = bytes(data)
        if not data:
            return []
        if len(state.first_bytes) < FIRST_BYTES_KEPT:
            state.first_bytes += data[:FIRST_BYTES_KEPT - len(state.first_bytes)]
        state.bytes_seen += len(data)
        if state.mode is None:
            data = bytes(state.buffer) + data      # an undecided opening waits here
            state.buffer.clear()
            data = self._skip_proxy_preamble(direction, state, data)
            if data is None:
                return []
            mode = self._detect_mode(direction, state, data)
            if mode is None:
                state.buffer += data
                return []
            state.mode = mode
        if state.mode == MODE_JSON:
            msgs = self._feed_json(direction, state, data)
        elif state.mode == MODE_HTTP:
            msgs = self._feed_http(direction, state, data, final=False)
        elif state.mode == MODE_SV2:
            msgs = self._feed_sv2(direction, state, data)
        else:
            msgs = []
        for msg in msgs:
            self._on_message(msg, frame_no, ts_ns)
        if state.mode == MODE_OTHER:         # both directions must be (_check_noise)
            self._check_noise()
        return msgs

    def finish(self) -> list[MiningMessage]:
        """The flow ended: frame what is still buffered (an HTTP body without length)."""
        msgs = []
        for direction, state in self._dirs.items():
            if state.mode == MODE_HTTP and state.buffer:
                got = self._feed_http(direction, state, b"", final=True)
                for msg in got:
                    self._on_message(msg, None, None)
                msgs += got
        return msgs

    def _skip_proxy_preamble(self, direction, state, data):
        """The bytes after a proxy request (client) or the proxy's replies (server, once
        the client was seen asking a proxy): a miner behind SOCKS or HTTP CONNECT speaks
        its protocol right after them. None while the preamble is still cut."""
        if state.proxied is not None:
            return data
        client = self._dirs[TOSERVER]
        if direction == TOSERVER:
            found = proxy_request.parse_proxy_request(data)
            skip = found.inner_offset if isinstance(found, proxy_request.ProxyRequest) else 0
        elif client.proxied:
            found = proxy_request.proxy_reply_length(data)
            skip = found if isinstance(found, int) else 0
        elif client.proxied is None and client.buffer and len(data) < FIRST_BYTES_KEPT:
            # a proxy answering a request still cut (a SOCKS5 greeting before its CONNECT):
            # whether these bytes are its replies is known once the request is whole
            state.buffer += data
            return None
        else:
            found, skip = None, 0
        if isinstance(found, proxy_request.Incomplete) and len(data) < FIRST_BYTES_KEPT:
            state.buffer += data
            return None
        state.proxied = skip > 0
        return data[skip:] or None              # nothing tunnelled yet: wait for it

    def _detect_mode(self, direction: str, state: _Direction, data: bytes) -> str | None:
        """Framing of a direction from its first bytes; None: undecided, wait for more.

        Only blank bytes (a line end or keepalive sent on its own) and a proper
        prefix of a plaintext SV2 opening frame (``stratum_v2.opening_prefix``: at
        most one frame of bounded length) are waited for, up to FIRST_BYTES_KEPT.
        """
        head = data.lstrip(b" \t\r\n\x00")
        if not head and len(data) < FIRST_BYTES_KEPT:
            return None              # blank so far (a line end, a keepalive): wait
        if head.startswith(b"{"):
            return MODE_JSON
        if http_mining.looks_like_http(head):
            return MODE_HTTP
        frame = stratum_v2.parse_frame(data)
        if isinstance(frame, stratum_v2.Sv2Frame) and stratum_v2.parse(data, direction):
            return MODE_SV2
        if (isinstance(frame, stratum_v2.Incomplete) and len(data) < FIRST_BYTES_KEPT
                and stratum_v2.opening_prefix(data, direction)):
            return None
        if self._dirs[TOSERVER if direction == TOCLIENT else TOCLIENT].mode == MODE_SV2:
            return MODE_SV2
        if b"\n{" in data:           # picked up mid-line: resynchronise on the next line
            state.skip_to_lf = True
            return MODE_JSON
        return MODE_OTHER

    def _feed_json(self, direction: str, state: _Direction, data: bytes) -> list[MiningMessage]:
        if (not state.skip_to_lf and not state.buffer and data.find(b"\n") == len(data) - 1
                and len(data) <= self.max_line_bytes):
            lines = [data[:-1]]              # the usual segment: one whole line (split_lines'
        else:                                # other work has nothing to do)
            lines = self._json_lines(state, data)
        out = []
        parsed = state.parsed
        for line in lines:
            msg = parsed.get(line, _UNPARSED)
            if msg is _UNPARSED:
                msg = steady.read(line, direction)     # the usual shapes, read in numba
                if msg is steady.UNCLAIMED:
                    obj = decode_json(line)
                    msg = dispatch.parse_json(obj, direction) if obj is not None else None
                if len(line) <= MEMO_LINE_BYTES:
                    if len(parsed) >= MEMO_LINES:
                        parsed.pop(next(iter(parsed)))
                    parsed[line] = msg
            if msg is not None:
                out.append(msg)
        return out

    def _json_lines(self, state: _Direction, data: bytes) -> list[bytes]:
        """The complete lines `data` ends, after what the direction buffered; keeps the rest."""
        if state.skip_to_lf:
            cut = data.find(b"\n")
            if cut < 0:
                return []
            data, state.skip_to_lf = data[cut + 1:], False
        if state.buffer:                     # the start of a line cut by the last segment
            data = bytes(state.buffer) + data
        lines, rest, events = split_lines(data, self.max_line_bytes)
        state.buffer = bytearray(rest)
        for event in events:
            self._event(event)
        if EVENT_LINE_TOO_LONG in events and not rest and not data.endswith(b"\n"):
            state.skip_to_lf = True
        return lines

    def _feed_http(self, direction: str, state: _Direction, data: bytes,
                   final: bool) -> list[MiningMessage]:
        state.buffer += data
        out: list[MiningMessage] = []
        while state.buffer:
            res = http_mining.parse_http(bytes(state.buffer), final=final)
            if isinstance(res, http_mining.Incomplete):
                if len(state.buffer) > self.max_http_bytes:
                    self._event(EVENT_HTTP_TOO_LONG)
                    state.buffer.clear()
                break
            if res is None:
                self._event(EVENT_HTTP_MALFORMED)
                state.buffer.clear()
                break
            del state.buffer[:res.consumed]
            out += self._http_messages(res, direction)
            if res.consumed == 0:
                break
        return out

    def _http_messages(self, res, direction: str) -> list[MiningMessage]:
        msgs = []
        msg = http_mining.parse(res, direction)
        if msg is not None:
            msgs.append(msg)
        if res.body and (msg is None or not msg.specific):
            body = dispatch.parse_json(decode_json(res.body) or b"", direction)
            if body is not None:
                msgs.append(body)
        return msgs

    def _feed_sv2(self, direction: str, state: _Direction, data: bytes) -> list[MiningMessage]:
        state.buffer += data
        out = []
        while True:
            frame = stratum_v2.parse_frame(bytes(state.buffer))
            if isinstance(frame, stratum_v2.Incomplete):
                if len(state.buffer) > self.max_http_bytes:
                    self._event(EVENT_SV2_MALFORMED)
                    state.buffer.clear()
                break
            if frame is None:
                self._event(EVENT_SV2_MALFORMED)
                state.buffer.clear()
                state.mode = MODE_OTHER
                break
            raw = bytes(state.buffer[:frame.consumed])
            del state.buffer[:frame.consumed]
            msg = stratum_v2.parse(raw, direction)
            if msg is not None:
                out.append(msg)
        return out

    def _check_noise(self):
        c2s, s2c = self._dirs[TOSERVER], self._dirs[TOCLIENT]
        if (c2s.mode == MODE_OTHER and s2c.mode == MODE_OTHER
                and EVENT_NOISE_HANDSHAKE not in self._events
                and stratum_v2.looks_like_noise_handshake(c2s.first_bytes, s2c.first_bytes)):
            self._event(EVENT_NOISE_HANDSHAKE)
            self._add_evidence("stratum-v2.noise_handshake", WEAK, "login", TOSERVER, None)
            self._variant_votes[STRATUM_V2] += 1

    # ------------------------------------------------------------ messages

    def _event(self, name: str):
        if name not in self._events and len(self._events) < MAX_EVENTS:
            self._events.append(name)

    def _add_evidence(self, signature, strength, kind, direction, frame_no):
        entry = self._evidence.get(signature)
        if entry is None:
            if len(self._evidence) >= MAX_EVIDENCE:
                return
            self._evidence[signature] = {"signature": signature, "strength": strength,
                                         "kind": kind, "direction": direction,
                                         "first_frame": frame_no, "count": 1}
        else:
            entry["count"] += 1

    def _on_message(self, msg: MiningMessage, frame_no, ts_ns):
        kind, direction, variant = msg.kind, msg.direction, msg.variant
        if msg.method:
            self.methods[msg.method[:64]] += 1
        if kind != KIND_REPLY or variant is not None:     # a generic reply only pairs
            self._add_evidence(msg.signature, msg.strength, kind, direction, frame_no)
            if variant:
                self._variant_votes[variant] += 1
                if msg.specific:
                    self._specific_votes[variant] += 1
            if msg.strength in MINING_STRENGTHS:
                self._mining_dirs.add(direction)
        self._take_fields(msg)
        if kind == KIND_JOB and direction == TOCLIENT:
            self._advance_exposure(ts_ns)
            self._job_hashes = self._hashes_of(self._current)
        if msg.is_reply or kind == KIND_REPLY:
            self._on_reply(msg, frame_no)
        elif direction == TOSERVER and msg.msg_id is not None:
            self._remember_request(msg)
        if kind == KIND_SHARE:
            self._on_share(msg, ts_ns)
        elif kind == KIND_SHARE_RESULT and variant == STRATUM_V2:
            if msg.result_ok:
                self.shares_accepted += msg.accepted_count or 0
            else:
                self.shares_rejected += 1

    def _take_fields(self, msg: MiningMessage):
        kind, worker = msg.kind, msg.worker
        if worker or msg.workers_extra:                  # most messages name nobody
            for name in (worker, *msg.workers_extra):
                if name and name not in self.workers and len(self.workers) < MAX_WORKERS:
                    self.workers.append(name)
            if worker and self.worker is None:
                self.worker = worker
        if msg.agent and self.agent is None:
            self.agent = msg.agent
        if msg.algo and (self.algorithm is None or kind == KIND_JOB):
            self.algorithm = msg.algo
        if msg.coin and self.coin is None:
            self.coin = msg.coin
        if msg.pool_host and self.pool is None:
            self.pool, self.pool_port = msg.pool_host, msg.pool_port
        if msg.reported_hashrate_hs is not None:
            self.reported_hashrate_hs = msg.reported_hashrate_hs
        if kind == KIND_JOB:
            if msg.target:
                self._set_difficulty(msg)
            self.jobs += 1
            if msg.job_id is not None:
                if len(self._job_targets) >= MAX_JOB_TARGETS:
                    self._job_targets.pop(next(iter(self._job_targets)))
                self._job_targets[msg.job_id] = self._current
        elif kind in (KIND_DIFFICULTY, KIND_TARGET):
            self._set_difficulty(msg)

    def _set_difficulty(self, msg: MiningMessage):
        """Record a difficulty or target as sent; converted only when read (§12.1).

        A target's difficulty depends on the hash family (Equihash counts it
        relative to powLimit), which may only be known from a later message
        (a ZIP 301 notify after ``mining.set_target``), so the raw target is
        kept and :meth:`_difficulty_of` converts with the family known then.
        """
        if msg.kind == KIND_DIFFICULTY:
            current = (msg.difficulty, None, None)
        else:
            current = (None, msg.target, msg.target_format)
        if self._difficulty_of(current) is None:
            return
        self._current = current
        changed = bool(self._settings) and self._changed(self._settings[-1], current)
        if changed:
            self.difficulty_changes += 1
        if changed or not self._settings:
            self._settings.append(current)
            del self._settings[:-MAX_DIFFICULTY_HISTORY]

    def _difficulty_of(self, setting: tuple, family: str | None = None) -> float | None:
        """Difficulty of a raw (difficulty, target, target_format) in `family` (default: now)."""
        difficulty, target, target_format = setting
        if target is None:
            return difficulty
        return hr.difficulty_from_target(target, target_format, family or self._family())

    def _changed(self, old: tuple, new: tuple) -> bool:
        """True when two raw settings differ in value (targets compared family-free)."""
        if old[1] is not None and new[1] is not None:
            return hr.target_hashes(old[1], old[2]) != hr.target_hashes(new[1], new[2])
        if old[1] is None and new[1] is None:
            return old[0] != new[0]
        return self._difficulty_of(old) != self._difficulty_of(new)

    @property
    def difficulty(self) -> float | None:
        """The difficulty in force, in the convention of the family known now."""
        return self._difficulty_of(self._settings[-1]) if self._settings else None

    @property
    def difficulty_history(self) -> list[float]:
        """Distinct successive difficulties (last MAX_DIFFICULTY_HISTORY), family known now."""
        family = self._family()
        return [d for d in (self._difficulty_of(x, family) for x in self._settings) if d is not None]

    def _remember_request(self, msg: MiningMessage):
        if self._pending_count >= MAX_PENDING_REQUESTS:
            self._event(EVENT_PENDING_OVERFLOW)
            oldest = next(iter(self._pending))
            self._pending[oldest].popleft()
            self._pending_count -= 1
            if not self._pending[oldest]:
                del self._pending[oldest]
        self._pending.setdefault(msg.msg_id, deque()).append([msg, None])
        self._pending_count += 1

    def _on_reply(self, msg: MiningMessage, frame_no):
        queue = self._pending.get(msg.msg_id) if msg.msg_id is not None else None
        if not queue:
            return
        request, share = queue.popleft()
        self._pending_count -= 1
        if not queue:
            del self._pending[msg.msg_id]
        if request.strength in MINING_STRENGTHS or (
                msg.variant is not None and msg.strength in MINING_STRENGTHS):
            self._paired = True
        if request.kind != KIND_SHARE:
            return
        self._add_evidence(f"{request.signature}.result", STRONG if request.strength != WEAK else WEAK,
                           KIND_SHARE_RESULT, TOCLIENT, frame_no)
        ok = msg.result_ok
        if request.method in http_mining.METHOD_SUBMITBLOCK and msg.submitblock_ok is not None:
            ok = msg.submitblock_ok         # BIP 22: result null = accepted, a string = reason
        if ok is True:
            self.shares_accepted += 1
            if share is not None:
                self.tally.add(share.ts_ns, self.share_hashes(share), share.exposure)
        elif ok is False:
            self.shares_rejected += 1

    def _on_share(self, msg: MiningMessage, ts_ns):
        if msg.variant == STRATUM_V2:
            self.shares_submitted += 1
            return
        self.shares_submitted += 1
        diff, target, fmt = self._job_targets.get(msg.job_id, self._current)
        self._advance_exposure(ts_ns)
        exposure = self._exposure if self._exposure_ts is not None and ts_ns is not None else None
        share = _Share(ts_ns, diff, target, fmt, exposure)
        queue = self._pending.get(msg.msg_id) if msg.msg_id is not None else None
        if queue and queue[-1][0] is msg:
            queue[-1][1] = share

    # ------------------------------------------------------------ verdict

    @property
    def score(self) -> float:
        """Noisy-or of the evidence weights, in [0, 1]."""
        miss = 1.0
        for entry in self._evidence.values():
            miss *= 1.0 - STRENGTH_WEIGHT[entry["strength"]]
        return round(1.0 - miss, 4)

    @property
    def is_mining(self) -> bool:
        """True on one conclusive message, or a strong one plus another distinct indication."""
        strengths = [e["strength"] for e in self._evidence.values()]
        if CONCLUSIVE in strengths:
            return True
        return (STRONG in strengths and len(strengths) >= 2
                and self.score >= MINING_SCORE_THRESHOLD)

    @property
    def confidence(self) -> str | None:
        """"dpi" (both sides seen or a request answered), "dpi_partial", or None if not mining."""
        if not self.is_mining:
            return None
        if len(self._mining_dirs) == 2 or self._paired:
            return "dpi"
        return "dpi_partial"

    @property
    def variant(self) -> str | None:
        """The most specific dialect seen (generic stratum-v1 only when nothing finer)."""
        votes = self._specific_votes or self._variant_votes
        if not votes:
            return None
        if GETWORK in votes and self.methods.get("getwork"):
            return GETWORK
        finer = {v: n for v, n in votes.items() if v not in (STRATUM_V1, GETWORK)}
        if finer:
            return max(finer, key=lambda v: (finer[v], v))
        return STRATUM_V1 if STRATUM_V1 in votes else max(votes, key=lambda v: (votes[v], v))

    @property
    def hash_family(self) -> str | None:
        """The family H(share) is computed in (hashrate.FAMILY_*), None before any mining."""
        return self._family() if self.is_mining else None

    def _family(self) -> str:
        if self.algorithm in ALGO_FAMILY:
            return ALGO_FAMILY[self.algorithm]
        votes = self._specific_votes or self._variant_votes
        finer = [v for v in votes if v != STRATUM_V1]
        variant = finer[0] if finer else (STRATUM_V1 if votes else None)
        return VARIANT_FAMILY.get(variant, hr.FAMILY_SHA256D)

    def _hashes_of(self, setting: tuple) -> float | None:
        """H(share) of a raw (difficulty, target, target_format), in the session's family."""
        difficulty, target, target_format = setting
        return hr.hashes_per_share(self._family(), difficulty, target, target_format)

    def _advance_exposure(self, ts_ns):
        """Add dt / H of the job in force since the last call (miners work the newest job)."""
        if ts_ns is None:
            return
        if self._job_hashes and self._exposure_ts is not None and ts_ns > self._exposure_ts:
            self._exposure += (ts_ns - self._exposure_ts) / 1e9 / self._job_hashes
        if self._job_hashes:
            self._exposure_ts = ts_ns if self._exposure_ts is None else max(ts_ns,
                                                                            self._exposure_ts)

    def share_hashes(self, share: _Share) -> float | None:
        """H(share) at the difficulty/target of the share's job, in the session's family."""
        return self._hashes_of((share.difficulty, share.target, share.target_format))

    def hashrate(self, confidence: float = 0.90) -> hr.HashrateEstimate | None:
        """Share-based estimate over the accepted shares' submit times (needs ts_ns on feed)."""
        return self.tally.estimate(confidence)

    def to_dict(self) -> dict:
        """JSON-ready summary of the flow's mining state (see module docstring)."""
        variant = self.variant
        return {
            "is_mining": self.is_mining,
            "variant": variant,
            "coin": self.coin or VARIANT_COIN.get(variant),
            "algorithm": self.algorithm or VARIANT_ALGORITHM.get(variant),
            "worker": self.worker,
            "workers": list(self.workers),
            "agent": self.agent,
            "pool": self.pool,
            "shares_submitted": self.shares_submitted,
            "shares_accepted": self.shares_accepted,
            "shares_rejected": self.shares_rejected,
            "difficulty": self.difficulty,
            "difficulty_changes": self.difficulty_changes,
            "jobs": self.jobs,
            "reported_hashrate_hs": self.reported_hashrate_hs,
            "confidence": self.confidence,
            "score": self.score,
            "evidence": [dict(e) for e in self._evidence.values()],
            "events": list(self._events),
        }
