"""`minewatch flows`: captures -> one record per flow, plus a summary on stderr."""

import json

import numpy as np

from .engine.dtypes import FLOW_DTYPE
from .errors import CaptureError
from .outputs import open_output, progress_reporter
from .pipeline import CaptureStats, EngineOptions, iter_capture_flows, warm_up
from .sinks.flow_records import FIELDS, FlowFormatter
from .sinks.flow_text import FlowTextFormatter
from .sinks.writers import TableWriter
from .startup import startup_seconds

TABLE_COLUMNS = [
    ("transport", "proto", 5), ("client", "client", 40), ("server", "server", 40),
    ("packets_c2s", "pkts>", 7), ("packets_s2c", "pkts<", 7),
    ("bytes_c2s", "bytes>", 10), ("bytes_s2c", "bytes<", 10),
    ("first_ts", "first seen (UTC)", 30), ("duration_s", "secs", 10), ("tunnel", "tunnel", 12),
]


class FlowTextWriter:
    """jsonl / csv flow rows, formatted by the numba kernel."""

    def __init__(self, fmt, stream):
        self.stream = stream
        self.formatter = FlowTextFormatter(fmt)
        if fmt == "csv":
            stream.write((",".join(FIELDS) + "\n").encode())

    def write_flows(self, flows):
        self.stream.write(self.formatter.format(flows))


class FlowTableWriter:
    """Aligned columns for people."""

    def __init__(self, stream):
        self.formatter = FlowFormatter()
        self.table = TableWriter(stream, TABLE_COLUMNS)

    def write_flows(self, flows):
        self.table.write_columns(endpoint_columns(self.formatter.columns(flows)))


def make_writer(fmt, stream):
    if fmt == "table":
        return FlowTableWriter(stream)
    return FlowTextWriter(fmt, stream)


def endpoint_columns(cols):
    """client/server as ip:port ([v6]:port) for the table."""
    def join(ips, ports):
        return [f"[{ip}]:{p}" if ":" in ip else f"{ip}:{p}" for ip, p in zip(ips, ports)]
    cols["client"] = join(cols["client_ip"], cols["client_port"])
    cols["server"] = join(cols["server_ip"], cols["server_port"])
    return cols


def summary_line(stats: CaptureStats):
    undecodable = " ".join(f"{k}={v}" for k, v in sorted(stats.undecodable.items())) or "none"
    anomalies = "".join(f", {k}={v}" for k, v in sorted(stats.anomalies.items()))
    return (f"{stats.path}: {stats.records} packets, {stats.decoded} decoded, "
            f"undecodable: {undecodable}{anomalies}, {stats.flows} flows "
            f"({stats.forced_expiries} forced expiries), {stats.elapsed_s:.3f} s, "
            f"{stats.rate_text} packets/s")


def stats_dict(stats: CaptureStats):
    return {
        "path": stats.path, "records": stats.records, "bytes": stats.bytes,
        "decoded": stats.decoded, "undecodable": stats.undecodable,
        "anomalies": stats.anomalies, "flows": stats.flows,
        "forced_expiries": stats.forced_expiries,
        "fragments_attributed": stats.fragments_attributed,
        "elapsed_s": round(stats.elapsed_s, 6),
        "error": str(stats.error) if stats.error else None,
    }


def run_flows(paths, fmt, output, options: EngineOptions, quiet=False, stats_json=None,
              report=print):
    """Run every capture through the engine; return the process exit status."""
    warm_up()
    all_stats = []
    status = 0
    with open_output(output) as stream:
        writer = make_writer(fmt, stream)
        writer.write_flows(np.zeros(0, FLOW_DTYPE))   # load the formatter kernel now
        startup_s = startup_seconds()
        for path in paths:
            stats = CaptureStats(path=path)
            try:
                for flows in iter_capture_flows(path, options, stats,
                                                progress=progress_reporter(path)):
                    writer.write_flows(flows)
            except CaptureError as e:
                stats.error = e
            stream.flush()
            all_stats.append(stats)
            if stats.error is not None:
                status = 2
                report(f"error: {stats.error}; {stats.records} records scanned, "
                       f"{stats.flows} flows written")
            if not quiet:
                report(summary_line(stats))
    if stats_json:
        elapsed = sum(s.elapsed_s for s in all_stats)
        doc = {
            "startup_s": round(startup_s, 6),
            "records": sum(s.records for s in all_stats),
            "bytes": sum(s.bytes for s in all_stats),
            "flows": sum(s.flows for s in all_stats),
            "elapsed_s": round(elapsed, 6),
            "captures": [stats_dict(s) for s in all_stats],
        }
        with open(stats_json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return status

