"""Line framing and tolerant JSON decoding."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.protocols.jsonrpc import _nesting_ok, decode_json, reply_ok, split_lines


def test_several_messages_in_one_segment_and_crlf():
    lines, rest, events = split_lines(b'{"a":1}\r\n{"b":2}\n\n{"c"')
    assert lines == [b'{"a":1}', b'{"b":2}']
    assert rest == b'{"c"' and events == []


def test_message_split_across_segments():
    lines, rest, _ = split_lines(b'{"id":1,"meth')
    assert lines == [] and rest == b'{"id":1,"meth'
    lines, rest, _ = split_lines(rest + b'od":"x"}\n')
    assert lines == [b'{"id":1,"method":"x"}'] and rest == b""


def test_line_too_long_is_dropped_with_event():
    lines, rest, events = split_lines(b"x" * 100 + b"\n{}\n", max_line_bytes=50)
    assert lines == [b"{}"] and events == ["line_too_long"]
    lines, rest, events = split_lines(b"{" + b"y" * 100, max_line_bytes=50)
    assert rest == b"" and events == ["line_too_long"]


def test_decode_json_tolerant():
    assert decode_json(b'  {"id": 1}  ') == {"id": 1}
    assert decode_json(b'\x00{"id": 1}') == {"id": 1}
    for bad in (b"", b"[1,2]", b"{", b"\xff\xfe{", b"null", b"{" * 10000, b'{"a":' + b"[" * 5000):
        assert decode_json(bad) is None
    assert decode_json("not bytes") is None


def test_reply_ok():
    assert reply_ok({"id": 1, "result": True, "error": None}) is True
    assert reply_ok({"id": 1, "result": {"status": "OK"}}) is True
    assert reply_ok({"id": 1, "result": "ok"}) is True
    assert reply_ok({"id": 1, "result": None, "error": [23, "Low difficulty share", None]}) is False
    assert reply_ok({"id": 1, "error": {"code": -1, "message": "x"}}) is False
    assert reply_ok({"id": 1, "result": False}) is False
    assert reply_ok({"id": 1, "result": None, "error": None}) is None
    assert reply_ok({"id": 1, "method": "x", "params": []}) is None


def reference_decode(line):
    """decode_json as json.loads reads it: strip, "{" first, bounded nesting, an object."""
    import json
    text = line.strip(b" \t\r\n\x00")
    if not text.startswith(b"{") or not _nesting_ok(text):
        return None
    try:
        obj = json.loads(text.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


_json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=10).map(lambda v: json.dumps(v).encode())
_pads = st.sampled_from([b"", b" ", b"\t", b"\r", b"\x00", b"\x0b", b"\x0c", b" \x00 ", b"x",
                         b"}", b"]", b",", b"{}", b"\xff", b"\xc3", b"\n"])


@settings(max_examples=500, deadline=None)
@given(_pads, _json_text, _pads, _pads)
def test_decode_json_agrees_with_json_loads(head, body, tail, tail2):
    """decode_json skips json.loads' layers; it must give what json.loads gives,
    trailing garbage, blanks and bad UTF-8 included."""
    line = head + body + tail + tail2
    assert decode_json(line) == reference_decode(line)
    cut = line[:len(line) // 2]
    assert decode_json(cut) == reference_decode(cut)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_decode_json_agrees_with_json_loads_on_any_bytes(data):
    line = b"{" + data
    assert decode_json(line) == reference_decode(line)
    assert decode_json(data) == reference_decode(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"{}", b'{"a":1}', b"\r", b"\n", b"\r\n", b" ", b"x" * 30]),
                max_size=12), st.integers(min_value=1, max_value=40))
def test_split_lines_agrees_with_a_plain_walk(parts, limit):
    data = b"".join(parts)
    lines, events, start = [], [], 0
    while (end := data.find(b"\n", start)) >= 0:
        line = data[start:end].removesuffix(b"\r")
        start = end + 1
        if len(line) > limit:
            events.append("line_too_long")
        elif line.strip():
            lines.append(line)
    rest = data[start:]
    if len(rest) > limit:
        events.append("line_too_long")
        rest = b""
    assert split_lines(data, limit) == (lines, rest, events)
