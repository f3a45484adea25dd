"""The steady lines of detected flows applied to their session state in numba.

A detected mining flow spends its life on a handful of line shapes (shares,
jobs, difficulty, polls and the pool's plain replies: `steady`'s classes).
While a flow is *followed here* (``followed.FollowedFlows`` holds it), its
session's state lives in the per-slot arrays below and :func:`follow_batch`
frames each event's bytes into lines, reads them with ``steady.read_line`` and
applies them as ``MiningSession._on_message`` would: counters, per-class
deltas of the method, evidence and vote counts, the pending requests (FIFO
per id, in the dict's key order), the job ids and the settings they were
issued under, exposure and the share tally.

It only applies a line whose effect it holds. Anything else (a line `steady`
does not claim, a new worker, algorithm, evidence kind or vote, a difficulty
or target that differs from the one in force, a string id, a full pending
table, a line longer than the buffers, bytes out of stream order) stops the
flow *before* that line: `resume` tells Python where the flow's bytes must be
fed from, once ``FollowedFlows.take_back`` has written the state back into the
session. The Python session stays the reference; tests/unit/protocols/
test_followed.py holds the two to the same reports and internal state.
"""

from __future__ import annotations

import numpy as np

from ..engine.bytes_ import FNV_OFFSET, fnv1a
from ..engine.config import kernel
from ..engine.inspect import EV_DATA
from .steady import (ETHPROXY_GET_WORK, ETHPROXY_HASHRATE, ETHPROXY_SUBMIT_WORK,
                     ETHPROXY_WORK, F_ID, F_PARTS,
                     FIELDS, NOT_CLAIMED, REPLY, STRATUM_DIFFICULTY, STRATUM_NOTIFY,
                     STRATUM_SUBMIT, T_ERROR, T_INT, T_OTHER, T_STATUS, T_STRING,
                     XMRIG_JOB, XMRIG_SUBMIT, ZCASH_NOTIFY, ZCASH_SUBMIT, read_line)

N_CLASSES = 13               # steady's classes (0: not claimed)
N_RESULT_KINDS = N_CLASSES + 4   # share results: a class's, or a pending request's from
                                 # Python of a kind no class reads (eth_submitWork)
PENDING = 256                # pending requests held per flow (the session allows 1024)
RING = 256                   # job ids remembered (session.MAX_JOB_TARGETS)
KEY_BYTES = 64               # longest job id, worker or algorithm held
SETTINGS = 64                # distinct settings the remembered jobs were issued under
WORKERS = 16                 # session.MAX_WORKERS
TARGET_BYTES = 128
BUFFER_BYTES = 8192          # an unfinished line per direction

# slot states
FREE, ACTIVE, RETURNED = 0, 1, 2

# int64 columns of `ints`
C_FID, C_STATE = 0, 1
C_NEXT = 2                   # + direction: stream position fed up to
C_FED = 4                    # + direction: bytes consumed (TrackedFlow.bytes_fed, bytes_seen)
C_BUF = 6                    # + direction: bytes of an unfinished line in `buffers`
C_SUBMITTED, C_ACCEPTED, C_REJECTED, C_JOBS, C_PAIRED = 8, 9, 10, 11, 12
C_PENDING, C_SEQ = 13, 14    # entries in `pending`; next request sequence number
C_EXPOSURE_TS, C_HAS_EXPOSURE_TS = 15, 16
C_RING_HEAD, C_RING_N = 17, 18
C_T_ACCEPTED, C_T_WITH_EXPOSURE, C_T_FIRST_TS, C_T_LAST_TS = 19, 20, 21, 22
C_T_HAS_FIRST, C_T_HAS_LAST = 23, 24
C_HAS_REPORTED = 25
C_ALGO_LEN = 26              # -1: no algorithm yet
C_CURRENT = 27               # CUR_* of the setting in force
C_TARGET_LEN = 28
C_DIFFICULTY = 29            # CUR_DIFFICULTY: its (integral) value
C_WORKER_SET = 30            # the session has a worker
C_WORKERS = 31               # known workers held in `workers`
C_MAX_LINE = 32
C_LINES = 33                 # lines applied
C_JSON = 34                  # + direction: JSON_* (how its bytes are framed)
C_NEW_KEYS = 36              # entries in `new_keys`
N_INTS = 37

# float64 columns of `floats` (NaN stands for None)
F_EXPOSURE, F_JOB_HASHES, F_T_HASHES, F_T_OPENER = 0, 1, 2, 3
F_T_FIRST_EXPOSURE, F_T_LAST_EXPOSURE, F_REPORTED = 4, 5, 6
N_FLOATS = 7

# the setting in force (session._current)
CUR_NONE = 0                 # nothing sent yet
CUR_DIFFICULTY = 1           # an integral difficulty
CUR_CRYPTONOTE = 2           # a target (bytes in `target`) of that format
CUR_BOUNDARY = 3
CUR_OTHER = 4                # anything else: a line that sets one is left to Python

# C_JSON values: a side's framing
JSON_UNKNOWN = 0             # Python finds it (the side's first bytes go to Python)
JSON_LINES = 1               # JSON lines
JSON_OPENING = 2             # nothing seen yet: JSON lines if its first bytes open with '{'
                             # (session._detect_mode), else Python finds it

# pending request columns (int64), in arrival order
P_ID, P_SEQ, P_KEY_SEQ, P_CLASS, P_FLAGS, P_TS, P_OBJECT, P_SETTING = range(8)
N_PENDING_COLS = 8
PF_EXPOSURE, PF_HASHES = 0, 1          # float columns of a pending share
PL_SHARE_KIND = 1            # the request is a share (KIND_SHARE)
PL_MINING = 2                # its strength shows mining (session.MINING_STRENGTHS)
PL_HAS_SHARE = 4             # a share record is attached
PL_HAS_EXPOSURE = 8
PL_TS_NONE = 16              # the share's ts_ns is None
PL_FOREIGN_ID = 32           # its id is no int64 (a string): no line read here answers it

# allowed[] and result_allowed[] values
NO, YES, FIRST = 0, 1, 2     # FIRST: applicable, and its first line adds the session keys
                             # it lacks (method, evidence, mining direction): logged
# new_keys columns: what a class's or share result's first line added, in order
NK_RESULT, NK_INDEX, NK_FRAME, NK_STRONG = range(4)
NEW_KEYS = N_CLASSES + N_RESULT_KINDS

# resume[] values besides an offset into the event's bytes
NOT_FOLLOWED = -2
CONSUMED = -1

SUBMITS = (STRATUM_SUBMIT, ZCASH_SUBMIT, XMRIG_SUBMIT, ETHPROXY_SUBMIT_WORK)
JOBS = (STRATUM_NOTIFY, ZCASH_NOTIFY, XMRIG_JOB, ETHPROXY_WORK)
_OK = np.frombuffer(b"ok", np.uint8)
_LBRACE = 0x7B
MIN_CLIENT_OPENING = 3       # shorter, a client's first bytes may be a proxy request's
                             # start (proxy_request.parse_proxy_request): Python waits
EQUIHASH = np.frombuffer(b"equihash", np.uint8)
ETHASH = np.frombuffer(b"ethash", np.uint8)
ETHPROXY_JOB_ID = 18         # ethproxy.work_message: job_id = header[:18]


def new_state(slots: int):
    """The arrays of `slots` followed flows, in the order follow_batch takes them."""
    ints = np.zeros((slots, N_INTS), np.int64)
    ints[:, C_FID] = -1
    return (ints, np.zeros((slots, N_FLOATS)),
            np.zeros((slots, N_CLASSES), np.uint8),           # allowed: class applicable
            np.zeros((slots, N_RESULT_KINDS), np.uint8),      # share results applicable
            np.zeros((slots, N_CLASSES), np.int64),           # lines applied per class
            np.zeros((slots, N_RESULT_KINDS), np.int64),      # share results per kind
            np.zeros((slots, PENDING, N_PENDING_COLS), np.int64),
            np.zeros((slots, PENDING, 2)),
            np.zeros((slots, RING, KEY_BYTES), np.uint8),     # job ids, ring order
            np.zeros((slots, RING), np.int64),                # their lengths
            np.zeros((slots, RING), np.uint64),               # their hashes
            np.zeros((slots, RING), np.int64),                # their setting index
            np.zeros((slots, SETTINGS)),                      # H(share) of each setting
            np.zeros((slots, WORKERS, KEY_BYTES), np.uint8),
            np.zeros((slots, WORKERS), np.int64),             # lengths (-1: not comparable)
            np.zeros((slots, KEY_BYTES), np.uint8),           # the algorithm
            np.zeros((slots, TARGET_BYTES), np.uint8),        # the target in force
            np.zeros((slots, 2, BUFFER_BYTES), np.uint8),     # unfinished lines
            np.zeros((slots, NEW_KEYS, 4), np.int64))         # first uses, in order


@kernel
def key_hash(b, start, end):
    """FNV-1a of b[start:end]: a cheap first test before comparing job ids."""
    return fnv1a(FNV_OFFSET, b, start, end - start)


@kernel
def hash_ring(ints, ring_key, ring_len, ring_hash, s):
    """key_hash of the job ids in slot s's ring (Python filled them from position 0)."""
    for j in range(ints[s, C_RING_N]):
        ring_hash[s, j] = key_hash(ring_key[s, j], 0, ring_len[s, j])


@kernel
def _equal(b, start, end, held, n):
    """b[start:end] equals held[:n]."""
    if end - start != n:
        return False
    for k in range(n):
        if b[start + k] != held[k]:
            return False
    return True


@kernel
def _int_value(b, start, end):
    """The integer b[start:end] (T_INT: an optional minus and at most 18 digits)."""
    neg = b[start] == 0x2D
    v = 0
    for k in range(start + 1 if neg else start, end):
        v = v * 10 + (np.int64(b[k]) - 0x30)      # int64: uint8 arithmetic would wrap
    return -v if neg else v


@kernel
def _hex_value(b, start, end):
    """The value of the hex digits b[start:end] (at most 15 of them), -1 if others."""
    if end - start < 1 or end - start > 15:
        return -1
    v = 0
    for k in range(start, end):
        c = np.int64(b[k])
        if 0x30 <= c <= 0x39:
            d = c - 0x30
        elif 0x61 <= c <= 0x66:
            d = c - 0x57
        elif 0x41 <= c <= 0x46:
            d = c - 0x37
        else:
            return -1
        v = v * 16 + d
    return v


@kernel
def _ring_find(ints, ring_key, ring_len, ring_hash, s, b, start, end, h):
    """Ring position of the job id b[start:end], -1 when not remembered."""
    head, n = ints[s, C_RING_HEAD], ints[s, C_RING_N]
    for j in range(n):
        at = (head + j) % RING
        if ring_hash[s, at] == h and _equal(b, start, end, ring_key[s, at], ring_len[s, at]):
            return at
    return -1


@kernel
def _remember_job(ints, ring_key, ring_len, ring_hash, ring_setting, s, b, start, end):
    """session._take_fields for a job id: drop the oldest when full (even when the
    id is there already), then set it to the setting in force (index 0)."""
    if ints[s, C_RING_N] >= RING:
        ints[s, C_RING_HEAD] = (ints[s, C_RING_HEAD] + 1) % RING
        ints[s, C_RING_N] -= 1
    h = key_hash(b, start, end)
    at = _ring_find(ints, ring_key, ring_len, ring_hash, s, b, start, end, h)
    if at < 0:
        at = (ints[s, C_RING_HEAD] + ints[s, C_RING_N]) % RING
        ints[s, C_RING_N] += 1
        for k in range(end - start):
            ring_key[s, at, k] = b[start + k]
        ring_len[s, at] = end - start
        ring_hash[s, at] = h
    ring_setting[s, at] = 0


@kernel
def _find_pending(ints, pending, s, msg_id):
    """Index of the oldest pending request with this id, -1 if none."""
    for j in range(ints[s, C_PENDING]):
        if pending[s, j, P_ID] == msg_id and not pending[s, j, P_FLAGS] & PL_FOREIGN_ID:
            return j
    return -1


@kernel
def _advance_exposure(ints, floats, s, ts):
    """session._advance_exposure (ts_ns is never None here)."""
    jh = floats[s, F_JOB_HASHES]
    if jh == jh and jh != 0.0:
        if ints[s, C_HAS_EXPOSURE_TS] and ts > ints[s, C_EXPOSURE_TS]:
            floats[s, F_EXPOSURE] += (ts - ints[s, C_EXPOSURE_TS]) / 1e9 / jh
        if not ints[s, C_HAS_EXPOSURE_TS]:
            ints[s, C_EXPOSURE_TS] = ts
            ints[s, C_HAS_EXPOSURE_TS] = 1
        elif ts > ints[s, C_EXPOSURE_TS]:
            ints[s, C_EXPOSURE_TS] = ts


@kernel
def _tally_add(ints, floats, s, ts, hashes, has_exposure, exposure):
    """hashrate.ShareTally.add."""
    if not hashes > 0:
        return
    ints[s, C_T_ACCEPTED] += 1
    floats[s, F_T_HASHES] += hashes
    if has_exposure:
        ints[s, C_T_WITH_EXPOSURE] += 1
    e = exposure if has_exposure else 0.0
    if not ints[s, C_T_HAS_FIRST] or ts < ints[s, C_T_FIRST_TS]:
        ints[s, C_T_FIRST_TS] = ts
        ints[s, C_T_HAS_FIRST] = 1
        floats[s, F_T_OPENER] = hashes
        floats[s, F_T_FIRST_EXPOSURE] = e
    if not ints[s, C_T_HAS_LAST] or ts > ints[s, C_T_LAST_TS]:
        ints[s, C_T_LAST_TS] = ts
        ints[s, C_T_HAS_LAST] = 1
        floats[s, F_T_LAST_EXPOSURE] = e


@kernel
def _reply_ok(b, fields):
    """jsonrpc.reply_ok of a REPLY line: 1 success, 0 error, -1 None."""
    if fields[F_PARTS + 3] == T_ERROR:
        return 0
    kind, start, end = fields[F_PARTS], fields[F_PARTS + 1], fields[F_PARTS + 2]
    if kind == T_STATUS:       # {"status": s}: s.upper() == "OK"
        return 1 if (end - start == 4 and (b[start + 1] | 0x20) == _OK[0]
                     and (b[start + 2] | 0x20) == _OK[1]) else 0
    if kind == T_OTHER:
        c = b[start]
        if c == 0x74:          # true
            return 1
        if c == 0x66:          # false
            return 0
        if c == 0x6E:          # null
            return -1
        return 1               # a number
    if kind <= 0:              # no result
        return -1
    return 1                   # a string or an integer


@kernel
def _text_ok(fields, slot):
    """The string at fields[slot] can be compared as sent: untrusted_text keeps it whole
    and it fits the arrays (0: empty, which names nothing)."""
    return fields[slot] == T_STRING and fields[slot + 2] - fields[slot + 1] - 2 <= KEY_BYTES


@kernel
def _known_worker(ints, workers, worker_len, s, b, start, end):
    """session._take_fields changes nothing for this worker."""
    if end == start:
        return True
    if not ints[s, C_WORKER_SET]:
        return False
    for j in range(ints[s, C_WORKERS]):
        if _equal(b, start, end, workers[s, j], worker_len[s, j]):
            return True
    return ints[s, C_WORKERS] >= WORKERS          # full: the session adds no more


@kernel
def _same_algorithm(ints, algo, s, b, start, end):
    return _equal(b, start, end, algo[s], ints[s, C_ALGO_LEN])


@kernel
def _log_first(ints, new_keys, s, result, index, frame, strong):
    n = ints[s, C_NEW_KEYS]
    new_keys[s, n, NK_RESULT] = result
    new_keys[s, n, NK_INDEX] = index
    new_keys[s, n, NK_FRAME] = frame
    new_keys[s, n, NK_STRONG] = strong
    ints[s, C_NEW_KEYS] = n + 1


@kernel
def _apply_line(b, toclient, ts, frame, s, scratch, ints, floats, allowed, result_allowed,
                class_n, result_n, pending, pending_f, ring_key, ring_len, ring_hash,
                ring_setting, setting_hashes, workers, worker_len, algo, target, new_keys):
    """Apply one line to slot s as the session would; False (nothing changed) when
    it needs Python."""
    cls = read_line(b, toclient, scratch)
    if cls == NOT_CLAIMED:
        return False
    fields = scratch[:FIELDS]
    if cls != REPLY and allowed[s, cls] == NO:
        return False
    if fields[F_ID] == T_STRING or fields[F_ID] < 0:
        return False
    has_id = fields[F_ID] == T_INT
    msg_id = _int_value(b, fields[F_ID + 1], fields[F_ID + 2]) if has_id else 0
    p = F_PARTS
    # ---- checks: the line changes only what the arrays hold
    reply_at = -1
    ok = -1
    if cls in SUBMITS:
        if has_id and ints[s, C_PENDING] >= PENDING:
            return False
        job = -1                           # no job id: the setting in force
        if cls == STRATUM_SUBMIT or cls == ZCASH_SUBMIT:     # a worker, then the job id
            if not _text_ok(fields, p) or not _known_worker(
                    ints, workers, worker_len, s, b, fields[p + 1] + 1, fields[p + 2] - 1):
                return False
            if cls == ZCASH_SUBMIT and ints[s, C_ALGO_LEN] < 0:
                return False               # its algorithm would become the session's
            job = p + 3
        elif cls == XMRIG_SUBMIT:          # the job id, then the algorithm
            job = p
            if fields[p + 3] == T_STRING and fields[p + 5] - fields[p + 4] > 2 \
                    and ints[s, C_ALGO_LEN] < 0:
                return False
        elif ints[s, C_ALGO_LEN] < 0:      # eth_submitWork, "ethash"
            return False
    elif cls in JOBS:
        if cls != ETHPROXY_WORK and not _text_ok(fields, p):
            return False
        if cls == XMRIG_JOB:
            a = p + 6
            if fields[a] == T_STRING and fields[a + 2] - fields[a + 1] > 2:
                if not (_text_ok(fields, a) and _same_algorithm(
                        ints, algo, s, b, fields[a + 1] + 1, fields[a + 2] - 1)):
                    return False
            if not (ints[s, C_CURRENT] == CUR_CRYPTONOTE and _equal(
                    b, fields[p + 4] + 1, fields[p + 5] - 1, target[s], ints[s, C_TARGET_LEN])):
                return False
        elif cls == ZCASH_NOTIFY:
            if not _equal(EQUIHASH, 0, len(EQUIHASH), algo[s], ints[s, C_ALGO_LEN]):
                return False
        elif cls == ETHPROXY_WORK:
            if not _equal(ETHASH, 0, len(ETHASH), algo[s], ints[s, C_ALGO_LEN]):
                return False
            if not (ints[s, C_CURRENT] == CUR_BOUNDARY and _equal(
                    b, fields[p + 7] + 3, fields[p + 8] - 1, target[s], ints[s, C_TARGET_LEN])):
                return False
            if has_id and msg_id != 0:
                reply_at = _find_pending(ints, pending, s, msg_id)
                ok = 1
    elif cls == STRATUM_DIFFICULTY:
        if not (fields[p] == T_INT and b[fields[p + 1]] != 0x2D
                and fields[p + 2] - fields[p + 1] <= 15
                and ints[s, C_CURRENT] == CUR_DIFFICULTY
                and _int_value(b, fields[p + 1], fields[p + 2]) == ints[s, C_DIFFICULTY]):
            return False
    elif cls == ETHPROXY_HASHRATE:
        if fields[p] != T_STRING or fields[p + 2] - fields[p + 1] < 5 or b[fields[p + 1] + 1] != 0x30 \
                or (b[fields[p + 1] + 2] | 0x20) != 0x78:
            return False
        rate = _hex_value(b, fields[p + 1] + 3, fields[p + 2] - 1)
        if rate < 0:
            return False
        if has_id and ints[s, C_PENDING] >= PENDING:
            return False
    elif cls == ETHPROXY_GET_WORK:
        if has_id and ints[s, C_PENDING] >= PENDING:
            return False
    else:                                  # REPLY
        if has_id:
            reply_at = _find_pending(ints, pending, s, msg_id)
            ok = _reply_ok(b, fields)
    if reply_at >= 0 and pending[s, reply_at, P_FLAGS] & PL_SHARE_KIND:
        if result_allowed[s, pending[s, reply_at, P_CLASS]] == NO:
            return False
    # ---- apply, in session._on_message's order
    ints[s, C_LINES] += 1
    if cls != REPLY:
        class_n[s, cls] += 1
        if allowed[s, cls] == FIRST:
            _log_first(ints, new_keys, s, 0, cls, frame, 0)
            allowed[s, cls] = YES
    if cls in JOBS:
        ints[s, C_JOBS] += 1
        if cls == ETHPROXY_WORK:
            _remember_job(ints, ring_key, ring_len, ring_hash, ring_setting, s, b,
                          fields[p + 1] + 1, min(fields[p + 2] - 1,
                                                 fields[p + 1] + 1 + ETHPROXY_JOB_ID))
        else:
            _remember_job(ints, ring_key, ring_len, ring_hash, ring_setting, s, b,
                          fields[p + 1] + 1, fields[p + 2] - 1)
        _advance_exposure(ints, floats, s, ts)
        floats[s, F_JOB_HASHES] = setting_hashes[s, 0]
    elif cls == ETHPROXY_HASHRATE:
        floats[s, F_REPORTED] = float(rate)
        ints[s, C_HAS_REPORTED] = 1
    if reply_at >= 0:                      # session._on_reply
        flags = pending[s, reply_at, P_FLAGS]
        if flags & PL_MINING or cls == ETHPROXY_WORK:
            ints[s, C_PAIRED] = 1
        if flags & PL_SHARE_KIND:
            kind = pending[s, reply_at, P_CLASS]
            result_n[s, kind] += 1
            if result_allowed[s, kind] == FIRST:
                _log_first(ints, new_keys, s, 1, kind, frame, 1 if flags & PL_MINING else 0)
                result_allowed[s, kind] = YES
            if ok == 1:
                ints[s, C_ACCEPTED] += 1
                if flags & PL_HAS_SHARE and not flags & PL_TS_NONE:
                    _tally_add(ints, floats, s, pending[s, reply_at, P_TS],
                               pending_f[s, reply_at, PF_HASHES], flags & PL_HAS_EXPOSURE,
                               pending_f[s, reply_at, PF_EXPOSURE])
            elif ok == 0:
                ints[s, C_REJECTED] += 1
        n = ints[s, C_PENDING]
        for j in range(reply_at, n - 1):
            pending[s, j] = pending[s, j + 1]
            pending_f[s, j] = pending_f[s, j + 1]
        ints[s, C_PENDING] = n - 1
    elif has_id and not toclient:          # session._remember_request
        n = ints[s, C_PENDING]
        seq = ints[s, C_SEQ]
        ints[s, C_SEQ] = seq + 1
        same = _find_pending(ints, pending, s, msg_id)
        pending[s, n, P_ID] = msg_id
        pending[s, n, P_SEQ] = seq
        pending[s, n, P_KEY_SEQ] = pending[s, same, P_KEY_SEQ] if same >= 0 else seq
        pending[s, n, P_CLASS] = cls
        pending[s, n, P_FLAGS] = PL_MINING if cls != ETHPROXY_GET_WORK else 0
        pending[s, n, P_OBJECT] = -1
        pending[s, n, P_SETTING] = 0
        pending[s, n, P_TS] = ts
        ints[s, C_PENDING] = n + 1
    if cls in SUBMITS:                     # session._on_share
        ints[s, C_SUBMITTED] += 1
        setting = 0
        if job >= 0 and _text_ok(fields, job):
            j0, j1 = fields[job + 1] + 1, fields[job + 2] - 1
            at = _ring_find(ints, ring_key, ring_len, ring_hash, s, b, j0, j1,
                            key_hash(b, j0, j1))
            if at >= 0:
                setting = ring_setting[s, at]
        _advance_exposure(ints, floats, s, ts)
        if has_id:
            n = ints[s, C_PENDING] - 1
            pending[s, n, P_FLAGS] |= PL_SHARE_KIND | PL_HAS_SHARE
            pending[s, n, P_SETTING] = setting
            pending_f[s, n, PF_HASHES] = setting_hashes[s, setting]
            if ints[s, C_HAS_EXPOSURE_TS]:
                pending[s, n, P_FLAGS] |= PL_HAS_EXPOSURE
                pending_f[s, n, PF_EXPOSURE] = floats[s, F_EXPOSURE]
    return True


@kernel
def follow_batch(events, arena, slot_of_row, resume, scratch, ints, floats, allowed,
                 result_allowed, class_n, result_n, pending, pending_f, ring_key, ring_len,
                 ring_hash, ring_setting, setting_hashes, workers, worker_len, algo, target,
                 buffers, new_keys):
    """Apply the EV_DATA events of followed flows; resume[i] says what Python does with
    event i: NOT_FOLLOWED (its usual path), CONSUMED (nothing), or an offset: take the
    flow back, then feed the event's bytes from there."""
    lines = 0
    for e in range(len(events)):
        resume[e] = NOT_FOLLOWED
        ev = events[e]
        if ev["kind"] != EV_DATA:
            continue
        s = slot_of_row[ev["row"]]
        if s < 0 or ints[s, C_FID] != ev["flow_id"]:
            continue
        if ints[s, C_STATE] != ACTIVE:
            resume[e] = 0
            continue
        d = np.int64(ev["direction"])
        start, end = ev["arena_off"], ev["arena_off"] + ev["length"]
        in_order = ev["stream_pos"] == ints[s, C_NEXT + d]
        if (ints[s, C_JSON + d] == JSON_OPENING and in_order and end > start
                and arena[start] == _LBRACE and (d == 1 or end - start >= MIN_CLIENT_OPENING)):
            ints[s, C_JSON + d] = JSON_LINES
        # a side's first bytes in another framing, or bytes out of stream order
        if ints[s, C_JSON + d] != JSON_LINES or not in_order:
            ints[s, C_STATE] = RETURNED
            resume[e] = 0
            continue
        max_line = ints[s, C_MAX_LINE]
        buf = buffers[s, d]
        at = start
        stop = -1                          # where Python takes over, -1: nowhere
        while at < end:
            nl = at
            while nl < end and arena[nl] != 0x0A:
                nl += 1
            held = ints[s, C_BUF + d]
            if nl == end:                  # an unfinished line: keep it
                if held + end - at > min(BUFFER_BYTES, max_line):
                    stop = at
                    break
                buf[held:held + end - at] = arena[at:end]
                ints[s, C_BUF + d] = held + end - at
                at = end
                break
            if held:
                if held + nl - at > BUFFER_BYTES:
                    stop = at
                    break
                buf[held:held + nl - at] = arena[at:nl]
                line = buf[:held + nl - at]
            else:
                line = arena[at:nl]
            n = len(line)
            if n and line[n - 1] == 0x0D:
                n -= 1
            if n == 0:                     # split_lines skips an empty line
                ints[s, C_BUF + d] = 0
                at = nl + 1
                continue
            if n > max_line:
                stop = at
                break
            if not _apply_line(line, d, ev["ts_ns"], ev["frame"], s, scratch, ints, floats,
                               allowed, result_allowed, class_n, result_n, pending,
                               pending_f, ring_key, ring_len, ring_hash, ring_setting,
                               setting_hashes, workers, worker_len, algo, target, new_keys):
                stop = at
                break
            lines += 1
            ints[s, C_BUF + d] = 0
            at = nl + 1
        used = (stop if stop >= 0 else end) - start
        ints[s, C_NEXT + d] += used
        ints[s, C_FED + d] += used
        if stop >= 0:
            ints[s, C_STATE] = RETURNED
            resume[e] = used
        else:
            resume[e] = CONSUMED
    return lines
