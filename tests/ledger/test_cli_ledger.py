"""`minewatch scan --ledger` and `minewatch ledger ...` end to end (subprocess, real captures)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.gen import mining

REPO = Path(__file__).resolve().parents[2]
PCAPS = sorted((REPO / "pcaps").glob("*/*.pcap"))
PEAFOWL = REPO / "pcaps" / "peafowl"
ZEEK = REPO / "pcaps" / "zeek-cryptomining"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def show_json(ledger, *extra):
    r = run("ledger", "show", "--ledger", ledger, "--format", "json", *extra)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def final_hits(*paths):
    r = run("scan", "-q", *paths)
    assert r.returncode == 1, r.stderr
    return [h for h in map(json.loads, r.stdout.splitlines()) if h["state"] == "ended"]


def test_scan_folds_hits_per_subscriber_and_a_rescan_adds_nothing(tmp_path):
    ledger = tmp_path / "l.db"
    hits = final_hits(*PCAPS)
    for _ in range(2):
        r = run("scan", "-q", "--ledger", ledger, *PCAPS)
        assert r.returncode == 1, r.stderr
    records = show_json(ledger)
    assert sum(r["flows"] for r in records) == len(hits)
    assert {r["subscriber"] for r in records} == {h["client_ip"] for h in hits}
    for rec in records:
        mine = [h for h in hits if h["client_ip"] == rec["subscriber"]]
        assert rec["shares"] == sum(h["shares_accepted"] for h in mine)
        assert rec["ips"] == [rec["subscriber"]]
        assert sorted(p["address"] for p in rec["pools"]) == sorted(
            {f"{h['server_ip']}:{h['server_port']}" for h in mine})
        assert set(rec["workers"]) == {h["worker"] for h in mine if h["worker"]}
        assert set(rec) >= {"subscriber", "first_seen", "last_seen", "ips", "pools",
                            "algorithms", "devices", "flows", "shares", "hashrate_hps",
                            "hashrate_low", "hashrate_high", "power_w", "energy_kwh", "cost",
                            "class"}
    zec = next(r for r in records if "equihash" in r["algorithms"])
    assert zec["hashrate_low"] < zec["hashrate_hps"] < zec["hashrate_high"]
    assert zec["power_w"] > 0 and zec["energy_kwh"] > 0 and zec["currency"] == "CNY"


def test_subscriber_map_names_the_subscriber(tmp_path):
    hits = final_hits(PEAFOWL / "stratum.pcap")
    ip = hits[0]["client_ip"]
    submap = tmp_path / "subs.csv"
    submap.write_text(f"cidr,subscriber,name\n{ip}/32,acct-0042,Example Farm Ltd\n")
    r = run("scan", "-q", "--ledger", tmp_path / "l.db", "--subscribers", submap,
            "--sensor", "pop-1", PEAFOWL / "stratum.pcap")
    assert r.returncode == 1, r.stderr
    (rec,) = show_json(tmp_path / "l.db")
    assert (rec["subscriber"], rec["subscriber_source"]) == ("acct-0042", "static")
    assert rec["info"] == {"name": "Example Farm Ltd"} and rec["ips"] == [ip]
    bad = tmp_path / "bad.csv"
    bad.write_text("cidr,subscriber\n10.0.0.0/33,x\n")
    r = run("scan", "-q", "--ledger", tmp_path / "l2.db", "--subscribers", bad,
            PEAFOWL / "stratum.pcap")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"{bad}:2:" in r.stderr


def test_merge_of_ledgers_from_several_sensors_is_order_free(tmp_path):
    parts = {"a": ZEEK / "bitcoin-mining.pcap", "b": PEAFOWL / "monero.pcap",
             "c": PEAFOWL / "stratum.pcap"}
    for name, pcap in parts.items():
        run("scan", "-q", "--ledger", tmp_path / f"{name}.db", "--sensor", name, pcap)
    run("ledger", "merge", tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db",
        "-o", tmp_path / "abc.db")
    run("ledger", "merge", tmp_path / "c.db", tmp_path / "a.db", "-o", tmp_path / "cab.db")
    run("ledger", "merge", tmp_path / "b.db", tmp_path / "c.db", "-o", tmp_path / "cab.db")
    run("scan", "-q", "--ledger", tmp_path / "all.db", *parts.values())
    merged = show_json(tmp_path / "abc.db")
    assert merged == show_json(tmp_path / "cab.db") == show_json(tmp_path / "all.db")
    assert len(merged) == 3


def test_snapshot_then_diff_shows_new_and_growing_subscribers(tmp_path):
    ledger = tmp_path / "l.db"
    run("scan", "-q", "--ledger", ledger, PEAFOWL / "monero.pcap")
    r = run("ledger", "snapshot", "--ledger", ledger, "--date", "2026-01-05")
    assert r.returncode == 0 and "snapshot of 1 subscribers" in r.stderr
    run("scan", "-q", "--ledger", ledger, PEAFOWL / "stratum.pcap")
    r = run("ledger", "diff", "--ledger", ledger, "--since", "2026-01-07", "--format", "json")
    assert r.returncode == 0, r.stderr
    changes = [json.loads(line) for line in r.stdout.splitlines()]
    new_ips = {h["client_ip"] for h in final_hits(PEAFOWL / "stratum.pcap")}
    assert {c["subscriber"] for c in changes if c["change"] == "new"} == new_ips
    r = run("ledger", "snapshot", "--ledger", ledger, "--date", "2026-01-05")
    assert r.returncode == 2 and "never rewritten" in r.stderr
    r = run("ledger", "diff", "--ledger", ledger, "--since", "2025-12-01")
    assert r.returncode == 2 and "no snapshot on or before 2025-12-01" in r.stderr
    r = run("ledger", "diff", "--ledger", ledger, "--since", "last week")
    assert r.returncode == 2 and "expected YYYY-MM-DD" in r.stderr


def test_untrusted_worker_names_in_csv_and_table(tmp_path):
    evil = "=HYPERLINK(\"http://x\")\x1b[31m.rig"
    pcap = mining.capture(tmp_path / "evil.pcap", mining.stratum_v1(worker=evil))
    ledger = tmp_path / "l.db"
    assert run("scan", "-q", "--ledger", ledger, pcap).returncode == 1
    r = run("ledger", "show", "--ledger", ledger, "--format", "csv")
    assert r.returncode == 0
    assert "'=HYPERLINK" in r.stdout and ",=HYPERLINK" not in r.stdout
    r = run("ledger", "show", "--ledger", ledger)
    assert r.returncode == 0 and "\x1b" not in r.stdout
    (rec,) = show_json(ledger)
    assert rec["workers"] == [evil]                    # kept as sent, escaped by JSON


def test_show_ledger_after_hits_and_bad_input(tmp_path):
    r = run("scan", "--format", "table", "--ledger", tmp_path / "l.db", "--show-ledger",
            PEAFOWL / "stratum.pcap")
    assert r.returncode == 1
    hits_part, ledger_part = r.stdout.split("\n\n")
    assert hits_part.startswith("client") and ledger_part.startswith("subscriber")
    r = run("scan", "--show-ledger", PEAFOWL / "stratum.pcap")
    assert r.returncode == 2 and "--show-ledger needs --ledger" in r.stderr
    r = run("ledger", "show", "--ledger", tmp_path / "missing.db")
    assert r.returncode == 2 and r.stderr == f"error: {tmp_path / 'missing.db'}: no such ledger\n"
    r = run("ledger", "show", "--ledger", REPO / "README.md")
    assert r.returncode == 2 and "not a Minewatch ledger" in r.stderr
    r = run("ledger", "show", "--ledger", tmp_path / "l.db", "--sort", "power", "--active",
            "--now", "2099-01-01T00:00:00Z", "--format", "json")
    assert r.returncode == 0 and r.stdout == ""      # nobody active 80 years later
