"""`minewatch eval`: recall, false positives, extra hits and field agreement against
the truth files; exit status 0 pass / 1 fail / 2 error.

Expected numbers are computed here from LABELS.tsv and the truth files, never
copied from the program's output.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.corpus import corpus_dir

REPO = Path(__file__).resolve().parents[1]
PCAPS = REPO / "pcaps"
NEGATIVE = ("benign", "crypto_p2p")
CAPTURE_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                  b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b")


def minewatch(*args):
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *map(str, args)],
                          capture_output=True, timeout=1200)


def labelled(folder):
    """[(file, label)] from LABELS.tsv, capture files only."""
    rows = []
    for line in (folder / "LABELS.tsv").read_text().splitlines()[1:]:
        if not line.strip():
            continue
        name, label = line.split("\t")[:2]
        with open(folder / name, "rb") as f:
            if not f.read(4).startswith(CAPTURE_MAGICS):
                continue
        rows.append((name, label))
    return rows


def truth_keys(folder, name):
    doc = json.loads((folder / f"{name}.truth.json").read_text())
    return {(m["client_ip"], m["client_port"], m["server_ip"], m["server_port"])
            for m in doc["mining_flows"]}


def expectations(folders):
    """Unique expected mining 4-tuples, per-file expected counts, negative file count."""
    unique, per_file, negatives = set(), {}, 0
    for folder in folders:
        for name, label in labelled(folder):
            if label == "mining":
                keys = truth_keys(folder, name)
                per_file[f"{folder.name}/{name}"] = len(keys)
                unique |= keys
            elif label in NEGATIVE:
                negatives += 1
    return unique, per_file, negatives


def bundled_folders():
    return sorted(p for p in PCAPS.iterdir() if (p / "LABELS.tsv").is_file())


def run_json(folders):
    r = minewatch("eval", "--format", "json", *folders)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def test_bundled_exact_numbers():
    folders = bundled_folders()
    unique, per_file, negatives = expectations(folders)
    assert len(unique) == 14 and negatives == 3     # sanity of the bundled set itself
    rc, report = run_json(folders)
    tot = report["total"]
    assert tot["recall"]["expected"] == len(unique)
    assert tot["recall"]["found"] == len(unique)
    assert tot["recall"]["missed"] == []
    assert tot["false_positives"] == {"flows": 0, "files": 0, "negative_files": negatives}
    assert tot["extra"] == {"flows": 0, "files": 0}
    assert tot["mining_tls_recall"]["expected"] == 0
    # every bundled truth flow names a variant and its workers
    assert tot["variant"]["compared"] == len(unique) == tot["variant"]["agree"]
    assert tot["worker"]["compared"] == len(unique) == tot["worker"]["agree"]
    got = {f"{r['folder']}/{r['file']}": (r["expected"], r["found"])
           for r in report["files"] if r["label"] == "mining"}
    assert got == {k: (n, n) for k, n in per_file.items()}
    assert tot["passed"] is True and rc == 0


def test_bundled_table_is_deterministic_and_aligned():
    folders = bundled_folders()
    unique, _, negatives = expectations(folders)
    first, second = minewatch("eval", *folders), minewatch("eval", *folders)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    text = first.stdout.decode()
    assert f"  recall {len(unique)}/{len(unique)} (100.0%)\n" in text
    assert (f"  false positives: 0 flows in 0 of {negatives} benign/crypto_p2p files\n"
            in text)
    assert "  mining_tls recall n/a (0 flows)\n" in text
    table = text.split("\n\n")[0].splitlines()
    col = table[0].index("label")
    assert all(line[col - 2:col] == "  " for line in table[1:])


def test_variant_and_worker_naming():
    from detector.eval import expected_variants, expected_workers, worker_agrees

    http = {"variant": "getwork", "dialect": "bitcoin-getwork/getblocktemplate over HTTP"}
    assert expected_variants({**http, "client_methods": {"getblocktemplate": 1}}) == (
        "getblocktemplate",)
    assert expected_variants({**http, "client_methods": {"getwork": 1}}) == ("getwork",)
    assert expected_variants({"variant": "stratum-v1",
                              "dialect": "zcash-equihash (notify version 04000000)"}) == ("zcash",)
    assert expected_variants({"variant": "stratum-v1", "dialect": None}) == ("stratum-v1",)
    assert expected_variants({"client_ip": "1.2.3.4"}) is None      # ndpi: 4-tuple only
    assert expected_workers({"workers": ["basic:Bigsky"]}) == ("Bigsky",)
    assert worker_agrees({"workers": []}, {"worker": None}) is True
    assert worker_agrees({"workers": []}, {"worker": "x"}) is False
    assert worker_agrees({}, {"worker": "x"}) is None


def make_folder(tmp_path, truth_extra=()):
    """A one-capture folder: bitcoin-mining.pcap (mining) + mqtt.pcap (benign)."""
    src = PCAPS / "zeek-cryptomining"
    folder = tmp_path / "mini"
    folder.mkdir()
    shutil.copy(src / "bitcoin-mining.pcap", folder)
    shutil.copy(PCAPS / "zeek-negatives" / "mqtt.pcap", folder)
    (folder / "NOTES.txt").write_text("not a capture\n")
    (folder / "LABELS.tsv").write_text(
        "file\tlabel\nbitcoin-mining.pcap\tmining\nmqtt.pcap\tbenign\nNOTES.txt\tbenign\n")
    doc = json.loads((src / "bitcoin-mining.pcap.truth.json").read_text())
    doc["mining_flows"].extend(truth_extra)
    (folder / "bitcoin-mining.pcap.truth.json").write_text(json.dumps(doc))
    return folder, len(doc["mining_flows"])


def test_missed_flow_lowers_recall_and_exits_1(tmp_path):
    ghost = {"client_ip": "10.9.9.9", "client_port": 40000, "server_ip": "10.8.8.8",
             "server_port": 3333, "variant": "stratum-v1", "workers": []}
    folder, expected = make_folder(tmp_path, [ghost])
    rc, report = run_json([folder])
    assert rc == 1
    tot = report["total"]
    assert (tot["recall"]["found"], tot["recall"]["expected"]) == (expected - 1, expected)
    assert tot["recall"]["missed"] == [{"client_ip": "10.9.9.9", "client_port": 40000,
                                        "server_ip": "10.8.8.8", "server_port": 3333,
                                        "files": ["mini/bitcoin-mining.pcap"]}]
    assert tot["passed"] is False
    assert tot["skipped_files"] == 1                    # NOTES.txt
    assert tot["false_positives"]["negative_files"] == 1
    r = minewatch("eval", folder)
    assert r.returncode == 1
    text = r.stdout.decode()
    percent = (1000 * (expected - 1) // expected) / 10     # documented: rounded down
    assert f"  recall {expected - 1}/{expected} ({percent:.1f}%)\n" in text
    assert "10.9.9.9:40000 -> 10.8.8.8:3333" in text
    assert "result: FAIL" in text


def test_truth_gap_is_reported_as_extra(tmp_path):
    folder, expected = make_folder(tmp_path)
    truth = folder / "bitcoin-mining.pcap.truth.json"
    doc = json.loads(truth.read_text())
    dropped = doc["mining_flows"].pop()
    truth.write_text(json.dumps(doc))
    rc, report = run_json([folder])
    assert rc == 0                                      # extra hits are not failures
    extra = report["files"][0]["extra"]
    assert [(h["client_port"], h["server_port"]) for h in extra] == [
        (dropped["client_port"], dropped["server_port"])]
    assert report["total"]["recall"]["expected"] == expected - 1


def test_missing_labels_exits_2_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    r = minewatch("eval", tmp_path / "empty")
    assert r.returncode == 2
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "LABELS.tsv" in lines[0]


def test_listed_file_missing_exits_2(tmp_path):
    folder, _ = make_folder(tmp_path)
    (folder / "mqtt.pcap").unlink()
    r = minewatch("eval", folder)
    assert r.returncode == 2
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "mqtt.pcap" in lines[0] and "missing" in lines[0]


def test_corpus_quality_bar():
    """The product's bar on the whole shared corpus: every expected mining flow found
    (each overlapping flow counted once) and no hit on a benign/crypto_p2p file."""
    root = corpus_dir()
    folders = sorted(p for p in root.iterdir() if (p / "LABELS.tsv").is_file())
    unique, _, negatives = expectations(folders)
    rc, report = run_json(folders)
    tot = report["total"]
    assert tot["recall"]["expected"] == len(unique)
    assert tot["recall"]["missed"] == []
    assert tot["recall"]["found"] == len(unique)
    assert tot["false_positives"]["negative_files"] == negatives
    fps = [(r["file"], h) for r in report["files"] for h in r.get("false_positives", [])]
    assert fps == []
    assert rc == 0
