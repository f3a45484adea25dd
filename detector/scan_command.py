"""`minewatch scan`: captures -> mining hits, with the engine's inspection on."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine.dtypes import END_ACTIVE
from .engine.handoff import Inspector
from .errors import CaptureError
from .hits import STATE_DETECTED, STATE_ENDED, STATE_UPDATED, hit_record
from .outputs import open_output, progress_reporter
from .pipeline import CaptureStats, EngineOptions, iter_capture_flows, warm_up
from .rules import compile_patterns, load_signatures
from .sinks.flow_records import FlowFormatter
from .sinks.hit_writers import WRITERS
from .startup import startup_seconds

DEFAULT_SIGNATURES = Path(__file__).resolve().parent.parent / "signatures"


@dataclass
class ScanResult:
    """What one capture gave: its counters and its final hits."""

    stats: CaptureStats
    hits: list = field(default_factory=list)
    candidates: int = 0


class CaptureScan:
    """Runs one capture through the engine with inspection; emits hits to `sink`.

    Files, stdin and live rings share it: `run(source=...)` takes any source
    whose `batches()` yield RecordBatch objects (default: open the file at `path`;
    `path` then only names the capture in the hits).
    """

    def __init__(self, path, matcher, options: EngineOptions, k_bytes, sink, first_flow_id=1,
                 keep_hits=True):
        self.path = path
        self.keep_hits = keep_hits        # False for live: hits go to `sink` only (weeks)
        self.options = options
        self.k_bytes = k_bytes
        self.first_flow_id = first_flow_id
        self.inspector = Inspector(matcher, options.max_flows, k_bytes)
        self.sink = sink                  # callable(hit dict)
        self.formatter = FlowFormatter()
        self.result = ScanResult(CaptureStats(path=str(path)))
        self.engine = None
        self.rows = None

    def run(self, progress=None, source=None):
        try:
            for ended in iter_capture_flows(self.path, self.options, self.result.stats,
                                            progress=progress, inspector=self.inspector,
                                            on_engine=self._attach, source=source,
                                            first_flow_id=self.first_flow_id):
                self.report_detected()
                self._report_ended(ended)
        except CaptureError as e:
            self.result.stats.error = e
        self.report_detected()
        self.result.candidates = self.inspector.counters()["candidates"]
        return self.result

    def _attach(self, engine):
        self.engine = engine
        self.rows = engine.table[0]
        self.inspector.warm_up(self.rows)

    def reload(self, matcher):
        """Inspect with new signatures from now on (live SIGHUP); flows keep their state."""
        self.inspector = self.inspector.with_matcher(matcher)
        if self.engine is not None:
            self.engine.inspector = self.inspector
            self.inspector.warm_up(self.rows)

    def report_detected(self):
        """Write a 'detected' hit for each flow recognised since the last call."""
        for tracked in self.inspector.handoff.take_detected():
            row = self.rows[tracked.row:tracked.row + 1]
            if row["flow_id"][0] != tracked.flow_id:
                continue    # ended already: reported with its final values
            flow = next(self.formatter.records(row))
            self.sink(hit_record(flow, tracked, str(self.path), STATE_DETECTED))

    def _report_ended(self, ended):
        handoff = self.inspector.handoff
        tracked_ids = [fid for fid in ended["flow_id"].tolist() if fid in handoff.flows]
        if not tracked_ids:
            return
        sub = ended[np.isin(ended["flow_id"], tracked_ids)]
        for flow_arr, flow in zip(sub, self.formatter.records(sub)):
            final = int(flow_arr["end_reason"]) != END_ACTIVE
            for tracked in handoff.on_expire([flow["flow_id"]], final):
                if not tracked.detected:
                    continue
                hit = hit_record(flow, tracked, str(self.path),
                                 STATE_ENDED if final else STATE_UPDATED)
                if final and self.keep_hits:
                    self.result.hits.append(hit)
                self.sink(hit)


def load_matcher(signatures_dir=None):
    return compile_patterns(load_signatures(signatures_dir or DEFAULT_SIGNATURES))


def scan_capture(path, matcher, options: EngineOptions, k_bytes=4096, sink=None):
    """Scan one capture; return its ScanResult (hits are also passed to `sink`)."""
    return CaptureScan(path, matcher, options, k_bytes, sink or (lambda hit: None)).run()


def summary_line(result: ScanResult):
    s = result.stats
    return (f"{s.path}: {s.records} packets, {s.flows} flows, {result.candidates} "
            f"candidates, {len(result.hits)} hits, {s.elapsed_s:.3f} s, {s.rate_text} packets/s")


class LedgerSink:
    """Final hits folded into a ledger, one transaction per call (a capture, or a few
    seconds of live capture). The database is opened at the first fold, in the process
    that folds (live forks its workers first: an SQLite handle must not cross a fork)."""

    def __init__(self, ledger_path, subscriber_map=None, sensor=""):
        self.ledger_path = ledger_path
        self.subscriber_map = subscriber_map
        self.sensor = sensor
        self.store = None

    @classmethod
    def open(cls, ledger_path, subscribers_path=None, sensor=""):
        """Check the ledger and load the map now, so a bad one fails before any work."""
        from .ledger.store import open_ledger

        subscriber_map = None
        if subscribers_path:
            from .subscribers import load_subscriber_map
            subscriber_map = load_subscriber_map(subscribers_path)
        open_ledger(ledger_path).close()
        return cls(ledger_path, subscriber_map, sensor)

    def fold(self, hits):
        from .ledger.store import open_ledger
        from .ledger_command import fold_hits

        if self.store is None:
            self.store = open_ledger(self.ledger_path)
        return fold_hits(self.store, hits, self.subscriber_map, self.sensor)

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None


def run_scan(paths, fmt, output, options: EngineOptions, k_bytes=4096, signatures_dir=None,
             quiet=False, stats_json=None, report=print, ledger: LedgerSink | None = None):
    """Scan every capture; return the exit status (0 none, 1 mining found, 2 error).

    With a `ledger`, each capture's final hits are folded in when it is done
    (also the hits found before a capture's damage).
    """
    matcher = load_matcher(signatures_dir)
    warm_up()
    startup_s = startup_seconds()
    results = []
    with open_output(output) as stream:
        writer = WRITERS[fmt](stream)

        def sink(hit):
            if hit["state"] != STATE_DETECTED or writer.writes_detected:
                writer.write(hit)

        for path in paths:
            result = CaptureScan(path, matcher, options, k_bytes, sink).run(
                progress=progress_reporter(path))
            results.append(result)
            if ledger is not None:
                ledger.fold(result.hits)
            if result.stats.error is not None:
                report(f"error: {result.stats.error}; {result.stats.records} records scanned, "
                       f"{len(result.hits)} hits written")
            if not quiet:
                report(summary_line(result))
    if ledger is not None:
        ledger.close()
    if stats_json:
        write_stats(stats_json, results, startup_s)
    if any(r.stats.error is not None for r in results):
        return 2
    return 1 if any(r.hits for r in results) else 0


def write_stats(path, results, startup_s):
    doc = {
        "startup_s": round(startup_s, 6),
        "records": sum(r.stats.records for r in results),
        "bytes": sum(r.stats.bytes for r in results),
        "flows": sum(r.stats.flows for r in results),
        "hits": sum(len(r.hits) for r in results),
        "elapsed_s": round(sum(r.stats.elapsed_s for r in results), 6),
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
