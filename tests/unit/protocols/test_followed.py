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

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.engine import handoff
from detector.pipeline import EngineOptions
from detector.protocols import follow_kernel as fk
from detector.scan_command import load_detectors, scan_capture
from detector.protocols.message import TOSERVER
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
def test_a_pool_side_that_starts_late(dialect):
    """A capture that shows the miner's side first (the pool's packets lost or on another
    link for a while): numba follows the client side alone, and the pool's first bytes
    go to Python, which finds their framing."""
    rng = random.Random(dialect)
    lines = session_lines(rng, dialect, 1500)
    late = [line for line in lines[:600] if line[0] == TOSERVER] + lines[600:]
    _, final, followed = both_ways(chunks_of(rng, late), 3, max_batch=100)
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
