"""Stratum V2 plaintext frames and the Noise handshake fingerprint."""

import random
import struct

from detector.protocols import stratum_v2
from detector.protocols.message import CONCLUSIVE


def _str(s: bytes) -> bytes:
    return bytes([len(s)]) + s


def frame(msg_type: int, payload: bytes, ext: int = 0) -> bytes:
    return struct.pack("<HB", ext, msg_type) + len(payload).to_bytes(3, "little") + payload


SETUP = frame(0x00, bytes([0]) + struct.pack("<HHI", 2, 2, 4) + _str(b"pool.example") + struct.pack("<H", 34254)
              + _str(b"Bitmain") + _str(b"S19") + _str(b"fw1.2") + _str(b"dev-7"))


def test_setup_connection_is_conclusive():
    msg = stratum_v2.parse(SETUP, "toserver")
    assert (msg.strength, msg.variant, msg.pool_host, msg.pool_port) == (CONCLUSIVE, "stratum-v2", "pool.example", 34254)
    setup = stratum_v2.parse_setup_connection(stratum_v2.parse_frame(SETUP).payload)
    assert (setup.protocol, setup.flags, setup.vendor, setup.device_id) == (0, 4, "Bitmain", "dev-7")
    assert stratum_v2.parse(SETUP, "toclient") is None


def test_setup_connection_rejects_wrong_versions_and_truncation():
    bad = bytearray(SETUP)
    bad[7] = 3
    assert stratum_v2.parse(bytes(bad), "toserver") is None
    for cut in range(len(SETUP)):
        msg = stratum_v2.parse(SETUP[:cut], "toserver")
        assert msg is None
    assert isinstance(stratum_v2.parse_frame(SETUP[:10]), stratum_v2.Incomplete)


def test_channel_submit_and_results():
    open_ch = frame(0x10, struct.pack("<I", 1) + _str(b"acct.worker1") + struct.pack("<f", 1.4e14) + b"\xff" * 32)
    msg = stratum_v2.parse(open_ch, "toserver")
    assert msg.worker == "acct.worker1" and msg.reported_hashrate_hs > 1e14
    submit = frame(0x1A, struct.pack("<6I", 1, 2, 3, 4, 5, 6), ext=0x8000)
    assert stratum_v2.parse(submit, "toserver").kind == "share"
    ok = frame(0x1C, struct.pack("<3IQ", 1, 2, 5, 1000), ext=0x8000)
    assert stratum_v2.parse(ok, "toclient").accepted_count == 5
    target = frame(0x21, struct.pack("<I", 1) + b"\x00" * 28 + b"\xff\xff\x00\x00", ext=0x8000)
    assert stratum_v2.parse(target, "toclient").target_format == "le256"


def test_noise_handshake_fingerprint():
    rng = random.Random(2024)   # fixed bytes: the test must not depend on luck
    c2s, s2c = rng.randbytes(64), rng.randbytes(234)
    assert stratum_v2.looks_like_noise_handshake(c2s, s2c)
    assert stratum_v2.looks_like_noise_handshake(c2s + rng.randbytes(62), s2c + rng.randbytes(58))
    assert not stratum_v2.looks_like_noise_handshake(c2s, s2c[:200])
    assert not stratum_v2.looks_like_noise_handshake(c2s + b"x", s2c)
    assert not stratum_v2.looks_like_noise_handshake(b"\x16\x03\x01" + c2s[3:], s2c)
    assert not stratum_v2.looks_like_noise_handshake(b"A" * 64, s2c)


CHANNEL_TARGET = (1 << 224) - 1
SET_TARGET = (1 << 220) - 1


def open_standard_success(target: int = CHANNEL_TARGET) -> bytes:
    # request_id, channel_id, target U256 LE, extranonce_prefix B0_32, group_channel_id
    return frame(0x11, struct.pack("<II", 1, 7) + target.to_bytes(32, "little")
                 + _str(bytes.fromhex("0badcafe")) + struct.pack("<I", 0))


def open_extended_success(target: int = CHANNEL_TARGET) -> bytes:
    # request_id, channel_id, target U256 LE, extranonce_size U16, extranonce_prefix B0_32
    return frame(0x14, struct.pack("<II", 1, 7) + target.to_bytes(32, "little")
                 + struct.pack("<H", 8) + _str(bytes.fromhex("0badcafe")))


def test_set_new_prev_hash_is_not_a_job():
    job = frame(0x15, struct.pack("<II", 7, 3) + bytes([1]) + struct.pack("<II", 0, 0x20000000)
                + b"\x11" * 32, ext=0x8000)
    prev = frame(0x20, struct.pack("<II", 7, 3) + b"\x22" * 32 + struct.pack("<II", 0x66A1F0C2, 0x17034219),
                 ext=0x8000)
    assert stratum_v2.parse(job, "toclient").kind == "job"
    msg = stratum_v2.parse(prev, "toclient")
    assert (msg.kind, msg.variant, msg.signature) == ("other", "stratum-v2", "stratum-v2.set_new_prev_hash")


def test_open_channel_success_carries_the_initial_target():
    for raw in (open_standard_success(), open_extended_success()):
        msg = stratum_v2.parse(raw, "toclient")
        assert (msg.kind, msg.target_format, msg.is_reply, msg.result_ok) == ("target", "le256", True, True)
        assert int.from_bytes(bytes.fromhex(msg.target), "little") == CHANNEL_TARGET
    # truncated or zero target: still a success reply, no target
    short = frame(0x11, struct.pack("<II", 1, 7) + b"\xff" * 10)
    assert stratum_v2.parse(short, "toclient").target is None
    assert stratum_v2.parse(open_standard_success(0), "toclient").target is None


def test_opening_prefix():
    assert all(stratum_v2.opening_prefix(SETUP[:n], "toserver") for n in range(1, len(SETUP)))
    assert not stratum_v2.opening_prefix(SETUP, "toserver")          # whole frame: not a prefix
    assert not stratum_v2.opening_prefix(SETUP[:20], "toclient")
    bad = bytearray(SETUP)
    bad[7] = 3                                                       # min_version 3
    assert not stratum_v2.opening_prefix(bytes(bad[:20]), "toserver")
    huge = frame(0x00, b"")[:3] + (1 << 16).to_bytes(3, "little")    # longer than any SetupConnection
    assert not stratum_v2.opening_prefix(huge, "toserver")
    ok = frame(0x01, struct.pack("<HI", 2, 0))
    assert stratum_v2.opening_prefix(ok[:7], "toclient") and not stratum_v2.opening_prefix(ok[:7], "toserver")
    rng = random.Random(7)
    assert not any(stratum_v2.opening_prefix(rng.randbytes(64), "toserver") for _ in range(200))
    assert not stratum_v2.opening_prefix(b"", "toserver")
