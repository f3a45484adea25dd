"""Zcash / Equihash stratum (ZIP 301) message parser (PROTOCOLS.md §7.1).

Spec: ZIP 301 "Zcash Stratum Protocol", https://zips.z.cash/zip-0301.
Shapes that single out ZIP 301: ``mining.notify`` with 8 params and version
``04000000``; ``mining.submit`` with ``[worker, job_id, time, NONCE_2,
solution]`` where the Equihash solution is long hex (200,9: ``fd4005`` + 2688
hex). ``mining.subscribe`` with ``[agent, session_id|null, host, port]`` is
shared with KawPow, so it is reported as generic Stratum V1 with the pool host.
"""

from __future__ import annotations

from .jsonrpc import coerce_message
from .message import (CONCLUSIVE, KIND_JOB, KIND_LOGIN, KIND_REPLY, KIND_SHARE, STRATUM_V1,
                      STRONG, TOCLIENT, TOSERVER, ZCASH, MiningMessage, as_int, is_hex,
                      message_id, untrusted_text)

MINING_SUBSCRIBE = "mining.subscribe"
MINING_NOTIFY = "mining.notify"
MINING_SUBMIT = "mining.submit"

NOTIFY_PARAMS = 8           # job_id, version, prevhash, merkleroot, reserved, time, bits, clean
NOTIFY_VERSION = "04000000"
HASH_HEX = 64
WORD_HEX = 8
SUBMIT_PARAMS = 5           # worker, job_id, time, NONCE_2, solution
SOLUTION_MIN_HEX = 200      # any Equihash parameter set gives far longer solutions
SOLUTION_200_9_PREFIX = "fd4005"   # compactSize(1344)

# what parse() can accept, for dispatch's routing (see its docstring)
METHODS = {TOSERVER: (MINING_SUBSCRIBE, MINING_SUBMIT), TOCLIENT: (MINING_NOTIFY,)}
REPLY_LISTS = (2,)      # subscribe result [session id, NONCE_1]
REPLY_OBJECTS = False


def _msg(kind, strength, direction, sig, obj, variant=ZCASH, **fields) -> MiningMessage:
    return MiningMessage(kind=kind, variant=variant, strength=strength, direction=direction,
                         signature=f"zcash.{sig}", method=obj.get("method"),
                         msg_id=message_id(obj), specific=variant == ZCASH, **fields)


def submit_message(direction, msg_id, worker, job_id) -> MiningMessage:
    """A ZIP 301 share (its shape checked by the caller: is_submit_shape)."""
    return MiningMessage(kind=KIND_SHARE, variant=ZCASH, strength=CONCLUSIVE,
                         direction=direction, signature="zcash.submit", method=MINING_SUBMIT,
                         msg_id=msg_id, specific=True, worker=worker, job_id=job_id,
                         algo="equihash")


def notify_message(direction, msg_id, job_id) -> MiningMessage:
    """A ZIP 301 job (its shape checked by the caller: is_notify_shape)."""
    return MiningMessage(kind=KIND_JOB, variant=ZCASH, strength=CONCLUSIVE, direction=direction,
                         signature="zcash.notify", method=MINING_NOTIFY, msg_id=msg_id,
                         specific=True, job_id=job_id, algo="equihash")


def is_notify_shape(params) -> bool:
    """ZIP 301 notify: 8 params, version 04000000, 64-hex hashes, 8-hex time/bits, bool.

    Some pools append extra trailing params (seen: a second bool); they are ignored.
    """
    if not isinstance(params, list) or not NOTIFY_PARAMS <= len(params) <= NOTIFY_PARAMS + 2:
        return False
    job_id, version, prevhash, merkleroot, reserved, ntime, nbits, clean = params[:NOTIFY_PARAMS]
    return (untrusted_text(job_id) is not None and isinstance(version, str)
            and version.lower() == NOTIFY_VERSION
            and is_hex(prevhash, HASH_HEX) and is_hex(merkleroot, HASH_HEX)
            and is_hex(reserved, HASH_HEX) and is_hex(ntime, WORD_HEX)
            and is_hex(nbits, WORD_HEX) and isinstance(clean, bool))


def is_submit_shape(params) -> bool:
    """ZIP 301 submit: worker, job_id, 8-hex time, hex NONCE_2, long hex solution."""
    return (isinstance(params, list) and len(params) == SUBMIT_PARAMS
            and untrusted_text(params[0]) is not None and untrusted_text(params[1]) is not None
            and is_hex(params[2], WORD_HEX) and is_hex(params[3])
            and is_hex(params[4], min_len=SOLUTION_MIN_HEX))


def parse(message: dict | bytes, direction: str) -> MiningMessage | None:
    """Parse one ZIP 301 message; None when the shape is not ZIP 301-specific."""
    obj = coerce_message(message)
    if obj is None:
        return None
    method, params = obj.get("method"), obj.get("params")
    if direction == TOSERVER and method == MINING_SUBSCRIBE:
        if (isinstance(params, list) and len(params) in (3, 4)
                and (params[1] is None or isinstance(params[1], str))
                and isinstance(params[2], str)):
            host = untrusted_text(params[2])
            port = as_int(params[3]) if len(params) > 3 else None
            return _msg(KIND_LOGIN, CONCLUSIVE, direction, "subscribe", obj, variant=STRATUM_V1,
                        agent=untrusted_text(params[0]), pool_host=host,
                        pool_port=port if port is not None and 0 < port < 65536 else None)
        return None
    if direction == TOSERVER and method == MINING_SUBMIT and is_submit_shape(params):
        return submit_message(direction, message_id(obj), untrusted_text(params[0]),
                              untrusted_text(params[1]))
    if direction == TOCLIENT and method == MINING_NOTIFY and is_notify_shape(params):
        return notify_message(direction, message_id(obj), untrusted_text(params[0]))
    if direction == TOCLIENT and method is None:
        result = obj.get("result")
        # subscribe result: [session id | null, NONCE_1 hex (< 32 bytes)]
        if (isinstance(result, list) and len(result) == 2
                and (result[0] is None or isinstance(result[0], str))
                and is_hex(result[1]) and len(result[1]) < 64 and len(result[1]) % 2 == 0):
            return _msg(KIND_REPLY, STRONG, direction, "subscribe_result", obj,
                        variant=STRATUM_V1, is_reply=True, result_ok=True,
                        extranonce=untrusted_text(result[1]))
    return None
