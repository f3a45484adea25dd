"""MiningSession on real corpus transcripts: labelled mining flows and lookalikes.

Transcripts are extracted from the captures with tshark at test time
(`transcripts.py`); the expected values come from each capture's
``*.truth.json``. Naming differences between the truth files and the session
are mapped explicitly (see `_expected_variants`, `_expected_workers`).
"""

from __future__ import annotations

import json

import pytest

from tests.corpus import corpus_dir

from .transcripts import transcripts

TRUTH_FILES = (
    "nesfit-DI-cryptominingdetection/cgminer.g0.pcapng",
    "nesfit-DI-cryptominingdetection/cgminer.g2.pcapng",
    "nesfit-DI-cryptominingdetection/cgminer.s0.pcapng",
    "nesfit-DI-cryptominingdetection/eth-eu1.nanopool.org.pcapng",
    "nesfit-DI-cryptominingdetection/xmr-eu1.nanopool.org.pcapng",
    "nesfit-DI-cryptominingdetection/zec-eu.suprnova.cc.pcapng",
    "peafowl/monero.pcap",
    "peafowl/stratum.pcap",
    "peafowl/zcash.pcap",
    "zeek-cryptomining/bitcoin-mining.pcap",
    "zeek-cryptomining/coinhive-stratum.pcap",
    "ndpi/mining.pcapng",
)
NEGATIVE_FILES = (
    "peafowl/ethereum-js-http.pcap",
    "peafowl/bitcoin.pcap",
    "ndpi/jsonrpc.pcap",
    "ndpi/bitcoin.pcap",
    "ndpi/monero.pcap",
    "ndpi/nano.pcapng",
    "zeek-negatives/mqtt.pcap",
    "zeek-negatives/websocket.pcap",
)


def _label(path) -> str | None:
    """The capture's label from its folder's LABELS.tsv."""
    for line in (path.parent / "LABELS.tsv").read_text().splitlines()[1:]:
        name, _, label = line.partition("\t")
        if name == path.name:
            return label.strip()
    return None


def _truth(path):
    return json.loads(path.with_name(path.name + ".truth.json").read_text())


def _find(streams, flow):
    """The transcript of a truth flow: by tcp_stream when given, checked against the 4-tuple."""
    client = (flow["client_ip"], flow["client_port"])
    server = (flow["server_ip"], flow["server_port"])
    for tr in streams:
        if flow.get("tcp_stream") is not None and tr.stream != flow["tcp_stream"]:
            continue
        if {tr.client, tr.server} == {client, server}:
            return tr
    return None


def _expected_variants(flow) -> set:
    """Truth names ZIP 301 "stratum-v1" (dialect says zcash) and GBT "getwork"."""
    variant, dialect = flow.get("variant"), flow.get("dialect") or ""
    if variant == "stratum-v1" and "zcash-equihash" in dialect:
        return {"zcash"}
    if variant == "stratum-v1" and "set_target" in dialect:
        return {"stratum-v1", "zcash"}
    if variant == "getwork":
        return {"getwork"} if "getwork" in flow.get("client_methods", {}) else {"getblocktemplate"}
    return {variant}


def _expected_workers(flow) -> set:
    """Truth prefixes HTTP Basic users with "basic:"; the session keeps the bare user."""
    return {w.removeprefix("basic:") for w in flow.get("workers", [])}


def _disagreements(flow, got: dict) -> list[str]:
    out = []
    if not got["is_mining"]:
        return ["not mining"]
    if flow.get("variant") is None:          # ndpi truth: flow list only
        return out
    if got["variant"] not in _expected_variants(flow):
        out.append(f"variant {got['variant']} vs {flow['variant']}/{flow.get('dialect')}")
    if set(got["workers"]) != _expected_workers(flow):
        out.append(f"workers {got['workers']} vs {flow['workers']}")
    agents = set(flow.get("agents") or (flow.get("http") or {}).get("user-agent") or [])
    if (got["agent"] or None) not in (agents or {None}):
        out.append(f"agent {got['agent']} vs {sorted(agents)}")
    for key in ("shares_submitted", "shares_accepted", "shares_rejected"):
        if got[key] != flow.get(key):
            out.append(f"{key} {got[key]} vs {flow.get(key)}")
    hosts = flow.get("pool_host_in_subscribe") or []
    if hosts and got["pool"] not in hosts:
        out.append(f"pool {got['pool']} vs {hosts}")
    return out


@pytest.mark.parametrize("name", TRUTH_FILES)
def test_truth_flows_match(name):
    path = corpus_dir() / name
    streams = transcripts(path)
    problems = []
    flows = _truth(path)["mining_flows"]
    assert flows, f"{name}: truth lists no mining flow"
    for flow in flows:
        tr = _find(streams, flow)
        if tr is None:
            problems.append(f"stream {flow.get('tcp_stream')}: not found")
            continue
        for problem in _disagreements(flow, tr.session().to_dict()):
            problems.append(f"stream {tr.stream}: {problem}")
    assert not problems, f"{name}: {len(problems)} disagreements: {problems[:10]}"


@pytest.mark.parametrize("name", TRUTH_FILES)
def test_unlabelled_flows_in_mining_captures_are_not_mining(name):
    path = corpus_dir() / name
    labelled = {frozenset({(f["client_ip"], f["client_port"]), (f["server_ip"], f["server_port"])})
                for f in _truth(path)["mining_flows"]}
    flagged = [tr.stream for tr in transcripts(path)
               if frozenset({tr.client, tr.server}) not in labelled and tr.session().is_mining]
    assert not flagged, f"{name}: unlabelled streams flagged as mining: {flagged[:20]}"


@pytest.mark.parametrize("name", NEGATIVE_FILES)
def test_lookalike_captures_are_not_mining(name):
    path = corpus_dir() / name
    assert _label(path) in ("benign", "crypto_p2p")
    streams = transcripts(path)
    flagged = [(tr.stream, tr.session().to_dict()["evidence"]) for tr in streams
               if tr.session().is_mining]
    assert not flagged, f"{name}: {flagged[:5]}"


def test_corpus_totals_agree_with_truth():
    """Summed shares per capture equal the truth totals (counts each flow once)."""
    for name in ("peafowl/stratum.pcap", "peafowl/monero.pcap",
                 "nesfit-DI-cryptominingdetection/zec-eu.suprnova.cc.pcapng",
                 "nesfit-DI-cryptominingdetection/eth-eu1.nanopool.org.pcapng"):
        path = corpus_dir() / name
        totals = _truth(path)["totals"]
        sessions = [tr.session() for tr in transcripts(path)]
        assert sum(s.shares_submitted for s in sessions if s.is_mining) == totals["shares_submitted"]
        assert sum(s.shares_accepted for s in sessions if s.is_mining) == totals["shares_accepted"]
