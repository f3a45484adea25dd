"""Hypothesis: no parser or session raises on arbitrary bytes; invariants hold."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.protocols import (dispatch, ethproxy, ethstratum, http_mining, kawpow, stratum_v1,
                                stratum_v2, xmrig, zcash)
from detector.protocols.jsonrpc import decode_json, split_lines
from detector.protocols.message import KIND_LOGIN, STRENGTHS, MiningMessage
from detector.protocols.session import MiningSession

PARSERS = (stratum_v1.parse, xmrig.parse, ethproxy.parse, ethstratum.parse, zcash.parse, kawpow.parse,
           dispatch.parse_json, http_mining.parse, stratum_v2.parse)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=80),
                           lambda inner: st.lists(inner, max_size=10) | st.dictionaries(st.text(max_size=12), inner, max_size=8),
                           max_leaves=30)
methods = st.sampled_from(["mining.subscribe", "mining.notify", "mining.submit", "login", "job", "submit",
                           "eth_submitLogin", "eth_submitWork", "mining.set_difficulty", "mining.set_target",
                           "getwork", "getblocktemplate", "mining.hello", "keepalived"])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_parsers_never_raise_on_bytes(data):
    for parse in PARSERS:
        for direction in ("toserver", "toclient"):
            msg = parse(data, direction)
            assert msg is None or (isinstance(msg, MiningMessage) and msg.strength in STRENGTHS)
    lines, rest, events = split_lines(data, max_line_bytes=64)
    assert all(len(x) <= 64 for x in lines) and len(rest) <= 64
    assert decode_json(data) is None or isinstance(decode_json(data), dict)
    http_mining.parse_http(data)
    stratum_v2.parse_frame(data)
    stratum_v2.looks_like_noise_handshake(data, data)


@settings(max_examples=300, deadline=None)
@given(methods, json_values, json_values, st.sampled_from(["toserver", "toclient"]))
def test_parsers_never_raise_on_json_shapes(method, params, ident, direction):
    for obj in ({"id": ident, "method": method, "params": params}, {"id": ident, "result": params, "error": None}):
        for parse in PARSERS[:7]:
            msg = parse(obj, direction)
            if msg is not None:
                assert msg.worker is None or len(msg.worker) <= 256
                assert msg.agent is None or len(msg.agent) <= 256
        raw = json.dumps(obj).encode()
        # the wire form and the decoded object must give the same message
        assert dispatch.parse_json(raw, direction) == dispatch.parse_json(obj, direction)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["toserver", "toclient"]), st.binary(max_size=300)), max_size=12))
def test_session_never_raises_and_stays_bounded(chunks):
    sess = MiningSession(max_line_bytes=256, max_http_bytes=1024)
    for n, (direction, data) in enumerate(chunks):
        sess.feed(direction, data, n)
    sess.finish()
    d = sess.to_dict()
    assert 0.0 <= d["score"] <= 1.0
    assert d["confidence"] in (None, "dpi", "dpi_partial")
    assert all(len(state.buffer) <= 1024 + 300 for state in sess._dirs.values())
    assert d["shares_accepted"] + d["shares_rejected"] <= max(d["shares_submitted"], 0) or \
        d["variant"] == "stratum-v2"


def test_login_only_is_never_mining():
    sess = MiningSession()
    sess.feed("toserver", b'{"id":1,"method":"login","params":{"login":"a","pass":"b"}}\n')
    sess.feed("toclient", b'{"id":1,"result":{"id":"x","status":"OK"}}\n')
    assert not sess.is_mining and sess.to_dict()["evidence"][0]["kind"] == KIND_LOGIN
