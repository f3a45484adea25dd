"""Flows followed in numba (protocols/followed.py) end exactly as Python's sessions do.

The reference is the Python session itself: the same bytes, in the same
events and batches, go to a Handoff whose detected flows numba follows and to
one with no slots for them. Every report (the detection, active-timeout
records, the end) and everything the session holds at the end (pending
requests in their order, job ids and the settings they were issued under,
exposure, the share tally, buffers and stream positions) must be equal.
Sessions are generated from seeds hypothesis draws (long runs of each
dialect, with vardiff, new workers, algorithm and target changes, id reuse,
string ids, replies to nothing, lines split anywhere), and read from the
corpus' mining captures.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine import handoff
from detector.pipeline import EngineOptions
from detector.protocols import follow_kernel as fk
from detector.protocols.followed import FollowedFlows
from detector.scan_command import load_detectors, scan_capture
from detector.protocols.message import TOCLIENT, TOSERVER
from detector.protocols.session import MODE_OTHER
from tests.corpus import corpus_dir

from .follow_sessions import SESSIONS, chunks_of, drive, session_lines
from .test_corpus_transcripts import TRUTH_FILES
from .transcripts import transcripts


def both_ways(chunks, seed, max_batch=40):
    """(reports, snapshot, FollowedFlows) with numba following, after checking that a
    run without it gives the same reports and snapshot."""
    reports, final, followed = drive(chunks, 8, random.Random(seed), max_batch)
    ref_reports, ref_final, _ = drive(chunks, 0, random.Random(seed), max_batch)
    assert final == ref_final
    assert reports == ref_reports
    return reports, final, followed


@pytest.mark.parametrize("dialect", sorted(SESSIONS))
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_generated_sessions_end_the_same(dialect, seed):
    rng = random.Random(seed)
    lines = session_lines(rng, dialect, rng.randint(50, 700))
    reports, final, followed = both_ways(chunks_of(rng, lines), seed)
    assert final["summary"]["is_mining"]
    assert reports


@pytest.mark.parametrize("dialect", sorted(SESSIONS))
def test_most_lines_of_a_long_session_are_applied_in_numba(dialect):
    rng = random.Random(dialect)
    lines = session_lines(rng, dialect, 3000)
    _, final, followed = both_ways(chunks_of(rng, lines), 1, max_batch=200)
    assert followed.lines >= 0.6 * len(lines), (followed.lines, len(lines), followed.returns)
    assert followed.count == 0 and len(followed.free) == 8     # the end took it back


def test_the_job_ring_and_pending_table_overflow_as_the_session_does():
    """More job ids than the session remembers (256) while numba follows the flow, then a
    pool that stops answering: more unanswered shares than numba holds go to Python."""
    rng = random.Random(5)
    lines = session_lines(rng, "stratum", 3000)
    lines += [line for line in session_lines(rng, "stratum", 2000)[4:]
              if b'"result"' not in line[1]]
    reports, final, followed = both_ways(chunks_of(rng, lines), 5, max_batch=300)
    assert len(final["job_targets"]) == 256
    assert final["pending_count"] > fk.PENDING
    assert followed.lines > 2000


@pytest.mark.parametrize("dialect", ["stratum", "xmrig"])
@pytest.mark.parametrize("first", [TOSERVER, TOCLIENT])
def test_one_side_that_starts_late(dialect, first):
    """A capture that shows one side first (the other's packets lost or on another link
    for a while): numba follows that side alone, then frames the other's first bytes
    (they open with '{', cut anywhere: a miner's first one or two bytes wait in Python,
    as they could start a proxy request)."""
    rng = random.Random(dialect)
    lines = session_lines(rng, dialect, 1500)
    late = [line for line in lines[:600] if line[0] == first] + lines[600:]
    chunks = chunks_of(rng, late)
    k = next(j for j, c in enumerate(chunks) if c[0] != first)
    d, data, frame, ts = chunks[k]
    chunks[k:k + 1] = [(d, data[:2], frame, ts), (d, data[2:], frame, ts)]   # '{"', rest
    _, final, followed = both_ways(chunks, 3, max_batch=100)
    assert followed.lines > 600


@pytest.mark.parametrize("name", TRUTH_FILES)
def test_corpus_sessions_end_the_same(name):
    for k, transcript in enumerate(transcripts(corpus_dir() / name)):
        both_ways(transcript.chunks, k, max_batch=8)


def _scan_hits(path, slots, monkeypatch):
    """Every hit record a scan writes (detected, updated, ended), in small batches so
    that flows are handed to numba, published and taken back between them."""
    monkeypatch.setattr(handoff, "FOLLOWED_SLOTS", slots)
    options = EngineOptions(batch_records=64, active_timeout_s=30.0)
    hits = []
    scan_capture(path, load_detectors(), options, sink=hits.append)
    return hits


@pytest.mark.parametrize("name", TRUTH_FILES)
def test_scans_write_the_same_hits(name, monkeypatch):
    """Through the engine: the hits of a scan, active-timeout records included."""
    path = corpus_dir() / name
    followed = []
    real = handoff.FollowedFlows.run
    monkeypatch.setattr(handoff.FollowedFlows, "run",
                        lambda self, *a: followed.append(self) or real(self, *a))
    with_numba = _scan_hits(path, 256, monkeypatch)
    assert with_numba and followed
    assert with_numba == _scan_hits(path, 0, monkeypatch)


WORKER = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh.rig0"
SOCKS5_CONNECT = b"\x05\x01\x00" + b"\x05\x01\x00\x03\x0cpool.example\x0d\x05"   # :3333
SOCKS5_REPLIES = b"\x05\x00" + b"\x05\x00\x00\x01\x0a\x00\x00\x01\x0d\x05"


# the miner's shares before the pool speaks: enough for the hand-over, which waits
# MAX_EARLY_OFFERS events for a setting and a job that this pool never sends
LATE_SHARES = handoff.MAX_EARLY_OFFERS + 4


def _late_pool_chunks(client_opening, pool_opening):
    """A miner's subscribe, authorize and shares (detected from its side alone), then
    the pool's first bytes and its replies, one segment each."""
    lines = [{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]},
             {"id": 2, "method": "mining.authorize", "params": [WORKER, "x"]}]
    lines += [{"id": 3 + k, "method": "mining.submit",
               "params": [WORKER, "6a1f", "00000000", "5e1f0a3b", "1d2c3b4a"]}
              for k in range(LATE_SHARES)]
    out = [(TOSERVER, client_opening + json.dumps(lines[0]).encode() + b"\n")]
    out += [(TOSERVER, json.dumps(m).encode() + b"\n") for m in lines[1:]]
    out += [(TOCLIENT, pool_opening + b'{"id":3,"result":true,"error":null}\n')]
    out += [(TOCLIENT, b'{"id":%d,"result":true,"error":null}\n' % (3 + k))
            for k in range(1, LATE_SHARES)]
    return [(d, data, i + 1, 1_700_000_000_000_000_000 + i * 10 ** 9)
            for i, (d, data) in enumerate(out)]


@pytest.mark.parametrize("client_opening, pool_opening, pool_in_python", [
    (b"", b"", False),                          # '{': numba frames the pool's side
    (b"", b"\r\n", True),                       # anything else: Python finds the framing
    (SOCKS5_CONNECT, SOCKS5_REPLIES, True),     # a proxy's replies come first
])
def test_a_pool_that_speaks_after_the_hand_over(client_opening, pool_opening, pool_in_python,
                                                monkeypatch):
    """The pool's first bytes arrive while numba follows the flow: numba reads them when
    the session would take them as JSON lines (they open with '{', no proxy reply to
    strip), else the flow goes back to Python first. Either way it ends as in Python."""
    fed = []
    real = handoff.Handoff.feed
    monkeypatch.setattr(handoff.Handoff, "feed",
                        lambda self, tracked, d, *a: fed.append(d) or real(self, tracked, d, *a))
    _, final, _ = both_ways(_late_pool_chunks(client_opening, pool_opening), 1, max_batch=1)
    assert final["summary"]["shares_accepted"] == LATE_SHARES
    assert final["dirs"][1][:2] == ("json", bool(client_opening))    # mode, proxied
    fed.clear()
    drive(_late_pool_chunks(client_opening, pool_opening), 8, random.Random(1), 1)
    assert (1 in fed) == pool_in_python


def test_a_pool_opening_that_arrives_out_of_order():
    """The pool's second segment (a line opening with '{') comes before its first (bytes
    in no framing the session knows): numba does not take the side's framing from it,
    Python finds it from byte 0."""
    chunks = _late_pool_chunks(b"", b"\x05\x00")
    k = next(j for j, c in enumerate(chunks) if c[0] == TOCLIENT)
    (d, first, frame, ts), (_, second, _, ts2) = chunks[k:k + 2]
    chunks[k:k + 2] = [(d, second, frame, ts, len(first)), (d, first, frame + 1, ts2, 0)]
    _, final, _ = both_ways(chunks, 1, max_batch=1)
    assert final["dirs"][1][0] == MODE_OTHER
    assert final["summary"]["shares_accepted"] == 0


def _stratum_chunks(difficulty_at, lines_after=12, pool=True):
    """A miner's subscribe and authorize, the pool's replies, its first set_difficulty
    and notify after `difficulty_at` more shares, then shares; one segment per line.
    Without `pool`, only the miner's side (asymmetric routing)."""
    share = {"method": "mining.submit",
             "params": [WORKER, "6a1f", "00000000", "5e1f0a3b", "1d2c3b4a"]}
    out = [(TOSERVER, {"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}),
           (TOCLIENT, {"id": 1, "result": [[["mining.notify", "ae68"]], "08000002", 4],
                       "error": None}),
           (TOSERVER, {"id": 2, "method": "mining.authorize", "params": [WORKER, "x"]}),
           (TOCLIENT, {"id": 2, "result": True, "error": None})]
    out += [(TOSERVER, dict(share, id=3 + k)) for k in range(difficulty_at)]
    out += [(TOCLIENT, {"id": None, "method": "mining.set_difficulty", "params": [1024]}),
            (TOCLIENT, {"id": None, "method": "mining.notify", "params": [
                "6a1f", "00" * 32, "01", "02", [], "20000000", "1d00ffff", "5e1f0a3b", True]})]
    n = 3 + difficulty_at
    for k in range(lines_after):
        out += [(TOSERVER, dict(share, id=n + k)),
                (TOCLIENT, {"id": n + k, "result": True, "error": None})]
    if not pool:
        out = [line for line in out if line[0] == TOSERVER]
    return [(d, json.dumps(m).encode() + b"\n", i + 1, 1_700_000_000_000_000_000 + i * 10 ** 9)
            for i, (d, m) in enumerate(out)]


def _hand_overs(monkeypatch):
    """(setting in force, jobs seen, early offers) of each flow numba took."""
    taken = []
    real = FollowedFlows.hand_over

    def hand_over(self, tracked):
        ok = real(self, tracked)
        if ok:
            s = tracked.session
            taken.append((s._current, s.jobs, tracked.early_offers))
        return ok
    monkeypatch.setattr(FollowedFlows, "hand_over", hand_over)
    return taken


@pytest.mark.parametrize("difficulty_at", [0, 3])
def test_a_flow_is_handed_over_once_the_pool_set_a_difficulty_and_a_job(difficulty_at,
                                                                         monkeypatch):
    """Before the pool's first difficulty and job, the flow stays in Python (the lines
    that bring them are ones numba leaves to Python: the hand-over would come straight
    back); then numba takes it once, and gives it back only at the end."""
    taken = _hand_overs(monkeypatch)
    _, final, followed = both_ways(_stratum_chunks(difficulty_at), 1, max_batch=1)
    assert final["summary"]["shares_accepted"] == 12
    assert [(current, jobs) for current, jobs, _ in taken] == [((1024, None, None), 1)]
    assert followed.returns == 1 and followed.lines == 24


def test_a_miner_side_alone_is_handed_over_after_a_few_early_offers(monkeypatch):
    """No pool side (asymmetric routing): no setting or job ever comes, so the flow is
    handed over after MAX_EARLY_OFFERS events rather than read in Python to the end."""
    taken = _hand_overs(monkeypatch)
    _, final, followed = both_ways(_stratum_chunks(2, 20, pool=False), 1, max_batch=1)
    assert final["summary"]["shares_submitted"] == 22
    assert taken == [((None, None, None), 0, handoff.MAX_EARLY_OFFERS)]
    assert followed.returns == 1 and followed.lines > 0
