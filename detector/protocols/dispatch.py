"""Route one decoded JSON-RPC object to the dialect parsers, most specific first.

Order matters because dialects share method names (``mining.subscribe`` is
used by Bitcoin stratum, ZIP 301, EthereumStratum and KawPow): dialect-specific
shapes are tried before the generic Stratum V1 parser. Each parser module
declares the methods it accepts per direction (``METHODS``) and the reply
results it reads (``REPLY_LISTS`` lengths, ``REPLY_OBJECTS``), so a message goes
only to the parsers that can accept it: on a mining flow every packet is parsed,
and trying all six parsers on each was most of the slow path's time. Dialects
recognise replies (from the pool) by a list or object result (subscribe results,
jobs, work); the share replies, plain true/false, skip them. A reply nobody recognises
comes back as a generic ``reply`` message (variant None), which the session
only uses to pair with its request (it also carries the BIP 22 reading of the
reply, used when the request was ``submitblock``).
"""

from __future__ import annotations

from . import ethproxy, ethstratum, http_mining, kawpow, stratum_v1, xmrig, zcash
from .jsonrpc import coerce_message, reply_ok
from .message import KIND_REPLY, TOCLIENT, WEAK, MiningMessage, message_id

DIALECTS = (ethstratum, zcash, kawpow, xmrig, ethproxy, stratum_v1)   # most specific first


def _grouped(pairs):
    """{key: the parse functions paired with it, in DIALECTS order} of (key, parse) pairs."""
    routes = {}
    for key, parse in pairs:
        routes.setdefault(key, []).append(parse)
    return {key: tuple(parsers) for key, parsers in routes.items()}


# (direction, method) -> the parsers that accept it
ROUTES = _grouped(((direction, method), d.parse) for d in DIALECTS
                  for direction, methods in d.METHODS.items() for method in methods)
# list length -> the parsers that read list results of that length
LIST_REPLY_ROUTES = _grouped((length, d.parse) for d in DIALECTS for length in d.REPLY_LISTS)
OBJECT_REPLY_PARSERS = tuple(d.parse for d in DIALECTS if d.REPLY_OBJECTS)


def parsers_for(obj: dict, direction: str) -> tuple:
    """The dialect parsers that may accept `obj` in `direction`, in order."""
    method = obj.get("method")
    if isinstance(method, str):
        return ROUTES.get((direction, method), ())
    if direction != TOCLIENT:
        return ()     # replies come from the pool
    result = obj.get("result")
    if isinstance(result, list):
        return LIST_REPLY_ROUTES.get(len(result), ())
    if isinstance(result, dict):
        return OBJECT_REPLY_PARSERS
    return ()         # true/false/null results (share replies): only pairing needs them


def parse_json(message: dict | bytes, direction: str) -> MiningMessage | None:
    """The first dialect parse of `message`, a generic reply, or None."""
    obj = coerce_message(message)
    if obj is None:
        return None
    for parse in parsers_for(obj, direction):
        msg = parse(obj, direction)
        if msg is not None:
            return msg
    return generic_reply(obj, direction)


def generic_reply(obj: dict, direction: str) -> MiningMessage | None:
    """A pool reply no dialect claimed (pairing only), or None when `obj` is no reply."""
    if (direction == TOCLIENT and not isinstance(obj.get("method"), str)
            and ("result" in obj or "error" in obj)):
        return reply_message(direction, message_id(obj), obj)
    return None


def reply_message(direction: str, msg_id, obj: dict) -> MiningMessage:
    """The generic reply `obj` (its result and error read by reply_ok and BIP 22)."""
    return MiningMessage(kind=KIND_REPLY, variant=None, strength=WEAK, direction=direction,
                         signature="jsonrpc.reply", msg_id=msg_id, is_reply=True,
                         result_ok=reply_ok(obj),
                         submitblock_ok=http_mining.submitblock_reply_ok(obj))
