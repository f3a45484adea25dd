"""Stratum V1 (Bitcoin family) message parser (PROTOCOLS.md §3).

Spec: slush0/stratum-mining mining/service.py; pooler/cpuminer util.c;
BIP 310 (mining.configure), https://github.com/bitcoin/bips/blob/master/bip-0310.mediawiki.
JSON-RPC 1.0 shape, params are arrays. Only messages in the expected
direction are accepted (client requests toserver, pool pushes toclient).
Other dialects that reuse ``mining.*`` names (ZIP 301, EthereumStratum,
KawPow) have their own modules and are tried first by :mod:`.dispatch`.
"""

from __future__ import annotations

from .jsonrpc import coerce_message
from .message import (CONCLUSIVE, KIND_DIFFICULTY, KIND_JOB, KIND_LOGIN, KIND_OTHER,
                      KIND_REPLY, KIND_SHARE, KIND_TARGET, STRATUM_V1, STRONG, TOCLIENT,
                      TOSERVER, WEAK, MiningMessage, as_number, is_hex, message_id,
                      untrusted_text)

# Method names as in the spec.
MINING_SUBSCRIBE = "mining.subscribe"
MINING_AUTHORIZE = "mining.authorize"
MINING_CONFIGURE = "mining.configure"
MINING_EXTRANONCE_SUBSCRIBE = "mining.extranonce.subscribe"
MINING_SUGGEST_DIFFICULTY = "mining.suggest_difficulty"
MINING_SUBMIT = "mining.submit"
MINING_GET_TRANSACTIONS = "mining.get_transactions"
MINING_SET_DIFFICULTY = "mining.set_difficulty"
MINING_SET_TARGET = "mining.set_target"
MINING_NOTIFY = "mining.notify"
MINING_SET_EXTRANONCE = "mining.set_extranonce"
MINING_SET_VERSION_MASK = "mining.set_version_mask"
MINING_PING = "mining.ping"
CLIENT_RECONNECT = "client.reconnect"
CLIENT_GET_VERSION = "client.get_version"
CLIENT_SHOW_MESSAGE = "client.show_message"

NOTIFY_PARAMS = 9          # job_id, prevhash, coinb1, coinb2, merkle_branch, version, nbits, ntime, clean
PREVHASH_HEX = 64
WORD_HEX = 8               # version / nbits / ntime / nonce
SUBMIT_MIN_PARAMS = 5      # worker, job_id, extranonce2, ntime, nonce (+ version_bits)

_SERVER_OTHER = (MINING_SET_VERSION_MASK, CLIENT_RECONNECT, CLIENT_GET_VERSION,
                 CLIENT_SHOW_MESSAGE, MINING_PING)

# what parse() can accept, for dispatch's routing (see its docstring)
METHODS = {TOSERVER: (MINING_SUBSCRIBE, MINING_AUTHORIZE, MINING_CONFIGURE, MINING_SUBMIT,
                     MINING_EXTRANONCE_SUBSCRIBE, MINING_SUGGEST_DIFFICULTY,
                     MINING_GET_TRANSACTIONS),
           TOCLIENT: (MINING_SET_DIFFICULTY, MINING_SET_TARGET, MINING_NOTIFY,
                      MINING_SET_EXTRANONCE, *_SERVER_OTHER)}
REPLY_LISTS = (3,)      # subscribe result [subscriptions, extranonce1, size]
REPLY_OBJECTS = False


def _msg(kind, strength, direction, sig, obj, **fields) -> MiningMessage:
    return MiningMessage(kind=kind, variant=STRATUM_V1, strength=strength,
                         direction=direction, signature=f"stratum-v1.{sig}",
                         method=obj.get("method"), msg_id=message_id(obj), **fields)


def submit_message(direction, msg_id, worker, job_id) -> MiningMessage:
    """A share (at least 3 params: the caller checked)."""
    return MiningMessage(kind=KIND_SHARE, variant=STRATUM_V1, strength=CONCLUSIVE,
                         direction=direction, signature="stratum-v1.submit",
                         method=MINING_SUBMIT, msg_id=msg_id, worker=worker, job_id=job_id)


def difficulty_message(direction, msg_id, value) -> MiningMessage | None:
    """mining.set_difficulty with `value` (its first param as sent), None unless positive."""
    diff = as_number(value)
    if diff is None or diff <= 0:
        return None
    return MiningMessage(kind=KIND_DIFFICULTY, variant=STRATUM_V1, strength=STRONG,
                         direction=direction, signature="stratum-v1.set_difficulty",
                         method=MINING_SET_DIFFICULTY, msg_id=msg_id, difficulty=diff)


def notify_message(direction, msg_id, job_id, coinb1) -> MiningMessage:
    """A Bitcoin job (is_notify_shape checked by the caller)."""
    return MiningMessage(kind=KIND_JOB, variant=STRATUM_V1, strength=CONCLUSIVE,
                         direction=direction, signature="stratum-v1.notify",
                         method=MINING_NOTIFY, msg_id=msg_id, specific=True, job_id=job_id,
                         height=coinbase_height(coinb1))


def is_notify_shape(params) -> bool:
    """True for the 9-element Bitcoin notify: job id, 64-hex prevhash, coinbase hex,
    merkle list of 64-hex, 8-hex version/nbits/ntime, bool clean_jobs."""
    if not isinstance(params, list) or len(params) != NOTIFY_PARAMS:
        return False
    job_id, prevhash, coinb1, coinb2, branch, version, nbits, ntime, clean = params
    return (untrusted_text(job_id) is not None
            and is_hex(prevhash, PREVHASH_HEX)
            and is_hex(coinb1) and is_hex(coinb2, min_len=0)
            and isinstance(branch, list) and all(is_hex(b, PREVHASH_HEX) for b in branch)
            and is_hex(version, WORD_HEX) and is_hex(nbits, WORD_HEX)
            and is_hex(ntime, WORD_HEX) and isinstance(clean, bool))


def coinbase_height(coinb1: str) -> int | None:
    """BIP 34 height pushed at the start of the coinbase script, when recognisable.

    coinb1 = version(4) | 1 input | prevout(36) | script length (1) | push n | height LE.
    """
    try:
        raw = bytes.fromhex(coinb1[: 2 * 50])
    except ValueError:
        return None
    offset = 4 + 1 + 36 + 1
    if len(raw) <= offset:
        return None
    push = raw[offset]
    if not 1 <= push <= 4 or len(raw) < offset + 1 + push:
        return None
    return int.from_bytes(raw[offset + 1: offset + 1 + push], "little")


def _parse_request(obj: dict, method: str, params, direction: str) -> MiningMessage | None:
    if direction == TOSERVER:
        if method == MINING_SUBSCRIBE:
            agent = untrusted_text(params[0]) if isinstance(params, list) and params else None
            return _msg(KIND_LOGIN, CONCLUSIVE, direction, "subscribe", obj, agent=agent)
        if method == MINING_AUTHORIZE:
            worker = untrusted_text(params[0]) if isinstance(params, list) and params else None
            return _msg(KIND_LOGIN, CONCLUSIVE, direction, "authorize", obj, worker=worker)
        if method == MINING_CONFIGURE:
            if isinstance(params, list) and params and isinstance(params[0], list):
                return _msg(KIND_LOGIN, CONCLUSIVE, direction, "configure", obj)
            return None
        if method == MINING_SUBMIT:
            if not isinstance(params, list) or len(params) < 3:
                return None
            return submit_message(direction, message_id(obj), untrusted_text(params[0]),
                                  untrusted_text(params[1]))
        if method == MINING_EXTRANONCE_SUBSCRIBE:
            return _msg(KIND_OTHER, STRONG, direction, "extranonce_subscribe", obj)
        if method == MINING_SUGGEST_DIFFICULTY:
            # self-reported (PROTOCOLS.md §12.2): evidence only, never the difficulty in force
            return _msg(KIND_OTHER, STRONG, direction, "suggest_difficulty", obj)
        if method == MINING_GET_TRANSACTIONS:
            return _msg(KIND_OTHER, STRONG, direction, "get_transactions", obj)
        return None
    # toclient: pool pushes
    if method == MINING_SET_DIFFICULTY:
        return difficulty_message(direction, message_id(obj),
                                  params[0] if isinstance(params, list) and params else None)
    if method == MINING_SET_TARGET:
        target = params[0] if isinstance(params, list) and params else None
        if not is_hex(target, 64):
            return None
        return _msg(KIND_TARGET, STRONG, direction, "set_target", obj, target=target,
                    target_format="be256")
    if method == MINING_NOTIFY:
        if is_notify_shape(params):
            return notify_message(direction, message_id(obj), untrusted_text(params[0]),
                                  params[2])
        if isinstance(params, list) and len(params) >= 2 and untrusted_text(params[0]):
            return _msg(KIND_JOB, STRONG, direction, "notify_other", obj,
                        job_id=untrusted_text(params[0]))
        return None
    if method == MINING_SET_EXTRANONCE:
        if isinstance(params, list) and params and is_hex(params[0]):
            return _msg(KIND_OTHER, STRONG, direction, "set_extranonce", obj,
                        extranonce=untrusted_text(params[0]))
        return None
    if method in _SERVER_OTHER:
        return _msg(KIND_OTHER, WEAK, direction, method.replace("mining.", "").replace(".", "_"), obj)
    return None


def is_subscribe_result(result) -> bool:
    """Bitcoin subscribe result: [subscriptions, extranonce1 hex, extranonce2_size int]."""
    return (isinstance(result, list) and len(result) == 3
            and isinstance(result[0], list) and is_hex(result[1])
            and isinstance(result[2], int) and not isinstance(result[2], bool)
            and 0 < result[2] <= 32)


def parse(message: dict | bytes, direction: str) -> MiningMessage | None:
    """Parse one Stratum V1 message; None when it is not Stratum V1 in this direction."""
    obj = coerce_message(message)
    if obj is None:
        return None
    method = obj.get("method")
    if isinstance(method, str):
        return _parse_request(obj, method, obj.get("params"), direction)
    if direction == TOCLIENT and is_subscribe_result(obj.get("result")):
        return _msg(KIND_REPLY, STRONG, direction, "subscribe_result", obj, is_reply=True,
                    result_ok=True, extranonce=untrusted_text(obj["result"][1]))
    return None
