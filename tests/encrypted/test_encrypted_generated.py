"""Encrypted and proxied mining in generated captures (tests/gen/tls_mining.py): exact hits.

Every truth flow of the mining_tls captures must be found with the signals
that the generator put there; the benign captures (MQTT, websocket chat,
idle HTTP/2, VPN keepalives, bulk download, browsing including a pool's
dashboard) must give no hit at all.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from detector.eval import evaluate
from detector.pipeline import EngineOptions
from detector.scan_command import load_detectors, scan_capture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def detectors():
    return load_detectors()


def hits_by_client(folder, name, detectors):
    res = scan_capture(folder / name, detectors, EngineOptions(idle_timeout_s=0))
    out = {}
    for h in res.hits:
        out.setdefault(h["client_ip"], []).append(h)
    return out


def truth_keys(truth):
    return {(t["client_ip"], t["client_port"], t["server_ip"], t["server_port"]) for t in truth}


def test_pool_by_name(tls_corpus, detectors):
    folder, truths = tls_corpus
    hits = hits_by_client(folder, "pool_sni_dns.pcap", detectors)
    got = {(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
           for hs in hits.values() for h in hs}
    assert got == truth_keys(truths["pool_sni_dns.pcap"])
    with_sni = [h for hs in hits.values() for h in hs if h["sni"]]
    assert len(with_sni) == 5                       # miners 0-4 send SNI, 5-7 do not
    for h in (h for hs in hits.values() for h in hs):
        assert h["variant"] == "encrypted"
        assert h["confidence"] == "pool_name"
        assert h["pool"] == "nanopool"
        assert "encrypted.dns" in h["signatures"]   # every miner resolved the pool name
        assert h["alpn"] is None
        assert re.fullmatch(r"t13[di]\d{4}00_[0-9a-f]{12}_[0-9a-f]{12}", h["ja4"])
        assert re.fullmatch(r"[0-9a-f]{32}", h["ja3"])
        assert h["timing"]["pushes"] >= 4 and h["timing"]["synced"] >= 3
    for h in with_sni:
        assert h["sni"] == "xmr-eu1.nanopool.org" and h["ja4"].startswith("t13d")


def test_pool_by_address_only(tls_corpus, detectors):
    """No SNI, no DNS: timing and the pushes shared by the pool's 6 clients."""
    folder, truths = tls_corpus
    hits = [h for hs in hits_by_client(folder, "pool_by_ip.pcap", detectors).values()
            for h in hs]
    assert {(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
            for h in hits} == truth_keys(truths["pool_by_ip.pcap"])
    for h in hits:
        assert h["sni"] is None and h["confidence"] == "timing"
        assert {"encrypted.timing", "encrypted.cross_flow"} <= set(h["signatures"])
        assert h["timing"]["required_ok"] and h["timing"]["sync_ratio"] >= 0.5


def test_proxied(tls_corpus, detectors):
    folder, truths = tls_corpus
    hits = {h["client_ip"]: h for hs in hits_by_client(folder, "proxied.pcap", detectors)
            .values() for h in hs}
    assert {(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
            for h in hits.values()} == truth_keys(truths["proxied.pcap"])
    assert hits["10.12.0.31"]["proxy_target"] == "pool.supportxmr.com:443"
    assert hits["10.12.0.33"]["proxy_target"] == "gulf.moneroocean.stream:20128"
    assert hits["10.12.0.34"]["proxy_target"] == "xmr-eu1.nanopool.org:14433"
    for ip in ("10.12.0.31", "10.12.0.32", "10.12.0.34", "10.12.0.35"):
        assert hits[ip]["variant"] == "proxied" and "encrypted.proxy" in hits[ip]["signatures"]
    # moneroocean is not on the bundled list: the timing of the tunnelled TLS finds it
    assert hits["10.12.0.33"]["confidence"] == "timing"
    # cleartext stratum behind SOCKS5: the parsers read it after the proxy's preamble
    inside = hits["10.12.0.36"]
    assert inside["proxy_target"] == "stratum.example-pool.net:3333"
    assert (inside["variant"], inside["confidence"], inside["pool"]) == \
        ("stratum-v1", "dpi", "stratum.example-pool.net")
    assert inside["worker"].startswith("bc1qexampleaddr") and inside["shares_accepted"] > 50


def test_solo_miners_by_timing_only(tls_corpus, detectors):
    folder, truths = tls_corpus
    hits = [h for hs in hits_by_client(folder, "solo_timing.pcap", detectors).values()
            for h in hs]
    assert {(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
            for h in hits} == truth_keys(truths["solo_timing.pcap"])
    for h in hits:
        assert h["signatures"] == ["encrypted.timing"] and h["confidence"] == "timing"
        assert h["timing"]["score"] >= 0.9


@pytest.mark.parametrize("name", ["mqtt_tls.pcap", "ws_chat.pcap", "h2_idle.pcap",
                                  "vpn_keepalive.pcap", "tls_bulk.pcap",
                                  "https_browsing.pcap"])
def test_negatives_give_no_hit(tls_corpus, detectors, name):
    folder, _ = tls_corpus
    res = scan_capture(folder / name, detectors, EngineOptions(idle_timeout_s=0))
    assert res.hits == []


def test_pool_dashboard_is_not_mining(tls_corpus, detectors):
    """https_browsing visits xmr.nanopool.org and supportxmr.com with ALPN h2: the
    SNI is on the pool list, the flows are seen (peeked), and still no hit."""
    folder, _ = tls_corpus
    from detector.scan_command import CaptureScan
    seen = []
    scan = CaptureScan(folder / "https_browsing.pcap", detectors,
                       EngineOptions(idle_timeout_s=0), 4096, lambda h: None)
    original = scan.encrypted.on_ended

    def spy(rows, formatter, capture, state):
        for fid in rows["flow_id"].tolist():
            intel = scan.inspector.handoff.intel.get(fid)
            if intel is not None and intel.sni:
                seen.append(intel.sni)
        return original(rows, formatter, capture, state)

    scan.encrypted.on_ended = spy
    result = scan.run()
    assert result.hits == []
    assert {"xmr.nanopool.org", "supportxmr.com"} <= set(seen)


def test_pool_named_by_a_stratum_url_in_clear(tls_corpus, detectors):
    """config_url.pcap: a config.json fetched over HTTP names an unlisted pool; the two
    short TLS sessions that follow are attributed to it (SNI, then DNS alone)."""
    folder, truths = tls_corpus
    hits = [h for hs in hits_by_client(folder, "config_url.pcap", detectors).values()
            for h in hs]
    # exactly the truth: 10.14.0.52 never fetched the config, its session stays unnamed
    assert {(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
            for h in hits} == truth_keys(truths["config_url.pcap"])
    assert {h["client_ip"] for h in hits} == {"10.14.0.51"}
    source = "stratum+tls://xmr.newpool-example.net:443 in flow 1, frame 6"
    by_port = {h["client_port"]: h for h in hits}
    first, second = by_port[47001], by_port[47002]
    assert first["sni"] == "xmr.newpool-example.net" and second["sni"] is None
    assert "encrypted.sni" in first["signatures"] and "encrypted.sni" not in second["signatures"]
    for h in hits:
        assert (h["variant"], h["confidence"], h["pool"]) == \
            ("encrypted", "pool_name", "xmr.newpool-example.net")
        assert h["timing"]["scored"] is False          # two minutes: below the timing gate
        assert source in [e.get("source") for e in h["evidence"]]


def test_openings_cut_after_a_byte_or_three(tls_corpus, detectors):
    """split_openings.pcap: each client cuts its first write as DPI-evasion tools do.
    The sessions are too short for timing and resolve no name: only the ClientHello's
    SNI, the SOCKS5 greeting and the CONNECT request, read whole, find them."""
    folder, truths = tls_corpus
    hits = {h["client_ip"]: h for hs in hits_by_client(folder, "split_openings.pcap",
                                                       detectors).values() for h in hs}
    assert {(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
            for h in hits.values()} == truth_keys(truths["split_openings.pcap"])
    for ip in ("10.15.0.61", "10.15.0.62"):          # ClientHello cut after 1 and 2 bytes
        assert (hits[ip]["variant"], hits[ip]["confidence"], hits[ip]["sni"]) == \
            ("encrypted", "pool_name", "xmr-eu1.nanopool.org")
        assert "encrypted.sni" in hits[ip]["signatures"]
    socks = hits["10.15.0.63"]                        # SOCKS5 greeting cut after 2 bytes
    assert socks["proxy_target"] == "stratum.example-pool.net:3333"
    assert (socks["variant"], socks["confidence"]) == ("stratum-v1", "dpi")
    connect = hits["10.15.0.64"]                      # "CON" | "NECT xmr-eu1..."
    assert connect["proxy_target"] == "xmr-eu1.nanopool.org:14433"
    assert (connect["variant"], connect["signatures"]) == ("proxied", ["encrypted.proxy"])


def test_without_the_url_signatures_the_short_sessions_stay_unseen(tls_corpus, tmp_path):
    folder, _ = tls_corpus
    sigs = tmp_path / "signatures"
    shutil.copytree(REPO / "signatures", sigs)
    (sigs / "pool_urls.yaml").unlink()
    res = scan_capture(folder / "config_url.pcap", load_detectors(sigs), EngineOptions())
    assert res.hits == []


def test_eval_reports_tls_recall_and_ablation(tls_corpus):
    folder, truths = tls_corpus
    report = evaluate([folder])
    tot = report["total"]
    expected = sum(len(t) for name, t in truths.items())
    assert tot["mining_tls_recall"]["expected"] == expected == 29
    assert tot["mining_tls_recall"]["found"] == expected
    assert tot["false_positives"]["flows"] == 0 and tot["passed"]
    rows = {r["signal"]: r for r in tot["ablation"]["signals"]}
    assert rows["sni"]["holds"] == 8      # 5 named pool, 1 learned from a URL, 2 hellos cut
    assert rows["dns"]["holds"] == 10
    assert rows["proxy"]["holds"] == 5                # 4 proxied, 1 CONNECT cut
    assert rows["cross_flow"]["alone"] == 0          # never decides alone
    assert rows["timing"]["found_without"] < expected   # pool_by_ip and solo need it


def test_cli_eval_explain(tls_corpus):
    folder, _ = tls_corpus
    r = subprocess.run([sys.executable, "cli.py", "eval", "--explain", str(folder)],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "mining_tls recall 29/29 (100.0%)" in r.stdout
    # the long encrypted sessions pass the timing gate (the short ones of config_url and
    # split_openings are found by name); the two SOCKS hops with cleartext stratum
    # inside are found by the parsers
    assert re.search(r"^\s+timing\s+22\s+", r.stdout, re.M)
    assert re.search(r"^\s+cleartext\s+2\s+2\s+", r.stdout, re.M)


def test_cli_scan_jsonl_has_new_fields(tls_corpus):
    folder, _ = tls_corpus
    r = subprocess.run([sys.executable, "cli.py", "scan", "-q", str(folder / "proxied.pcap")],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr
    hits = [json.loads(line) for line in r.stdout.splitlines()]
    assert {h["proxy_target"] for h in hits} >= {"pool.supportxmr.com:443"}
    assert all(set(h) >= {"sni", "ja3", "ja4", "alpn", "proxy_target", "timing"} for h in hits)


class LooksAtEverything:
    """An EncryptedDetector method that sends every TCP flow with FlowIntel to the
    close look (features, signals, `decide`): what on_ended did before it skipped
    the flows that pass neither the timing gate nor the name check."""

    def __init__(self, detector):
        self.detector = detector

    def __call__(self, rows):
        looked = [k for k, (fid, proto) in enumerate(zip(rows["flow_id"].tolist(),
                                                          rows["proto"].tolist()))
                  if proto == 6 and self.detector.intel.get(fid) is not None]
        return looked, [True] * len(looked)


@pytest.mark.parametrize("name", ["pool_sni_dns.pcap", "pool_by_ip.pcap", "proxied.pcap",
                                  "solo_timing.pcap", "config_url.pcap", "https_browsing.pcap",
                                  "mqtt_tls.pcap", "tls_bulk.pcap", "vpn_keepalive.pcap",
                                  "ws_chat.pcap"])
def test_the_first_look_drops_no_hit(tls_corpus, detectors, name, tmp_path):
    """on_ended's first look (timing gate, names) against the close look at every flow:
    the same hits, field for field."""
    from detector.scan_command import CaptureScan
    folder, _ = tls_corpus

    def hits(path, everything):
        scan = CaptureScan(path, detectors, EngineOptions(idle_timeout_s=0), 4096,
                           lambda h: None)
        if everything:
            scan.encrypted._worth_a_look = LooksAtEverything(scan.encrypted)
        return scan.run().hits

    mining = name in ("pool_sni_dns.pcap", "pool_by_ip.pcap", "proxied.pcap",
                      "solo_timing.pcap", "config_url.pcap")
    full = hits(folder / name, False)
    assert full == hits(folder / name, True) and bool(full) == mining
    # the first minute only: the flows end below the timing gate, names alone decide
    cut = tmp_path / name
    first_seconds(folder / name, cut, 60)
    short = hits(cut, False)
    assert short == hits(cut, True)
    assert all(not h["timing"] or not h["timing"]["scored"] for h in short
               if h["variant"] in ("encrypted", "proxied"))
    if name in ("pool_sni_dns.pcap", "proxied.pcap"):        # named pools, proxy targets
        assert any(h["variant"] in ("encrypted", "proxied") for h in short)


def first_seconds(src, dst, seconds):
    """Copy the packets of the first `seconds` of capture `src` to `dst`."""
    import dpkt
    with open(src, "rb") as f, open(dst, "wb") as g:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(g, linktype=reader.datalink())
        start = None
        for ts, buf in reader:
            start = ts if start is None else start
            if ts - start <= seconds:
                writer.writepkt(buf, ts)
