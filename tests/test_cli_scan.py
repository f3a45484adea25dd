"""`minewatch scan` end to end: exit codes, formats, truth of the bundled captures."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PCAPS = REPO / "pcaps"
BENIGN = [PCAPS / "zeek-negatives" / "mqtt.pcap", PCAPS / "zeek-negatives" / "websocket.pcap",
          PCAPS / "peafowl" / "ethereum-js-http.pcap"]
MINING = sorted((PCAPS / "zeek-cryptomining").glob("*.pcap")) + [
    PCAPS / "peafowl" / "stratum.pcap", PCAPS / "peafowl" / "monero.pcap"]


def minewatch(*args):
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *map(str, args)],
                          capture_output=True, timeout=600)


def truth_flows(capture):
    doc = json.loads(Path(str(capture) + ".truth.json").read_text())
    return {frozenset([(f["client_ip"], f["client_port"]), (f["server_ip"], f["server_port"])])
            for f in doc.get("mining_flows", [])}


def hit_key(hit):
    return frozenset([(hit["client_ip"], hit["client_port"]),
                      (hit["server_ip"], hit["server_port"])])


def test_benign_captures_exit_0_with_no_output():
    r = minewatch("scan", *BENIGN)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""


def test_every_truth_flow_is_a_hit_and_nothing_else():
    for capture in MINING:
        r = minewatch("scan", "-q", capture)
        assert r.returncode == 1, (capture, r.stderr)
        ended = [h for h in map(json.loads, r.stdout.decode().splitlines())
                 if h["state"] == "ended"]
        assert {hit_key(h) for h in ended} == truth_flows(capture), capture
        assert len(ended) == len(truth_flows(capture))


def test_final_hits_do_not_depend_on_the_batch_size():
    """Batches only decide when Python sees events and ended flows: the final hits of
    every bundled mining capture are the same, in the same order, batch after batch."""
    def final_hits(*options):
        r = minewatch("scan", "-q", *options, *MINING)
        assert r.returncode == 1, r.stderr
        return [h for h in r.stdout.decode().splitlines() if '"state":"ended"' in h]

    default = final_hits()
    assert len(default) == sum(len(truth_flows(c)) for c in MINING)
    for size in (1, 7, 4096):
        assert final_hits("--batch-records", size) == default, size


def test_jsonl_detected_then_ended_per_flow():
    r = minewatch("scan", "-q", PCAPS / "peafowl" / "monero.pcap")
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [x["state"] for x in lines] == ["detected", "ended"]
    assert lines[0]["flow_id"] == lines[1]["flow_id"]
    final = lines[1]
    assert final["variant"] == "xmrig"
    assert final["agent"].startswith("xmr-stak-cpu/")
    assert final["shares_submitted"] == final["shares_accepted"] == 30
    assert final["schema_version"] == 1
    assert "xmrig.login" in final["signatures"]
    login = next(e for e in final["evidence"] if e["signature"] == "xmrig.login")
    assert login["first_frame"] == 4 and login["direction"] == "toserver"   # tshark frame 4


def test_eve_records():
    r = minewatch("scan", "-q", "--format", "eve", PCAPS / "peafowl" / "stratum.pcap")
    events = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert len(events) == 2
    for e in events:
        assert e["event_type"] == "mining" and e["proto"] == "TCP"
        assert {"timestamp", "flow_id", "src_ip", "src_port", "dest_ip", "dest_port",
                "mining", "flow"} <= set(e)
        assert e["timestamp"].endswith("+0000")
        assert e["mining"]["variant"] == "zcash"
    assert sorted(e["dest_port"] for e in events) == [3333, 3333]


def test_csv_and_table():
    r = minewatch("scan", "-q", "--format", "csv", PCAPS / "peafowl" / "stratum.pcap")
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert len(rows) == 2 and rows[0]["variant"] == "zcash"
    t = minewatch("scan", "-q", "--format", "table", PCAPS / "peafowl" / "stratum.pcap")
    lines = t.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["client", "server", "variant"]
    assert len(lines) == 3


def test_errors_exit_2_and_other_files_still_scanned(tmp_path):
    missing = tmp_path / "missing.pcap"
    r = minewatch("scan", "-q", missing, PCAPS / "peafowl" / "monero.pcap")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "Traceback" not in err and str(missing) in err.splitlines()[0]
    assert b'"state":"ended"' in r.stdout


def test_truncated_capture_keeps_hits_found_before(tmp_path):
    raw = (PCAPS / "peafowl" / "stratum.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:len(raw) * 2 // 3])
    r = minewatch("scan", "-q", cut)
    assert r.returncode == 2
    assert " at byte " in r.stderr.decode().splitlines()[0]
    assert len([x for x in r.stdout.decode().splitlines() if '"ended"' in x]) == 2


def test_signatures_check_ok_and_bad(tmp_path):
    ok = minewatch("signatures", "check")
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "sigs"
    bad.mkdir()
    (bad / "x.yaml").write_text("schema_version: 1\nfamily: x\nsignatures:\n  - id: x.a\n"
                                "    bogus_key: 1\n")
    r = minewatch("signatures", "check", bad)
    assert r.returncode == 2
    first = r.stderr.decode().splitlines()[0]
    assert "x.yaml:" in first and "Traceback" not in r.stderr.decode()
