"""Slow-path parsers of what stays visible: ClientHello (JA3/JA4), proxy requests,
DNS answers, and the pool list with `pools import`."""

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR

from detector.pools import PoolList, PoolsError, import_list, read_pools_file
from detector.protocols import tls_hello
from detector.protocols.dns_answer import parse_dns_answers
from detector.protocols.proxy_request import Incomplete, ProxyRequest, parse_proxy_request
from tests.gen.timeline import http_connect, socks4a_connect, socks5_connect
from tests.gen.tls_channel import TlsChannel

REPO = Path(__file__).resolve().parents[2]

# FoxIO-LLC/ja4 technical_details/JA4.md worked example
JA4_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
               0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
JA4_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023,
            0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
JA4_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def ext_body(t, sni="example.com"):
    if t == 0x0000:
        name = sni.encode()
        return struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
    if t == 0x0010:
        return struct.pack(">H", 3) + b"\x02h2"
    if t == 0x000D:
        return struct.pack(">H", 2 * len(JA4_SIGALGS)) + b"".join(
            struct.pack(">H", v) for v in JA4_SIGALGS)
    if t == 0x002B:
        return b"\x04\x0a\x0a\x03\x04"                  # GREASE, TLS 1.3
    if t == 0x000A:
        return b"\x00\x04\x00\x1d\x00\x17"
    if t == 0x000B:
        return b"\x01\x00"
    return b""


def client_hello(ciphers, exts, grease=True):
    """A ClientHello record written field by field (RFC 8446 4.1.2)."""
    cs = ([0x0A0A] if grease else []) + ciphers
    body = struct.pack(">H", 0x0303) + bytes(32) + b"\x00"
    body += struct.pack(">H", 2 * len(cs)) + b"".join(struct.pack(">H", c) for c in cs)
    body += b"\x01\x00"
    ext = b""
    for t in ([0x1A1A] if grease else []) + exts:
        data = ext_body(t)
        ext += struct.pack(">HH", t, len(data)) + data
    body += struct.pack(">H", len(ext)) + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def test_ja4_spec_example():
    hello = tls_hello.parse_client_hello(client_hello(JA4_CIPHERS, JA4_EXTS))
    assert hello.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert hello.sni == "example.com" and hello.alpn == ["h2"]
    # JA3: decimal values in wire order, GREASE removed
    text = ("771," + "-".join(map(str, JA4_CIPHERS)) + "," + "-".join(map(str, JA4_EXTS))
            + ",29-23,0")
    assert hello.ja3_text == text
    assert hello.ja3 == hashlib.md5(text.encode()).hexdigest()


def test_ja4_without_signature_algorithms_and_sni():
    exts = [e for e in JA4_EXTS if e not in (0x000D, 0x0000)]
    hello = tls_hello.parse_client_hello(client_hello(JA4_CIPHERS, exts, grease=False))
    assert hello.ja4.startswith("t13i1514h2_8daaf6152771_")
    want = ",".join(f"{e:04x}" for e in sorted(e for e in exts if e != 0x0010))
    assert hello.ja4.endswith(hashlib.sha256(want.encode()).hexdigest()[:12])


def test_real_client_hello_and_incomplete():
    ch = TlsChannel(sni="pool.supportxmr.com")
    first = ch.handshake()[0][1]
    hello = tls_hello.parse_client_hello(first)
    assert hello.sni == "pool.supportxmr.com" and hello.alpn == []
    assert hello.ja4[:4] == "t13d" and hello.ja4[8:10] == "00"
    assert isinstance(tls_hello.parse_client_hello(first[:100]), tls_hello.Incomplete)
    assert tls_hello.parse_client_hello(b'{"id":1}') is None
    assert tls_hello.parse_client_hello(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00") is None


@pytest.mark.parametrize("pre,kind,target", [
    (socks5_connect("pool.supportxmr.com", 443), "socks5", "pool.supportxmr.com:443"),
    (socks4a_connect("gulf.moneroocean.stream", 20128), "socks4a",
     "gulf.moneroocean.stream:20128"),
    (http_connect("xmr-eu1.nanopool.org", 14433), "http-connect", "xmr-eu1.nanopool.org:14433"),
])
def test_proxy_requests(pre, kind, target):
    data = b"".join(b for c2s, b in pre if c2s)
    req = parse_proxy_request(data + b"\x16\x03\x01")
    assert isinstance(req, ProxyRequest)
    assert (req.kind, req.target, req.inner_offset) == (kind, target, len(data))
    assert isinstance(parse_proxy_request(data[:len(data) - 1]), Incomplete)


def test_socks5_by_address_and_socks4():
    req = parse_proxy_request(b"\x05\x01\x00" + b"\x05\x01\x00\x01" + bytes([203, 0, 113, 7])
                              + struct.pack(">H", 3333))
    assert req.target == "203.0.113.7:3333"
    req = parse_proxy_request(b"\x04\x01\x0d\x05" + bytes([198, 51, 100, 9]) + b"me\x00")
    assert (req.kind, req.target) == ("socks4", "198.51.100.9:3333")
    assert parse_proxy_request(b"GET / HTTP/1.1\r\n") is None


def test_dns_cname_chain_and_aaaa():
    r = DNS(id=7, qr=1, qd=DNSQR(qname="pool.example.org"), an=[
        DNSRR(rrname="pool.example.org", type="CNAME", rdata="lb.cdn.example.net", ttl=30),
        DNSRR(rrname="lb.cdn.example.net", type="A", rdata="203.0.113.5", ttl=120),
        DNSRR(rrname="lb.cdn.example.net", type="AAAA", rdata="2001:db8::5", ttl=120)])
    answers = parse_dns_answers(bytes(r))
    assert [(a.names, a.address, a.ttl_s) for a in answers] == [
        (("pool.example.org", "lb.cdn.example.net"), "203.0.113.5", 120),
        (("pool.example.org", "lb.cdn.example.net"), "2001:db8::5", 120)]
    assert parse_dns_answers(bytes(DNS(id=7, qd=DNSQR(qname="x.org")))) == []   # a query
    assert parse_dns_answers(b"\x00\x01garbage") == []


def test_bundled_pool_list():
    pools = PoolList.load()
    assert pools.name_match("xmr-eu1.nanopool.org")["pool"] == "nanopool"
    assert pools.name_match("NANOPOOL.ORG.")["pool"] == "nanopool"
    assert pools.name_match("nanopool.org.example.com") is None
    assert pools.name_match("notnanopool.org") is None
    assert pools.address_match("185.71.66.39")["name"] == "eth-eu1.nanopool.org"
    for e in list(pools.domains.values()) + list(pools.addresses.values()):
        assert e["source"] and e["date"]


def test_pools_import_merges_deterministically(tmp_path):
    base = tmp_path / "pools.yaml"
    base.write_text((REPO / "signatures" / "pools.yaml").read_text())
    hosts = tmp_path / "hosts"
    hosts.write_text("# blocklist\n0.0.0.0 pool.newpool.example\n0.0.0.0 a.nanopool.org\n"
                     "127.0.0.1 localhost\n0.0.0.0 bad_name!\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("newpool.example\nother-pool.example.\n\n! comment\n")
    text, added, skipped = import_list(base, hosts, "test hosts", "2026-01-01")
    assert (added, skipped) == (1, 1)            # a.nanopool.org is covered already
    base.write_text(text)
    text2, added2, _ = import_list(base, plain, "test plain", "2026-01-01")
    assert added2 == 2      # newpool.example (parent of the imported host), other-pool.example
    base.write_text(text2)
    doc = read_pools_file(base)
    suffixes = [e["suffix"] for e in doc["domains"]]
    assert suffixes == sorted(suffixes)
    assert {"pool.newpool.example", "newpool.example", "other-pool.example"} <= set(suffixes)
    again, added3, _ = import_list(base, plain, "test plain", "2026-01-01")
    assert added3 == 0 and again == text2
    r = subprocess.run([sys.executable, "cli.py", "pools", "import", str(plain), "--pools",
                        str(base), "--source", "x", "-o", "-"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == text2
    assert "0 domains added" in r.stderr


def test_bad_pools_file(tmp_path):
    bad = tmp_path / "pools.yaml"
    bad.write_text("kind: pools\ndomains:\n  - suffix: example.org\n    pool: x\n")
    with pytest.raises(PoolsError, match="domains\\[0\\]: needs 'source'"):
        read_pools_file(bad)
    r = subprocess.run([sys.executable, "cli.py", "pools", "import", str(bad), "--pools",
                        str(bad)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 599), st.integers(0, 255))
def test_parsers_never_raise(data, cut, byte):
    """Random bytes, and a real ClientHello / DNS answer / SOCKS request with one byte
    changed or cut: each parser returns a value or says incomplete, never raises."""
    hello = client_hello(JA4_CIPHERS, JA4_EXTS)
    dns = bytes(DNS(id=1, qr=1, qd=DNSQR(qname="a.example"),
                    an=[DNSRR(rrname="a.example", type="A", rdata="192.0.2.1")]))
    socks = b"".join(b for c, b in socks5_connect("pool.example", 443) if c)
    for sample in (data, hello, dns, socks):
        k = cut % (len(sample) + 1)
        for mutated in (sample[:k], sample[:k] + bytes([byte]) + sample[k + 1:]):
            tls_hello.parse_client_hello(mutated)
            parse_dns_answers(mutated)
            parse_proxy_request(mutated)


def test_dns_cache_keeps_pool_answers_for_their_ttl():
    from detector.flow_intel import DnsCache
    pools = PoolList.load()
    cache = DnsCache(limit=2, wanted=pools.name_match)

    def answer(qname, ip, ttl=300):
        return bytes(DNS(id=1, qr=1, qd=DNSQR(qname=qname),
                         an=[DNSRR(rrname=qname, type="A", rdata=ip, ttl=ttl)]))

    cache.on_response("10.0.0.2", answer("www.example.org", "192.0.2.1"), 0)
    cache.on_response("10.0.0.2", answer("xmr-eu1.nanopool.org", "203.0.113.5", 600), 0)
    assert cache.skipped == 1 and cache.answers == 1
    assert cache.names("10.0.0.2", "203.0.113.5", 599 * 10**9) == ("xmr-eu1.nanopool.org",)
    assert cache.names("10.0.0.2", "203.0.113.5", 601 * 10**9) == ()     # TTL over
    assert cache.names("10.0.0.3", "203.0.113.5", 0) == ()               # another client
    for k in range(3):                                                   # bounded
        cache.on_response("10.0.0.2", answer(f"a{k}.suprnova.cc", f"203.0.113.{k + 10}"), 0)
    assert len(cache.entries) == 2


@pytest.mark.parametrize("reply,length", [
    (b"\x05\x00" + b"\x05\x00\x00\x01" + bytes(4) + b"\x0d\x05", 12),            # IPv4
    (b"\x05\x02\x01\x00" + b"\x05\x00\x00\x03\x04pool\x0d\x05", 4 + 4 + 5 + 2),   # name, auth
    (b"\x05\x00" + b"\x05\x00\x00\x04" + bytes(16) + b"\x01\xbb", 2 + 22),       # IPv6
    (b"\x00\x5a\x0d\x05" + bytes(4), 8),                                          # SOCKS4
    (b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n", 47),
])
def test_proxy_replies(reply, length):
    from detector.protocols.proxy_request import proxy_reply_length
    assert proxy_reply_length(reply + b'{"id":1}\n') == length
    assert isinstance(proxy_reply_length(reply[:length - 1]), Incomplete)


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",   # refused: nothing tunnelled
    b"\x05\xff", b"\x05\x00\x05\x01\x00\x01" + bytes(6),     # no method, connect refused
    b"\x00\x5b" + bytes(6), b'{"id":1,"result":true}\n',
])
def test_not_proxy_replies(reply):
    from detector.protocols.proxy_request import proxy_reply_length
    assert proxy_reply_length(reply) is None


def test_stratum_behind_a_proxy_is_parsed_after_the_preamble():
    """A session that opens with SOCKS5 or HTTP CONNECT, split at awkward places."""
    from detector.protocols.message import TOCLIENT, TOSERVER
    from detector.protocols.session import MiningSession
    subscribe = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.10"]}\n'
    reply = b'{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a"]],"08000002",4],' \
            b'"error":null}\n'
    authorize = b'{"id":2,"method":"mining.authorize","params":["wallet.rig1","x"]}\n'
    auth_ok = b'{"id":2,"result":true,"error":null}\n'
    socks = b"".join(b for c, b in socks5_connect("stratum.example-pool.net", 3333) if c)
    for request, answer in ((socks, b"\x05\x00\x05\x00\x00\x01" + bytes(4) + b"\x0d\x05"),
                            (b"CONNECT pool.example:3333 HTTP/1.1\r\n\r\n",
                             b"HTTP/1.1 200 OK\r\n\r\n")):
        session = MiningSession()
        client = request + subscribe + authorize
        for k in range(0, len(client), 7):           # 7-byte segments
            session.feed(TOSERVER, client[k:k + 7])
        server = answer + reply + auth_ok
        session.feed(TOCLIENT, server[:3])
        session.feed(TOCLIENT, server[3:])
        assert session.is_mining and session.worker == "wallet.rig1"


def test_a_socks5_conversation_fed_in_its_order_is_parsed():
    """Greeting, the proxy's choice, CONNECT, its success, then stratum both ways, each
    fed as it went (a flow handed over late gets its head in capture order): the choice
    arrives while the request is still cut, and is known for the proxy's reply once
    the request is whole."""
    from detector.protocols.message import TOCLIENT, TOSERVER
    from detector.protocols.session import MiningSession
    session = MiningSession()
    for to_server, data in socks5_connect("stratum.example-pool.net", 3333) + [
            (True, b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.10"]}\n'),
            (False, b'{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a"]],"08000002",'
                    b'4],"error":null}\n'),
            (True, b'{"id":2,"method":"mining.authorize","params":["wallet.rig1","x"]}\n'),
            (False, b'{"id":2,"result":true,"error":null}\n')]:
        session.feed(TOSERVER if to_server else TOCLIENT, data)
    assert session.is_mining and session.worker == "wallet.rig1"
    assert session.confidence == "dpi"         # the replies were read: both sides


def test_stratum_urls_in_text():
    from detector.pool_names import stratum_urls
    text = (b'{"url": "stratum+tcp://Pool.Example.NET:3333/", "x": 1}\n'
            b"--url STRATUM+SSL://[2001:db8::1]:443 -o stratum2+tcp://v2.p.example:34254/9bX "
            b"stratum+tcp://bad_host:1 stratum+tls://10.0.0.1 stratum+tcp://x.example:99999")
    assert stratum_urls(text) == [("stratum+tcp", "pool.example.net", 3333),
                                  ("stratum+ssl", "2001:db8::1", 443),
                                  ("stratum2+tcp", "v2.p.example", 34254),
                                  ("stratum+tls", "10.0.0.1", None),
                                  ("stratum+tcp", "x.example", None)]


def test_pool_names_learn_hosts_and_addresses():
    from detector.pool_names import PoolNames, address_key, applies
    names = PoolNames(PoolList.load(), limit=2)
    forgotten = []
    names.on_learn.append(lambda: forgotten.append(1))
    assert names.name_match("eu.newpool.example") is None            # remembered as None
    names.harvest(b"stratum+tcp://newpool.example:3333", flow_id=4, frame=9, client="10.0.0.7")
    entry = names.name_match("eu.newpool.example")                    # memo cleared
    assert entry["pool"] == "newpool.example"
    assert entry["source"] == "stratum+tcp://newpool.example:3333 in flow 4, frame 9"
    # a learned host counts for the client that fetched the URL, not for everybody
    assert applies(entry, "10.0.0.7") and not applies(entry, "10.0.0.8")
    names.harvest(b"stratum+ssl://newpool.example:443", 8, 2, "10.0.0.8")   # a second device
    assert applies(entry, "10.0.0.8") and len(forgotten) == 1
    listed = names.name_match("xmr-eu1.nanopool.org")
    assert listed["pool"] == "nanopool" and applies(listed, "10.9.9.9")    # the list: everyone
    names.harvest(b"stratum+tcp://xmr-eu1.nanopool.org:14433", 5, 1, "10.0.0.7")   # listed
    names.harvest(b"stratum+ssl://192.0.2.77:443", 5, 2, "10.0.0.7")
    assert address_key("192.0.2.77") in names.address_keys
    assert names.address_match("192.0.2.77")["pool"] == "192.0.2.77"
    names.harvest(b"stratum+tcp://third.example", 6, 3, "10.0.0.7")    # bounded: oldest out
    assert list(names.learned) == ["192.0.2.77", "third.example"]
    assert names.name_match("eu.newpool.example") is None
    names.harvest(b"stratum+tcp://fourth.example", 7, 1, "10.0.0.7")
    assert address_key("192.0.2.77") not in names.address_keys
    assert len(forgotten) == 4
    reloaded = names.with_pools(PoolList.load())
    assert list(reloaded.learned) == ["third.example", "fourth.example"]
