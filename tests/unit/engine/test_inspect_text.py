"""Inspection ends for a flow one of whose directions opens with bytes no text protocol
sends (detector/engine/inspect.py opens_as_text): every mining protocol but Stratum V2
is JSON or HTTP, text both ways. Stratum V2's frames (rules.binary_openings) and a
proxy's binary framing (SOCKS) are spared; tab, CR and LF are text."""

import random
import struct

import numpy as np
import pytest

from detector.engine.inspect import EV_FIRED, INSPECT_CANDIDATE, INSPECT_OFF, PEEK_DONE, \
    TEXT_WINDOW, opens_as_text
from detector.rules import NOT_TEXT_BYTES, load_signatures
from tests.unit.engine.test_inspect_slots import ISN, Recorder, batch, engine_with, frame
from tests.unit.test_rules import SIG_DIR

SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}\n'
POOL_SEQ = 9000


def run(frames_per_batch):
    """Feed batches of frames to a fresh engine; (recorder, inspector, row of the flow)."""
    recorder = Recorder()
    engine, inspector = engine_with(recorder)
    first = 0
    for frames in frames_per_batch:
        list(engine.feed(batch(frames, first)))
        first += len(frames)
    row = int(np.argmax(engine.table[0]["flow_id"]))
    return recorder, inspector, row


def fired(recorder):
    return [e[1] for e in recorder.events if e[0] == EV_FIRED]


def test_the_kernel_and_the_signature_compiler_agree_on_text():
    """opens_as_text spells rules.NOT_TEXT_BYTES out for speed: the two must not drift
    (binary_openings is computed from the set, the kernel tests the bytes)."""
    for b in range(256):
        data = np.frombuffer(b"ab" + bytes([b]), np.uint8)
        assert opens_as_text(data, 0, 0, len(data)) == (b not in NOT_TEXT_BYTES), b


@pytest.mark.parametrize("opening", [b"\x00\x01\x02\x03", b"\x1b[0m", b"abc\x0cdef",
                                     b"\x01" + SUBSCRIBE])
@pytest.mark.parametrize("side", ["client", "server first"])
def test_a_binary_opening_ends_inspection(opening, side):
    """Mining bytes after a binary opening, either way, are not matched."""
    if side == "client":
        frames = [frame(41000, ISN, flags="S"), frame(41000, ISN + 1, opening),
                  frame(41000, ISN + 1 + len(opening), SUBSCRIBE)]
    else:
        frames = [frame(41000, ISN, flags="S"),
                  frame(41000, POOL_SEQ, opening, to_server=False),
                  frame(41000, ISN + 1, SUBSCRIBE)]
    recorder, inspector, row = run([frames])
    assert fired(recorder) == []
    assert inspector.state[1][row] == INSPECT_OFF
    assert (inspector.state[8][row] == -1).all()                  # its head slots given back
    assert inspector.counters()["binary_skipped"] == 1


@pytest.mark.parametrize("opening", [b"\r\n", b"\n\t", b"\x7f\x7f", b"\xc3\xa9"])
def test_text_openings_are_matched(opening):
    """Tab, CR, LF, DEL and UTF-8 are text: the subscribe after them fires."""
    frames = [frame(41000, ISN, flags="S"), frame(41000, ISN + 1, opening),
              frame(41000, ISN + 1 + len(opening), SUBSCRIBE)]
    recorder, inspector, row = run([frames])
    assert len(fired(recorder)) == 1 and inspector.state[1][row] == INSPECT_CANDIDATE
    assert inspector.counters()["binary_skipped"] == 0


@pytest.mark.parametrize("at, matched", [(TEXT_WINDOW - 1, False), (TEXT_WINDOW, True)])
def test_only_the_opening_window_is_read(at, matched):
    """The check costs TEXT_WINDOW bytes per direction at most: a control byte past
    them is not looked at."""
    opening = b" " * at + b"\x00"
    frames = [frame(41000, ISN, flags="S"), frame(41000, ISN + 1, opening + SUBSCRIBE)]
    recorder, _, _ = run([frames])
    assert bool(fired(recorder)) is matched


def test_encrypted_bytes_picked_up_mid_stream_end_inspection():
    """No SYN: the first bytes seen are byte 0, here the middle of a TLS record."""
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(600))
    frames = [frame(41000, ISN + 5000, noise), frame(41000, POOL_SEQ, noise, to_server=False),
              frame(41000, ISN + 5600, SUBSCRIBE)]
    recorder, inspector, row = run([frames])
    assert fired(recorder) == [] and inspector.state[1][row] == INSPECT_OFF


def test_a_lone_byte_decides_nothing():
    """A keepalive probe carries one garbage byte (often 0) below the next sequence
    number: when it is the first packet a capture sees of an idle connection, it
    must not end the flow's inspection."""
    frames = [frame(41000, ISN + 4999, b"\x00"), frame(41000, ISN + 5000, SUBSCRIBE)]
    recorder, inspector, row = run([frames])
    assert len(fired(recorder)) == 1 and inspector.state[1][row] == INSPECT_CANDIDATE


def test_stratum_v2_frames_are_matched():
    """Stratum V2's SetupConnection and its Success are binary, and open as its
    signatures say: the session fires."""
    sigs = load_signatures(SIG_DIR)
    client = sigs["stratum-v2.setup-connection"].samples[0]
    server = sigs["stratum-v2.setup-connection-success"].samples[0]
    frames = [frame(41000, ISN, flags="S"), frame(41000, ISN + 1, client),
              frame(41000, POOL_SEQ, server, to_server=False)]
    recorder, inspector, row = run([frames])
    assert len(fired(recorder)) == 1 and inspector.state[1][row] == INSPECT_CANDIDATE


def test_a_socks5_proxy_framing_is_spared():
    """SOCKS5 is binary both ways before the mining lines. The client pipelines its
    greeting and CONNECT: Python has the target (PEEK_DONE) before the proxy's binary
    reply comes, which must not end inspection either."""
    host = b"pool.example.org"
    greeting_and_connect = (b"\x05\x01\x00" + b"\x05\x01\x00\x03" + bytes([len(host)]) + host
                            + struct.pack(">H", 3333))
    client = greeting_and_connect + SUBSCRIBE[:10]       # the subscribe starts, cut short
    replies = b"\x05\x00" + b"\x05\x00\x00\x01" + bytes([198, 51, 100, 7]) + struct.pack(
        ">H", 3333)
    recorder = Recorder()
    engine, inspector = engine_with(recorder)
    list(engine.feed(batch([frame(41000, ISN, flags="S"), frame(41000, ISN + 1, client)])))
    row = int(np.argmax(engine.table[0]["flow_id"]))
    assert inspector.state[7][row] == PEEK_DONE
    list(engine.feed(batch([frame(41000, POOL_SEQ, replies, to_server=False),
                            frame(41000, ISN + 1 + len(client), SUBSCRIBE[10:])], 2)))
    assert len(fired(recorder)) == 1 and inspector.state[1][row] == INSPECT_CANDIDATE
    assert inspector.counters()["binary_skipped"] == 0
