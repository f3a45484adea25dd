"""Line framing and tolerant JSON decoding."""

from detector.protocols.jsonrpc import decode_json, reply_ok, split_lines


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
