"""KawPow stratum (Ravencoin and forks) message parser (PROTOCOLS.md §6).

Spec: rsp2k/kawpowminer libpoolprotocols/stratum/EthStratumClient.cpp;
nicehash/Specifications KawPow_NiceHash_v1.0.txt. Reported as variant
``stratum-v1`` with algorithm ``kawpow``. Discriminators: the 7-element notify
``[job_id, header_hash, seed_hash, share_target, clean, height, nbits]`` and
the submit ``[worker, job_id, 0x+16 hex nonce, 0x+64 hex header, 0x+64 hex mix]``.
"""

from __future__ import annotations

from .jsonrpc import coerce_message
from .message import (CONCLUSIVE, KIND_JOB, KIND_SHARE, STRATUM_V1, TOCLIENT, TOSERVER,
                      MiningMessage, is_hex, message_id, untrusted_text)

MINING_NOTIFY = "mining.notify"
MINING_SUBMIT = "mining.submit"
NOTIFY_PARAMS = 7
HASH_HEX = 64
NONCE_HEX = 16
ALGORITHM = "kawpow"

# what parse() can accept, for dispatch's routing (see its docstring)
METHODS = {TOSERVER: (MINING_SUBMIT,), TOCLIENT: (MINING_NOTIFY,)}
REPLY_LISTS = ()
REPLY_OBJECTS = False


def _hash(value) -> bool:
    return is_hex(value, HASH_HEX) or is_hex(value, HASH_HEX, prefixed=True)


def parse(message: dict | bytes, direction: str) -> MiningMessage | None:
    """Parse a KawPow notify or submit; None for any other message."""
    obj = coerce_message(message)
    if obj is None:
        return None
    method, params = obj.get("method"), obj.get("params")
    common = dict(variant=STRATUM_V1, strength=CONCLUSIVE, direction=direction, method=method,
                  msg_id=message_id(obj), specific=True, algo=ALGORITHM)
    if (direction == TOCLIENT and method == MINING_NOTIFY and isinstance(params, list)
            and len(params) == NOTIFY_PARAMS and untrusted_text(params[0])
            and _hash(params[1]) and _hash(params[2]) and _hash(params[3])
            and isinstance(params[4], bool) and isinstance(params[5], int)
            and not isinstance(params[5], bool)):
        return MiningMessage(kind=KIND_JOB, signature="kawpow.notify",
                             job_id=untrusted_text(params[0]), target=params[3].removeprefix("0x"),
                             target_format="be256", height=params[5], **common)
    if (direction == TOSERVER and method == MINING_SUBMIT and isinstance(params, list)
            and len(params) == 5 and is_hex(params[2], NONCE_HEX, prefixed=True)
            and is_hex(params[3], HASH_HEX, prefixed=True)
            and is_hex(params[4], HASH_HEX, prefixed=True)):
        # the same shape is used by plain Ethash stratum (§5.3): no algorithm claimed
        common["algo"] = None
        return MiningMessage(kind=KIND_SHARE, signature="kawpow.submit",
                             worker=untrusted_text(params[0]), job_id=untrusted_text(params[1]),
                             **common)
    return None
