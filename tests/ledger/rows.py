"""Flow rows for ledger tests, built the way `records.flow_row` builds them from hits."""

from detector.ledger.records import flow_key

NS = 1_000_000_000
T0 = 1_760_000_000 * NS


def row(client_ip="10.0.0.1", client_port=40000, server_ip="203.0.113.5", server_port=3333,
        start_s=0.0, end_s=600.0, worker="w.rig1", agent="XMRig/6.21.0", algorithm="randomx",
        variant="xmrig", shares=0, rate_hps=None, subscriber=None, pool="pool.example",
        sensor="", capture="a.pcap"):
    """A row of a flow from start_s to end_s; with `rate_hps`, `shares` accepted shares
    spread evenly over it (window from the first to the last share)."""
    first, last = T0 + int(start_s * NS), T0 + int(end_s * NS)
    windowed = rate_hps is not None and shares >= 2
    window_s = (end_s - start_s) * 0.9
    return {
        "flow_key": flow_key("tcp", client_ip, client_port, server_ip, server_port, first),
        "subscriber": subscriber or client_ip, "subscriber_source": "ip", "sensor": sensor,
        "capture": capture, "transport": "tcp", "client_ip": client_ip,
        "client_port": client_port, "server_ip": server_ip, "server_port": server_port,
        "first_ts_ns": first, "last_ts_ns": last, "variant": variant, "coin": None,
        "algorithm": algorithm, "worker": worker, "agent": agent, "pool": pool,
        "shares_submitted": shares, "shares_accepted": shares, "shares_rejected": 0,
        "window_shares": shares - 1 if windowed else 0,
        "window_hashes": rate_hps * window_s if windowed else 0.0,
        "window_first_ns": first + int(0.05 * (end_s - start_s) * NS) if windowed else None,
        "window_last_ns": first + int(0.95 * (end_s - start_s) * NS) if windowed else None,
    }
