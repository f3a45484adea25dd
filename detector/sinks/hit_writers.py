"""Hit writers: jsonl, eve (Suricata EVE JSON shape), csv and table.

jsonl writes a hit when its flow is recognised (state "detected") and again
when the flow ends (state "ended", final values; "updated" for an
active-timeout record of a long flow): for each flow_id the last line wins.
eve, csv and table write one record per hit, when its flow ends.

Strings from traffic are escaped to ASCII in JSON, neutralised against
formula injection in csv, and stripped of control characters in tables.
"""

import csv
import io
import json
from datetime import datetime, timezone

from ..hits import HIT_FIELDS
from .writers import csv_safe, terminal_safe

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
        self.text = io.StringIO()
        self.writer = csv.writer(self.text, lineterminator="\n")
        self.writer.writerow(HIT_FIELDS)
        self._flush()

    def _flush(self):
        self.stream.write(self.text.getvalue().encode())
        self.text.seek(0)
        self.text.truncate()
        self.stream.flush()

    def write(self, hit):
        self.writer.writerow([csv_safe(flat_cell(hit[k])) for k in HIT_FIELDS])
        self._flush()


TABLE_COLUMNS = (("client", 22), ("server", 22), ("variant", 17), ("coin", 5),
                 ("worker", 24), ("agent", 18), ("shares", 9), ("difficulty", 12),
                 ("hashrate", 10), ("confidence", 11))


def si(value):
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
        self._line([name for name, _ in TABLE_COLUMNS])

    def _line(self, cells):
        parts = []
        for (_, width), cell in zip(TABLE_COLUMNS, cells):
            text = terminal_safe("-" if cell is None else cell)
            if len(text) > width:
                text = text[:width - 1] + "…"
            parts.append(text.ljust(width))
        self.stream.write(("  ".join(parts).rstrip() + "\n").encode())

    def write(self, hit):
        shares = f"{hit['shares_accepted']}/{hit['shares_submitted']}"
        rate = si(hit["hashrate_hps"]) + ("H/s" if hit["hashrate_hps"] is not None else "")
        self._line([endpoint(hit["client_ip"], hit["client_port"]),
                    endpoint(hit["server_ip"], hit["server_port"]), hit["variant"],
                    hit["coin"], hit["worker"], hit["agent"], shares,
                    si(hit["difficulty"]) if isinstance(hit["difficulty"], (int, float))
                    else hit["difficulty"], rate, hit["confidence"]])
        self.stream.flush()


WRITERS = {"jsonl": JsonlHitWriter, "eve": EveHitWriter, "csv": CsvHitWriter,
           "table": TableHitWriter}
