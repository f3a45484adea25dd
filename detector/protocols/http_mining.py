"""HTTP mining: getwork, getblocktemplate, submitblock (PROTOCOLS.md §9, §4.6).

Specs: BIP 22/23 (getblocktemplate), https://github.com/bitcoin/bips/blob/master/bip-0022.mediawiki;
pooler/cpuminer util.c (``json_rpc_call`` headers, ``X-Long-Polling``,
``X-Stratum``); xmrig DaemonClient.cpp (monerod ``getblocktemplate`` with
``wallet_address``). :func:`parse_http` frames one HTTP/1.x message (start
line, headers, body by Content-Length or chunked); :func:`parse` turns it into
mining evidence from the headers (``X-Mining-Extensions`` is conclusive) and
the JSON-RPC body. Non-mining RPC (``getblockchaininfo``, ``web3_*``,
wallet calls) gives None.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from .jsonrpc import decode_json
from .message import (CONCLUSIVE, GETBLOCKTEMPLATE, GETWORK, KIND_JOB, KIND_LOGIN, KIND_OTHER,
                      KIND_SHARE, STRONG, TOCLIENT, TOSERVER, WEAK, MiningMessage, as_int,
                      is_hex, message_id, untrusted_text)

HTTP_METHODS = (b"POST ", b"GET ", b"PUT ", b"HEAD ", b"OPTIONS ", b"DELETE ", b"PATCH ")
HTTP_VERSION_PREFIX = b"HTTP/1."
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Header names (lower case) as in cpuminer / bfgminer.
H_AUTHORIZATION = "authorization"
H_USER_AGENT = "user-agent"
H_HOST = "host"
H_CONTENT_LENGTH = "content-length"
H_TRANSFER_ENCODING = "transfer-encoding"
H_X_MINING_EXTENSIONS = "x-mining-extensions"
H_X_LONG_POLLING = "x-long-polling"
H_X_STRATUM = "x-stratum"
H_X_ROLL_NTIME = "x-roll-ntime"

METHOD_GETWORK = "getwork"
METHOD_GETBLOCKTEMPLATE = ("getblocktemplate", "get_block_template")
METHOD_SUBMITBLOCK = ("submitblock", "submit_block")
GETWORK_DATA_HEX = 256          # 128-byte padded header
TARGET_HEX = 64


@dataclass
class Incomplete:
    """More bytes are needed; `needed` is a lower bound when known (else 0)."""

    needed: int = 0


@dataclass
class HttpMessage:
    """One framed HTTP/1.x message. Header names are lower case; values bounded text."""

    is_request: bool
    method: str | None
    path: str | None
    status: int | None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    consumed: int = 0            # bytes of input this message used


def looks_like_http(data: bytes) -> bool:
    """True when `data` starts with an HTTP request method or an HTTP/1.x status line."""
    return data.startswith(HTTP_METHODS) or data.startswith(HTTP_VERSION_PREFIX)


def _dechunk(data: bytes, max_body_bytes: int):
    """Decode a chunked body; returns (body, consumed) or None if incomplete/malformed."""
    body = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0 or eol - pos > 16:
            return None
        try:
            size = int(data[pos:eol].split(b";")[0].strip() or b"x", 16)
        except ValueError:
            return None
        pos = eol + 2
        if size == 0:
            end = data.find(b"\r\n", pos)
            return (bytes(body), end + 2) if end >= 0 else None
        if len(data) < pos + size + 2 or len(body) + size > max_body_bytes:
            return None
        body += data[pos:pos + size]
        pos += size + 2


def parse_http(data: bytes, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               final: bool = False):
    """Frame one HTTP/1.x message at the start of `data`.

    Returns an :class:`HttpMessage`, :class:`Incomplete` when more bytes are
    needed, or None when `data` is not HTTP or is malformed. A response with
    neither Content-Length nor chunking takes the rest of `data` as its body
    only when `final` is true (the stream ended). Never raises.
    """
    data = bytes(data)
    if not looks_like_http(data):
        return None
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = data.find(b"\n\n"), 2
    if end < 0:
        return None if len(data) > MAX_HEADER_BYTES else Incomplete(0)
    if end > MAX_HEADER_BYTES:
        return None
    lines = data[:end].decode("latin-1").replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ", 2)
    if len(start) < 2:
        return None
    if lines[0].startswith("HTTP/1."):
        status = as_int(start[1])
        if status is None:
            return None
        msg = HttpMessage(False, None, None, status)
    else:
        msg = HttpMessage(True, start[0], untrusted_text(start[1]), None)
    for line in lines[1:MAX_HEADERS + 1]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            msg.headers.setdefault(name.strip().lower()[:64], value.strip()[:1024])
    body_start = end + sep
    rest = data[body_start:]
    length = as_int(msg.headers.get(H_CONTENT_LENGTH, "").strip() or None)
    if "chunked" in msg.headers.get(H_TRANSFER_ENCODING, "").lower():
        decoded = _dechunk(rest, max_body_bytes)
        if decoded is None:
            return Incomplete(0)
        msg.body, used = decoded
        msg.consumed = body_start + used
        return msg
    if length is not None:
        if length < 0 or length > max_body_bytes:
            return None
        if len(rest) < length:
            return Incomplete(length - len(rest))
        msg.body, msg.consumed = rest[:length], body_start + length
        return msg
    if msg.is_request or final:
        msg.body = b"" if msg.is_request else rest[:max_body_bytes]
        msg.consumed = body_start if msg.is_request else len(data)
        return msg
    return Incomplete(0)


def basic_auth_user(value: str | None) -> str | None:
    """User name from an ``Authorization: Basic`` header value (password dropped)."""
    if not value or not value[:6].lower() == "basic ":
        return None
    try:
        raw = base64.b64decode(value[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return untrusted_text(raw.split(b":", 1)[0])


def _stratum_host(url: str | None) -> str | None:
    if not url:
        return None
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return untrusted_text(host.rsplit(":", 1)[0] if host.count(":") == 1 else host)


def submitblock_reply_ok(obj: dict | None) -> bool | None:
    """Outcome of a JSON-RPC reply to ``submitblock`` (BIP 22 "Block Submission").

    BIP 22: the node answers ``result`` null on acceptance, else a string with
    the rejection reason (``"duplicate"``, ``"high-hash"``, ``"inconclusive"``
    ...); a non-null ``error`` is a failed call. True accepted, False rejected,
    None when `obj` is not a reply. Only valid for replies to submitblock: for
    other methods ``result`` null means nothing (see ``jsonrpc.reply_ok``).
    """
    if not isinstance(obj, dict) or isinstance(obj.get("method"), str):
        return None
    if "result" not in obj and "error" not in obj:
        return None
    if obj.get("error") not in (None, False, {}, []):
        return False
    return obj.get("result") is None


def _body_evidence(obj: dict | None, direction: str):
    """(variant, kind, strength, signature, fields) from a JSON-RPC body, or None."""
    if obj is None:
        return None
    method, params = obj.get("method"), obj.get("params")
    if direction == TOSERVER and isinstance(method, str):
        if method == METHOD_GETWORK:
            submit = isinstance(params, list) and params and is_hex(params[0], min_len=GETWORK_DATA_HEX)
            return (GETWORK, KIND_SHARE if submit else KIND_OTHER, CONCLUSIVE,
                    "getwork.submit" if submit else "getwork.request", {})
        if method in METHOD_GETBLOCKTEMPLATE:
            first = params[0] if isinstance(params, list) and params else params
            wallet = untrusted_text(first.get("wallet_address")) if isinstance(first, dict) else None
            caps = isinstance(first, dict) and ("capabilities" in first or "rules" in first)
            strength = STRONG if (wallet or caps) else WEAK
            return (GETBLOCKTEMPLATE, KIND_OTHER, strength, "getblocktemplate.request",
                    {"worker": wallet})
        if method in METHOD_SUBMITBLOCK:
            return (GETBLOCKTEMPLATE, KIND_SHARE, STRONG, "getblocktemplate.submitblock", {})
        return None
    if direction == TOCLIENT and method is None:
        result = obj.get("result")
        if isinstance(result, dict):
            if is_hex(result.get("data"), min_len=GETWORK_DATA_HEX) and is_hex(result.get("target"), TARGET_HEX):
                return (GETWORK, KIND_JOB, STRONG, "getwork.work",
                        {"target": result["target"], "target_format": "le256"})
            if "previousblockhash" in result and ("coinbasevalue" in result or "coinbasetxn" in result):
                target = result.get("target")
                return (GETBLOCKTEMPLATE, KIND_JOB, STRONG, "getblocktemplate.template",
                        {"height": as_int(result.get("height")),
                         "target": target if is_hex(target, TARGET_HEX) else None,
                         "target_format": "be256"})
            if is_hex(result.get("blocktemplate_blob"), min_len=76):
                return (GETBLOCKTEMPLATE, KIND_JOB, STRONG, "getblocktemplate.monero_template",
                        {"height": as_int(result.get("height"))})
    return None


def parse(message: HttpMessage | bytes, direction: str) -> MiningMessage | None:
    """Mining evidence from one HTTP message (headers + JSON body); None if none."""
    if isinstance(message, (bytes, bytearray)):
        message = parse_http(message, final=True)
    if not isinstance(message, HttpMessage):
        return None
    if message.is_request != (direction == TOSERVER):
        return None
    headers = message.headers
    obj = decode_json(message.body) if message.body else None
    body = _body_evidence(obj, direction)
    header_strength = None
    if direction == TOSERVER and H_X_MINING_EXTENSIONS in headers:
        header_strength = CONCLUSIVE
    elif direction == TOCLIENT and (H_X_LONG_POLLING in headers or H_X_STRATUM in headers
                                    or H_X_ROLL_NTIME in headers):
        header_strength = STRONG
    if body is None and header_strength is None:
        return None
    variant, kind, strength, signature, fields = body or (GETWORK, KIND_OTHER, WEAK, "getwork.http", {})
    if header_strength is not None:
        if strength != CONCLUSIVE:
            strength = header_strength
        if body is None:
            signature = ("getwork.x_mining_extensions" if direction == TOSERVER
                         else "getwork.response_headers")
    worker = fields.pop("worker", None) or basic_auth_user(headers.get(H_AUTHORIZATION))
    return MiningMessage(
        kind=kind if body else (KIND_LOGIN if direction == TOSERVER else KIND_OTHER),
        variant=variant, strength=strength, direction=direction, signature=signature,
        method=obj.get("method") if obj and isinstance(obj.get("method"), str) else None,
        msg_id=message_id(obj) if obj else None, specific=body is not None,
        is_reply=direction == TOCLIENT,
        submitblock_ok=submitblock_reply_ok(obj) if direction == TOCLIENT else None, worker=worker,
        agent=untrusted_text(headers.get(H_USER_AGENT)) if direction == TOSERVER else None,
        pool_host=_stratum_host(headers.get(H_X_STRATUM)), **fields)
