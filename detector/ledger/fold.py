"""The fold, as pure functions: no I/O, the same answer in any order.

`merge_rows` picks one of two rows of the same flow by a total order, so
folding is idempotent, commutative and associative: a rescan adds nothing
and ledgers merge to the same result whatever the order. `summarize` turns
flow rows into one record per subscriber (docs/ledger.md says what each
field means and how it is estimated).
"""

import ipaddress
from collections import defaultdict

from .. import hashrate as hr
from ..sinks.flow_records import iso_ns_one
from ..sinks.hit_writers import endpoint
from .config import LedgerConfig
from .power import joules_per_hash
from .records import FLOW_COLUMNS

NS = 1_000_000_000
J_PER_KWH = 3.6e6
MAX_LISTED = 100      # names listed per subscriber (workers, agents); counts stay exact


def _order(row: dict) -> tuple:
    """Later and more complete wins; the full row breaks ties so the choice is total."""
    return (row["last_ts_ns"], row["shares_submitted"], row["shares_accepted"],
            row["window_shares"], tuple(repr(row[c]) for c in FLOW_COLUMNS))


def merge_rows(a: dict, b: dict) -> dict:
    """The row to keep for one flow seen twice (a rescan, an updated record, two ledgers)."""
    return a if _order(a) >= _order(b) else b


def union_length(intervals) -> int:
    """Total length (ns) covered by [start, end] intervals."""
    total, cur_start, cur_end = 0, None, None
    for start, end in sorted(intervals):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def max_overlap(intervals) -> int:
    """Most intervals open at one instant (touching ends do not overlap: a reconnect)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda ev: (ev[0], ev[1]))
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best


def count_devices(rows) -> int:
    """Distinct mining devices among flow rows.

    A device is a (client address, worker, agent): one miner reconnecting is
    one device, differently named rigs are several. Identical rigs behind one
    address are told apart by running at the same time: the most sessions a
    (client, worker, agent) keeps open at once to one pool in one dialect
    counts (a miner's backup pool, or getwork beside getblocktemplate, is not
    a second device).
    """
    sessions = defaultdict(list)
    for r in rows:
        device = (r["client_ip"], r["worker"], r["agent"])
        sessions[device, (r["server_ip"], r["server_port"], r["variant"])].append(
            (r["first_ts_ns"], r["last_ts_ns"]))
    per_device = defaultdict(int)
    for (device, _server), spans in sessions.items():
        per_device[device] = max(per_device[device], max_overlap(spans))
    return sum(per_device.values())


def _round(v, digits=3):
    return None if v is None else round(v, digits)


def algorithm_estimate(rows, confidence=0.90) -> dict:
    """Hashrate, power and energy of one subscriber's flows of one algorithm.

    Shares of all its flows are pooled over the union of their share windows:
    sequential sessions of one device average, concurrent ones add up.
    """
    windows = [(r["window_first_ns"], r["window_last_ns"]) for r in rows if r["window_shares"]]
    shares = sum(r["window_shares"] for r in rows)
    hashes = sum(r["window_hashes"] for r in rows)
    mining_ns = union_length((r["first_ts_ns"], r["last_ts_ns"]) for r in rows)
    est = hr.interval_estimate(shares, hashes, union_length(windows) / NS, confidence) \
        if shares else None
    jph = joules_per_hash(rows[0]["algorithm"])
    out = {"hashrate_hps": None, "hashrate_low": None, "hashrate_high": None,
           "power_w": None, "power_low_w": None, "power_high_w": None, "energy_kwh": None,
           "mining_s": mining_ns / NS, "shares_in_windows": shares}
    if est is not None:
        out.update(hashrate_hps=est.hashrate_hs, hashrate_low=est.low_hs,
                   hashrate_high=est.high_hs)
        if jph is not None:
            out.update(power_w=est.hashrate_hs * jph, power_low_w=est.low_hs * jph,
                       power_high_w=est.high_hs * jph,
                       energy_kwh=est.hashrate_hs * jph * (mining_ns / NS) / J_PER_KWH)
    return out


def ip_range(ip: str, config: LedgerConfig) -> str:
    addr = ipaddress.ip_address(ip)
    prefix = config.ipv4_prefix if addr.version == 4 else config.ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def hosting_ranges(rows, range_of: dict, config: LedgerConfig) -> dict:
    """range -> True when it looks like hosting (many devices and pools, mining 24/7).

    `range_of` maps each client address to its range (ip_range)."""
    by_range = defaultdict(list)
    for r in rows:
        by_range[range_of[r["client_ip"]]].append(r)
    out = {}
    for rng, rs in by_range.items():
        first = min(r["first_ts_ns"] for r in rs)
        span = max(r["last_ts_ns"] for r in rs) - first
        duty = union_length((r["first_ts_ns"], r["last_ts_ns"]) for r in rs) / span if span else 0.0
        pools = {(r["server_ip"], r["server_port"]) for r in rs}
        out[rng] = (count_devices(rs) >= config.hosting_min_devices
                    and len(pools) >= config.hosting_min_pools
                    and duty >= config.hosting_min_duty_cycle
                    and span / NS >= config.hosting_min_span_s)
    return out


def _ip_sort(ip):
    addr = ipaddress.ip_address(ip)
    return (addr.version, int(addr))


def _listed(values):
    return sorted({v for v in values if v is not None})[:MAX_LISTED]


def summarize(rows, config: LedgerConfig, info=None, now_ns=None, tariff=0.30,
              currency="CNY") -> list[dict]:
    """One record per subscriber from its flow rows (order of `rows` does not matter).

    `now_ns` is the ledger clock for `active` (default: the newest last_seen);
    `tariff` is the price per kWh in `currency`.
    """
    rows = list(rows)
    if not rows:
        return []
    info = info or {}
    now_ns = now_ns if now_ns is not None else max(r["last_ts_ns"] for r in rows)
    range_of = {ip: ip_range(ip, config) for ip in {r["client_ip"] for r in rows}}
    hosting = hosting_ranges(rows, range_of, config)
    by_sub = defaultdict(list)
    for r in rows:
        by_sub[r["subscriber"]].append(r)
    records = []
    for sub in sorted(by_sub):
        rs = by_sub[sub]
        by_alg = defaultdict(list)
        for r in rs:
            by_alg[r["algorithm"] or "unknown"].append(r)
        per_alg = {alg: algorithm_estimate(ars) for alg, ars in sorted(by_alg.items())}
        main = max(per_alg, key=lambda a: (per_alg[a]["power_w"] or 0.0,
                                            per_alg[a]["hashrate_hps"] or 0.0, a))
        powers = [e["power_w"] for e in per_alg.values() if e["power_w"] is not None]
        energies = [e["energy_kwh"] for e in per_alg.values() if e["energy_kwh"] is not None]
        power = sum(powers) if powers else None
        energy = sum(energies) if energies else None
        devices = count_devices(rs)
        last_seen = max(r["last_ts_ns"] for r in rs)
        ranges = sorted({range_of[r["client_ip"]] for r in rs})
        records.append({
            "subscriber": sub,
            "subscriber_source": sorted({r["subscriber_source"] for r in rs})[0],
            "info": info.get(sub, {}),
            "first_seen": iso_ns_one(min(r["first_ts_ns"] for r in rs)),
            "last_seen": iso_ns_one(last_seen),
            "active": last_seen >= now_ns - config.active_window_s * NS,
            "ips": sorted({r["client_ip"] for r in rs}, key=_ip_sort),
            "pools": [{"host": h, "address": a} for a, h in sorted(
                {(endpoint(r["server_ip"], r["server_port"]), r["pool"]) for r in rs},
                key=lambda x: (x[0], x[1] or ""))],
            "algorithms": _listed(r["algorithm"] for r in rs),
            "coins": _listed(r["coin"] for r in rs),
            "variants": _listed(r["variant"] for r in rs),
            "workers": _listed(r["worker"] for r in rs),
            "agents": _listed(r["agent"] for r in rs),
            "devices": devices,
            "flows": len(rs),
            "shares": sum(r["shares_accepted"] for r in rs),
            "shares_submitted": sum(r["shares_submitted"] for r in rs),
            "shares_rejected": sum(r["shares_rejected"] for r in rs),
            "hashrate_algorithm": main if main != "unknown" else None,
            "hashrate_hps": _round(per_alg[main]["hashrate_hps"]),
            "hashrate_low": _round(per_alg[main]["hashrate_low"]),
            "hashrate_high": _round(per_alg[main]["hashrate_high"]),
            "by_algorithm": {a: {k: _round(v, 6) for k, v in e.items()}
                             for a, e in per_alg.items()},
            "power_w": _round(power),
            "energy_kwh": _round(energy, 6),
            "cost": _round(energy * tariff, 6) if energy is not None else None,
            "currency": currency,
            "class": config.size_class(devices, power),
            "ranges": ranges,
            "hosting": any(hosting[r] for r in ranges),
        })
    return records
