"""Detected flows whose steady lines numba applies (follow_kernel), and the way
each flow's session state goes into the arrays and comes back out.

:meth:`FollowedFlows.hand_over` copies what a MiningSession's next steady lines
can change (counters, pending requests, job ids, exposure, the share tally)
into a free slot, with the facts those lines are checked against (workers,
algorithm, the setting in force, which evidence kinds and votes exist).
:meth:`FollowedFlows.take_back` writes the slot back into the session, which
then reads on as if it had read every line itself. Only flows framed as JSON
lines with nothing held out of stream order are handed over; a side that has
said nothing yet is framed in numba when its first bytes open with '{' (else
the flow stops there and Python finds their framing). This module reads the
session's private state on purpose: it is the session's other half.

A session's ``first_bytes`` only matter to a flow in no known framing
(``_check_noise``), so a followed flow does not extend them.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..engine.inspect import EVENT_DTYPE
from . import ethproxy, stratum_v1, xmrig, zcash
from . import follow_kernel as fk
from .http_mining import METHOD_SUBMITBLOCK
from .message import KIND_SHARE, KIND_SHARE_RESULT, STRONG, TOCLIENT, TOSERVER, WEAK
from .session import MAX_EVIDENCE, MINING_STRENGTHS, MODE_JSON, _Share
from .steady import (ETHPROXY_GET_WORK, ETHPROXY_HASHRATE, ETHPROXY_SUBMIT_WORK, ETHPROXY_WORK,
                     SCRATCH_WORDS, STRATUM_DIFFICULTY, STRATUM_NOTIFY, STRATUM_SUBMIT,
                     XMRIG_JOB, XMRIG_SUBMIT, ZCASH_NOTIFY, ZCASH_SUBMIT)

DIRECTIONS = (TOSERVER, TOCLIENT)
NO_SETTING = (None, None, None)   # MiningSession._current before a difficulty or target
_HEADER = "0x" + "0" * 64

# what each class's lines are, as the dialect builders make them (method, signature,
# variant, strength, direction: what the session counts and checks)
PROTOTYPES = {
    STRATUM_SUBMIT: stratum_v1.submit_message(TOSERVER, 1, "w", "j"),
    ZCASH_SUBMIT: zcash.submit_message(TOSERVER, 1, "w", "j"),
    XMRIG_SUBMIT: xmrig.submit_message(TOSERVER, 1, "j", None),
    ETHPROXY_GET_WORK: ethproxy.get_work_message(TOSERVER, 1),
    ETHPROXY_HASHRATE: ethproxy.hashrate_message(TOSERVER, 1, "0x1"),
    ETHPROXY_SUBMIT_WORK: ethproxy.submit_work_message(TOSERVER, 1),
    STRATUM_NOTIFY: stratum_v1.notify_message(TOCLIENT, None, "j", ""),
    ZCASH_NOTIFY: zcash.notify_message(TOCLIENT, None, "j"),
    XMRIG_JOB: xmrig.job_message(TOCLIENT, None, "j", "ffffffff", None, None),
    ETHPROXY_WORK: ethproxy.work_message(TOCLIENT, 1, [_HEADER, _HEADER, _HEADER]),
    STRATUM_DIFFICULTY: stratum_v1.difficulty_message(TOCLIENT, None, 1),
}
CLASS_OF_SIGNATURE = {p.signature: cls for cls, p in PROTOTYPES.items()}
EXTRA_RESULTS = fk.N_RESULT_KINDS - fk.N_CLASSES
CLASSES = np.array(list(PROTOTYPES))
# result kinds: each class's share results, then those of requests no class reads
RESULT_KINDS = np.array(list(PROTOTYPES) + list(range(fk.N_CLASSES, fk.N_RESULT_KINDS)))


def _ascii(text, limit):
    """`text` as bytes when it can be compared as sent (ASCII, at most `limit`), else None."""
    if not isinstance(text, str) or not text or len(text) > limit or not text.isascii():
        return None
    return text.encode("ascii")


def _nan_for_none(value):
    return math.nan if value is None else float(value)


def _none_for_nan(value):
    return None if value != value else value


def _current_kind(current):
    """CUR_* of a session's setting in force, and its bytes or integral value."""
    difficulty, target, target_format = current
    if difficulty is None and target is None:
        return fk.CUR_NONE, None
    if (target is None and isinstance(difficulty, (int, float))
            and not isinstance(difficulty, bool) and 0 < difficulty < 2 ** 53
            and difficulty == int(difficulty)):
        return fk.CUR_DIFFICULTY, int(difficulty)
    raw = _ascii(target, fk.TARGET_BYTES) if difficulty is None else None
    if raw is not None and target_format == "cryptonote":
        return fk.CUR_CRYPTONOTE, raw
    if raw is not None and target_format == "boundary":
        return fk.CUR_BOUNDARY, raw
    return fk.CUR_OTHER, None


class FollowedFlows:
    """Up to `slots` detected flows applied in numba; `slot_of_row` maps flow-table rows."""

    def __init__(self, slots: int, table_rows: int):
        self.state = fk.new_state(slots)
        self.slot_of_row = np.full(max(1, table_rows), -1, np.int32)
        self.scratch = np.zeros(SCRATCH_WORDS, np.int64)
        self.free = list(range(slots - 1, -1, -1))
        self.held = {}                 # slot -> (TrackedFlow, its pending (id, pair)s from
                                       # Python, settings by index, extra result signatures)
        self.lines = 0                 # lines applied here
        self.returns = 0               # flows handed back

    @property
    def count(self):
        return len(self.held)

    def run(self, events, arena):
        """follow_batch over `events`: the resume offsets (follow_kernel.CONSUMED, ...)."""
        resume = np.empty(len(events), np.int64)
        self.lines += fk.follow_batch(events, arena, self.slot_of_row, resume, self.scratch,
                                      *self.state)
        return resume

    def warm_up(self):
        """Load follow_batch and hash_ring (compiled once, then from the cache): a first
        hand-over would otherwise load the latter while packets are timed."""
        self.run(np.zeros(0, EVENT_DTYPE), np.zeros(0, np.uint8))
        scratch = fk.new_state(1)           # slot 0 of a state of its own: no jobs yet
        fk.hash_ring(scratch[0], *scratch[8:11], 0)              # ints, ring key/len/hash

    # ------------------------------------------------------------ in

    @staticmethod
    def premature(tracked) -> bool:
        """True while a hand-over would most likely come straight back: the session has
        no difficulty or target in force, or has seen no job yet. The lines that bring
        the first of each are ones numba leaves to Python (a subscribe or login reply, a
        first set_difficulty, set_target or work, a first notify or job that adds its
        dialect's vote). The caller bounds the wait (Handoff.MAX_EARLY_OFFERS): a capture
        may show neither (only the miner's side, or a flow picked up mid-stream)."""
        session = tracked.session
        return session.jobs == 0 or session._current == NO_SETTING

    def hand_over(self, tracked) -> bool:
        """Follow `tracked` here from now on; False when its session cannot be."""
        session = tracked.session
        if not self.free or tracked.url_client is not None or any(tracked.held):
            return False
        for d in DIRECTIONS:            # JSON lines, or nothing yet (a one-sided capture)
            state = session._dirs[d]
            if state.mode is None and not state.buffer and state.proxied is None:
                continue
            if state.mode != MODE_JSON or state.skip_to_lf or len(state.buffer) > fk.BUFFER_BYTES:
                return False
        if session._pending_count > fk.PENDING:
            return False
        index = {session._current: 0}       # equal settings share an index
        jobs = []
        for job_id, setting in session._job_targets.items():
            raw = _ascii(job_id, fk.KEY_BYTES)
            if raw is None:
                return False
            jobs.append((raw, index.setdefault(setting, len(index))))
        if len(index) > fk.SETTINGS:
            return False
        settings = list(index)
        pairs, extra = [], []
        pending = []
        for msg_id, queue in session._pending.items():
            for pair in queue:
                request = pair[0]
                if request.method in METHOD_SUBMITBLOCK:
                    return False
                kind = -1
                if request.kind == KIND_SHARE:
                    kind = CLASS_OF_SIGNATURE.get(request.signature)
                    if kind is None:
                        if request.signature not in extra:
                            if len(extra) == EXTRA_RESULTS:
                                return False
                            extra.append(request.signature)
                        kind = fk.N_CLASSES + extra.index(request.signature)
                pending.append((msg_id, kind, request, pair))
                pairs.append((msg_id, pair))
        s = self.free.pop()
        self._fill(s, tracked, settings, jobs, pending, extra)
        self.held[s] = (tracked, pairs, settings, extra)
        tracked.core_slot = s
        self.slot_of_row[tracked.row] = s
        return True

    def _fill(self, s, tracked, settings, jobs, pending, extra):
        """Write the session's state into slot s (rows built in Python, each array
        written once: a numpy write costs more than the Python around it)."""
        (ints, floats, allowed, result_allowed, class_n, result_n, pend, pend_f, ring_key,
         ring_len, ring_hash, ring_setting, setting_hashes, workers, worker_len, algo,
         target, buffers, _) = self.state
        session = tracked.session
        tally = session.tally
        row = [0] * fk.N_INTS
        row[fk.C_FID], row[fk.C_STATE] = tracked.flow_id, fk.ACTIVE
        for d, name in enumerate(DIRECTIONS):
            state = session._dirs[name]
            row[fk.C_JSON + d] = self._framing(session, name)
            row[fk.C_NEXT + d] = tracked.next_pos[d]
            row[fk.C_BUF + d] = len(state.buffer)
            if state.buffer:
                buffers[s, d, :len(state.buffer)] = np.frombuffer(bytes(state.buffer), np.uint8)
        row[fk.C_SUBMITTED] = session.shares_submitted
        row[fk.C_ACCEPTED] = session.shares_accepted
        row[fk.C_REJECTED] = session.shares_rejected
        row[fk.C_JOBS] = session.jobs
        row[fk.C_PAIRED] = session._paired
        row[fk.C_MAX_LINE] = session.max_line_bytes
        if session._exposure_ts is not None:
            row[fk.C_EXPOSURE_TS], row[fk.C_HAS_EXPOSURE_TS] = session._exposure_ts, 1
        row[fk.C_T_ACCEPTED] = tally.accepted
        row[fk.C_T_WITH_EXPOSURE] = tally.with_exposure
        if tally.first_ts_ns is not None:
            row[fk.C_T_FIRST_TS], row[fk.C_T_HAS_FIRST] = tally.first_ts_ns, 1
        if tally.last_ts_ns is not None:
            row[fk.C_T_LAST_TS], row[fk.C_T_HAS_LAST] = tally.last_ts_ns, 1
        row[fk.C_HAS_REPORTED] = session.reported_hashrate_hs is not None
        raw = _ascii(session.algorithm, fk.KEY_BYTES)
        row[fk.C_ALGO_LEN] = -1 if raw is None else len(raw)
        if raw is not None:
            algo[s, :len(raw)] = np.frombuffer(raw, np.uint8)
        kind, value = _current_kind(session._current)
        row[fk.C_CURRENT] = kind
        if kind == fk.CUR_DIFFICULTY:
            row[fk.C_DIFFICULTY] = value
        elif value is not None:
            row[fk.C_TARGET_LEN] = len(value)
            target[s, :len(value)] = np.frombuffer(value, np.uint8)
        row[fk.C_WORKER_SET] = session.worker is not None
        row[fk.C_WORKERS] = len(session.workers)
        for j, name in enumerate(session.workers):
            raw = _ascii(name, fk.KEY_BYTES)
            worker_len[s, j] = -1 if raw is None else len(raw)
            if raw is not None:
                workers[s, j, :len(raw)] = np.frombuffer(raw, np.uint8)
        setting_hashes[s, :len(settings)] = [_nan_for_none(session._hashes_of(x))
                                             for x in settings]
        row[fk.C_RING_N] = len(jobs)
        if jobs:
            keys = [raw for raw, _ in jobs]
            ring_key[s, :len(jobs)] = np.frombuffer(
                b"".join(k.ljust(fk.KEY_BYTES, b"\0") for k in keys), np.uint8
            ).reshape(len(jobs), fk.KEY_BYTES)
            ring_len[s, :len(jobs)] = [len(k) for k in keys]
            ring_setting[s, :len(jobs)] = [index for _, index in jobs]
        row[fk.C_PENDING] = row[fk.C_SEQ] = len(pending)
        ints[s] = row
        frow = [0.0] * fk.N_FLOATS
        frow[fk.F_EXPOSURE] = session._exposure
        frow[fk.F_JOB_HASHES] = _nan_for_none(session._job_hashes)
        frow[fk.F_T_HASHES], frow[fk.F_T_OPENER] = tally.hashes, tally.opener_hashes
        frow[fk.F_T_FIRST_EXPOSURE] = tally.first_exposure
        frow[fk.F_T_LAST_EXPOSURE] = tally.last_exposure
        frow[fk.F_REPORTED] = _nan_for_none(session.reported_hashrate_hs)
        floats[s] = frow
        class_n[s] = 0
        result_n[s] = 0
        fk.hash_ring(ints, ring_key, ring_len, ring_hash, s)
        # a first use may add an evidence kind: room for all of them, or none
        room = len(session._evidence) <= MAX_EVIDENCE - fk.NEW_KEYS
        allowed[s, CLASSES] = [self._applicable(session, p, room) for p in PROTOTYPES.values()]
        results = [self._result_applicable(session, p.signature, room)
                   for p in PROTOTYPES.values()]
        results += [self._result_applicable(session, x, room) for x in extra]
        result_allowed[s] = fk.NO
        result_allowed[s, RESULT_KINDS[:len(results)]] = results
        if pending:
            self._fill_pending(s, session, pending, pend, pend_f)

    @staticmethod
    def _framing(session, name):
        """follow_kernel's JSON_* for a side: an opening numba may frame is one the
        session would take whole (no proxy reply to strip before it)."""
        state = session._dirs[name]
        if state.mode == MODE_JSON:
            return fk.JSON_LINES
        if (state.mode is None and not state.buffer and state.proxied is None
                and (name == TOSERVER or not session._dirs[TOSERVER].proxied)):
            return fk.JSON_OPENING
        return fk.JSON_UNKNOWN

    @staticmethod
    def _fill_pending(s, session, pending, pend, pend_f):
        rows, floats, key_seq = [], [], {}
        for j, (msg_id, kind, request, (_, share)) in enumerate(pending):
            flags = fk.PL_SHARE_KIND if request.kind == KIND_SHARE else 0
            if request.strength in MINING_STRENGTHS:
                flags |= fk.PL_MINING
            ts, exposure, hashes = 0, 0.0, 0.0
            if share is not None:
                flags |= fk.PL_HAS_SHARE
                if share.exposure is not None:
                    flags |= fk.PL_HAS_EXPOSURE
                    exposure = share.exposure
                if share.ts_ns is None:
                    flags |= fk.PL_TS_NONE
                else:
                    ts = share.ts_ns
                hashes = _nan_for_none(session.share_hashes(share))
            row_id = 0
            if type(msg_id) is int and -2 ** 63 <= msg_id < 2 ** 63:
                row_id = msg_id
            else:                     # a string id: no line numba reads has one
                flags |= fk.PL_FOREIGN_ID
            row = [0] * fk.N_PENDING_COLS
            row[fk.P_ID], row[fk.P_SEQ], row[fk.P_CLASS] = row_id, j, max(kind, 0)
            row[fk.P_KEY_SEQ] = key_seq.setdefault((type(msg_id), msg_id), j)
            row[fk.P_FLAGS], row[fk.P_TS], row[fk.P_OBJECT] = flags, ts, j
            rows.append(row)
            floats.append((exposure, hashes))
        pend[s, :len(rows)] = rows
        pend_f[s, :len(rows)] = floats

    @staticmethod
    def _applicable(session, proto, room) -> int:
        """YES when the session's _on_message adds no key for a line of this class (its
        method, evidence and votes are there, its direction already showed mining);
        FIRST when only the method, evidence or direction is missing (publish adds them);
        NO when a vote is (the votes' order sets the hash family)."""
        if proto.variant not in session._variant_votes:
            return fk.NO
        if proto.specific and proto.variant not in session._specific_votes:
            return fk.NO
        if ((not proto.method or proto.method[:64] in session.methods)
                and proto.signature in session._evidence
                and (proto.strength not in MINING_STRENGTHS
                     or proto.direction in session._mining_dirs)):
            return fk.YES
        return fk.FIRST if room else fk.NO

    @staticmethod
    def _result_applicable(session, signature, room) -> int:
        """YES when share results of requests with `signature` add no evidence kind."""
        if f"{signature}.result" in session._evidence:
            return fk.YES
        return fk.FIRST if room else fk.NO

    # ------------------------------------------------------------ out

    def publish(self, tracked):
        """Write what a report reads (MiningSession.to_dict, hashrate, hash_family) back
        into the session of `tracked`, which stays followed here."""
        s = tracked.core_slot
        ints, floats, _, _, class_n, result_n = self.state[:6]
        _, _, _, extra = self.held[s]
        session = tracked.session
        self._add_first_keys(session, s, extra)
        row, frow = ints[s].tolist(), floats[s].tolist()
        session.shares_submitted = row[fk.C_SUBMITTED]
        session.shares_accepted = row[fk.C_ACCEPTED]
        session.shares_rejected = row[fk.C_REJECTED]
        session.jobs = row[fk.C_JOBS]
        session._paired = bool(row[fk.C_PAIRED])
        if row[fk.C_HAS_REPORTED]:
            session.reported_hashrate_hs = frow[fk.F_REPORTED]
        tally = session.tally
        tally.accepted = row[fk.C_T_ACCEPTED]
        tally.with_exposure = row[fk.C_T_WITH_EXPOSURE]
        tally.hashes, tally.opener_hashes = frow[fk.F_T_HASHES], frow[fk.F_T_OPENER]
        tally.first_exposure = frow[fk.F_T_FIRST_EXPOSURE]
        tally.last_exposure = frow[fk.F_T_LAST_EXPOSURE]
        if row[fk.C_T_HAS_FIRST]:
            tally.first_ts_ns = row[fk.C_T_FIRST_TS]
        if row[fk.C_T_HAS_LAST]:
            tally.last_ts_ns = row[fk.C_T_LAST_TS]
        for cls, n in enumerate(class_n[s].tolist()):  # counts added since the last
            if not n:                                  # publish, then cleared
                continue
            proto = PROTOTYPES[cls]
            if proto.method:
                session.methods[proto.method[:64]] += n
            session._evidence[proto.signature]["count"] += n
            session._variant_votes[proto.variant] += n
            if proto.specific:
                session._specific_votes[proto.variant] += n
        for kind, n in enumerate(result_n[s].tolist()):
            if n:
                session._evidence[self._result_signature(kind, extra)]["count"] += n
        class_n[s] = 0
        result_n[s] = 0

    def _result_signature(self, kind, extra):
        return (PROTOTYPES[kind].signature if kind < fk.N_CLASSES
                else extra[kind - fk.N_CLASSES]) + ".result"

    def _add_first_keys(self, session, s, extra):
        """The keys the first lines of a class or share result added, in their order (as
        _on_message and _on_reply add them; publish then adds the counts)."""
        ints, new_keys = self.state[0], self.state[-1]
        evidence = session._evidence
        for result, index, frame, strong in new_keys[s, :ints[s, fk.C_NEW_KEYS]].tolist():
            if result:
                signature = self._result_signature(index, extra)
                if signature not in evidence:
                    evidence[signature] = {"signature": signature,
                                           "strength": STRONG if strong else WEAK,
                                           "kind": KIND_SHARE_RESULT, "direction": TOCLIENT,
                                           "first_frame": frame, "count": 0}
                continue
            proto = PROTOTYPES[index]
            if proto.method and proto.method[:64] not in session.methods:
                session.methods[proto.method[:64]] = 0
            if proto.signature not in evidence:
                evidence[proto.signature] = {"signature": proto.signature,
                                             "strength": proto.strength, "kind": proto.kind,
                                             "direction": proto.direction,
                                             "first_frame": frame, "count": 0}
            if proto.strength in MINING_STRENGTHS:
                session._mining_dirs.add(proto.direction)
        ints[s, fk.C_NEW_KEYS] = 0

    def take_back(self, tracked) -> int:
        """Write the slot of `tracked` back into its session and free the slot; the
        number of lines numba applied since it took the flow."""
        self.publish(tracked)
        s = tracked.core_slot
        tracked.core_slot = -1
        _, pairs, settings, _ = self.held.pop(s)
        if self.slot_of_row[tracked.row] == s:
            self.slot_of_row[tracked.row] = -1
        self.free.append(s)
        self.returns += 1
        (ints, floats, _, _, _, _, pend, pend_f, ring_key, ring_len, _,
         ring_setting, _, _, _, _, _, buffers, _) = self.state
        session = tracked.session
        row = ints[s].tolist()
        ints[s, fk.C_STATE] = fk.FREE
        ints[s, fk.C_FID] = -1
        for d, name in enumerate(DIRECTIONS):
            state = session._dirs[name]
            fed = row[fk.C_FED + d]
            tracked.next_pos[d] = row[fk.C_NEXT + d]
            tracked.bytes_fed[d] += fed
            state.bytes_seen += fed
            state.buffer = bytearray(buffers[s, d, :row[fk.C_BUF + d]].tobytes())
            if state.mode is None and row[fk.C_JSON + d] == fk.JSON_LINES:
                state.mode, state.proxied = MODE_JSON, False     # numba read its opening
        session._exposure = float(floats[s, fk.F_EXPOSURE])
        if row[fk.C_HAS_EXPOSURE_TS]:
            session._exposure_ts = row[fk.C_EXPOSURE_TS]
        session._job_hashes = _none_for_nan(float(floats[s, fk.F_JOB_HASHES]))
        head, n = row[fk.C_RING_HEAD], row[fk.C_RING_N]
        at = [(head + j) % fk.RING for j in range(n)]
        keys = ring_key[s, at].tobytes()
        session._job_targets = {
            keys[j * fk.KEY_BYTES:j * fk.KEY_BYTES + length].decode("ascii"): settings[index]
            for j, (length, index) in enumerate(zip(ring_len[s, at].tolist(),
                                                    ring_setting[s, at].tolist()))}
        if row[fk.C_PENDING] or session._pending:
            self._pending_back(session, pend[s, :row[fk.C_PENDING]].tolist(),
                               pend_f[s, :row[fk.C_PENDING]].tolist(), pairs, settings)
        return row[fk.C_LINES]

    @staticmethod
    def _pending_back(session, rows, floats, pairs, settings):
        """The session's pending dict from the rows (lists) of its slot, keys in the
        order their queues began."""
        order = sorted(range(len(rows)), key=lambda j: (rows[j][fk.P_KEY_SEQ], rows[j][fk.P_SEQ]))
        pending = {}
        for j in order:
            row = rows[j]
            msg_id, obj = row[fk.P_ID], row[fk.P_OBJECT]
            if obj >= 0:
                msg_id, pair = pairs[obj]
            else:                 # a request read here: its class's prototype stands for
                flags = row[fk.P_FLAGS]            # it (the session reads only the kind,
                share = None                       # strength, signature and method)
                if flags & fk.PL_HAS_SHARE:
                    exposure = floats[j][fk.PF_EXPOSURE] if flags & fk.PL_HAS_EXPOSURE else None
                    share = _Share(row[fk.P_TS], *settings[row[fk.P_SETTING]], exposure)
                pair = [PROTOTYPES[row[fk.P_CLASS]], share]
            pending.setdefault(msg_id, deque()).append(pair)
        session._pending = pending
        session._pending_count = len(order)
