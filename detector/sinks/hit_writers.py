"""Hit writers: jsonl, eve (Suricata EVE JSON shape), csv and table.

jsonl writes a hit when its flow is recognised (state "detected") and again
when the flow ends (state "ended", final values; "updated" for an
active-timeout record of a long flow): for each flow_id the last line wins.
eve, csv and table write one record per hit, when its flow ends.

Strings from traffic are escaped to ASCII in JSON, neutralised against
formula injection in csv, and stripped of control characters in tables.
"""

import json
from datetime import datetime, timezone

from ..hits import HIT_FIELDS
from .writers import CsvRows, TableWriter

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


class JsonlHitWriter:
    writes_detected = True

    def __init__(self, stream):
        self.stream = stream

    def write(self, hit):
        self.stream.write((_dumps(hit) + "\n").encode())
        self.stream.flush()


def eve_timestamp(iso_ns):
    """'2018-09-11T16:41:54.527365123Z' -> '2018-09-11T16:41:54.527365+0000' (EVE style)."""
    t = datetime.strptime(iso_ns[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"


def eve_record(hit):
    """A Suricata-EVE-shaped event: envelope, 5-tuple, then a `mining` object."""
    mining = {k: hit[k] for k in HIT_FIELDS
              if k not in ("schema_version", "state", "capture", "transport", "client_ip",
                           "client_port", "server_ip", "server_port", "packets_c2s",
                           "packets_s2c", "bytes_c2s", "bytes_s2c", "first_ts", "last_ts",
                           "flow_id", "payload_bytes_c2s", "payload_bytes_s2c", "duration_s",
                           "first_frame")}
    mining["capture"] = hit["capture"]
    mining["first_frame"] = hit["first_frame"]
    return {
        "timestamp": eve_timestamp(hit["first_ts"]),
        "flow_id": hit["flow_id"],
        "event_type": "mining",
        "src_ip": hit["client_ip"], "src_port": hit["client_port"],
        "dest_ip": hit["server_ip"], "dest_port": hit["server_port"],
        "proto": hit["transport"].upper(),
        "schema_version": hit["schema_version"],
        "flow": {
            "pkts_toserver": hit["packets_c2s"], "pkts_toclient": hit["packets_s2c"],
            "bytes_toserver": hit["bytes_c2s"], "bytes_toclient": hit["bytes_s2c"],
            "start": eve_timestamp(hit["first_ts"]), "end": eve_timestamp(hit["last_ts"]),
        },
        "mining": mining,
    }


class EveHitWriter:
    writes_detected = False

    def __init__(self, stream):
        self.stream = stream

    def write(self, hit):
        self.stream.write((_dumps(eve_record(hit)) + "\n").encode())
        self.stream.flush()


def flat_cell(value):
    """A csv cell: lists joined with ';', objects as compact JSON, None empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(flat_cell(v) if not isinstance(v, dict) else _dumps(v) for v in value)
    if isinstance(value, dict):
        return _dumps(value)
    return value


class CsvHitWriter:
    writes_detected = False

    def __init__(self, stream):
        self.stream = stream
        self.rows = CsvRows(stream, HIT_FIELDS)

    def write(self, hit):
        self.rows.write_row([flat_cell(hit[k]) for k in HIT_FIELDS])
        self.stream.flush()


TABLE_COLUMNS = [("client", "client", 22), ("server", "server", 22), ("variant", "variant", 17),
                 ("coin", "coin", 5), ("worker", "worker", 24), ("agent", "agent", 18),
                 ("shares", "shares", 9), ("difficulty", "difficulty", 12),
                 ("hashrate", "hashrate", 10), ("confidence", "confidence", 11)]


def si(value):
    """A number with an SI prefix, 3 significant digits ('-' for none)."""
    if value is None:
        return "-"
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6),
                        ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class TableHitWriter:
    writes_detected = False

    def __init__(self, stream):
        self.stream = stream
        self.table = TableWriter(stream, TABLE_COLUMNS)

    def write(self, hit):
        rate = hit["hashrate_hps"]
        diff = hit["difficulty"]
        cells = {
            "client": endpoint(hit["client_ip"], hit["client_port"]),
            "server": endpoint(hit["server_ip"], hit["server_port"]),
            "variant": hit["variant"], "coin": hit["coin"], "worker": hit["worker"],
            "agent": hit["agent"],
            "shares": (f"{hit['shares_accepted']}/{hit['shares_submitted']}"
                       if hit["shares_submitted"] is not None else None),
            "difficulty": si(diff) if isinstance(diff, (int, float)) else diff,
            "hashrate": si(rate) + ("H/s" if rate is not None else ""),
            "confidence": hit["confidence"],
        }
        self.table.write_columns({k: ["-" if v is None else v] for k, v in cells.items()})
        self.stream.flush()


WRITERS = {"jsonl": JsonlHitWriter, "eve": EveHitWriter, "csv": CsvHitWriter,
           "table": TableHitWriter}
