"""The engine's side of encrypted detection: ClientHello framing and server name
(detector/engine/client_hello.py) and DNS question names (inspect.py), checked
against the slow-path parsers (dpkt) on real, hand-built and mutated inputs; and
a flow named only by its pool address, end to end."""

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from detector.engine.client_hello import (HELLO_MALFORMED, HELLO_NO_NAME, hello_record_end,
                                          server_name_at)
from detector.engine.inspect import dns_has_answers, dns_question_length
from detector.pipeline import EngineOptions
from detector.protocols import tls_hello
from detector.protocols.dns_answer import question_name, wire_name_text
from detector.scan_command import load_detectors, scan_capture
from tests.encrypted.test_visible_parsers import JA4_CIPHERS, JA4_EXTS, client_hello
from tests.gen.timeline import S, T0_NS, Timeline
from tests.gen.tls_channel import TlsChannel
from tests.gen.tls_mining import Xmrig, job_schedule, mine


def engine_name(record: bytes):
    """What the engine hands over for a complete record: the name, None, or 'malformed'."""
    head = np.frombuffer(record, np.uint8)
    end = hello_record_end(head, len(head))
    assert end == len(record)
    at, n = server_name_at(head, end)
    if at == HELLO_MALFORMED:
        return "malformed"
    if at == HELLO_NO_NAME:
        return None
    return record[at:at + n].decode("ascii", "replace").lower() or None


def test_server_name_of_real_and_built_hellos():
    real = TlsChannel(sni="Pool.SupportXMR.com").handshake()[0][1]
    assert engine_name(real) == tls_hello.parse_client_hello(real).sni == "pool.supportxmr.com"
    assert engine_name(TlsChannel(sni=None).handshake()[0][1]) is None
    built = client_hello(JA4_CIPHERS, JA4_EXTS)          # GREASE first, SNI second
    assert engine_name(built) == "example.com"
    no_sni = client_hello(JA4_CIPHERS, [e for e in JA4_EXTS if e != 0x0000])
    assert engine_name(no_sni) is None
    assert engine_name(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00") == "malformed"  # not a hello


def test_record_end_waits_for_the_header():
    head = np.frombuffer(b"\x16\x03\x01\x02", np.uint8)
    assert hello_record_end(head, 4) == 0
    head = np.frombuffer(b"\x16\x03\x01\x02\x00", np.uint8)
    assert hello_record_end(head, 5) == 5 + 0x200


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 255))
def test_server_name_agrees_with_dpkt_on_mutated_hellos(where, byte):
    """One byte changed anywhere in a real or built hello: the engine never reads out
    of bounds, and when both it and dpkt accept the framing, they name the same server."""
    for record in (client_hello(JA4_CIPHERS, JA4_EXTS),
                   TlsChannel(sni="xmr-eu1.nanopool.org").handshake()[0][1]):
        k = 5 + where % (len(record) - 5)            # keep the record length: same end
        mutated = record[:k] + bytes([byte]) + record[k + 1:]
        head = np.frombuffer(mutated, np.uint8)
        at, n = server_name_at(head, len(head))
        assert at in (HELLO_MALFORMED, HELLO_NO_NAME) or 0 <= at <= at + n <= len(head)
        hello = tls_hello.parse_client_hello(mutated)
        if isinstance(hello, tls_hello.ClientHello) and at != HELLO_MALFORMED:
            name = engine_name(mutated)
            assert name == hello.sni


def dns_response(qname, rdata="192.0.2.1", rcode=0, answers=True):
    return bytes(DNS(id=7, qr=1, rcode=rcode, qd=DNSQR(qname=qname),
                     an=[DNSRR(rrname=qname, type="A", rdata=rdata)] if answers else []))


def test_dns_question_name_in_the_engine():
    payload = dns_response("xmr-EU1.nanopool.org")
    buf = np.frombuffer(payload, np.uint8)
    n = dns_question_length(buf, 0, len(buf))
    assert wire_name_text(payload[12:12 + n]) == question_name(payload) == \
        "xmr-eu1.nanopool.org"
    assert dns_has_answers(buf, 0)
    for other in (dns_response("a.example", rcode=3), dns_response("a.example", answers=False),
                  bytes(DNS(id=7, qr=0, qd=DNSQR(qname="a.example")))):
        assert not dns_has_answers(np.frombuffer(other, np.uint8), 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 10**6), st.integers(0, 255))
def test_dns_question_length_agrees_with_the_slow_path(data, where, byte):
    for payload in (data, dns_response("pool.example-mine.net")):
        k = where % (len(payload) + 1)
        for mutated in (payload[:k], payload[:k] + bytes([byte]) + payload[k + 1:]):
            buf = np.frombuffer(mutated, np.uint8)
            n = dns_question_length(buf, 0, len(buf))
            assert 0 <= n <= max(0, len(buf) - 12)
            expected = question_name(mutated)
            assert (wire_name_text(mutated[12:12 + n]) if n else None) == expected


def test_flow_to_a_listed_pool_address_without_any_name(tmp_path):
    """No SNI, no DNS: the pool list's address names the pool (nanopool's xmr-eu1
    address in signatures/pools.yaml); without it, only timing would."""
    rng = random.Random(5)
    tl = Timeline()
    end = T0_NS + 300 * S
    mine(tl, rng, "10.30.0.9", 46000, "185.71.66.20", 14433, T0_NS, end,
         job_schedule(rng, T0_NS, end), Xmrig(rng.randrange(1 << 30)), sni=None)
    path = tmp_path / "by-address.pcap"
    tl.write(path)
    [hit] = scan_capture(path, load_detectors(), EngineOptions()).hits
    assert (hit["client_ip"], hit["server_ip"], hit["server_port"]) == \
        ("10.30.0.9", "185.71.66.20", 14433)
    assert (hit["variant"], hit["confidence"], hit["pool"], hit["sni"]) == \
        ("encrypted", "pool_ip", "nanopool", None)
    assert "encrypted.pool_ip" in hit["signatures"]
    assert hit["ja4"].startswith("t13i")                 # parsed for the hit, no SNI
