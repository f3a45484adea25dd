"""A direction's opening is judged whole, however the sender cut it
(detector/engine/inspect.py opening_length): a ClientHello, an SSH banner, a SOCKS
greeting or an HTTP CONNECT split after a byte or two (a known way around DPI) is
read as if it came in one segment, and the text rule reads the first TEXT_WINDOW
bytes as they come, not only those of the first packet."""

import struct

import numpy as np
import pytest

from detector.engine.inspect import (EV_FIRED, EV_HELLO, EV_PEEK, INSPECT_CANDIDATE,
                                     INSPECT_MATCHING, INSPECT_OFF, PEEK_DONE, TEXT_WINDOW)
from tests.encrypted.test_visible_parsers import JA4_CIPHERS, JA4_EXTS, client_hello
from tests.unit.engine.test_inspect_slots import ISN, Recorder, batch, engine_with, frame

SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}\n'
POOL_SEQ = 9000
HOST = b"pool.example.org"


def cut_into(data, cuts):
    """`data` in pieces ending at each offset of `cuts`, then the rest."""
    pieces, start = [], 0
    for end in list(cuts) + [len(data)]:
        pieces.append(data[start:end])
        start = end
    return pieces


def client_segments(sport, pieces, seq=ISN + 1):
    frames = []
    for piece in pieces:
        frames.append(frame(sport, seq, piece))
        seq += len(piece)
    return frames, seq


def run(frames):
    """Feed the frames to a fresh engine: (recorder, inspector, row, intel of the flow)."""
    recorder = Recorder()
    engine, inspector = engine_with(recorder)
    list(engine.feed(batch(frames)))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    fid = int(engine.table[0]["flow_id"][row])
    return recorder, inspector, row, inspector.handoff.intel.get(fid)


def kinds(recorder, kind):
    return [e for e in recorder.events if e[0] == kind]


@pytest.mark.parametrize("cuts", [(), (1,), (2,), (3,), (4,), (1, 2), (1, 2, 3), (2, 40)])
def test_a_client_hello_cut_anywhere_is_read_whole(cuts):
    hello = client_hello(JA4_CIPHERS, JA4_EXTS)
    frames, _ = client_segments(41000, cut_into(hello, cuts))
    recorder, inspector, row, intel = run([frame(41000, ISN, flags="S")] + frames)
    [event] = kinds(recorder, EV_HELLO)
    assert event[4] == hello
    assert intel.sni == "example.com"
    assert inspector.state[1][row] == INSPECT_OFF
    assert inspector.counters()["binary_skipped"] == 0


@pytest.mark.parametrize("cuts", [(1,), (2,), (3,)])
def test_an_ssh_banner_cut_short_still_ends_inspection(cuts):
    banner = b"SSH-2.0-OpenSSH_9.6\r\n"
    frames, seq = client_segments(41000, cut_into(banner, cuts))
    frames.append(frame(41000, seq, SUBSCRIBE))
    recorder, inspector, row, _ = run([frame(41000, ISN, flags="S")] + frames)
    assert kinds(recorder, EV_FIRED) == []
    assert inspector.state[1][row] == INSPECT_OFF
    assert inspector.counters()["encrypted_skipped"] == 1


def socks5_exchange(cuts):
    """SOCKS5 through a proxy to a pool, the client's greeting cut at `cuts`: the frames
    and the target the proxy is asked for."""
    greeting = b"\x05\x02\x00\x02"
    request = b"\x05\x01\x00\x03" + bytes([len(HOST)]) + HOST + struct.pack(">H", 3333)
    frames, seq = client_segments(41000, cut_into(greeting, cuts))
    frames += [frame(41000, POOL_SEQ, b"\x05\x00", to_server=False),
               frame(41000, seq, request),
               frame(41000, POOL_SEQ + 2, b"\x05\x00\x00\x01\xc6\x33\x64\x07\x0d\x05",
                     to_server=False),
               frame(41000, seq + len(request), SUBSCRIBE)]
    return [frame(41000, ISN, flags="S")] + frames, f"{HOST.decode()}:3333"


@pytest.mark.parametrize("cuts", [(), (1,), (2,), (3,), (1, 2)])
def test_a_socks5_greeting_cut_anywhere_leads_to_the_pool(cuts):
    frames, target = socks5_exchange(cuts)
    recorder, inspector, row, intel = run(frames)
    assert len(kinds(recorder, EV_FIRED)) == 1
    assert inspector.state[1][row] == INSPECT_CANDIDATE
    assert inspector.state[7][row] == PEEK_DONE
    assert intel.proxy_target == target
    peeked = b"".join(e[4] for e in sorted(kinds(recorder, EV_PEEK), key=lambda e: e[3]))
    assert peeked.startswith(b"\x05\x02\x00\x02\x05\x01")    # from the greeting's first byte
    assert inspector.counters()["binary_skipped"] == 0


@pytest.mark.parametrize("cuts", [(1,), (3,), (4,), (7,)])
def test_an_http_connect_cut_short_is_read_as_one(cuts):
    request = b"CONNECT " + HOST + b":3333 HTTP/1.1\r\nHost: " + HOST + b":3333\r\n\r\n"
    frames, seq = client_segments(41000, cut_into(request, cuts))
    frames += [frame(41000, POOL_SEQ, b"HTTP/1.1 200 Connection established\r\n\r\n",
                     to_server=False),
               frame(41000, seq, SUBSCRIBE)]
    recorder, inspector, row, intel = run([frame(41000, ISN, flags="S")] + frames)
    assert intel.proxy_target == f"{HOST.decode()}:3333"
    assert len(kinds(recorder, EV_FIRED)) == 1


@pytest.mark.parametrize("at", [4, 20, TEXT_WINDOW - 1])
def test_the_text_window_is_read_across_segments(at):
    """A binary byte inside the first TEXT_WINDOW ends inspection even when the text
    before it came in packets of its own."""
    opening = b"x" * at + b"\x00"
    frames, seq = client_segments(41000, cut_into(opening + SUBSCRIBE, (2, at, at + 1)))
    recorder, inspector, row, _ = run([frame(41000, ISN, flags="S")] + frames)
    assert kinds(recorder, EV_FIRED) == []
    assert inspector.state[1][row] == INSPECT_OFF
    assert inspector.counters()["binary_skipped"] == 1


def test_a_binary_byte_past_the_text_window_in_a_later_segment_is_not_read():
    opening = b"x" * TEXT_WINDOW + b"\x00"
    frames, _ = client_segments(41000, cut_into(opening + SUBSCRIBE, (2, TEXT_WINDOW)))
    recorder, inspector, row, _ = run([frame(41000, ISN, flags="S")] + frames)
    assert len(kinds(recorder, EV_FIRED)) == 1


def test_an_opening_too_short_to_judge_is_matched_meanwhile():
    """Two or three bytes decide nothing yet: the flow stays in matching."""
    recorder, inspector, row, _ = run([frame(41000, ISN, flags="S"),
                                       frame(41000, ISN + 1, b"\x16\x03")])
    assert inspector.state[1][row] == INSPECT_MATCHING and kinds(recorder, EV_HELLO) == []


def test_a_lone_first_byte_is_not_read_by_the_text_rule():
    """A keepalive probe's garbage byte, then text: matched (the rule reads from byte 1);
    binary after it still ends inspection."""
    lone = [frame(41000, ISN + 4999, b"\x00")]
    recorder, inspector, row, _ = run(lone + [frame(41000, ISN + 5000, SUBSCRIBE)])
    assert len(kinds(recorder, EV_FIRED)) == 1
    recorder, inspector, row, _ = run(lone + [frame(41000, ISN + 5000, b"ab\x01" + SUBSCRIBE)])
    assert kinds(recorder, EV_FIRED) == [] and inspector.state[1][row] == INSPECT_OFF
