"""`minewatch live` on a real kernel: a veth pair in a private namespace, tcpreplay
into one end, live capture on the other; the hits must be those of a file scan.

Needs root, iproute2 and tcpreplay; skips otherwise (fails under CI=true).
Replays run at a moderate packet rate so nothing is dropped (each test checks
the drop counter is 0); top speed is for benchmarks/live_bench.py only.
"""

import collections
import json
import os
import re
import signal
import shutil
import subprocess
import time

import pytest

from tests.live.captures import (fragments_capture, mixed_capture, split_capture,
                                 tls_miner_capture)
from tests.live.harness import CLI, REPO, LiveRun, hit_key, scan_hits

PCAPS = REPO / "pcaps"
BUNDLED = [PCAPS / "peafowl" / "stratum.pcap", PCAPS / "peafowl" / "monero.pcap",
           PCAPS / "peafowl" / "ethereum-js-http.pcap",
           PCAPS / "zeek-cryptomining" / "bitcoin-mining.pcap",
           PCAPS / "zeek-cryptomining" / "coinhive-stratum.pcap",
           PCAPS / "zeek-negatives" / "mqtt.pcap", PCAPS / "zeek-negatives" / "websocket.pcap"]
WORKER_SHIFT = 48


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "mixed.pcap"
    mixed_capture(path)
    return path


def ended(hits):
    return [h for h in hits if h["state"] == "ended"]


@pytest.mark.parametrize("workers", [1, 2])
def test_live_hits_equal_scan_of_the_same_captures(netns, tmp_path, mixed, workers):
    captures = [mixed, *BUNDLED]
    expected = scan_hits(*captures)
    keys = collections.Counter(hit_key(h) for h in expected)
    assert len(keys) == len(expected) == 24       # 10 generated + 14 bundled mining flows

    live = LiveRun(netns, tmp_path, "--workers", workers)
    sent = netns.replay(captures)
    time.sleep(1.0)
    assert live.stop() == 0, live.err_text()
    packets, dropped = live.summary()
    assert (packets, dropped) == (sent, 0)

    hits = live.hits()
    final = ended(hits)
    assert collections.Counter(hit_key(h) for h in final) == keys
    assert len({h["flow_id"] for h in final}) == len(final)     # unique across workers
    assert {h["flow_id"] >> WORKER_SHIFT for h in final} == set(range(workers))
    assert all(h["capture"] == "vb" for h in hits)
    # every flow is announced when recognised, before its final line
    detected = [h["flow_id"] for h in hits if h["state"] == "detected"]
    assert sorted(detected) == sorted(h["flow_id"] for h in final)
    order = [(h["flow_id"], h["state"]) for h in hits]
    assert all(order.index((f, "detected")) < order.index((f, "ended")) for f in detected)


def test_sigterm_mid_replay_ends_every_detected_flow(netns, tmp_path):
    capture = tmp_path / "long.pcap"
    mining_flows = mixed_capture(capture, rounds=6)
    live = LiveRun(netns, tmp_path, "--workers", "2")
    replay = netns.popen(["tcpreplay", "-q", "-i", "va", "--pps", "150", capture],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    live.wait_for(lambda: len(live.hits()) >= 3, "hits")
    assert replay.poll() is None, "the replay ended before the stop: make it longer"
    assert live.stop() == 0, live.err_text()
    replay.kill()
    replay.wait()

    hits = live.hits()
    detected = {h["flow_id"] for h in hits if h["state"] == "detected"}
    final = {h["flow_id"] for h in hits if h["state"] == "ended"}
    assert detected and detected == final
    assert len(final) < mining_flows          # it was stopped in the middle


def test_bpf_filter_that_excludes_the_mining_port_gives_no_hits(netns, tmp_path, mixed):
    live = LiveRun(netns, tmp_path, "--bpf", "not tcp port 3333")
    netns.replay([mixed, PCAPS / "zeek-negatives" / "mqtt.pcap"])
    time.sleep(1.0)
    assert live.stop() == 0, live.err_text()
    packets, dropped = live.summary()
    assert packets == 19 and dropped == 0       # the mqtt capture's packets only
    assert live.hits() == []


def test_bpf_filter_keeps_what_it_selects(netns, tmp_path, mixed):
    live = LiveRun(netns, tmp_path, "--bpf", "tcp port 3333 and host 10.1.2.3")
    sent = netns.replay([mixed, PCAPS / "peafowl" / "monero.pcap"])
    time.sleep(1.0)
    assert live.stop() == 0, live.err_text()
    assert live.summary() == (sent - 145, 0)
    assert collections.Counter(hit_key(h) for h in ended(live.hits())) == \
        collections.Counter(hit_key(h) for h in scan_hits(mixed))


def test_bad_bpf_filter_is_one_error_line(netns):
    p = netns.popen([*CLI, "live", "-i", "vb", "--bpf", "port notaport"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert err.decode() == "error: --bpf 'port notaport': unknown port 'notaport'\n"
    assert out == b""


def test_idle_flows_end_while_the_link_is_quiet(netns, tmp_path):
    live = LiveRun(netns, tmp_path, "--idle-timeout", "1")
    netns.replay([PCAPS / "peafowl" / "monero.pcap"], pps=1000)
    # no packet comes after the replay: the clock alone must end the flow
    live.wait_for(lambda: ended(live.hits()), "an 'ended' hit before the stop", timeout=10)
    final = ended(live.hits())
    assert [hit_key(h) for h in final] == [hit_key(h) for h in
                                          scan_hits(PCAPS / "peafowl" / "monero.pcap")]
    assert live.stop() == 0


def test_sighup_reopens_the_output_file(netns, tmp_path):
    live = LiveRun(netns, tmp_path)
    netns.replay([PCAPS / "peafowl" / "monero.pcap"])
    live.wait_for(lambda: live.hits(), "the first hit")
    rotated = tmp_path / "hits.jsonl.1"
    live.output.rename(rotated)                  # what logrotate does
    live.signal(signal.SIGHUP)
    live.wait_for(lambda: live.output.exists(), "the reopened file", timeout=10)
    # the same HUP has the workers reload signatures after their next batch, as in
    # hits_only_after_reload: a flow that starts before that is no longer inspected
    # once it lands (Inspector.with_matcher), so the next capture waits for it
    time.sleep(1.0)
    netns.replay([PCAPS / "peafowl" / "stratum.pcap"])
    time.sleep(1.0)
    assert live.stop() == 0, live.err_text()
    before = live.hits(rotated)
    after = live.hits()
    assert [(h["variant"], h["state"]) for h in before] == [("xmrig", "detected")]
    # after the HUP: the second capture's hits, and monero's flow ending at the stop
    expected = scan_hits(PCAPS / "peafowl" / "monero.pcap", PCAPS / "peafowl" / "stratum.pcap")
    assert sorted(map(hit_key, ended(after))) == sorted(map(hit_key, expected))


def test_sighup_reloads_signatures(netns, tmp_path):
    sigs = tmp_path / "signatures"
    shutil.copytree(REPO / "signatures", sigs)
    xmrig = (sigs / "xmrig.yaml").read_text()
    (sigs / "xmrig.yaml").unlink()
    monero = PCAPS / "peafowl" / "monero.pcap"
    live = LiveRun(netns, tmp_path, "--signatures", sigs, "--idle-timeout", "1")
    final = hits_only_after_reload(netns, live, monero,
                                   lambda: (sigs / "xmrig.yaml").write_text(xmrig))
    assert [h["variant"] for h in final] == ["xmrig"]


def test_a_flow_opened_before_a_signature_reload_is_found(netns, tmp_path):
    """The stratum capture is replayed in two goes: its first flow's subscribe and
    authorize under signatures that know only XMRig, the rest after a SIGHUP that
    brings them all. That flow's first bytes are matched again with the new
    signatures, so both flows are found as a file scan finds them (more signatures
    may have fired on the first flow's longer head)."""
    sigs = tmp_path / "signatures"
    sigs.mkdir()
    shutil.copy(REPO / "signatures" / "xmrig.yaml", sigs)
    capture = PCAPS / "peafowl" / "stratum.pcap"
    head, tail = tmp_path / "head.pcap", tmp_path / "tail.pcap"
    split_capture(capture, 9, head, tail)
    live = LiveRun(netns, tmp_path, "--signatures", sigs, "--idle-timeout", "60")
    netns.replay([head])
    time.sleep(1.0)
    for path in (REPO / "signatures").glob("*.yaml"):
        shutil.copy(path, sigs)
    live.signal(signal.SIGHUP)
    time.sleep(1.0)
    netns.replay([tail])
    time.sleep(1.0)
    assert live.stop() == 0, live.err_text()
    got = sorted(ended(live.hits()), key=hit_key)
    expected = sorted(scan_hits(capture), key=hit_key)
    assert [hit_key(h)[:-1] for h in got] == [hit_key(h)[:-1] for h in expected]
    assert len(got) == 2
    for hit, want in zip(got, expected):
        assert set(hit["signatures"]) >= set(want["signatures"])


def hits_only_after_reload(netns, live, capture, change):
    """Replay `capture` (its flow ends idle with no hit), `change()` the signature
    directory, SIGHUP, replay again; the final hits of the second replay."""
    netns.replay([capture])
    time.sleep(3.0)
    assert live.hits() == []
    change()
    live.signal(signal.SIGHUP)
    time.sleep(1.0)
    netns.replay([capture])
    live.wait_for(lambda: ended(live.hits()), "a hit after the reload", timeout=10)
    assert live.stop() == 0
    return ended(live.hits())


def test_sighup_reloads_pool_lists(netns, tmp_path):
    sigs = tmp_path / "signatures"
    shutil.copytree(REPO / "signatures", sigs)
    miner = tmp_path / "tls-miner.pcap"
    tls_miner_capture(miner, sni="eu.newpool-example.org")
    pools = sigs / "pools.yaml"
    live = LiveRun(netns, tmp_path, "--signatures", sigs, "--idle-timeout", "1")
    [hit] = hits_only_after_reload(netns, live, miner, lambda: pools.write_text(
        pools.read_text().replace("domains:\n", (
            "domains:\n  - suffix: newpool-example.org\n    pool: newpool\n"
            "    source: this test\n    date: 2026-11-24\n"), 1)))
    assert (hit["variant"], hit["pool"], hit["sni"]) == \
        ("encrypted", "newpool", "eu.newpool-example.org")
    assert (hit["client_ip"], hit["server_ip"], hit["server_port"]) == \
        ("10.20.0.5", "198.51.100.77", 443)
    assert hit["signatures"] == ["encrypted.sni"]


def test_fragments_are_reassembled_by_the_kernel_and_failures_reported(netns, tmp_path):
    """The fanout asks the kernel to reassemble IPv4 fragments (so they reach the
    worker that has their flow): a whole datagram counts once, and a datagram that
    cannot be completed is reported as a reassembly failure, not silently lost."""
    capture = tmp_path / "fragments.pcap"
    assert fragments_capture(capture) == 8
    netns.exec_check("sysctl", "-qw", "net.ipv4.ipfrag_time=1")    # expire the cut one soon
    live = LiveRun(netns, tmp_path)
    assert netns.replay([capture]) == 8
    time.sleep(3.0)
    assert live.stop() == 0, live.err_text()
    assert live.summary() == (2, 0)          # the whole datagram and the plain packet
    assert re.search(r"vb: 2 packets, 0 dropped, 1 IPv4 fragment reassembly failures in "
                     r"the kernel, 2 flows", live.err_text()), live.err_text()


def test_status_line_and_prometheus_metrics(netns, tmp_path, mixed):
    port = 9311
    live = LiveRun(netns, tmp_path, "--workers", "2", "--status-interval", "1",
                   "--metrics-port", port, "--idle-timeout", "1")
    sent = netns.replay([mixed])
    time.sleep(2.5)
    r = netns.exec_check(CLI[0], "-c",
                         f"import urllib.request; print(urllib.request.urlopen("
                         f"'http://127.0.0.1:{port}/metrics').read().decode())")
    samples = {}
    for line in r.stdout.splitlines():
        m = re.match(r'(minewatch_\w+)\{worker="(\d)"\} (\S+)', line)
        if m:
            samples[m.group(1), int(m.group(2))] = float(m.group(3))
    assert live.stop() == 0
    assert samples["minewatch_packets_total", 0] + samples["minewatch_packets_total", 1] == sent
    assert samples["minewatch_drops_total", 0] == samples["minewatch_drops_total", 1] == 0
    assert samples["minewatch_bytes_total", 0] > 0
    assert {("minewatch_active_flows", w) for w in (0, 1)} <= set(samples)
    assert {("minewatch_packets_per_second", w) for w in (0, 1)} <= set(samples)
    # idle after 1 s: every mining flow has ended by the scrape
    assert samples["minewatch_hits_total", 0] + samples["minewatch_hits_total", 1] == 10
    assert samples["minewatch_active_flows", 0] + samples["minewatch_active_flows", 1] == 0
    status = [line for line in live.err_text().splitlines() if line.startswith("live vb:")
              and "packets (" in line]
    assert len(status) >= 2
    assert re.fullmatch(r"live vb: \d+ packets \(\S+/s\), 0 dropped, \d+ active flows, "
                        r"\d+ hits \[w0 \S+/s, w1 \S+/s\]", status[-1])
    assert f"live vb: {sent} packets" in status[-1]


def test_a_dead_worker_stops_live_with_an_error(netns, tmp_path):
    live = LiveRun(netns, tmp_path, "--workers", "2")
    pid = live.proc.pid                    # `ip netns exec` execs python itself
    workers = [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    assert len(workers) == 2
    os.kill(workers[1], signal.SIGKILL)
    assert live.proc.wait(timeout=60) == 2
    assert "error: worker 1 exited unexpectedly (exit code -9)" in live.err_text()


def test_live_ledger_holds_the_subscribers_a_file_scan_finds(netns, tmp_path):
    """--ledger: final hits are folded by the parent; after SIGTERM the ledger has the
    subscribers, flows, shares, workers and pools of `scan --ledger` of the same packets
    (times differ: a replay has its own clock)."""
    captures = [PCAPS / "peafowl" / "stratum.pcap", PCAPS / "peafowl" / "monero.pcap"]
    live = LiveRun(netns, tmp_path, "--workers", 2, "--ledger", tmp_path / "live.db")
    netns.replay(captures)
    time.sleep(1.0)
    assert live.stop() == 0, live.err_text()
    for capture in captures:
        subprocess.run([*CLI, "scan", "-q", "--ledger", tmp_path / "file.db", capture],
                       capture_output=True, timeout=600, check=False)

    def ledger(path):
        r = subprocess.run([*CLI, "ledger", "show", "--ledger", path, "--format", "json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        records = [json.loads(line) for line in r.stdout.splitlines()]
        return {r["subscriber"]: (r["flows"], r["shares"], r["devices"], r["workers"],
                                  r["pools"], r["algorithms"]) for r in records}

    expected = ledger(tmp_path / "file.db")
    assert len(expected) == 2 and ledger(tmp_path / "live.db") == expected
