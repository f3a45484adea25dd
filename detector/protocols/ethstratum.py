"""EthereumStratum/1.0.0 (NiceHash) and EthereumStratum/2.0.0 parser (PROTOCOLS.md §5.2, §5.4, §8).

Specs: nicehash/Specifications EthereumStratum_NiceHash_v1.0.0.txt,
https://github.com/nicehash/Specifications; AndreaLanfranchi/EthereumStratum-2.0.0
Draft.md. 1.0.0 is recognised by the ``EthereumStratum/1.0.0`` tag in
``mining.subscribe`` (and its result), and by the 4-param notify
``[job_id, seedhash, headerhash, clean]``; 2.0.0 by ``mining.hello`` and its
own method names (every 2.0.0 method is conclusive, §5.4).
"""

from __future__ import annotations

from .jsonrpc import coerce_message
from .message import (CONCLUSIVE, ETHEREUMSTRATUM_1, ETHEREUMSTRATUM_2, KIND_JOB,
                      KIND_KEEPALIVE, KIND_LOGIN, KIND_OTHER, KIND_REPLY,
                      KIND_TARGET, STRATUM_V1, TOCLIENT, TOSERVER, MiningMessage, is_hex,
                      message_id, untrusted_text)

PROTO_TAG = "EthereumStratum/"
PROTO_1 = "EthereumStratum/1.0.0"
PROTO_2 = "EthereumStratum/2.0.0"
MINING_SUBSCRIBE = "mining.subscribe"
MINING_NOTIFY = "mining.notify"
MINING_HELLO = "mining.hello"
MINING_SET = "mining.set"
MINING_NOOP = "mining.noop"
MINING_BYE = "mining.bye"
MINING_HASHRATE = "mining.hashrate"
HASH_HEX = 64

# what parse() can accept, for dispatch's routing (see its docstring)
METHODS = {TOSERVER: (MINING_SUBSCRIBE, MINING_HELLO, MINING_NOOP, MINING_HASHRATE),
           TOCLIENT: (MINING_NOTIFY, MINING_SET, MINING_BYE)}
REPLY_LISTS = (2,)        # 1.0.0 subscribe result [[notify, id, tag], extranonce]
REPLY_OBJECTS = True      # 2.0.0 hello result {proto, encoding, ...}


def _msg(kind, strength, direction, sig, obj, variant=ETHEREUMSTRATUM_1, **fields):
    return MiningMessage(kind=kind, variant=variant, strength=strength, direction=direction,
                         signature=f"{variant}.{sig}", method=obj.get("method"),
                         msg_id=message_id(obj), specific=True, **fields)


def _version(tag) -> str | None:
    if isinstance(tag, str) and tag.startswith(PROTO_TAG):
        return ETHEREUMSTRATUM_2 if tag.startswith(PROTO_TAG + "2") else ETHEREUMSTRATUM_1
    return None


def parse(message: dict | bytes, direction: str) -> MiningMessage | None:
    """Parse one EthereumStratum message; None when it is not that dialect."""
    obj = coerce_message(message)
    if obj is None:
        return None
    method, params = obj.get("method"), obj.get("params")
    if direction == TOSERVER:
        if method == MINING_SUBSCRIBE and isinstance(params, list) and len(params) >= 2:
            variant = _version(params[1])
            if variant:
                return _msg(KIND_LOGIN, CONCLUSIVE, direction, "subscribe", obj, variant=variant,
                            agent=untrusted_text(params[0]))
        if method == MINING_HELLO and isinstance(params, dict) and _version(params.get("proto")):
            return _msg(KIND_LOGIN, CONCLUSIVE, direction, "hello", obj, variant=ETHEREUMSTRATUM_2,
                        agent=untrusted_text(params.get("agent")),
                        pool_host=untrusted_text(params.get("host")), algo="ethash")
        if method in (MINING_NOOP, MINING_HASHRATE):
            return _msg(KIND_KEEPALIVE if method == MINING_NOOP else KIND_OTHER, CONCLUSIVE,
                        direction, method.split(".")[1], obj, variant=ETHEREUMSTRATUM_2)
        return None
    if direction != TOCLIENT:
        return None
    if method == MINING_NOTIFY and isinstance(params, list) and len(params) == 4:
        job_id, seed, header, clean = params
        if (untrusted_text(job_id) and is_hex(seed, HASH_HEX) and is_hex(header, HASH_HEX)
                and isinstance(clean, bool)):
            return _msg(KIND_JOB, CONCLUSIVE, direction, "notify", obj,
                        job_id=untrusted_text(job_id), algo="ethash")
    if method == MINING_NOTIFY and isinstance(params, list) and len(params) in (4, 5) and all(
            is_hex(p, HASH_HEX) or is_hex(p, HASH_HEX, prefixed=True) for p in params[1:4]):
        # plain Ethash stratum (§5.3): [job_id, header_hash, seed_hash, boundary(, clean)]
        return MiningMessage(kind=KIND_JOB, variant=STRATUM_V1, strength=CONCLUSIVE,
                             direction=direction, signature="stratum-v1.notify_ethash",
                             method=method, msg_id=message_id(obj), specific=True,
                             job_id=untrusted_text(params[0]), algo="ethash",
                             target=params[3].removeprefix("0x"), target_format="boundary")
    if method == MINING_SET and isinstance(params, dict) and (
            "epoch" in params or "target" in params) and (
            "algo" in params or "extranonce" in params):
        target = params.get("target")
        return _msg(KIND_TARGET, CONCLUSIVE, direction, "set", obj, variant=ETHEREUMSTRATUM_2,
                    target=target if is_hex(target, min_len=1) and len(target) <= 64 else None,
                    target_format="be256", algo=untrusted_text(params.get("algo")))
    if method == MINING_BYE:
        return _msg(KIND_OTHER, CONCLUSIVE, direction, "bye", obj, variant=ETHEREUMSTRATUM_2)
    if method is None:
        result = obj.get("result")
        # 1.0.0 subscribe result: [["mining.notify", id, "EthereumStratum/1.0.0"], extranonce]
        if (isinstance(result, list) and len(result) == 2 and isinstance(result[0], list)
                and len(result[0]) == 3 and _version(result[0][2])):
            return _msg(KIND_REPLY, CONCLUSIVE, direction, "subscribe_result", obj,
                        variant=_version(result[0][2]), is_reply=True, result_ok=True,
                        extranonce=untrusted_text(result[1]))
        # 2.0.0 hello result: {"proto": "EthereumStratum/2.0.0", "encoding": ..., ...}
        if isinstance(result, dict) and _version(result.get("proto")):
            return _msg(KIND_REPLY, CONCLUSIVE, direction, "hello_result", obj,
                        variant=ETHEREUMSTRATUM_2, is_reply=True, result_ok=True)
    return None
