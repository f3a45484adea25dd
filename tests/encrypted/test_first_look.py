"""EncryptedDetector's first look at ended flows reads the names of the flows that
may be named only (IntelTable.maybe_named, pool and DNS-answered addresses): the
same hits as reading every flow's names, also when the pool names change while
the flows live (a host learned from a stratum URL, a reload)."""

import numpy as np
from scapy.layers.dns import DNS, DNSQR, DNSRR

from detector.engine.dtypes import END_IDLE, FLOW_DTYPE
from detector.hits import STATE_ENDED
from detector.pipeline import EngineOptions
from detector.pool_names import address_key
from detector.scan_command import CaptureScan, load_detectors

CLIENT = "10.0.0.7"
T0 = 1_700_000_000 * 10**9


def new_scan(detectors=None):
    """A scan wired as `minewatch scan` wires it, fed by hand instead of a capture."""
    return CaptureScan("by-hand.pcap", detectors or load_detectors(), EngineOptions(), 4096,
                       lambda hit: None)


def ended(flows):
    """FLOW_DTYPE rows of short TCP flows (below the timing gate): (flow_id, server)."""
    rows = np.zeros(len(flows), FLOW_DTYPE)
    for row, (fid, server) in zip(rows, flows):
        row["flow_id"], row["proto"], row["end_reason"] = fid, 6, END_IDLE
        row["client_hi"], row["client_lo"] = address_key(CLIENT)
        row["server_hi"], row["server_lo"] = address_key(server)
        row["client_port"], row["server_port"] = 40000 + fid, 443
        row["first_ts"], row["last_ts"] = T0, T0 + 5 * 10**9
        row["packets_c2s"] = row["packets_s2c"] = 8
    return rows


def hits_both_ways(prepare, flows, detectors=None):
    """(hits of on_ended, hits with every flow's names read) for the same flows `flows`
    ended in two scans that `prepare(scan)` fed the same way (a detector learns from
    its hits: one scan each)."""
    out = []
    for every in (False, True):
        scan = new_scan(detectors)
        prepare(scan)
        if every:
            scan.encrypted._maybe_named = lambda rows, ids: np.ones(len(rows), bool)
        out.append(scan.encrypted.on_ended(ended(flows), scan.formatter, "by-hand.pcap",
                                           STATE_ENDED))
    return out


def hello(scan, fid, name):
    scan.inspector.handoff.intel.on_hello(fid, b"", name.encode(), 1)


def test_a_host_learned_after_the_hello_names_the_flow():
    def prepare(scan):
        hello(scan, 7, "eu.newpool.example")       # not a pool name yet
        hello(scan, 8, "www.example.org")
        hello(scan, 9, "xmr-eu1.nanopool.org")     # listed
        assert scan.inspector.handoff.intel.maybe_named == {9}
        scan.encrypted.pools.harvest(b"stratum+tcp://newpool.example:3333", flow_id=3,
                                     frame=2, client=CLIENT)
        hello(scan, 10, "www.newpool.example")     # after: noted when it comes
        hello(scan, 11, "eu.newpool.example")      # a name seen before the host was learned

    flows = [(7, "192.0.2.10"), (8, "192.0.2.11"), (9, "192.0.2.12"), (10, "192.0.2.13"),
             (11, "192.0.2.14")]
    fast, full = hits_both_ways(prepare, flows)
    assert fast == full
    assert [(h["flow_id"], h["signatures"], h["pool"]) for h in fast] == [
        (7, ["encrypted.sni"], "newpool.example"), (9, ["encrypted.sni"], "nanopool"),
        (10, ["encrypted.sni"], "newpool.example"), (11, ["encrypted.sni"], "newpool.example")]


def test_ended_flows_leave_maybe_named():
    scan = new_scan()
    intel = scan.inspector.handoff.intel
    hello(scan, 7, "xmr-eu1.nanopool.org")
    hello(scan, 8, "www.example.org")
    assert intel.maybe_named == {7}
    scan.encrypted.pools.harvest(b"stratum+tcp://newpool.example", 3, 2, CLIENT)
    assert intel.maybe_named == {7, 8}
    rows = ended([(7, "192.0.2.10"), (8, "192.0.2.11")])
    scan._report_encrypted(rows, rows["flow_id"].copy(), np.ones(len(rows), bool), set())
    assert not intel.flows and not intel.maybe_named


def test_a_reload_follows_the_new_pool_names():
    detectors = load_detectors()

    def prepare(scan):
        hello(scan, 7, "xmr-eu1.nanopool.org")
        hello(scan, 8, "www.example.org")
        scan.reload(detectors)
        intel = scan.inspector.handoff.intel
        assert intel.names is scan.encrypted.pools and intel.maybe_named == {7, 8}

    fast, full = hits_both_ways(prepare, [(7, "192.0.2.10"), (8, "192.0.2.11")], detectors)
    assert fast == full and [h["flow_id"] for h in fast] == [7]


def test_pool_addresses_and_dns_answers_are_looked_at():
    listed = next(iter(load_detectors().pools.addresses))      # a pool address of the list

    def prepare(scan):
        answer = bytes(DNS(id=1, qr=1, qd=DNSQR(qname="xmr-eu1.nanopool.org"),
                           an=[DNSRR(rrname="xmr-eu1.nanopool.org", type="A",
                                     rdata="203.0.113.5", ttl=600)]))
        scan.inspector.handoff.dns.on_response(CLIENT, answer, T0 - 10**9)
        for fid in (7, 8, 9):
            hello(scan, fid, "www.example.org")                # no pool name in the hello

    fast, full = hits_both_ways(prepare, [(7, listed), (8, "203.0.113.5"), (9, "192.0.2.11")])
    assert fast == full
    assert [(h["flow_id"], h["signatures"]) for h in fast] == [
        (7, ["encrypted.pool_ip"]), (8, ["encrypted.dns"])]


def test_dns_cache_counts_entries_per_answered_address():
    from detector.flow_intel import DnsCache
    cache = DnsCache(limit=2)

    def answer(name, ip):
        kind = "AAAA" if ":" in ip else "A"
        return bytes(DNS(id=1, qr=1, qd=DNSQR(qname=name, qtype=kind),
                         an=[DNSRR(rrname=name, type=kind, rdata=ip, ttl=300)]))

    cache.on_response("10.0.0.2", answer("a.example", "192.0.2.1"), 0)
    cache.on_response("10.0.0.3", answer("a.example", "192.0.2.1"), 0)
    cache.on_response("10.0.0.3", answer("a.example", "192.0.2.1"), 1)     # refreshed
    assert cache.answered == {address_key("192.0.2.1"): 2}
    cache.on_response("10.0.0.2", answer("b.example", "2001:db8::1"), 2)  # oldest out
    assert cache.answered == {address_key("192.0.2.1"): 1, address_key("2001:db8::1"): 1}
    assert {key[1] for key in cache.entries} == {"192.0.2.1", "2001:db8::1"}


def test_hello_names_are_remembered_bounded():
    from detector.flow_intel import HELLO_NAMES_LIMIT
    from detector.protocols.tls_hello import MAX_NAME
    scan = new_scan()
    intel = scan.inspector.handoff.intel
    hello(scan, 1, "A" * (MAX_NAME + 40))                 # too long for a host name
    assert intel.get(1).sni == "a" * MAX_NAME and not intel.hello_names
    for fid in range(2, HELLO_NAMES_LIMIT + 3):
        hello(scan, fid, f"h{fid}.example.org")
    assert 0 < len(intel.hello_names) <= HELLO_NAMES_LIMIT
    hello(scan, 10**6, "XMR-EU1.nanopool.org")
    hello(scan, 10**6 + 1, "XMR-EU1.nanopool.org")
    first, second = intel.get(10**6), intel.get(10**6 + 1)
    assert first.sni == second.sni == "xmr-eu1.nanopool.org"
    assert {10**6, 10**6 + 1} <= intel.maybe_named


def test_known_mask_follows_the_flows_as_they_come_and_go():
    """known_mask against `in flows` while flows start and end in batches; what it keeps
    of the ended ones stays bounded."""
    from detector.flow_intel import IntelTable
    intel = IntelTable()
    rng = np.random.default_rng(3)
    next_fid, live = 1, []
    for _ in range(40):
        new = range(next_fid, next_fid + int(rng.integers(0, 900)))
        for fid in new:
            if fid % 7:
                intel.on_hello(fid, b"", b"www.example.org", 1)
            else:                                                   # a proxied flow
                assert intel.on_peek(fid, 0, b"CONNECT pool.example:3333 HTTP/1.1\r\n\r\n"
                                     b'{"id":1}\n', 1)
            live.append(fid)
        next_fid = new.stop                                         # flow ids: never again
        rng.shuffle(live)
        ended, live = live[:len(live) // 3], live[len(live) // 3:]
        ids = np.array(ended + [next_fid + 5, next_fid + 6], np.int64)    # and never seen
        assert intel.known_mask(ids).tolist() == [intel.get(fid) is not None
                                                  for fid in ids.tolist()]
        assert len(intel.flow_ids) <= 2 * len(intel.flows) + 1024
        intel.forget(ids, ended)
        assert set(intel.flows) == set(live)


def test_hellos_past_the_table_limit_are_counted_and_dropped():
    from detector.flow_intel import IntelTable
    intel = IntelTable(limit=5)
    assert not intel.on_peek(1, 0, b"\x16\x03\x01", 1)           # a peek holds a place
    intel.on_hellos([2, 3], [b"r2", b"r3"], [b"a.example", b""], [20, 30])
    intel.on_hellos([4, 5, 6], [b"r4", b"r5", b"r6"], [b"b.example"] * 3, [40, 50, 60])
    assert sorted(intel.flows) == [2, 3, 4, 5] and intel.dropped == 1
    assert intel.get(6) is None
    first = intel.get(2)
    assert (first.sni, first.first_frame, first.hello_record) == ("a.example", 20, b"r2")
    assert intel.get(2) is first and intel.get(3).sni is None
    intel.on_hello(7, b"r7", b"c.example", 70)                    # still full
    assert intel.dropped == 2 and intel.get(7) is None
