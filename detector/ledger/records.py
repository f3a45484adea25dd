"""A hit as the ledger keeps it: one row per mining flow, keyed by the flow's identity.

The key is the flow's 5-tuple and its start time, so scanning the same
capture twice (or a capture and a copy of it) gives the same keys and folds
in nothing new. Strings from traffic are kept as sent; reports escape them.
"""

import hashlib

from ..sinks.flow_records import parse_iso_ns
from .power import algorithm_key

# Every column of a flow row, in store order (store.py creates them).
FLOW_COLUMNS = (
    "flow_key", "subscriber", "subscriber_source", "sensor", "capture",
    "transport", "client_ip", "client_port", "server_ip", "server_port",
    "first_ts_ns", "last_ts_ns", "variant", "coin", "algorithm", "worker", "agent", "pool",
    "shares_submitted", "shares_accepted", "shares_rejected",
    "window_shares", "window_hashes", "window_first_ns", "window_last_ns",
)
INT_COLUMNS = frozenset({"client_port", "server_port", "first_ts_ns", "last_ts_ns",
                         "shares_submitted", "shares_accepted", "shares_rejected",
                         "window_shares", "window_first_ns", "window_last_ns"})

MAX_TEXT = 256    # strings from traffic are bounded in the ledger too


def flow_key(transport, client_ip, client_port, server_ip, server_port, start_ts_ns) -> str:
    """Stable identity of one flow (hex), the same on every sensor and rescan."""
    ident = f"{transport}|{client_ip}|{client_port}|{server_ip}|{server_port}|{start_ts_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _text(value):
    if value is None:
        return None
    return str(value)[:MAX_TEXT]


def session_start_ns(hit: dict) -> int:
    """When the hit's mining session started (its flow's first record), in ns."""
    return parse_iso_ns(hit.get("session_start_ts") or hit["first_ts"])


def flow_row(hit: dict, subscriber: str, source: str, sensor: str = "") -> dict:
    """The ledger row of one hit, for `subscriber` (resolved by the subscriber map)."""
    start = session_start_ns(hit)
    windowed = hit.get("hashrate_shares") is not None
    pool = hit.get("pool")
    return {
        "flow_key": flow_key(hit["transport"], hit["client_ip"], hit["client_port"],
                             hit["server_ip"], hit["server_port"], start),
        "subscriber": _text(subscriber),
        "subscriber_source": source,
        "sensor": _text(sensor) or "",
        "capture": _text(hit.get("capture")),
        "transport": hit["transport"],
        "client_ip": hit["client_ip"],
        "client_port": int(hit["client_port"]),
        "server_ip": hit["server_ip"],
        "server_port": int(hit["server_port"]),
        "first_ts_ns": start,
        "last_ts_ns": parse_iso_ns(hit["last_ts"]),
        "variant": _text(hit.get("variant")),
        "coin": _text(hit.get("coin")),
        "algorithm": algorithm_key(hit.get("algorithm"), hit.get("hash_family")),
        "worker": _text(hit.get("worker")),
        "agent": _text(hit.get("agent")),
        "pool": _text(pool),
        "shares_submitted": int(hit.get("shares_submitted") or 0),
        "shares_accepted": int(hit.get("shares_accepted") or 0),
        "shares_rejected": int(hit.get("shares_rejected") or 0),
        "window_shares": int(hit["hashrate_shares"]) if windowed else 0,
        "window_hashes": float(hit["hashrate_hashes"]) if windowed else 0.0,
        "window_first_ns": parse_iso_ns(hit["hashrate_first_share_ts"]) if windowed else None,
        "window_last_ns": parse_iso_ns(hit["hashrate_last_share_ts"]) if windowed else None,
    }
