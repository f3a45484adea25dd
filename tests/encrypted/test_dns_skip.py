"""DNS answers the engine drops itself (engine/dns_skip.py): exact, bounded, and never
in the way of a pool name learned meanwhile."""

import json
import random

import numpy as np
import pytest

from detector.engine.dns_skip import MAX_WIRE_NAME, DnsSkipSet
from detector.pipeline import EngineOptions
from detector.protocols.dns_answer import wire_name_text
from detector.scan_command import CaptureScan, load_detectors, scan_capture
from tests.gen.mining import MONERO_WALLET
from tests.gen.timeline import MS, S, T0_NS, Timeline
from tests.gen.tls_mining import RESOLVER, Xmrig, job_schedule, mine


def wire(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def test_skip_set_holds_exactly_the_names_added():
    skip = DnsSkipSet()
    names = [wire(f"host{i}.example.org") for i in range(300)]
    for n in names[:150]:
        skip.add(n)
    assert all(n in skip for n in names[:150])
    assert not any(n in skip for n in names[150:])
    assert wire("HOST1.example.org") not in skip          # bytes, not a case-folded name
    assert wire("host1.example.or") not in skip
    skip.add(names[0])                                     # twice: counted once
    assert skip.count == 150
    skip.clear()
    assert skip.count == 0 and not any(n in skip for n in names)


def test_skip_set_is_exact_under_collisions_and_stays_bounded():
    skip = DnsSkipSet(slots=8)                 # every name shares a few slots
    names = [wire(f"n{i}.test") for i in range(40)]
    for k, n in enumerate(names):
        skip.add(n)
        assert n in skip
        assert skip.count <= 4                 # at most half full: cleared, then added
        kept = [m for m in names[:k + 1] if m in skip]
        assert kept == names[k + 1 - len(kept):k + 1]   # the newest ones, nothing else
    long_name = b"\x3f" + b"a" * 63
    too_long = long_name * 4 + b"\0"
    assert len(too_long) > MAX_WIRE_NAME
    skip.add(too_long)
    assert too_long not in skip


def relookup_capture(path):
    """A client looks up an unlisted host (rejected: no pool has that name), then fetches
    a config.json over HTTP naming it by a stratum URL, looks it up again right after,
    and mines over TLS without SNI: only the second DNS answer names the pool."""
    rng = random.Random(7)
    tl = Timeline()
    host, server, client = "xmr.relookup-example.net", "203.0.113.121", "10.14.0.61"
    tl.dns(T0_NS, client, RESOLVER, host, [server], qid=4100)
    body = json.dumps({"pools": [{"url": f"stratum+tls://{host}:443", "user": MONERO_WALLET,
                                  "tls": True}]}).encode()
    http = tl.tcp(client, 47200, "198.51.100.10", 80, 30 * MS)
    t = http.open(T0_NS + S)
    t = http.write(t, True, b"GET /config.json HTTP/1.1\r\nHost: files.example.org\r\n\r\n")
    t = http.write(t + 2 * MS, False, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    tl.dns(t + MS, client, RESOLVER, host, [server], qid=4101)
    http.close(t + 5 * MS)
    start = t + 2 * S
    end = start + 120 * S
    truth = mine(tl, rng, client, 47201, server, 443, start, end, job_schedule(rng, start, end),
                 Xmrig(rng.randrange(1 << 30)), sni=None, share_mean_s=15)
    tl.write(path)
    return host, truth


@pytest.fixture(scope="module")
def relookup(tmp_path_factory):
    path = tmp_path_factory.mktemp("dns_skip") / "relookup.pcap"
    host, truth = relookup_capture(path)
    return path, host, truth


@pytest.mark.parametrize("batch", [None, *range(1, 41)])
def test_a_name_learned_in_the_same_batch_is_not_skipped(relookup, batch):
    """Whatever the batch boundaries, the second answer reaches Python after the URL
    taught the host, though the first answer put the name in the engine's skip set."""
    path, host, truth = relookup
    options = EngineOptions(idle_timeout_s=0) if batch is None else \
        EngineOptions(idle_timeout_s=0, batch_records=batch)
    res = scan_capture(path, load_detectors(), options)
    assert [(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
            for h in res.hits] == [(truth["client_ip"], truth["client_port"],
                                    truth["server_ip"], truth["server_port"])]
    hit = res.hits[0]
    assert (hit["variant"], hit["confidence"], hit["pool"]) == ("encrypted", "pool_name", host)
    assert "encrypted.dns" in hit["signatures"] and hit["sni"] is None


def test_repeated_answers_to_rejected_questions_stay_in_the_engine(tmp_path):
    """Once Python rejected a question, the engine keeps its later answers (from the next
    kernel call on); answers for a pool name are never skipped and all reach the cache."""
    tl = Timeline()
    names = [f"cdn{i}.example.com" for i in range(5)]
    for k in range(200):
        tl.dns(T0_NS + k * 100 * MS, "10.20.0.5", RESOLVER, names[k % 5], ["192.0.2.9"],
               qid=k)
    for k in range(3):
        tl.dns(T0_NS + (30_000 + 100 * k) * MS, f"10.20.0.{6 + k}", RESOLVER, "xmr.nanopool.org",
               ["203.0.113.7"], qid=1000 + k)
    path = tl.write(tmp_path / "dns.pcap")
    # 50 records per call (25 query/answer pairs): the first call's 25 answers all go
    # to Python (nothing is rejected yet), then each later answer to those 5 names
    # stays in the engine
    scan = CaptureScan(path, load_detectors(), EngineOptions(batch_records=50), 4096,
                       lambda hit: None)
    scan.run()
    counters = scan.inspector.counters()
    assert counters["dns_answers"] == 25 + 3
    assert counters["dns_skipped"] == 175
    dns = scan.inspector.handoff.dns
    assert sorted(wire_name_text(n) for n in dns.verdicts) == sorted(names + ["xmr.nanopool.org"])
    assert {client for client, _ in dns.entries} == {"10.20.0.6", "10.20.0.7", "10.20.0.8"}
    assert np.count_nonzero(dns.skip.keys) == dns.skip.count == 5
