"""Evidence points at the right packets: tshark (through pyshark) confirms that
every frame a hit names carries TCP payload from the side the evidence says."""

import json
import subprocess
import sys
from pathlib import Path

import pyshark
import pytest

REPO = Path(__file__).resolve().parents[1]
CAPTURES = [REPO / "pcaps" / "peafowl" / "stratum.pcap",
            REPO / "pcaps" / "peafowl" / "monero.pcap",
            REPO / "pcaps" / "zeek-cryptomining" / "coinhive-stratum.pcap",
            REPO / "pcaps" / "zeek-cryptomining" / "bitcoin-mining.pcap"]


def payload_frames(path):
    """frame number -> (src port, dst port) of every TCP packet with payload, per tshark."""
    frames = {}
    with pyshark.FileCapture(str(path), display_filter="tcp.len > 0",
                             keep_packets=False) as cap:
        for pkt in cap:
            frames[int(pkt.number)] = (int(pkt.tcp.srcport), int(pkt.tcp.dstport))
    return frames


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_evidence_frames_carry_the_message(path):
    r = subprocess.run([sys.executable, str(REPO / "cli.py"), "scan", "-q", str(path)],
                       capture_output=True, timeout=600)
    hits = [h for h in map(json.loads, r.stdout.decode().splitlines()) if h["state"] == "ended"]
    assert hits
    frames = payload_frames(path)
    checked = 0
    for hit in hits:
        for ev in hit["evidence"]:
            if ev["first_frame"] is None:
                continue
            sport, dport = frames[ev["first_frame"]]
            if ev["direction"] == "toserver":
                assert (sport, dport) == (hit["client_port"], hit["server_port"]), ev
            else:
                assert (sport, dport) == (hit["server_port"], hit["client_port"]), ev
            assert ev["first_frame"] >= hit["first_frame"]
            checked += 1
    assert checked >= len(hits)
