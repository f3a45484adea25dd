"""Newline-delimited JSON-RPC framing and tolerant decoding (PROTOCOLS.md §1).

Every stratum dialect except Stratum V2 sends one JSON object per line,
terminated by LF (some implementations send CRLF). A TCP segment may carry
several messages or a fraction of one; the caller keeps the returned ``rest``
and prepends it to the next segment of the same direction. Nothing is
buffered past ``max_line_bytes``: an over-long line is dropped and recorded as
the event ``"line_too_long"``. Spec: JSON-RPC 1.0/2.0, https://www.jsonrpc.org/.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

LF = b"\n"
CR = b"\r"
DEFAULT_MAX_LINE_BYTES = 64 * 1024
EVENT_LINE_TOO_LONG = "line_too_long"
MAX_JSON_DEPTH = 64   # deeper nesting is not a mining message; refuse before json.loads
BLANKS = b" \t\r\n\x00"   # tolerated around a JSON line
_DECODER = json.JSONDecoder()


def split_lines(data: bytes, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
    """Split `data` into complete LF-terminated lines.

    Returns ``(lines, rest, events)``: ``lines`` are the complete lines without
    the LF and without one trailing CR, empty lines skipped; ``rest`` is the
    unterminated tail to keep for the next segment (``b""`` if it exceeded
    ``max_line_bytes``); ``events`` lists limit events (``"line_too_long"``).
    Never raises on any bytes input.
    """
    lines: list[bytes] = []
    events: list[str] = []
    *complete, rest = bytes(data).split(LF)
    for line in complete:
        if line.endswith(CR):
            line = line[:-1]
        if len(line) > max_line_bytes:
            events.append(EVENT_LINE_TOO_LONG)
            continue
        if line.strip():
            lines.append(line)
    if len(rest) > max_line_bytes:
        events.append(EVENT_LINE_TOO_LONG)
        rest = b""
    return lines, rest, events


def _nesting_ok(line: bytes) -> bool:
    """Cheap bound on bracket depth (ignores brackets inside strings conservatively)."""
    if line.count(b"{") + line.count(b"[") <= MAX_JSON_DEPTH:
        return True   # fewer openers than the bound: no need to walk the bytes
    depth = 0
    for byte in line:
        if byte in (0x7B, 0x5B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return True


def decode_json(line: bytes) -> dict | None:
    """Decode one line as a JSON object; None for anything else. Never raises.

    Leading/trailing whitespace is tolerated; the first non-blank byte must be
    ``{`` (xmrig and every dialect here send objects only).
    """
    if not isinstance(line, (bytes, bytearray)):
        return None
    text = bytes(line).strip(BLANKS)
    if not text.startswith(b"{") or not _nesting_ok(text):
        return None
    # what json.loads does, without its layers (they cost as much as decoding a short
    # message): the text starts with "{" and its stripped end is no JSON whitespace,
    # so the object must end exactly at the end of the text
    text = text.decode("utf-8", errors="replace")
    try:
        obj, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    return obj if end == len(text) and isinstance(obj, dict) else None


def coerce_message(message) -> dict | None:
    """Parser input helper: a dict is returned as is, bytes are decoded as one line."""
    if isinstance(message, dict):
        return message
    if isinstance(message, (bytes, bytearray)):
        return decode_json(message)
    return None


def is_request(obj: dict) -> bool:
    """True when `obj` carries a string ``method`` (request or notification)."""
    return isinstance(obj.get("method"), str)


def reply_ok(obj: dict) -> bool | None:
    """Outcome of a reply: True success, False error, None when not a reply.

    Success: ``result`` is ``true``, ``"ok"``/``"OK"``, or an object with
    ``status`` ``"OK"``, with no non-null ``error``. Error: a non-null
    ``error`` or ``result`` false. ``result`` null without an error: None.
    """
    if "result" not in obj and "error" not in obj:
        return None
    if is_request(obj):
        return None
    error = obj.get("error")
    if error not in (None, False, {}, []):
        return False
    result = obj.get("result")
    if result is True:
        return True
    if isinstance(result, str) and result.lower() == "ok":
        return True
    if isinstance(result, dict):
        status = result.get("status")
        if isinstance(status, str):
            return status.upper() == "OK"
        return True
    if result is False:
        return False
    if result is None:
        return None
    return True
