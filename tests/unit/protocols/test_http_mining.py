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
