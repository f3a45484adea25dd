"""The engine's payload timing fields (FLOW_DTYPE t_*) against a naive dpkt reference.

The reference reads the generated captures packet by packet in Python and
applies the definitions of engine/flowtable.note_timing (burst, reply and
sync windows); the engine must give the same counts per flow.
"""

import socket

import dpkt
import numpy as np
import pytest

from detector.engine.flowtable import BURST_S, REPLY_S, SYNC_S
from detector.pipeline import CaptureStats, EngineOptions, iter_capture_flows
from detector.sinks.flow_records import FlowFormatter

NS = 1_000_000_000


def reference(path):
    """{(client, cport, server, sport): dict of sends, pushes, replies, synced, c2s/s2c}."""
    flows, order = {}, []
    with open(path, "rb") as f:
        for ts, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            a = (socket.inet_ntoa(ip.src), tcp.sport)
            b = (socket.inet_ntoa(ip.dst), tcp.dport)
            key = a + b if (a + b) in flows else (b + a if (b + a) in flows else None)
            if key is None:
                key = a + b
                flows[key] = dict(sends=0, pushes=0, replies=0, synced=0, last_c=None,
                                  last_s=None, pushes_at=[])
                order.append(key)
            if not tcp.data:
                continue
            t = round(ts * NS)
            st = flows[key]
            if (socket.inet_ntoa(ip.src), tcp.sport) == key[:2]:
                if st["last_c"] is None or t - st["last_c"] > BURST_S * NS:
                    st["sends"] += 1
                st["last_c"] = t
                continue
            last_s, last_c = st["last_s"], st["last_c"]
            st["last_s"] = t
            if last_s is not None and t - last_s <= BURST_S * NS:
                continue
            if last_c is not None and (last_s is None or last_c >= last_s) \
                    and t - last_c <= REPLY_S * NS:
                st["replies"] += 1
                continue
            st["pushes"] += 1
            st["pushes_at"].append(t)
    # a push is synced when another flow of the same server pushed within the window
    # just before it, or right after it (the first of a broadcast)
    by_server = {}
    for key, st in flows.items():
        for t in st["pushes_at"]:
            by_server.setdefault(key[2:], []).append((t, key))
    for pushes in by_server.values():
        pushes.sort()
        for i, (t, key) in enumerate(pushes):
            before = i > 0 and pushes[i - 1][1] != key and t - pushes[i - 1][0] <= SYNC_S * NS
            after = (i + 1 < len(pushes) and pushes[i + 1][1] != key
                     and pushes[i + 1][0] - t <= SYNC_S * NS)
            if before or after:
                flows[key]["synced"] += 1
    return flows


def engine_rows(path):
    opts = EngineOptions(idle_timeout_s=0)
    arrays = list(iter_capture_flows(path, opts, CaptureStats(path=str(path))))
    rows = np.concatenate(arrays)
    recs = list(FlowFormatter().records(rows))
    return {(r["client_ip"], r["client_port"], r["server_ip"], r["server_port"]): row
            for r, row in zip(recs, rows) if r["transport"] == "tcp"}


@pytest.mark.parametrize("name", ["pool_by_ip.pcap", "ws_chat.pcap", "mqtt_tls.pcap"])
def test_timing_fields_match_reference(tls_corpus, name):
    folder, _ = tls_corpus
    want = reference(folder / name)
    got = engine_rows(folder / name)
    assert set(got) == set(want)
    checked = 0
    for key, st in want.items():
        row = got[key]
        assert (int(row["t_sends"]), int(row["t_pushes"]), int(row["t_replies"])) == \
            (st["sends"], st["pushes"], st["replies"]), key
        assert int(row["t_synced"]) == st["synced"], key
        checked += st["pushes"] > 0
    assert checked >= 3
