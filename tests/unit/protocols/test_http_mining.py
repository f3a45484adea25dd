"""HTTP getwork / getblocktemplate framing and evidence."""

import base64

from detector.protocols import http_mining
from detector.protocols.message import CONCLUSIVE, STRONG

AUTH = base64.b64encode(b"worker1:secret").decode()


def request(body: bytes, extra: str = "X-Mining-Extensions: longpoll midstate\r\n") -> bytes:
    head = (f"POST / HTTP/1.1\r\nHost: pool.example:8332\r\nAuthorization: Basic {AUTH}\r\n"
            f"User-Agent: cpuminer/2.5.1\r\n{extra}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def test_getwork_request_with_headers():
    msg = http_mining.parse(request(b'{"method": "getwork", "params": [], "id":0}\n'), "toserver")
    assert (msg.variant, msg.strength, msg.worker, msg.agent) == ("getwork", CONCLUSIVE, "worker1", "cpuminer/2.5.1")


def test_getblocktemplate_and_header_only_evidence():
    gbt = b'{"id":0,"method":"getblocktemplate","params":[{"capabilities":["coinbasetxn","longpoll"]}]}'
    msg = http_mining.parse(request(gbt), "toserver")
    assert (msg.variant, msg.strength) == ("getblocktemplate", CONCLUSIVE)
    plain = http_mining.parse(request(gbt, extra=""), "toserver")
    assert plain.strength == STRONG
    only_header = http_mining.parse(request(b'{"id":0,"method":"getinfo"}'), "toserver")
    assert only_header.strength == CONCLUSIVE and only_header.signature == "getwork.x_mining_extensions"


def test_non_mining_rpc():
    body = b'{"jsonrpc":"2.0","method":"web3_clientVersion","params":[],"id":67}'
    assert http_mining.parse(request(body, extra=""), "toserver") is None
    assert http_mining.parse(request(b'{"method":"getblockchaininfo","id":1}', extra=""), "toserver") is None


def test_framing_incomplete_chunked_and_response():
    raw = request(b'{"method": "getwork", "params": [], "id":0}')
    assert isinstance(http_mining.parse_http(raw[:-5]), http_mining.Incomplete)
    assert isinstance(http_mining.parse_http(raw[:20]), http_mining.Incomplete)
    msg = http_mining.parse_http(raw + b"POST /")
    assert msg.consumed == len(raw)
    body = b'{"result":{"data":"' + b"0" * 256 + b'","target":"' + b"f" * 56 + b'00000000"},"error":null,"id":0}'
    resp = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Long-Polling: /LP\r\n\r\n"
            + hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n")
    framed = http_mining.parse_http(resp)
    assert framed.body == body and framed.consumed == len(resp)
    work = http_mining.parse(framed, "toclient")
    assert work.kind == "job" and work.target_format == "le256"
    assert http_mining.parse_http(b"HTTP/1.0 200 OK\r\n\r\n{}", final=True).body == b"{}"


def test_garbage():
    for raw in (b"", b"POST", b"HTTP/1.1 abc\r\n\r\n", b"\x16\x03\x01\x00", b"GET / HTTP/1.1\r\n" + b"A" * 20000,
                b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
        res = http_mining.parse_http(raw)
        assert res is None or isinstance(res, (http_mining.Incomplete, http_mining.HttpMessage))
        assert http_mining.parse(raw, "toserver") is None
    assert http_mining.basic_auth_user("Basic !!!") is None


def response(body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


GBT = (b'{"id":0,"method":"getblocktemplate","params":[{"capabilities":["coinbasetxn","longpoll"],'
       b'"rules":["segwit"]}]}')


def submitblock(i: int) -> bytes:
    return request(b'{"id":%d,"method":"submitblock","params":["00000020' % i + b"ab" * 100 + b'"]}')


def test_submitblock_reply_ok_bip22():
    """BIP 22: result null (no error) = accepted; a string result = rejection reason."""
    assert http_mining.submitblock_reply_ok({"result": None, "error": None, "id": 2}) is True
    assert http_mining.submitblock_reply_ok({"result": "high-hash", "error": None, "id": 2}) is False
    assert http_mining.submitblock_reply_ok({"result": "inconclusive", "error": None, "id": 2}) is False
    assert http_mining.submitblock_reply_ok(
        {"result": None, "error": {"code": -22, "message": "Block decode failed"}, "id": 2}) is False
    assert http_mining.submitblock_reply_ok({"id": 2}) is None
    assert http_mining.submitblock_reply_ok({"method": "submitblock", "params": [], "id": 2}) is None
    # the same null reading travels with the parsed reply (header evidence or generic reply)
    framed = http_mining.parse_http(response(b'{"result":null,"error":null,"id":2}', "X-Long-Polling: /LP\r\n"))
    msg = http_mining.parse(framed, "toclient")
    assert (msg.result_ok, msg.submitblock_ok) == (None, True)


def test_session_submitblock_null_result_is_accepted_only_for_submitblock():
    from detector.protocols.session import MiningSession
    sess = MiningSession()
    sess.feed("toserver", request(GBT))
    # getblocktemplate answered null: unknown, not a share and not an acceptance
    sess.feed("toclient", response(b'{"result":null,"error":null,"id":0}'))
    sess.feed("toserver", submitblock(1))
    sess.feed("toclient", response(b'{"result":null,"error":null,"id":1}'))
    sess.feed("toserver", submitblock(2))
    sess.feed("toclient", response(b'{"result":"high-hash","error":null,"id":2}'))
    sess.feed("toserver", submitblock(3))
    sess.feed("toclient", response(b'{"result":null,"error":{"code":-1,"message":"x"},"id":3}'))
    d = sess.to_dict()
    assert d["variant"] == "getblocktemplate"
    assert (d["shares_submitted"], d["shares_accepted"], d["shares_rejected"]) == (3, 1, 2)
