"""Ethash "eth-proxy" (ETHPROXY) and node getwork message parser (PROTOCOLS.md §5.1, §9.3).

Spec: ethereum-mining/ethminer libpoolprotocols/stratum/EthStratumClient.cpp
(ETHPROXY mode), https://github.com/ethereum-mining/ethminer. Only the four
mining methods count; every other ``eth_*`` call (eth_blockNumber, eth_call,
...) is ordinary node RPC and returns None. Work is an array
``[header_hash, seed_hash, boundary(, block_number)]`` of 0x-hex strings, sent
as the ``eth_getWork`` result or pushed response-shaped (``"id": 0``).
"""

from __future__ import annotations

from .jsonrpc import coerce_message
from .message import (CONCLUSIVE, ETHPROXY, KIND_JOB, KIND_LOGIN, KIND_OTHER, KIND_SHARE,
                      STRONG, TOCLIENT, TOSERVER, WEAK, MiningMessage, as_int, is_hex,
                      message_id, untrusted_text)

ETH_SUBMIT_LOGIN = "eth_submitLogin"
ETH_GET_WORK = "eth_getWork"
ETH_SUBMIT_WORK = "eth_submitWork"
ETH_SUBMIT_HASHRATE = "eth_submitHashrate"
HASH_HEX = 64
NONCE_HEX = 16
ALGORITHM = "ethash"

# what parse() can accept, for dispatch's routing (see its docstring)
METHODS = {TOSERVER: (ETH_SUBMIT_LOGIN, ETH_GET_WORK, ETH_SUBMIT_WORK, ETH_SUBMIT_HASHRATE),
           TOCLIENT: ()}
REPLY_LISTS = (3, 4)      # eth_getWork result [header, seed, boundary(, height)]
REPLY_OBJECTS = False


def _msg(kind, strength, direction, sig, obj, **fields) -> MiningMessage:
    return MiningMessage(kind=kind, variant=ETHPROXY, strength=strength, direction=direction,
                         signature=f"ethproxy.{sig}", method=obj.get("method"),
                         msg_id=message_id(obj), specific=True, **fields)


def is_work_shape(result) -> bool:
    """[0x+64 hex header, 0x+64 hex seed, 0x+hex boundary (<= 64 digits), ...]."""
    return (isinstance(result, list) and 3 <= len(result) <= 4
            and is_hex(result[0], HASH_HEX, prefixed=True)
            and is_hex(result[1], HASH_HEX, prefixed=True)
            and is_hex(result[2], prefixed=True) and 3 <= len(result[2]) <= 2 + HASH_HEX)


def parse(message: dict | bytes, direction: str) -> MiningMessage | None:
    """Parse one eth-proxy / getwork message; None for non-mining Ethereum RPC."""
    obj = coerce_message(message)
    if obj is None:
        return None
    method, params = obj.get("method"), obj.get("params")
    if direction == TOSERVER and isinstance(method, str):
        params = params if isinstance(params, list) else []
        if method == ETH_SUBMIT_LOGIN:
            extra = untrusted_text(obj.get("worker"))
            return _msg(KIND_LOGIN, CONCLUSIVE, direction, "submit_login", obj,
                        worker=untrusted_text(params[0]) if params else None,
                        workers_extra=(f"worker:{extra}",) if extra else ())
        if method == ETH_SUBMIT_WORK:
            shaped = (len(params) == 3 and is_hex(params[0], NONCE_HEX, prefixed=True)
                      and is_hex(params[1], HASH_HEX, prefixed=True)
                      and is_hex(params[2], HASH_HEX, prefixed=True))
            return submit_work_message(direction, message_id(obj), shaped,
                                       untrusted_text(obj.get("worker")))
        if method == ETH_SUBMIT_HASHRATE:
            return hashrate_message(direction, message_id(obj), params[0] if params else None)
        if method == ETH_GET_WORK:
            return get_work_message(direction, message_id(obj))
        return None
    if direction == TOCLIENT and method is None and is_work_shape(obj.get("result")):
        return work_message(direction, message_id(obj), obj["result"])
    return None


def hashrate_message(direction, msg_id, rate) -> MiningMessage:
    """eth_submitHashrate; `rate`: its first param as sent (None: none)."""
    rate = as_int(rate)
    return MiningMessage(kind=KIND_OTHER, variant=ETHPROXY, strength=CONCLUSIVE,
                         direction=direction, signature="ethproxy.submit_hashrate",
                         method=ETH_SUBMIT_HASHRATE, msg_id=msg_id, specific=True,
                         reported_hashrate_hs=float(rate) if rate is not None else None)


def submit_work_message(direction, msg_id, shaped=True, worker=None) -> MiningMessage:
    """eth_submitWork; `shaped`: its params are [nonce, header, mix digest] in 0x-hex;
    `worker`: the top-level "worker" name some proxies add."""
    return MiningMessage(kind=KIND_SHARE, variant=ETHPROXY,
                         strength=CONCLUSIVE if shaped else STRONG, direction=direction,
                         signature="ethproxy.submit_work", method=ETH_SUBMIT_WORK,
                         msg_id=msg_id, specific=True, algo=ALGORITHM,
                         workers_extra=(f"worker:{worker}",) if worker else ())


def get_work_message(direction, msg_id) -> MiningMessage:
    return MiningMessage(kind=KIND_OTHER, variant=ETHPROXY, strength=WEAK, direction=direction,
                         signature="ethproxy.get_work", method=ETH_GET_WORK, msg_id=msg_id,
                         specific=True)


def work_message(direction, msg_id, result) -> MiningMessage:
    """Work pushed or returned by eth_getWork (`result` checked by is_work_shape)."""
    height = as_int(result[3]) if len(result) > 3 else None
    return MiningMessage(kind=KIND_JOB, variant=ETHPROXY, strength=STRONG, direction=direction,
                         signature="ethproxy.work", msg_id=msg_id,
                         specific=True, is_reply=msg_id not in (0, None), result_ok=True,
                         job_id=result[0][:18], target=result[2][2:], target_format="boundary",
                         algo=ALGORITHM, height=height)
