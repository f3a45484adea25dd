"""Ledger reports for people (table), spreadsheets (csv) and machines (json).

Worker names, agents, pool hosts and subscriber details come from traffic or
from operators' files: json escapes them, csv neutralises formula cells,
tables strip control characters (sinks/writers.py).
"""

import json

from ..sinks.hit_writers import si
from ..sinks.writers import CsvRows, TableWriter

SORT_KEYS = {
    "hashrate": lambda r: (-(r["hashrate_hps"] or 0.0), r["subscriber"]),
    "power": lambda r: (-(r["power_w"] or 0.0), r["subscriber"]),
    "last-seen": lambda r: (_neg_text(r["last_seen"]), r["subscriber"]),
}
CSV_FIELDS = ("subscriber", "active", "class", "hosting", "first_seen", "last_seen", "ips",
              "pools", "algorithms", "coins", "variants", "devices", "workers", "agents", "flows",
              "shares", "shares_submitted", "shares_rejected", "hashrate_algorithm",
              "hashrate_hps", "hashrate_low", "hashrate_high", "power_w", "energy_kwh", "cost",
              "currency", "info")
TABLE_COLUMNS = [("subscriber", "subscriber", 20), ("class", "class", 13), ("act", "act", 3),
                 ("devices", "dev", 4), ("flows", "flows", 6), ("algorithm", "algorithm", 10),
                 ("hashrate", "hashrate", 18), ("power", "power", 9), ("energy", "energy", 12),
                 ("cost", "cost", 12), ("pools", "pools", 28), ("last_seen", "last seen", 20)]


def _neg_text(text):
    """Sort key for descending ISO timestamps."""
    return tuple(-ord(c) for c in text)


def sort_records(records, key):
    return sorted(records, key=SORT_KEYS[key])


def _cell(value):
    if isinstance(value, (list, tuple)):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"host", "address"}:
            return f"{value['host']}@{value['address']}" if value["host"] else value["address"]
        return json.dumps(value, sort_keys=True, ensure_ascii=True)
    return "" if value is None else str(value)


def write_json(stream, records):
    for rec in records:
        stream.write((json.dumps(rec, sort_keys=True, ensure_ascii=True) + "\n").encode())


def write_csv(stream, records):
    rows = CsvRows(stream, CSV_FIELDS)
    for rec in records:
        rows.write_row([_cell(rec.get(f)) for f in CSV_FIELDS])


def _rate_text(rec):
    if rec["hashrate_hps"] is None:
        return "-"
    unit = "Sol/s" if rec["hashrate_algorithm"] == "equihash" else "H/s"
    return f"{si(rec['hashrate_hps'])} ({si(rec['hashrate_low'])}-{si(rec['hashrate_high'])})" \
           f"{unit}"


def write_table(stream, records):
    table = TableWriter(stream, TABLE_COLUMNS)
    for rec in records:
        cost = "-" if rec["cost"] is None else f"{rec['cost']:.4g} {rec['currency']}"
        cells = {
            "subscriber": rec["subscriber"], "class": rec["class"] + ("*" if rec["hosting"] else ""),
            "act": "yes" if rec["active"] else "no", "devices": rec["devices"],
            "flows": rec["flows"], "algorithm": rec["hashrate_algorithm"] or "-",
            "hashrate": _rate_text(rec),
            "power": "-" if rec["power_w"] is None else si(rec["power_w"]) + "W",
            "energy": "-" if rec["energy_kwh"] is None else f"{rec['energy_kwh']:.3g}kWh",
            "cost": cost, "pools": _cell(rec["pools"]), "last_seen": rec["last_seen"][:19],
        }
        table.write_columns({k: [v] for k, v in cells.items()})


WRITERS = {"json": write_json, "csv": write_csv, "table": write_table}


def diff_records(then: list, now: list) -> list:
    """New, stopped and growing subscribers between a snapshot and now.

    new: not in the snapshot. stopped: active then, not active now. growing:
    more devices, or a hashrate interval now entirely above the one then
    (same algorithm), so a noisy estimate alone does not count as growth.
    """
    before = {r["subscriber"]: r for r in then}
    out = []
    for rec in now:
        old = before.get(rec["subscriber"])
        change = None
        if old is None:
            change = "new"
        elif old["active"] and not rec["active"]:
            change = "stopped"
        elif rec["devices"] > old["devices"] or (
                rec["hashrate_algorithm"] == old["hashrate_algorithm"]
                and rec["hashrate_low"] is not None and old["hashrate_high"] is not None
                and rec["hashrate_low"] > old["hashrate_high"]):
            change = "growing"
        if change:
            out.append({"change": change, "subscriber": rec["subscriber"],
                        "devices_then": old["devices"] if old else None,
                        "devices_now": rec["devices"],
                        "hashrate_then": old["hashrate_hps"] if old else None,
                        "hashrate_now": rec["hashrate_hps"],
                        "power_w_then": old["power_w"] if old else None,
                        "power_w_now": rec["power_w"],
                        "active_now": rec["active"], "last_seen": rec["last_seen"]})
    order = {"new": 0, "growing": 1, "stopped": 2}
    return sorted(out, key=lambda d: (order[d["change"]], d["subscriber"]))


DIFF_FIELDS = ("change", "subscriber", "devices_then", "devices_now", "hashrate_then",
               "hashrate_now", "power_w_then", "power_w_now", "active_now", "last_seen")
DIFF_COLUMNS = [("change", "change", 8), ("subscriber", "subscriber", 24),
                ("devices", "devices", 9), ("hashrate", "hashrate", 17), ("power", "power", 17),
                ("last_seen", "last seen", 20)]


def write_diff(stream, changes, fmt):
    if fmt == "json":
        write_json(stream, changes)
        return
    if fmt == "csv":
        rows = CsvRows(stream, DIFF_FIELDS)
        for c in changes:
            rows.write_row([_cell(c[f]) for f in DIFF_FIELDS])
        return
    table = TableWriter(stream, DIFF_COLUMNS)
    for c in changes:
        table.write_columns({
            "change": [c["change"]], "subscriber": [c["subscriber"]],
            "devices": [f"{_cell(c['devices_then']) or '-'}->{c['devices_now']}"],
            "hashrate": [f"{si(c['hashrate_then'])}->{si(c['hashrate_now'])}"],
            "power": [f"{si(c['power_w_then'])}->{si(c['power_w_now'])}W"],
            "last_seen": [c["last_seen"][:19]]})
