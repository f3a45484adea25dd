"""Head slots of the inspection kernel (detector/engine/inspect.py): a stream takes one
with its first bytes and its flow gives it back when it leaves inspection, so slots
are reused; what Python is handed must still be each flow's own bytes. A
ClientHello cut by a signature reload (Inspector.with_matcher) arrives whole,
bare ACKs leave a row alone until its flow brings bytes, and a flow evicted later
in its batch is inspected from what the flow table recorded per packet."""

import random

import numpy as np
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from detector.capture.batch import RecordBatch
from detector.engine.handoff import Inspector
from detector.engine.inspect import (EV_DATA, EV_FIRED, EV_HEAD, EV_HELLO, IM_SLOTS_FREE,
                                     IM_SLOTS_FRESH, INSPECT_CANDIDATE, INSPECT_MATCHING)
from detector.pipeline import EngineOptions, FlowEngine
from detector.scan_command import load_matcher
from tests.encrypted.test_visible_parsers import JA4_CIPHERS, JA4_EXTS, client_hello

CLIENT, POOL = "10.1.2.3", "198.51.100.7"
ETHERNET = 1
ISN = 1000


def frame(sport, seq, payload=b"", flags="PA", to_server=True):
    ip = IP(src=CLIENT, dst=POOL) if to_server else IP(src=POOL, dst=CLIENT)
    tcp = TCP(sport=sport, dport=3333, seq=seq, ack=1, flags=flags) if to_server else \
        TCP(sport=3333, dport=sport, seq=seq, ack=1, flags=flags)
    return bytes(Ether() / ip / tcp / Raw(payload)) if payload else bytes(Ether() / ip / tcp)


def batch(frames, first_record=0):
    """One RecordBatch over `frames`, 1 ms apart."""
    offsets, parts, pos = [], [], 0
    for f in frames:
        offsets.append(pos)
        parts.append(f)
        pos += len(f)
    n = len(frames)
    caplen = np.array([len(f) for f in frames], np.uint32)
    return RecordBatch(np.frombuffer(b"".join(parts), np.uint8).copy(),
                       np.array(offsets, np.int64), caplen, caplen.copy(),
                       1_700_000_000_000_000_000 + 1_000_000 * np.arange(first_record,
                                                                       first_record + n),
                       np.full(n, ETHERNET, np.uint16), first_record)


class Recorder:
    """Every event an Inspector hands to Python: (kind, flow_id, direction, pos, bytes)."""

    def __init__(self):
        self.events = []

    def attach(self, inspector):
        handoff = inspector.handoff
        original = handoff.on_events

        def on_events(events, arena, client_of=None):
            for e in events:
                data = arena[e["arena_off"]:e["arena_off"] + e["length"]].tobytes()
                self.events.append((int(e["kind"]), int(e["flow_id"]), int(e["direction"]),
                                    int(e["stream_pos"]), data, int(e["name_at"]),
                                    int(e["name_len"])))
            return original(events, arena, client_of)

        handoff.on_events = on_events
        return inspector

    def head(self, flow_id, direction):
        """The flow's head as handed over (EV_HEAD pieces put back by stream position)."""
        out = bytearray()
        for kind, fid, d, pos, data, _, _ in sorted(e for e in self.events
                                                    if e[0] == EV_HEAD and e[1] == flow_id
                                                    and e[2] == direction):
            assert pos == len(out), "EV_HEAD pieces must tile the head"
            out += data
        return bytes(out)


def engine_with(recorder, capacity=256):
    options = EngineOptions(max_flows=capacity, batch_records=64, idle_timeout_s=3600)
    inspector = recorder.attach(Inspector(load_matcher(), capacity, k_bytes=4096))
    return FlowEngine(options, inspector), inspector


def subscribe(k, rng):
    filler = "x" * rng.randrange(0, 600)     # heads of many lengths share the same slots
    return (f'{{"id":{k},"method":"mining.subscribe","params":["{filler}"]}}\n').encode()


def test_slots_are_reused_and_each_flow_hands_over_its_own_bytes():
    rng = random.Random(4)
    recorder = Recorder()
    engine, inspector = engine_with(recorder)
    frames, sent = [], {}
    for k in range(150):
        sport = 20000 + k
        reply = f'{{"id":{k},"result":true,"error":null}}\n'.encode() if k % 2 else b""
        data = subscribe(k, rng)
        cut = rng.randrange(1, len(data))
        first, second = frame(sport, ISN + 1, data[:cut]), frame(sport, ISN + 1 + cut, data[cut:])
        frames.append(frame(sport, ISN, flags="S"))
        if reply:                                  # the server speaks first: its slot too
            frames.append(frame(sport, 5000, reply, to_server=False))
        in_order = k % 3 != 0              # else the second segment waits for the first
        frames += [first, second] if in_order else [second, first]
        end = data.index(b'"mining.subscribe"') + len(b'"mining.subscribe"')
        fired_at = cut if in_order and cut >= end else len(data)
        sent[k] = (data[:fired_at], reply)      # the head when the signature fired
    for i in range(0, len(frames), 64):
        list(engine.feed(batch(frames[i:i + 64], i)))
    fired = [e[1] for e in recorder.events if e[0] == EV_FIRED]
    assert len(fired) == 150 == len(set(fired))
    for k, flow_id in enumerate(sorted(fired)):
        data, reply = sent[k]
        assert recorder.head(flow_id, 0) == data
        assert recorder.head(flow_id, 1) == reply
    meta = inspector.meta
    # every flow fired and gave its slots back: two slots served all 150
    assert meta[IM_SLOTS_FRESH] == 2 and meta[IM_SLOTS_FREE] == 2
    assert (inspector.state[8] == -1).all()


def test_client_hello_cut_by_a_signature_reload_arrives_whole():
    recorder = Recorder()
    engine, old = engine_with(recorder)
    hello = client_hello(JA4_CIPHERS, JA4_EXTS)
    frames = []
    for k in range(3):                 # flows still matching hold slots 0..2 before the hello
        frames += [frame(30000 + k, ISN, flags="S"),
                   frame(30000 + k, ISN + 1, b"GET / HTTP/1.1\r\n")]
    frames += [frame(40000, ISN, flags="S"), frame(40000, ISN + 1, hello[:100])]
    list(engine.feed(batch(frames)))
    tls_row = int(np.argmax(engine.table[0]["flow_id"]))      # the newest flow
    assert old.state[8][tls_row, 0] == 3
    new = recorder.attach(old.with_matcher(load_matcher(), engine.table))
    engine.inspector = new
    assert new.state[8][tls_row, 0] == 3 and new.meta[IM_SLOTS_FRESH] == 4
    assert (new.state[1][:3] == INSPECT_MATCHING).all()      # matched again: no signature
    list(engine.feed(batch([frame(40000, ISN + 101, hello[100:])], len(frames))))
    [ev] = [e for e in recorder.events if e[0] == EV_HELLO]
    assert ev[4] == hello
    assert hello[ev[5]:ev[5] + ev[6]] == b"example.com"
    assert new.meta[IM_SLOTS_FREE] == 1 and new.state[8][tls_row, 0] == -1


def test_candidates_give_their_slots_back():
    recorder = Recorder()
    engine, inspector = engine_with(recorder)
    rng = random.Random(1)
    frames = [frame(50000, ISN, flags="S"), frame(50000, ISN + 1, subscribe(1, rng))]
    list(engine.feed(batch(frames)))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    assert inspector.state[1][row] == INSPECT_CANDIDATE
    assert (inspector.state[8][row] == -1).all() and inspector.meta[IM_SLOTS_FREE] == 1


def test_bare_acks_leave_the_row_alone_until_a_flow_brings_bytes():
    """A packet with no payload and no SYN changes nothing in inspection, so the kernel
    does not read its flow's row: a flow picked up mid-stream through its ACKs is
    inspected from its first payload byte, and a signature reload that comes before
    that byte leaves the flow to the new signatures (it has nothing matched yet)."""
    recorder = Recorder()
    engine, old = engine_with(recorder)
    rng = random.Random(2)
    acks = [frame(41000, ISN + 1, flags="A"), frame(41000, 7000, flags="A", to_server=False)]
    list(engine.feed(batch(acks)))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    flow_id = int(engine.table[0]["flow_id"][row])
    assert old.state[0][row] != flow_id                  # not inspected yet: no reset
    assert (old.state[8][row] == -1).all()                # and no head slot taken
    new = recorder.attach(old.with_matcher(load_matcher(), engine.table))
    engine.inspector = new
    data = subscribe(1, rng)
    list(engine.feed(batch([frame(41000, ISN + 1, data)], len(acks))))
    assert new.state[1][row] == INSPECT_CANDIDATE
    assert [e[1] for e in recorder.events if e[0] == EV_FIRED] == [flow_id]
    assert recorder.head(flow_id, 0) == data


def test_a_flow_evicted_later_in_its_batch_is_still_inspected():
    """The flow table folds a whole batch before inspection runs: a flow evicted (its
    row reused) later in the same batch is inspected from what the flow table recorded
    per packet (row, flow_id, side), not from its row, which holds another flow now."""
    recorder = Recorder()
    engine, inspector = engine_with(recorder, capacity=4)
    rng = random.Random(3)
    data = subscribe(7, rng)
    reply = b'{"id":7,"result":[[["mining.notify","ae6812eb"]],"08000002",4],"error":null}\n'
    frames = [frame(42000, ISN, flags="S"), frame(42000, ISN + 1, data[:20]),
              frame(42000, ISN + 21, data[20:]), frame(42000, 9000, reply, to_server=False)]
    frames += [frame(43000 + k, ISN, flags="S") for k in range(4)]   # evict it, reuse its row
    ended = [f for chunk in engine.feed(batch(frames)) for f in chunk]
    [mining] = [f for f in ended if f["client_port"] == 42000]
    assert engine.table[0]["flow_id"][engine.table[0]["client_port"] == 42000].size == 0
    flow_id = int(mining["flow_id"])
    assert [e[1] for e in recorder.events if e[0] == EV_FIRED] == [flow_id]
    assert recorder.head(flow_id, 0) == data
    assert [e[4] for e in recorder.events if e[1] == flow_id and e[0] == EV_DATA] == [reply]
    # the flows that took the rows over are inspected as their own (fresh state)
    live = engine.table[0][engine.table[0]["flow_id"] > flow_id]
    assert len(live) == 4
    assert all(inspector.state[0][r] == f for r, f in enumerate(engine.table[0]["flow_id"])
               if f > flow_id)


def test_an_evicted_flow_takes_its_client_from_its_packets():
    """A pool-url flow teaches pool names for its client's later flows. Its client is
    read from the packet that fired, not from its row: evicted in its batch, its row
    holds another client's flow by the time Python looks (and with the flow table
    folding ahead in a second thread, so may the row of any flow)."""
    recorder = Recorder()
    engine, inspector = engine_with(recorder, capacity=4)
    config = b'{"pools":[{"url":"stratum+tcp://pool.example.net:3333","user":"w"}]}\n'
    others = [bytes(Ether() / IP(src="10.9.9.9", dst=POOL) / TCP(sport=45000 + k, dport=80,
                                                                 flags="S"))
              for k in range(4)]
    kept = [frame(44000, ISN, flags="S"), frame(44000, ISN + 1, config)]
    list(engine.feed(batch(kept + others)))        # evicted in its batch
    list(engine.feed(batch(kept, 10)))             # the same again, left alone
    first, second = sorted(e[1] for e in recorder.events if e[0] == EV_FIRED)
    flows = inspector.handoff.flows
    assert first not in engine.table[0]["flow_id"]       # evicted, its row reused
    assert flows[first].url_client == flows[second].url_client == CLIENT


def test_the_client_of_a_packet_is_its_flows_client_whichever_side_sent_it():
    """client_of(frame) reads the client address from the packet and the side the flow
    table gave it: the sender of a client packet, the receiver of a server packet; the
    same address the flow's row holds, however the table oriented the flow."""
    recorder = Recorder()
    engine, inspector = engine_with(recorder)
    v6 = [bytes(Ether() / IPv6(src=a, dst=b) / TCP(sport=s, dport=d, flags="PA") / Raw(b"q"))
          for a, b, s, d in (("2001:db8::2", "2001:db8::1", 40001, 50001),
                             ("2001:db8::1", "2001:db8::2", 50001, 40001))]
    frames = [frame(46000, ISN, flags="S"), frame(46000, 9000, b"x", to_server=False),
              frame(47000, 9000, b"y", to_server=False), frame(47000, ISN, b"z"), *v6]
    list(engine.feed(batch(frames, 100)))
    packets = engine.packet_sets[0]
    client_of = inspector.handoff.client_reader(packets.pkts, packets.side_of_packet, 100)
    rows = engine.table[0]
    sides, texts = [], []
    for i in range(len(frames)):
        row = rows[packets.flow_of_packet[i]]
        expected = inspector.handoff.addresses.text(int(row["client_hi"]), int(row["client_lo"]))
        assert client_of(101 + i) == expected, i
        sides.append(int(packets.side_of_packet[i]))
        texts.append(expected)
    assert texts[:4] == [CLIENT] * 4
    assert sides[:4] == [0, 1, 1, 0] and sides[4] != sides[5]   # both sides were read
