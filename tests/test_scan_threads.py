"""`minewatch scan --threads 2` (the flow table folds the next batch in a second thread
while detection inspects this one) gives exactly the output of `--threads 1`."""

import os
import subprocess
import sys
import threading

import pytest
import zstandard

from detector.pipeline import CaptureStats, EngineOptions, default_threads, iter_capture_flows
from detector.scan_command import CaptureScan, load_detectors
from tests.corpus import corpus_dir
from tests.test_cli_scan import BENIGN, MINING, PCAPS, REPO, minewatch

ALL = MINING + BENIGN
CORPUS_FILES = ["nesfit-DI-cryptominingdetection/cgminer.g2.pcapng",
                "nesfit-DI-cryptominingdetection/eth-eu1.nanopool.org.pcapng",
                "nesfit-DI-cryptominingdetection/zec-eu.suprnova.cc.pcapng",
                "ndpi/mining.pcapng", "ndpi/monero.pcap", "ndpi/bitcoin.pcap",
                "ndpi/long_tls_certificate.pcap", "ndpi/dns_doh.pcap"]


def scan_both(*args, stdin=None):
    """(threads 1, threads 2) CompletedProcess of the same scan."""
    return [minewatch("scan", "--threads", t, *args) if stdin is None else
            minewatch_stdin(stdin, "scan", "--threads", t, *args) for t in (1, 2)]


def minewatch_stdin(data, *args):
    """`minewatch ARGS` with `data` on its stdin."""
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *map(str, args)],
                          input=data, capture_output=True, timeout=600)


@pytest.mark.parametrize("options", [[], ["--batch-records", "7"],
                                     ["--batch-records", "64", "--max-flows", "4"]])
def test_same_hits_lines_and_exit_status(options):
    """Every line (detected and ended), in order: small batches make many folded segments
    to hand over, a tiny flow table makes rows change hands between them."""
    one, two = scan_both("-q", *options, *ALL)
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout
    assert one.stdout.count(b'"state":"ended"') >= len(MINING)


def test_same_on_a_compressed_capture_and_on_stdin(tmp_path):
    raw = (PCAPS / "peafowl" / "monero.pcap").read_bytes()
    packed = tmp_path / "monero.pcap.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(raw))
    plain = scan_both("-q", "--batch-records", "5", PCAPS / "peafowl" / "monero.pcap")
    zst = scan_both("-q", "--batch-records", "5", packed)
    piped = scan_both("-q", "--batch-records", "5", "-", stdin=raw)
    for one, two in (plain, zst, piped):
        assert one.returncode == two.returncode == 1
        assert one.stdout == two.stdout != b""
    # the same hits whatever the input path (the capture's name aside)
    assert zst[1].stdout.replace(str(packed).encode(), b"X") == \
        plain[1].stdout.replace(str(PCAPS / "peafowl" / "monero.pcap").encode(), b"X")


def test_same_up_to_the_damage_of_a_truncated_capture(tmp_path):
    raw = (PCAPS / "peafowl" / "stratum.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:len(raw) * 2 // 3])
    one, two = scan_both("--batch-records", "9", cut)
    assert one.returncode == two.returncode == 2
    assert one.stdout == two.stdout
    assert one.stdout.count(b'"state":"ended"') == 2
    first_line = [r.stderr.decode().splitlines()[0] for r in (one, two)]
    assert first_line[0] == first_line[1] and " at byte " in first_line[0]


def test_two_threads_really_run():
    """The flow table is folded in a thread of its own (named minewatch-flows) while the
    reader inspects; with one thread there is none."""
    def threads_seen(threads):
        names = set()
        scan = CaptureScan(PCAPS / "peafowl" / "monero.pcap", load_detectors(),
                           EngineOptions(batch_records=16, threads=threads), 4096,
                           lambda hit: None)
        scan.run(progress=lambda source: names.update(t.name for t in threading.enumerate()))
        return names, scan.result

    (names1, result1), (names2, result2) = threads_seen(1), threads_seen(2)
    assert "minewatch-flows" in names2 and "minewatch-flows" not in names1
    assert not [t for t in threading.enumerate() if t.name == "minewatch-flows"]
    assert [h["flow_id"] for h in result1.hits] == [h["flow_id"] for h in result2.hits]
    assert result1.stats.records == result2.stats.records > 0


def test_flows_alone_stay_in_one_thread():
    """Without detection there is nothing to overlap: `flows` never starts the thread."""
    names = set()
    stats = CaptureStats(path="x")
    for _ in iter_capture_flows(PCAPS / "peafowl" / "monero.pcap",
                                EngineOptions(batch_records=16, threads=2), stats,
                                progress=lambda s: names.update(
                                    t.name for t in threading.enumerate())):
        pass
    assert names and "minewatch-flows" not in names and stats.flows > 0


def test_the_default_follows_the_cpus_the_process_may_use():
    """Two threads when the process may run on two CPUs or more, one when pinned to one
    (as `taskset -c 0` does): a second thread on one core only adds hand-overs."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from detector.pipeline import default_threads; print(default_threads())")
    pinned = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert pinned.stdout.strip() == "1", pinned.stderr
    if len(os.sched_getaffinity(0)) > 1:
        assert default_threads() == 2


@pytest.mark.parametrize("options", [[], ["--batch-records", "50", "--max-flows", "64"]])
def test_same_on_real_captures(options):
    """Real captures of the shared corpus (hundreds of pool probes with stratum and
    getblocktemplate, EthProxy, Zcash, nDPI's mining and crypto-node traffic, TLS, DoH):
    the same lines in the same order, in one thread and in two, also with small batches
    and a table so small that flows are evicted between segments."""
    paths = [corpus_dir() / name for name in CORPUS_FILES]
    one, two = scan_both("-q", *options, *paths)
    assert one.returncode == two.returncode == 1, two.stderr
    assert one.stdout == two.stdout
    assert one.stdout.count(b'"state":"ended"') >= 100
