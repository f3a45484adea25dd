"""Stratum V2 binary framing: plaintext frames and the Noise NX fingerprint (PROTOCOLS.md §10).

Spec: stratum-mining/sv2-spec 03-Protocol-Overview.md (§3.1 data types, §3.2
framing), 05-Mining-Protocol.md, 08-Message-Types.md, 04-Protocol-Security.md
(Noise NX), https://github.com/stratum-mining/sv2-spec. All integers are
little-endian. Frame = ``extension_type`` U16 | ``msg_type`` U8 |
``msg_length`` U24 | payload. A plaintext mining ``SetupConnection``
(protocol 0, min/max version 2) is conclusive; the encrypted handshake
(64-byte client key, 234-byte server reply) is only weak evidence.
Jobs are NewMiningJob / NewExtendedMiningJob only (SetNewPrevHash activates
one already sent); a channel's target is the one in
OpenStandard/ExtendedMiningChannel.Success until a SetTarget replaces it.
:func:`opening_prefix` tells a first segment cut inside the opening frame
(worth waiting for) from bytes that are not SV2.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass

from .message import (CONCLUSIVE, KIND_JOB, KIND_LOGIN, KIND_OTHER, KIND_SHARE,
                      KIND_SHARE_RESULT, KIND_TARGET, STRATUM_V2, STRONG, TOCLIENT, TOSERVER,
                      MiningMessage, untrusted_text)

FRAME_HEADER_BYTES = 6
CHANNEL_MSG_BIT = 0x8000
PROTOCOL_MINING = 0
PROTOCOL_JOB_DECLARATION = 1
PROTOCOL_TEMPLATE_DISTRIBUTION = 2
SV2_VERSION = 2

SETUP_CONNECTION = 0x00
SETUP_CONNECTION_SUCCESS = 0x01
SETUP_CONNECTION_ERROR = 0x02
OPEN_STANDARD_MINING_CHANNEL = 0x10
OPEN_STANDARD_MINING_CHANNEL_SUCCESS = 0x11
OPEN_EXTENDED_MINING_CHANNEL = 0x13
OPEN_EXTENDED_MINING_CHANNEL_SUCCESS = 0x14
NEW_MINING_JOB = 0x15
SUBMIT_SHARES_STANDARD = 0x1A
SUBMIT_SHARES_EXTENDED = 0x1B
SUBMIT_SHARES_SUCCESS = 0x1C
SUBMIT_SHARES_ERROR = 0x1D
NEW_EXTENDED_MINING_JOB = 0x1F
SET_NEW_PREV_HASH = 0x20
SET_TARGET = 0x21

JOB_MSG_TYPES = (NEW_MINING_JOB, NEW_EXTENDED_MINING_JOB)   # SetNewPrevHash only activates one
OPEN_CHANNEL_SUCCESS_TYPES = (OPEN_STANDARD_MINING_CHANNEL_SUCCESS, OPEN_EXTENDED_MINING_CHANNEL_SUCCESS)
# First frame of each direction: SetupConnection (C->S), .Success/.Error (S->C).
STR0_255_MAX_BYTES = 1 + 255
SETUP_CONNECTION_MAX_PAYLOAD = 1 + 2 + 2 + 4 + 5 * STR0_255_MAX_BYTES + 2
SETUP_CONNECTION_SUCCESS_PAYLOAD = 2 + 4                  # used_version U16, flags U32
SETUP_CONNECTION_ERROR_MAX_PAYLOAD = 4 + STR0_255_MAX_BYTES  # flags U32, error_code STR0_255

# Noise NX handshake (SRI const_sv2: ELLSWIFT_ENCODING_SIZE 64, 64 + 80 + 90).
NOISE_CLIENT_HELLO_BYTES = 64
NOISE_SERVER_REPLY_BYTES = 234
NOISE_MIN_RECORD_BYTES = 22 + 16      # encrypted header + MAC of an empty payload
NOISE_MIN_ENTROPY_BITS = 5.0          # per byte over 64 bytes; random data gives ~5.7
_KNOWN_MAGICS = (b"\x14\x03", b"\x15\x03", b"\x16\x03", b"\x17\x03", b"SSH-", b"{", b"\xf9\xbe\xb4\xd9",
                 b"\x01\x21\x01\x01\x01\x01\x01\x01", b"GET ", b"POST", b"HTTP")


@dataclass
class Incomplete:
    """More bytes are needed to finish the frame."""

    needed: int


@dataclass
class Sv2Frame:
    """One plaintext SV2 frame."""

    extension_type: int
    msg_type: int
    channel_msg: bool
    payload: bytes
    consumed: int


@dataclass
class SetupConnection:
    """SetupConnection payload fields, strings as untrusted bounded text."""

    protocol: int
    min_version: int
    max_version: int
    flags: int
    endpoint_host: str | None
    endpoint_port: int
    vendor: str | None
    hardware_version: str | None
    firmware: str | None
    device_id: str | None


class _Reader:
    """Bounds-checked little-endian reader; every read returns None past the end."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes | None:
        if n < 0 or self.pos + n > len(self.data):
            return None
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int | None:
        raw = self.take(n)
        return None if raw is None else int.from_bytes(raw, "little")

    def str0_255(self) -> bytes | None:
        length = self.uint(1)
        return None if length is None else self.take(length)

    def f32(self) -> float | None:
        raw = self.take(4)
        return None if raw is None else struct.unpack("<f", raw)[0]


def parse_frame(data: bytes, max_payload: int = 1 << 20):
    """Frame at the start of `data`: Sv2Frame, Incomplete, or None if implausible."""
    data = bytes(data)
    if len(data) < FRAME_HEADER_BYTES:
        return Incomplete(FRAME_HEADER_BYTES - len(data))
    ext = int.from_bytes(data[0:2], "little")
    msg_type = data[2]
    length = int.from_bytes(data[3:6], "little")
    if (ext & ~CHANNEL_MSG_BIT) > 0x7FFF or length > max_payload:
        return None
    if len(data) < FRAME_HEADER_BYTES + length:
        return Incomplete(FRAME_HEADER_BYTES + length - len(data))
    return Sv2Frame(ext & ~CHANNEL_MSG_BIT, msg_type, bool(ext & CHANNEL_MSG_BIT),
                    data[FRAME_HEADER_BYTES:FRAME_HEADER_BYTES + length],
                    FRAME_HEADER_BYTES + length)


def opening_prefix(data: bytes, direction: str) -> bool:
    """True when `data` is a proper prefix of a plaintext SV2 opening frame (§10.2).

    The opening frame of the client is a mining/JD/TD ``SetupConnection``
    (``00 00 | 00 | len | protocol <= 2 | 02 00 02 00 | ...``), the server's a
    ``SetupConnection.Success``/``.Error``. A first segment shorter than that
    frame is worth waiting for: at most one frame, whose length is capped by
    the message layout, so the wait is bounded. Random or other-protocol bytes
    fail on the fixed header bytes.
    """
    data = bytes(data)
    if direction == TOSERVER:
        types, cap = (SETUP_CONNECTION,), SETUP_CONNECTION_MAX_PAYLOAD
    elif direction == TOCLIENT:
        types = (SETUP_CONNECTION_SUCCESS, SETUP_CONNECTION_ERROR)
        cap = max(SETUP_CONNECTION_SUCCESS_PAYLOAD, SETUP_CONNECTION_ERROR_MAX_PAYLOAD)
    else:
        return False
    if not data or any(data[:2]) or (len(data) > 2 and data[2] not in types):
        return False
    if len(data) < FRAME_HEADER_BYTES:
        return True
    length = int.from_bytes(data[3:6], "little")
    if length > cap or len(data) >= FRAME_HEADER_BYTES + length:
        return False
    payload = data[FRAME_HEADER_BYTES:]
    if direction == TOSERVER:
        versions = struct.pack("<HH", SV2_VERSION, SV2_VERSION)
        if payload[:1] and payload[0] > PROTOCOL_TEMPLATE_DISTRIBUTION:
            return False
        if payload[1:5] != versions[:len(payload[1:5])]:
            return False
    return True


def _printable(raw: bytes | None) -> bool:
    return raw is not None and all(0x20 <= b < 0x7F for b in raw)


def parse_setup_connection(payload: bytes) -> SetupConnection | None:
    """Decode a SetupConnection payload; None unless versions are 2 and strings printable."""
    rd = _Reader(payload)
    protocol, min_v, max_v, flags = rd.uint(1), rd.uint(2), rd.uint(2), rd.uint(4)
    host = rd.str0_255()
    port = rd.uint(2)
    strings = [rd.str0_255() for _ in range(4)]
    if None in (protocol, min_v, max_v, flags, host, port) or any(s is None for s in strings):
        return None
    if protocol > PROTOCOL_TEMPLATE_DISTRIBUTION or min_v != SV2_VERSION or max_v != SV2_VERSION:
        return None
    if not all(_printable(s) for s in strings + [host]):
        return None
    vendor, hw, fw, dev = (untrusted_text(s) for s in strings)
    return SetupConnection(protocol, min_v, max_v, flags, untrusted_text(host), port,
                           vendor, hw, fw, dev)


def _u256_le_hex(raw: bytes | None) -> str | None:
    return raw.hex() if raw is not None and len(raw) == 32 else None


def _from_frame(frame: Sv2Frame, direction: str) -> MiningMessage | None:
    rd = _Reader(frame.payload)
    base = dict(variant=STRATUM_V2, direction=direction, specific=True)
    t = frame.msg_type
    if frame.extension_type != 0:
        return None
    if direction == TOSERVER and t == SETUP_CONNECTION and not frame.channel_msg:
        setup = parse_setup_connection(frame.payload)
        if setup is None or setup.protocol != PROTOCOL_MINING:
            return None
        agent = " ".join(x for x in (setup.vendor, setup.hardware_version, setup.firmware) if x)
        return MiningMessage(kind=KIND_LOGIN, strength=CONCLUSIVE, signature="stratum-v2.setup_connection",
                             agent=untrusted_text(agent), pool_host=setup.endpoint_host,
                             pool_port=setup.endpoint_port or None, **base)
    if direction == TOSERVER and t in (OPEN_STANDARD_MINING_CHANNEL, OPEN_EXTENDED_MINING_CHANNEL):
        rd.uint(4)
        user = rd.str0_255()
        rate = rd.f32()
        if user is None or rate is None or not _printable(user):
            return None
        return MiningMessage(kind=KIND_LOGIN, strength=STRONG, signature="stratum-v2.open_channel",
                             worker=untrusted_text(user),
                             reported_hashrate_hs=rate if math.isfinite(rate) and rate >= 0 else None,
                             **base)
    if direction == TOSERVER and t in (SUBMIT_SHARES_STANDARD, SUBMIT_SHARES_EXTENDED) and frame.channel_msg:
        if len(frame.payload) < 24:
            return None
        job_id = int.from_bytes(frame.payload[8:12], "little")
        return MiningMessage(kind=KIND_SHARE, strength=STRONG, signature="stratum-v2.submit_shares",
                             job_id=str(job_id), **base)
    if direction == TOCLIENT and t == SUBMIT_SHARES_SUCCESS and frame.channel_msg:
        rd.uint(4), rd.uint(4)
        count = rd.uint(4)
        if count is None:
            return None
        return MiningMessage(kind=KIND_SHARE_RESULT, strength=STRONG, result_ok=True,
                             signature="stratum-v2.submit_shares_success", accepted_count=count,
                             is_reply=True, **base)
    if direction == TOCLIENT and t == SUBMIT_SHARES_ERROR and frame.channel_msg:
        return MiningMessage(kind=KIND_SHARE_RESULT, strength=STRONG, result_ok=False,
                             signature="stratum-v2.submit_shares_error", is_reply=True, **base)
    if direction == TOCLIENT and t == SET_TARGET and frame.channel_msg:
        rd.uint(4)
        target = _u256_le_hex(rd.take(32))
        if target is None:
            return None
        return MiningMessage(kind=KIND_TARGET, strength=STRONG, signature="stratum-v2.set_target",
                             target=target, target_format="le256", **base)
    if direction == TOCLIENT and t in JOB_MSG_TYPES:
        return MiningMessage(kind=KIND_JOB, strength=STRONG, signature="stratum-v2.job", **base)
    if direction == TOCLIENT and t == SET_NEW_PREV_HASH:
        # activates a future job already counted by its NewMiningJob: evidence, not a job
        return MiningMessage(kind=KIND_OTHER, strength=STRONG,
                             signature="stratum-v2.set_new_prev_hash", **base)
    if direction == TOCLIENT and t in OPEN_CHANNEL_SUCCESS_TYPES:
        # request_id U32, channel_id U32, target U256: the channel's target until a SetTarget
        rd.uint(4), rd.uint(4)
        target = _u256_le_hex(rd.take(32))
        if target is not None and any(bytes.fromhex(target)):
            return MiningMessage(kind=KIND_TARGET, strength=STRONG,
                                 signature="stratum-v2.open_channel_success", is_reply=True,
                                 result_ok=True, target=target, target_format="le256", **base)
    if direction == TOCLIENT and t in (SETUP_CONNECTION_SUCCESS, *OPEN_CHANNEL_SUCCESS_TYPES):
        return MiningMessage(kind=KIND_OTHER, strength=STRONG, signature="stratum-v2.success",
                             is_reply=True, result_ok=True, **base)
    return None


def parse(message: bytes, direction: str) -> MiningMessage | None:
    """Mining evidence from the first plaintext SV2 frame in `message`; None otherwise."""
    if not isinstance(message, (bytes, bytearray)):
        return None
    frame = parse_frame(message)
    if not isinstance(frame, Sv2Frame):
        return None
    return _from_frame(frame, direction)


def _entropy_bits(data: bytes) -> float:
    counts = Counter(data)
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _random_looking(data: bytes) -> bool:
    return (not data.startswith(_KNOWN_MAGICS)
            and _entropy_bits(data) >= NOISE_MIN_ENTROPY_BITS
            and sum(0x20 <= b < 0x7F for b in data) < 0.75 * len(data))


def looks_like_noise_handshake(c2s: bytes, s2c: bytes) -> bool:
    """True when the first bytes fit the SV2 Noise NX opening (§10.3).

    `c2s`/`s2c` are the first reassembled bytes per direction. The client must
    open with 64 random-looking bytes and the server answer with 234; any
    further bytes must be at least one encrypted record (>= 38 bytes). Weak
    evidence only: another Noise-based protocol could use the same sizes.
    """
    c2s, s2c = bytes(c2s), bytes(s2c)
    if len(c2s) < NOISE_CLIENT_HELLO_BYTES or len(s2c) < NOISE_SERVER_REPLY_BYTES:
        return False
    extra_c = len(c2s) - NOISE_CLIENT_HELLO_BYTES
    extra_s = len(s2c) - NOISE_SERVER_REPLY_BYTES
    if 0 < extra_c < NOISE_MIN_RECORD_BYTES or 0 < extra_s < NOISE_MIN_RECORD_BYTES:
        return False
    return (_random_looking(c2s[:NOISE_CLIENT_HELLO_BYTES])
            and _random_looking(s2c[:NOISE_CLIENT_HELLO_BYTES]))
