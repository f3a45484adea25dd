"""decode_batch against generated frames, truncations, failures, dpkt and tshark."""

import ipaddress
import shutil
import subprocess

import pytest

from detector.engine import dtypes as dt
from tests.gen.batch import decode_frames
from tests.gen.packets import (
    all_cases, failure_cases, l4_anomaly_cases, random_frames, tunnel_cases, write_pcap,
)
from tests.reference import reference_decode, split

CASES = all_cases()
FAILURES = failure_cases()
KNOWN_STATUSES = set(range(len(dt.DECODE_REASONS)))


def addr(text):
    """Address string -> (hi, lo) as stored in PACKET_DTYPE."""
    return split(ipaddress.ip_address(text))


@pytest.fixture(scope="module")
def decoded():
    """All generated cases decoded in one batch: (buf, offset, pkts)."""
    return decode_frames([(c.linktype, c.frame) for c in CASES])


def fields(pkt, buf):
    """The checked fields of one decoded row, as plain Python values."""
    start = int(pkt["payload_offset"])
    return dict(status=int(pkt["status"]), ip_version=int(pkt["ip_version"]), proto=int(pkt["proto"]),
                src=(int(pkt["src_hi"]), int(pkt["src_lo"])), dst=(int(pkt["dst_hi"]), int(pkt["dst_lo"])),
                sport=int(pkt["sport"]), dport=int(pkt["dport"]), tunnel=int(pkt["tunnel"]),
                frag=int(pkt["frag"]), seq=int(pkt["seq"]), ack=int(pkt["ack"]),
                tcp_flags=int(pkt["tcp_flags"]), payload_len=int(pkt["payload_len"]),
                payload=bytes(buf[start:start + int(pkt["payload_caplen"])]))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.name for c in CASES])
def test_generated_frame_decodes_exactly(decoded, index):
    buf, offset, pkts = decoded
    e = CASES[index].expect
    want = dict(status=e.status, ip_version=e.ip_version, proto=e.proto, src=addr(e.src),
                dst=addr(e.dst), sport=e.sport, dport=e.dport, tunnel=e.tunnel, frag=e.frag,
                seq=e.seq, ack=e.ack, tcp_flags=e.tcp_flags,
                payload_len=len(e.payload) if e.payload_len is None else e.payload_len,
                payload=e.payload)
    assert fields(pkts[index], buf) == want
    if e.ip_id is not None:
        assert pkts[index]["ip_id"] == e.ip_id
    assert pkts[index]["payload_offset"] >= offset[index]


@pytest.mark.parametrize("name,linktype,frame,status", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_status_and_zeroed_row(name, linktype, frame, status):
    _, _, pkts = decode_frames([(linktype, frame)])
    assert pkts[0]["status"] == status
    row = pkts[0].tolist()
    assert all(v == 0 for v in row[1:]), "a failed row keeps only its status"


def l4_header_offset(frame, full, rel_payload):
    """Offset of the innermost TCP/UDP header in `frame`, or None for other packets."""
    if full["status"] != dt.DECODE_OK or full["frag"] == dt.FRAG_LATER:
        return None
    ports = full["sport"].to_bytes(2, "big") + full["dport"].to_bytes(2, "big")
    if full["proto"] in (17, 136):   # UDP, UDP-Lite
        at = rel_payload - 8
        return at if frame[at:at + 4] == ports else None
    if full["proto"] == 6:
        for at in range(rel_payload - 20, max(rel_payload - 61, -1), -1):
            if frame[at:at + 4] == ports and (frame[at + 12] >> 4) * 4 == rel_payload - at:
                return at
    return None


@pytest.mark.parametrize("name,linktype,frame,sport,dport", l4_anomaly_cases(),
                         ids=[c[0] for c in l4_anomaly_cases()])
def test_bogus_l4_header_keeps_ports_and_flags_the_anomaly(name, linktype, frame, sport, dport):
    buf, _, pkts = decode_frames([(linktype, frame)])
    p = pkts[0]
    assert p["status"] == dt.DECODE_OK and p["l4_anomaly"] == dt.L4_MALFORMED
    assert (p["sport"], p["dport"]) == (sport, dport)
    assert p["payload_caplen"] == 0 and p["payload_len"] == 0


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.name for c in CASES])
def test_truncation_at_every_length(decoded, index):
    """Cut before the ports: TRUNCATED. Cut after the TCP/UDP ports but before the
    payload: the same flow, no payload. Cut inside it: the same packet, fewer payload bytes.

    Heuristic near-misses ("outer" tag) may also say TRUNCATED once cut, since
    the bytes that would tell a tunnel from plain UDP/GRE are gone.
    """
    buf, offset, pkts = decoded
    case = CASES[index]
    full = fields(pkts[index], buf)
    rel_payload = int(pkts[index]["payload_offset"] - offset[index])
    cuts = range(len(case.frame))
    tbuf, toff, tpkts = decode_frames([(case.linktype, case.frame[:c]) for c in cuts])
    l4_at = l4_header_offset(case.frame, full, rel_payload)
    for c, pkt in zip(cuts, tpkts):
        got = fields(pkt, tbuf)
        if c < rel_payload:
            if l4_at is not None and c >= l4_at + 4 and (
                    "outer" not in case.tags or got["status"] == dt.DECODE_OK):
                # ports captured: the packet still joins its flow, with no payload
                assert got["status"] == dt.DECODE_OK, f"cut at {c}"
                same = ("src", "dst", "sport", "dport", "proto", "tunnel", "ip_version")
                assert {k: got[k] for k in same} == {k: full[k] for k in same}, f"cut at {c}"
                assert got["payload"] == b"", f"cut at {c}"
                continue
            if got["status"] == dt.DECODE_OK and pkt["l4_anomaly"] == dt.L4_TRUNCATED:
                # an outer TCP/UDP header cut after its ports (e.g. before a tunnel
                # header could be seen): that outer packet is the flow, no payload
                ports = got["sport"].to_bytes(2, "big") + got["dport"].to_bytes(2, "big")
                assert got["payload"] == b"" and got["tunnel"] == 0, f"cut at {c}"
                assert ports in case.frame[max(0, c - 20):c], f"cut at {c}"
                continue
            if "outer" in case.tags and got["status"] == dt.DECODE_OK:
                pytest.fail(f"cut at {c}: OK before the ports are captured")
            assert got["status"] == dt.DECODE_TRUNCATED, f"cut at {c}"
            continue
        if "outer" in case.tags and got["status"] == dt.DECODE_TRUNCATED:
            continue
        want = dict(full, payload=full["payload"][:c - rel_payload])
        assert got == want, f"cut at {c}"


def test_dpkt_agrees_on_random_ethernet_frames():
    frames = random_frames(400, seed=7)
    buf, _, pkts = decode_frames([(dt.LINKTYPE_ETHERNET, f) for f in frames])
    checked = 0
    for frame, pkt in zip(frames, pkts):
        ref = reference_decode(frame)
        assert ref is not None
        got = {k: (bytes(buf[pkt["payload_offset"]:pkt["payload_offset"] + pkt["payload_caplen"]])
                   if k == "payload" else int(pkt[k])) for k in ref}
        assert pkt["status"] == dt.DECODE_OK
        assert got == ref
        checked += 1
    assert checked == 400


def test_linktypes_in_one_batch_are_independent(decoded):
    """Mixed link types and failures in one batch decode as they do alone."""
    records = [(c.linktype, c.frame) for c in CASES] + [(lt, f) for _, lt, f, _ in FAILURES]
    buf, _, pkts = decode_frames(records[::-1])
    statuses = [int(s) for s in pkts["status"][::-1]]
    assert statuses == [c.expect.status for c in CASES] + [f[3] for f in FAILURES]
    assert set(statuses) <= KNOWN_STATUSES


# Where tshark 4.0 and Minewatch differ, on purpose: name -> (ours, tshark's last srcport).
TSHARK_DIFFERS = {
    # tshark registers VXLAN on 4789 only; 8472 is the Linux kernel's pre-IANA default,
    # which Minewatch also decodes, so tshark stops at the outer UDP port.
    "vxlan_8472": (50123, 61000),
    # the inner IPv6 bubble has no L4 header (next header 59): Minewatch reports port 0,
    # tshark's last udp.srcport is the outer Teredo UDP header's.
    "teredo_bubble": (0, 40001),
}


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_agrees_on_tunnel_ports(tmp_path):
    """Innermost source port per tunnel frame: Minewatch vs tshark's last tcp/udp.srcport."""
    cases = [c for c in tunnel_cases() if c.linktype == dt.LINKTYPE_ETHERNET]
    path = write_pcap(tmp_path / "tunnels.pcap", [c.frame for c in cases], dt.LINKTYPE_ETHERNET)
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "tcp.srcport", "-e", "udp.srcport",
         "-E", "occurrence=l"], capture_output=True, text=True, check=True).stdout
    buf, _, pkts = decode_frames([(dt.LINKTYPE_ETHERNET, c.frame) for c in cases])
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == len(cases)
    mismatches = {}
    for case, line, pkt in zip(cases, lines, pkts):
        tcp, udp = (line.split("\t") + [""])[:2]
        theirs = int(udp) if int(pkt["proto"]) == 17 and udp else int(tcp or udp or 0)
        ours = int(pkt["sport"])
        if theirs != ours:
            mismatches[case.name] = (ours, theirs)
    assert mismatches == TSHARK_DIFFERS


def test_count_outcomes_counts_each_status_and_anomaly():
    """The per-batch counters (the engine's stats) from one batch of every generated
    case and failure, as np.bincount gives them; codes past a counter's end are left out."""
    import numpy as np

    from detector.engine.decode import count_outcomes

    records = [(c.linktype, c.frame) for c in CASES] + [(lt, f) for _, lt, f, _ in FAILURES]
    _, _, pkts = decode_frames(records)
    assert len(set(pkts["status"].tolist())) > 3
    pkts["l4_anomaly"][::7] = len(dt.L4_ANOMALIES) - 1     # none of the cases has one
    pkts["l4_anomaly"][1::11] = 1
    status = np.zeros(len(dt.DECODE_REASONS), np.int64)
    anomaly = np.zeros(len(dt.L4_ANOMALIES), np.int64)
    count_outcomes(pkts, status, anomaly)
    count_outcomes(pkts[:5], status, anomaly)          # counters add up
    want = np.bincount(np.concatenate((pkts["status"], pkts["status"][:5])),
                       minlength=len(status))
    assert status.tolist() == want.tolist()
    want = np.bincount(np.concatenate((pkts["l4_anomaly"], pkts["l4_anomaly"][:5])),
                       minlength=len(anomaly))
    assert anomaly.tolist() == want.tolist()
    short = np.zeros(1, np.int64)                      # only DECODE_OK's counter
    count_outcomes(pkts, short, np.zeros(1, np.int64))
    assert short[0] == np.count_nonzero(pkts["status"] == dt.DECODE_OK)
