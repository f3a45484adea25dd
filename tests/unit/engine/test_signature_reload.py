"""A signature reload (live SIGHUP: CaptureScan.reload, Inspector.with_matcher) while
flows are still in their first K bytes: their heads are matched again from byte 0
with the new signatures, so a mining flow that opened just before the reload is
found as it would have been without one. Flows that ended before the reload are
left alone, and candidates keep the signatures that fired on them."""

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from detector.engine.handoff import Inspector
from detector.engine.inspect import EV_FIRED, EV_HEAD, INSPECT_CANDIDATE, INSPECT_MATCHING
from detector.pipeline import EngineOptions, FlowEngine
from detector.scan_command import CaptureScan, load_detectors, load_matcher
from tests.unit.engine.test_inspect_slots import ISN, Recorder, batch, frame, subscribe

REPO = Path(__file__).resolve().parents[3]
STRATUM = REPO / "pcaps" / "peafowl" / "stratum.pcap"


def signatures_of(tmp_path, *families):
    """A signatures folder holding only the given families' files."""
    folder = tmp_path / "signatures"
    folder.mkdir(exist_ok=True)
    for family in families:
        shutil.copy(REPO / "signatures" / f"{family}.yaml", folder)
    return folder


def final_hits(detectors, reload_to=None, after_batch=0):
    """The final hits of scanning STRATUM 4 records a batch, with a reload to
    `reload_to` after batch `after_batch`."""
    scan = CaptureScan(STRATUM, detectors, EngineOptions(batch_records=4, threads=1), 4096,
                       lambda hit: None)
    batches = 0

    def progress(_source):
        nonlocal batches
        batches += 1
        if batches == after_batch:
            scan.reload(reload_to)

    scan.run(progress=progress)
    return scan.result.hits


@pytest.mark.parametrize("after_batch", [1, 2, 3, 5])
def test_a_reload_in_the_first_bytes_finds_the_same_hits(tmp_path, after_batch):
    """Both stratum flows of a real capture open under signatures that know only XMRig;
    the reload brings Stratum V1 while their heads are partly in (after the subscribe,
    the authorize, the first jobs): every field of their hits is what a scan with the
    full signatures from the start gives, except that more signatures may have fired on
    the longer head."""
    full = load_detectors()
    expected = final_hits(full)
    assert len(expected) == 2
    got = final_hits(load_detectors(signatures_of(tmp_path, "xmrig")), full, after_batch)
    assert [h["flow_id"] for h in got] == [h["flow_id"] for h in expected]
    for hit, want in zip(got, expected):
        assert set(hit["signatures"]) >= set(want["signatures"])
        assert {k: v for k, v in hit.items() if k != "signatures"} == \
            {k: v for k, v in want.items() if k != "signatures"}


def engine_with(recorder, matcher, capacity=64, idle_timeout_s=3600):
    options = EngineOptions(max_flows=capacity, batch_records=64, idle_timeout_s=idle_timeout_s)
    inspector = recorder.attach(Inspector(matcher, capacity, k_bytes=4096))
    return FlowEngine(options, inspector), inspector


def test_a_message_cut_by_the_reload_is_matched_whole(tmp_path):
    """The head is matched from byte 0, and the automaton state after it is where the
    next packet goes on: a method name cut by the reload still fires."""
    recorder = Recorder()
    xmrig_only = load_matcher(signatures_of(tmp_path, "xmrig"))
    engine, old = engine_with(recorder, xmrig_only)
    data = subscribe(1, random.Random(5))
    cut = data.index(b"subscribe")                  # inside "mining.subscribe"
    list(engine.feed(batch([frame(30000, ISN, flags="S"), frame(30000, ISN + 1, data[:cut])])))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    flow_id = int(engine.table[0]["flow_id"][row])
    new = recorder.attach(old.with_matcher(load_matcher(), engine.table))
    engine.inspector = new
    assert new.state[1][row] == INSPECT_MATCHING and not recorder.events   # not yet
    list(engine.feed(batch([frame(30000, ISN + 1 + cut, data[cut:])], 2)))
    assert new.state[1][row] == INSPECT_CANDIDATE
    assert [e[1] for e in recorder.events if e[0] == EV_FIRED] == [flow_id]
    assert recorder.head(flow_id, 0) == data


def test_a_flow_that_fires_at_the_reload_is_handed_over_with_its_head(tmp_path):
    """Its heads go to Python packet by packet in capture order, both directions
    interleaved, as the conversation went."""
    recorder = Recorder()
    engine, old = engine_with(recorder, load_matcher(signatures_of(tmp_path, "xmrig")))
    data = subscribe(2, random.Random(6))
    push = b'{"id":null,"method":"mining.set_difficulty","params":[16]}\n'
    cut = 20
    list(engine.feed(batch([frame(31000, ISN, flags="S"), frame(31000, ISN + 1, data[:cut]),
                            frame(31000, 9000, push, to_server=False),
                            frame(31000, ISN + 1 + cut, data[cut:])])))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    flow_id = int(engine.table[0]["flow_id"][row])
    assert old.state[1][row] == INSPECT_MATCHING
    new = recorder.attach(old.with_matcher(load_matcher()))
    new.rematch(engine.table)
    assert new.state[1][row] == INSPECT_CANDIDATE
    assert (new.state[8][row] == -1).all()            # its head slots are given back
    assert [e[1] for e in recorder.events if e[0] == EV_FIRED] == [flow_id]
    assert [(e[2], e[4]) for e in recorder.events if e[0] == EV_HEAD] == [
        (0, data[:cut]), (1, push), (0, data[cut:])]
    tracked = new.handoff.flows[flow_id]
    assert "stratum-v1.subscribe" in tracked.signatures and tracked.session.is_mining


def test_a_flow_that_ended_before_the_reload_is_not_matched_again(tmp_path):
    """Its row still holds its head (nothing reused it yet), but it has ended: handing it
    over would keep a session no flow end ever reports."""
    recorder = Recorder()
    engine, old = engine_with(recorder, load_matcher(signatures_of(tmp_path, "xmrig")),
                              idle_timeout_s=1)
    frames = [frame(32000, ISN, flags="S"), frame(32000, ISN + 1, subscribe(3, random.Random(7)))]
    list(engine.feed(batch(frames)))
    ended = [f for chunk in engine.advance(1_700_000_010_000_000_000) for f in chunk]
    assert [int(f["client_port"]) for f in ended] == [32000]
    new = recorder.attach(old.with_matcher(load_matcher()))
    new.rematch(engine.table)
    assert not recorder.events and not new.handoff.flows


def test_candidates_keep_their_fired_signatures_by_id(tmp_path):
    recorder = Recorder()
    engine, old = engine_with(recorder, load_matcher())
    list(engine.feed(batch([frame(33000, ISN, flags="S"),
                            frame(33000, ISN + 1, subscribe(4, random.Random(8)))])))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    assert old.state[1][row] == INSPECT_CANDIDATE
    fewer = load_matcher(signatures_of(tmp_path, "stratum_v1"))   # other signature numbers
    new = old.with_matcher(fewer, engine.table)
    fired = np.unpackbits(new.state[6][row].view(np.uint8), bitorder="little")
    old_fired = np.unpackbits(old.state[6][row].view(np.uint8), bitorder="little")
    names = [fewer.signature_ids[j] for j in np.flatnonzero(fired)]
    old_names = [old.matcher.signature_ids[j] for j in np.flatnonzero(old_fired)]
    assert "stratum-v1.subscribe" in names
    assert names == [n for n in old_names if n in fewer.signature_ids]
