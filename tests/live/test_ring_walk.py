"""The TPACKET_V3 block walk and the engine clock, on synthetic memory (no root needed).

Blocks are laid out as linux/if_packet.h says (tpacket_block_desc, then
tpacket3_hdr records chained by tp_next_offset), the way the kernel fills them.
"""

import struct

import numpy as np

from detector.capture.afpacket_walk import BLOCK_HDR_BYTES, TP3_HDR_BYTES, ring_block_walk
from detector.capture.batch import RecordBatch
from detector.pipeline import EngineOptions, FlowEngine
from tests.gen.packets import inner_tcp, eth

BLOCK = 4096
MAC_OFF = 66     # tp_mac: header + sockaddr_ll + alignment, as the kernel places it


def block(frames, ts=(1_700_000_000, 5), base=0, records=None, truncate_last=False):
    """A block at offset `base` of a ring holding `frames` (bytes); returns the ring."""
    ring = bytearray(base + BLOCK)
    pos = BLOCK_HDR_BYTES
    headers = []
    for k, frame in enumerate(frames):
        size = (MAC_OFF + len(frame) + 15) // 16 * 16
        headers.append((pos, size))
        pos += size
    for k, (at, size) in enumerate(headers):
        frame = frames[k]
        nxt = size if k + 1 < len(frames) else 0
        snaplen = len(frame) + (10_000 if truncate_last and k + 1 == len(frames) else 0)
        struct.pack_into("6IHH", ring, base + at, nxt, ts[0] + k, ts[1] + k, snaplen,
                         len(frame) + 4, 1, MAC_OFF, MAC_OFF + 14)
        ring[base + at + MAC_OFF:base + at + MAC_OFF + len(frame)] = frame
    struct.pack_into("5I", ring, base, 3, 0, 1, len(frames) if records is None else records,
                     BLOCK_HDR_BYTES)
    return np.frombuffer(bytes(ring), np.uint8).copy()


def arrays(m=64):
    return (np.zeros(m, np.int64), np.zeros(m, np.uint32), np.zeros(m, np.uint32),
            np.zeros(m, np.int64), np.zeros(m, np.uint16))


def frames(n):
    return [bytes(eth(inner_tcp(sport=50000 + k, payload=b"x" * (k + 1))[0])) for k in range(n)]


def test_walk_gives_each_record_where_the_kernel_put_it():
    fs = frames(5)
    ring = block(fs, base=BLOCK)
    out = arrays()
    n = ring_block_walk(ring, BLOCK, BLOCK, 1, *out)
    offset, caplen, wirelen, ts_ns, linktype = out
    assert n == 5
    for k in range(5):
        assert bytes(ring[offset[k]:offset[k] + caplen[k]]) == fs[k]
        assert wirelen[k] == len(fs[k]) + 4
        assert ts_ns[k] == (1_700_000_000 + k) * 1_000_000_000 + 5 + k
    assert list(linktype[:5]) == [1] * 5
    assert offset[0] == BLOCK + BLOCK_HDR_BYTES + MAC_OFF


def test_walk_stops_at_the_output_size_and_at_the_block_end():
    fs = frames(5)
    ring = block(fs)
    assert ring_block_walk(ring, 0, BLOCK, 1, *arrays(3)) == 3
    # a record claiming more bytes than the block holds is not read
    ring = block(fs, truncate_last=True)
    assert ring_block_walk(ring, 0, BLOCK, 1, *arrays()) == 4
    # a record count larger than the chain: the walk ends with the chain
    ring = block(fs, records=50)
    assert ring_block_walk(ring, 0, BLOCK, 1, *arrays()) == 5
    assert ring_block_walk(block([]), 0, BLOCK, 1, *arrays()) == 0
    assert TP3_HDR_BYTES == 48


def test_engine_clock_ends_idle_flows_without_records():
    fs = frames(3)
    ring = block(fs)
    out = arrays()
    n = ring_block_walk(ring, 0, BLOCK, 1, *out)
    engine = FlowEngine(EngineOptions(max_flows=16, idle_timeout_s=10), first_flow_id=7 << 48)
    batch = RecordBatch(ring, *(a[:n] for a in out))
    assert [len(f) for f in engine.feed(batch)] == []
    assert engine.live_flows == 3
    t0 = int(out[3][0])                   # records (one flow each) are 1 s apart
    assert list(engine.advance(t0 + 9_500_000_000)) == []           # none idle for 10 s
    ended = np.concatenate(list(engine.advance(t0 + 10_500_000_000)))
    assert ended["client_port"].tolist() == [50000]
    assert ended["end_reason"].tolist() == [0]                      # END_IDLE
    ended = np.concatenate(list(engine.advance(t0 + 13_000_000_000)))
    assert ended["client_port"].tolist() == [50001, 50002]
    assert ended["flow_id"].tolist() == [(7 << 48) + 1, (7 << 48) + 2]
    assert engine.live_flows == 0
    assert list(engine.advance(0)) == []                          # the clock never goes back


def test_engine_clock_is_a_no_op_without_idle_timeout():
    ring = block(frames(2))
    out = arrays()
    n = ring_block_walk(ring, 0, BLOCK, 1, *out)
    engine = FlowEngine(EngineOptions(max_flows=16, idle_timeout_s=0))
    list(engine.feed(RecordBatch(ring, *(a[:n] for a in out))))
    assert list(engine.advance(2 ** 62)) == []
    assert engine.live_flows == 2
