"""Route one decoded JSON-RPC object to the dialect parsers, most specific first.

Order matters because dialects share method names (``mining.subscribe`` is
used by Bitcoin stratum, ZIP 301, EthereumStratum and KawPow): dialect-specific
shapes are tried before the generic Stratum V1 parser. A reply nobody
recognises comes back as a generic ``reply`` message (variant None), which the
session only uses to pair with its request (it also carries the BIP 22
reading of the reply, used when the request was ``submitblock``).
"""

from __future__ import annotations

from . import ethproxy, ethstratum, http_mining, kawpow, stratum_v1, xmrig, zcash
from .jsonrpc import coerce_message, is_request, reply_ok
from .message import KIND_REPLY, TOCLIENT, WEAK, MiningMessage, message_id

PARSERS = (ethstratum.parse, zcash.parse, kawpow.parse, xmrig.parse, ethproxy.parse,
           stratum_v1.parse)


def parse_json(message: dict | bytes, direction: str) -> MiningMessage | None:
    """The first dialect parse of `message`, a generic reply, or None."""
    obj = coerce_message(message)
    if obj is None:
        return None
    for parse in PARSERS:
        msg = parse(obj, direction)
        if msg is not None:
            return msg
    if direction == TOCLIENT and not is_request(obj) and ("result" in obj or "error" in obj):
        return MiningMessage(kind=KIND_REPLY, variant=None, strength=WEAK, direction=direction,
                             signature="jsonrpc.reply", msg_id=message_id(obj), is_reply=True,
                             result_ok=reply_ok(obj),
                             submitblock_ok=http_mining.submitblock_reply_ok(obj))
    return None
