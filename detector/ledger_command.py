"""`minewatch ledger ...` and `scan --ledger`: hits folded into the store, and reports."""

import datetime as dt

import numpy as np

from .errors import MinewatchError
from .ledger.config import load_ledger_config
from .ledger.fold import summarize
from .ledger.records import flow_row, session_start_ns
from .ledger.reports import WRITERS, diff_records, sort_records, write_diff
from .ledger.store import open_ledger
from .outputs import open_output
from .sinks.flow_records import parse_iso_ns

DEFAULT_LEDGER = "minewatch.db"


def fold_hits(store, hits, subscriber_map=None, sensor="") -> int:
    """Fold final hits into `store`, each under its subscriber; return rows changed."""
    hits = [h for h in hits if h.get("state") != "detected"]
    if not hits:
        return 0
    if subscriber_map is None:
        subs, how = [h["client_ip"] for h in hits], ["ip"] * len(hits)
    else:
        starts = np.array([session_start_ns(h) for h in hits], np.int64)
        ports = np.array([h["client_port"] for h in hits], np.int64)
        subs, how = subscriber_map.resolve([h["client_ip"] for h in hits], ports, starts)
        details = {s: subscriber_map.info(s) for s in set(subs)}
        store.put_info({s: f for s, f in details.items() if f})
    rows = [flow_row(h, s, w, sensor) for h, s, w in zip(hits, subs, how)]
    return store.fold_rows(rows)


def parse_date(text, what="date"):
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise MinewatchError(f"bad {what} {text!r}: expected YYYY-MM-DD") from None


def parse_now(text):
    """--now: an ISO 8601 UTC time or date -> ns; None keeps the ledger's own clock."""
    if text is None:
        return None
    try:
        return parse_iso_ns(text)
    except ValueError:
        raise MinewatchError(f"bad --now {text!r}: expected an ISO 8601 UTC time") from None


def ledger_records(store, config_path=None, now=None, tariff=0.30, currency="CNY"):
    return summarize(store.flow_rows(), load_ledger_config(config_path), store.info(),
                     now_ns=parse_now(now), tariff=tariff, currency=currency)


def run_show(ledger, fmt="table", sort="hashrate", active=False, output="-", **report):
    with open_ledger(ledger, create=False) as store:
        records = ledger_records(store, **report)
    if active:
        records = [r for r in records if r["active"]]
    with open_output(output) as stream:
        WRITERS[fmt](stream, sort_records(records, sort))
    return 0


def run_merge(inputs, output):
    """Fold every input ledger's flows and subscriber details into `output`."""
    with open_ledger(output) as out:
        for path in inputs:
            with open_ledger(path, create=False) as src:
                out.put_info(src.info())
                out.fold_rows(src.flow_rows())
    return 0


def run_snapshot(ledger, taken_on=None, **report):
    day = parse_date(taken_on) if taken_on else dt.datetime.now(dt.timezone.utc).date()
    with open_ledger(ledger, create=False) as store:
        records = ledger_records(store, **report)
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        store.add_snapshot(day.isoformat(), created, records)
    return len(records)


def run_diff(ledger, since, fmt="table", output="-", **report):
    day = parse_date(since, "--since date").isoformat()
    with open_ledger(ledger, create=False) as store:
        dates = [d for d in store.snapshot_dates() if d <= day]
        if not dates:
            raise MinewatchError(f"{ledger}: no snapshot on or before {day} "
                                 "(take them with `minewatch ledger snapshot`)")
        changes = diff_records(store.snapshot(dates[-1]), ledger_records(store, **report))
    with open_output(output) as stream:
        write_diff(stream, changes, fmt)
    return dates[-1], changes
