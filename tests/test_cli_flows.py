"""`minewatch flows` end to end: formats, stdin, compression, bad input, exit codes."""

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PCAPS = REPO / "pcaps"
COINHIVE = PCAPS / "zeek-cryptomining" / "coinhive-stratum.pcap"
MQTT = PCAPS / "zeek-negatives" / "mqtt.pcap"
REQUIRED = ["transport", "client_ip", "client_port", "server_ip", "server_port",
            "packets_c2s", "packets_s2c", "bytes_c2s", "bytes_s2c", "first_ts", "last_ts",
            "tunnel"]


def minewatch(*args, stdin=None):
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *map(str, args)],
                          input=stdin, capture_output=True, timeout=300)


def jsonl(out):
    return [json.loads(line) for line in out.decode().splitlines()]


def test_jsonl_fields_and_exact_flows():
    r = minewatch("flows", MQTT)
    assert r.returncode == 0, r.stderr
    recs = jsonl(r.stdout)
    assert all(set(REQUIRED) <= set(rec) for rec in recs)
    by_port = {rec["client_port"]: rec for rec in recs}
    assert sorted(by_port) == [49327, 49330]
    main = by_port[49327]
    assert (main["transport"], main["client_ip"], main["server_ip"], main["server_port"]) == (
        "tcp", "10.0.1.4", "198.41.30.241", 1883)
    assert (main["packets_c2s"], main["packets_s2c"]) == (7, 9)
    assert (main["bytes_c2s"], main["bytes_s2c"]) == (529, 688)
    assert main["first_ts"] == "2016-04-20T16:43:10.509491000Z"
    assert main["tunnel"] == ""
    summary = r.stderr.decode().strip().splitlines()[-1]
    assert summary.startswith(f"{MQTT}: 19 packets, 19 decoded, undecodable: none, 2 flows")
    assert "packets/s" in summary


def test_output_is_deterministic_and_o_writes_file(tmp_path):
    a = minewatch("flows", COINHIVE)
    out = tmp_path / "flows.jsonl"
    b = minewatch("flows", COINHIVE, "-o", out)
    assert a.returncode == b.returncode == 0
    assert a.stdout == out.read_bytes() and b.stdout == b""
    assert len(jsonl(a.stdout)) == 19


def test_csv_and_table_formats():
    r = minewatch("flows", "--format", "csv", MQTT)
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert len(rows) == 2 and set(REQUIRED) <= set(rows[0])
    t = minewatch("flows", "--format", "table", MQTT)
    lines = t.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["proto", "client", "server"]
    assert "10.0.1.4:49327" in t.stdout.decode()


def test_stdin_and_gzip_give_the_same_flows(tmp_path):
    want = minewatch("flows", COINHIVE).stdout
    raw = COINHIVE.read_bytes()
    assert minewatch("flows", "-", stdin=raw).stdout == want
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(raw))
    assert minewatch("flows", gz).stdout == want
    assert minewatch("flows", "-", stdin=gzip.compress(raw)).stdout == want


def test_missing_file_is_one_line_and_others_still_run(tmp_path):
    missing = tmp_path / "nope.pcap"
    r = minewatch("flows", missing, MQTT)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("error: ") and str(missing) in first
    assert len(jsonl(r.stdout)) == 2   # mqtt.pcap still processed


def test_not_a_capture(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, this is not a capture\n" * 10)
    r = minewatch("flows", junk)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr.decode()
    assert "not a pcap or pcapng capture" in r.stderr.decode().splitlines()[0]


def test_truncated_capture_keeps_what_was_read(tmp_path):
    raw = COINHIVE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:len(raw) // 2])
    r = minewatch("flows", cut)
    assert r.returncode == 2
    err = r.stderr.decode().splitlines()
    assert err[0].startswith(f"error: {cut}: ") and " at byte " in err[0]
    assert "Traceback" not in r.stderr.decode()
    recs = jsonl(r.stdout)
    assert recs, "flows before the damage are reported"
    full = {(x["client_port"], x["server_port"]) for x in jsonl(minewatch("flows", COINHIVE).stdout)}
    assert {(x["client_port"], x["server_port"]) for x in recs} <= full


@pytest.mark.parametrize("args", [["--max-flows", "0"], ["--idle-timeout", "-1"]])
def test_bad_options_exit_2(args):
    r = minewatch("flows", *args, MQTT)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr.decode()
    assert "Invalid value" in r.stderr.decode()


def test_version_and_help():
    v = minewatch("--version")
    assert v.returncode == 0 and v.stdout.decode().startswith("minewatch ")
    assert "numba" in v.stdout.decode()
    h = minewatch("flows", "-h")
    assert h.returncode == 0 and b"--max-flows" in h.stdout


def test_stats_json(tmp_path):
    stats = tmp_path / "s.json"
    r = minewatch("flows", "-q", "-o", tmp_path / "f.jsonl", "--stats-json", stats, MQTT)
    assert r.returncode == 0 and r.stderr == b""
    doc = json.loads(stats.read_text())
    assert doc["records"] == 19 and doc["flows"] == 2
    assert doc["startup_s"] > 0 and doc["elapsed_s"] >= 0
