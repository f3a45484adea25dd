"""Common result type of every protocol parser, plus small shared helpers.

A parser turns one decoded message (a JSON-RPC object, an HTTP message or an
SV2 frame) into a :class:`MiningMessage`: what kind of mining message it is,
which dialect, how strong it is as evidence (PROTOCOLS.md §14) and the fields
worth keeping. Strings taken from the wire (worker, agent, pool host) are
untrusted: they are stored as given, decoded with ``errors="replace"`` and cut
to :data:`MAX_TEXT_CHARS`; they are never interpreted. Passwords are not kept.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

# Directions, as in Suricata/nfstream (client = flow initiator).
TOSERVER = "toserver"
TOCLIENT = "toclient"
DIRECTIONS = (TOSERVER, TOCLIENT)

# Message kinds.
KIND_LOGIN = "login"              # subscribe / authorize / login / hello / SetupConnection
KIND_JOB = "job"                  # new work from the pool
KIND_SHARE = "share"              # a share (or block) submission
KIND_SHARE_RESULT = "share_result"  # the pool's answer to a share (set by the session)
KIND_DIFFICULTY = "difficulty"
KIND_TARGET = "target"
KIND_KEEPALIVE = "keepalive"
KIND_REPLY = "reply"              # a response not recognisable without its request
KIND_OTHER = "other"

# Evidence strength (PROTOCOLS.md §14).
CONCLUSIVE = "conclusive"
STRONG = "strong"
WEAK = "weak"
STRENGTHS = (CONCLUSIVE, STRONG, WEAK)

# Variants reported by the session (to_dict()["variant"]).
STRATUM_V1 = "stratum-v1"
XMRIG = "xmrig"
ETHPROXY = "ethproxy"
ETHEREUMSTRATUM_1 = "ethereumstratum-1"
ETHEREUMSTRATUM_2 = "ethereumstratum-2"
ZCASH = "zcash"
STRATUM_V2 = "stratum-v2"
GETWORK = "getwork"
GETBLOCKTEMPLATE = "getblocktemplate"
VARIANTS = (STRATUM_V1, XMRIG, ETHPROXY, ETHEREUMSTRATUM_1, ETHEREUMSTRATUM_2,
            ZCASH, STRATUM_V2, GETWORK, GETBLOCKTEMPLATE)

MAX_TEXT_CHARS = 256


@dataclass(slots=True)     # one per parsed message: slots make it quicker to build
class MiningMessage:
    """One parsed mining message.

    ``variant`` is the dialect this message proves (``None`` for a generic
    reply); ``specific`` is True when the shape singles that dialect out (a
    zcash notify), False when it is shared by several (a bare
    ``mining.authorize``). ``signature`` is a short stable id for evidence
    lists, e.g. ``"stratum-v1.subscribe"``. ``difficulty`` is unitless;
    ``target`` is the hex string as sent (its byte order depends on
    ``target_format``: ``"cryptonote"``, ``"be256"``, ``"le256"``, ``"boundary"``).
    """

    kind: str
    variant: str | None
    strength: str
    direction: str
    signature: str
    method: str | None = None
    msg_id: object = None
    specific: bool = False
    is_reply: bool = False
    result_ok: bool | None = None     # replies: True accepted, False error, None unknown
    submitblock_ok: bool | None = None  # replies read as BIP 22 submitblock: null result = accepted
    worker: str | None = None
    workers_extra: tuple = ()         # other identities (e.g. eth-proxy top-level "worker")
    agent: str | None = None
    algo: str | None = None
    coin: str | None = None
    difficulty: float | None = None
    target: str | None = None
    target_format: str | None = None
    job_id: str | None = None
    height: int | None = None
    extranonce: str | None = None
    pool_host: str | None = None
    pool_port: int | None = None
    reported_hashrate_hs: float | None = None
    accepted_count: int | None = None    # SV2 SubmitShares.Success new_submits_accepted_count


def untrusted_text(value, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Bounded string from an untrusted wire value (str/bytes/number), else None."""
    if isinstance(value, str):              # the usual case first
        return value[:limit] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, (int, float)):
        value = str(value)
    elif not isinstance(value, str):
        return None
    if not value:
        return None
    return value[:limit]


def is_hex(value, length: int | None = None, prefixed: bool = False,
           min_len: int = 1) -> bool:
    """True when `value` is a hex string (optionally "0x"-prefixed) of the given length."""
    if not isinstance(value, str):
        return False
    if prefixed:
        if not value[:2] in ("0x", "0X"):
            return False
        value = value[2:]
    if length is not None and len(value) != length:
        return False
    if len(value) < min_len:
        return False
    # unhexlify accepts exactly the hex digits (no blanks, signs or prefixes) and checks
    # them at C speed, where a regular expression walks a character at a time: the
    # Equihash solution of every Zcash share is 2.7 kB of hex
    try:
        binascii.unhexlify(value if len(value) % 2 == 0 else "0" + value)
    except (binascii.Error, ValueError):        # ValueError: not ASCII
        return False
    return True


def as_number(value) -> float | None:
    """A JSON number (not bool) as float, or None; rejects NaN/inf and negatives."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        return None
    return number


def as_int(value) -> int | None:
    """A JSON integer, a decimal string or a 0x-hex string as int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 32:
        try:
            if value[:2] in ("0x", "0X"):
                return int(value[2:], 16)
            return int(value, 10)
        except ValueError:
            return None
    return None


def message_id(obj: dict):
    """The JSON-RPC id if it is a scalar usable as a dict key, else None."""
    value = obj.get("id")
    if isinstance(value, str):
        return value[:MAX_TEXT_CHARS]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
