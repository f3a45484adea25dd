"""`minewatch scan`: captures -> mining hits, with the engine's inspection on."""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bundled import signatures_dir
from .encrypted import EncryptedDetector
from .engine.dtypes import END_ACTIVE
from .engine.handoff import Inspector
from .engine.records import take_rows
from .errors import CaptureError
from .hits import STATE_DETECTED, STATE_ENDED, STATE_UPDATED, hit_record
from .idsets import members
from .pool_names import PoolNames
from .pools import PoolList
from .outputs import open_output, progress_reporter
from .pipeline import CaptureStats, EngineOptions, iter_capture_flows, warm_up
from .rules import compile_patterns, load_signatures
from .sinks.flow_records import FlowFormatter
from .sinks.hit_writers import WRITERS
from .startup import startup_seconds
from .timing import TimingRules

DEFAULT_SIGNATURES = signatures_dir()


@dataclass
class ScanResult:
    """What one capture gave: its counters and its final hits."""

    stats: CaptureStats
    hits: list = field(default_factory=list)
    candidates: int = 0


@dataclass
class Detectors:
    """What a scan runs: the signature automaton, pool intelligence, timing rules."""

    matcher: object
    pools: PoolList
    rules: TimingRules


class CaptureScan:
    """Runs one capture through the engine with inspection; emits hits to `sink`.

    Files, stdin and live rings share it: `run(source=...)` takes any source
    whose `batches()` yield RecordBatch objects (default: open the file at `path`;
    `path` then only names the capture in the hits). `detectors`: a Detectors, or
    a bare matcher (then the bundled pools and timing rules).
    """

    def __init__(self, path, detectors, options: EngineOptions, k_bytes, sink, first_flow_id=1,
                 keep_hits=True):
        if not isinstance(detectors, Detectors):
            detectors = Detectors(detectors, *load_intel())
        self.path = path
        self.keep_hits = keep_hits        # False for live: hits go to `sink` only (weeks)
        self.options = dataclasses.replace(options, timing_windows_s=detectors.rules.windows_s)
        self.k_bytes = k_bytes
        self.first_flow_id = first_flow_id
        self.inspector = Inspector(detectors.matcher, options.max_flows, k_bytes)
        self.encrypted = None
        self._use_intel(detectors)
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
                self._report_ended(ended)
        except CaptureError as e:
            self.result.stats.error = e
        self.report_detected()
        self.result.candidates = self.inspector.counters()["candidates"]
        return self.result

    def _attach(self, engine):
        self.engine = engine
        self.rows = engine.table[0]
        # detected flows are reported from their rows: only while the flow table rests
        engine.at_rest = self.copy_detected
        self.inspector.warm_up()
        members(np.zeros(1, np.int64), (0,))        # its kernel too, before timing starts

    def _use_intel(self, detectors):
        """Pools and timing rules for the encrypted detector; what it learned carries over
        (server addresses seen mining, pool hosts read from stratum URLs)."""
        handoff = self.inspector.handoff
        previous = self.encrypted
        names = previous.pools.with_pools(detectors.pools) if previous is not None \
            else PoolNames(detectors.pools)
        handoff.names = names                                # harvests stratum URLs
        handoff.dns.use_filter(names.name_match)             # only pool names are worth keeping
        names.on_learn.append(handoff.dns.forget_verdicts)
        handoff.intel.use_names(names)                       # which flows' names to read
        self.encrypted = EncryptedDetector(names, detectors.rules, handoff.intel, handoff.dns,
                                           handoff.addresses)
        if previous is not None:
            self.encrypted.carry_over(previous)

    def reload(self, detectors):
        """Inspect with new signatures and pool lists from now on (live SIGHUP); flows
        keep their state, and those still in their first K bytes are matched again with
        the new signatures. The timing windows of the flow table stay those it was made with."""
        self.inspector = self.inspector.with_matcher(
            detectors.matcher, self.engine.table if self.engine is not None else None)
        self._use_intel(detectors)
        if self.engine is not None:
            self.engine.inspector = self.inspector
            self.inspector.warm_up()

    def report_detected(self):
        """Write a 'detected' hit for each flow recognised since the last call."""
        write = self.copy_detected()
        if write is not None:
            write()

    def copy_detected(self):
        """The rows of the flows recognised since the last call, copied; returns what
        writes their 'detected' hits (None: no hit to write).

        The engine calls it while its flow table rests (FlowEngine.at_rest), after the
        segment following the one that recognised the flows is folded: their rows show
        them as of then (in one thread or two alike). Only the copy needs the rest: the
        hits are formatted while the next segment may be folded."""
        detected = self.inspector.handoff.take_detected()
        if not detected:
            return None
        ids = self.rows["flow_id"]
        # a flow that ended already is reported with its final values
        live = [t for t in detected if ids[t.row] == t.flow_id]
        if not live:
            return None
        # formatted together: a capture's first batches may recognise dozens at once
        rows = take_rows(self.rows, [t.row for t in live])
        return lambda: self._write_detected(live, rows)

    def _write_detected(self, live, rows):
        for tracked, flow in zip(live, self.formatter.records(rows)):
            hit = hit_record(flow, tracked, str(self.path), STATE_DETECTED,
                             self.inspector.handoff.intel.get(tracked.flow_id))
            self.encrypted.learn(hit)
            self.sink(hit)

    def _report_ended(self, ended):
        handoff = self.inspector.handoff
        ids = ended["flow_id"].copy()       # read once: a column of wide rows, used often
        final = ended["end_reason"] != END_ACTIVE
        detected = set()
        # each batch ends thousands of flows and few of them are tracked
        tracked_rows = np.flatnonzero(members(ids, handoff.flows)).tolist()
        if tracked_rows:
            sub = take_rows(ended, tracked_rows)
            for fid, done, flow in zip(sub["flow_id"].tolist(), final[tracked_rows].tolist(),
                                       self.formatter.records(sub)):
                for tracked in handoff.on_expire([fid], done):
                    if not tracked.detected:
                        continue
                    detected.add(tracked.flow_id)
                    hit = hit_record(flow, tracked, str(self.path),
                                     STATE_ENDED if done else STATE_UPDATED,
                                     handoff.intel.get(tracked.flow_id))
                    self.encrypted.learn(hit)
                    if done and self.keep_hits:
                        self.result.hits.append(hit)
                    self.sink(hit)
        self._report_encrypted(ended, ids, final, detected)

    def _report_encrypted(self, ended, ids, final, detected):
        """Flows with names or fingerprints (TLS, proxies) that no parser claimed; `ids`
        are the flow_ids of `ended`, `final` says which of its rows ended for good,
        `detected` holds the flow_ids a parser reported."""
        intel = self.inspector.handoff.intel
        if not (intel.flows or intel.peeks):
            return
        known = final & intel.known_mask(ids)
        scored = known & ~members(ids, detected) if detected else known
        rows = np.flatnonzero(scored)              # once, at the end (final rows)
        if len(rows):
            for hit in self.encrypted.on_ended(take_rows(ended, rows), self.formatter,
                                               str(self.path), STATE_ENDED):
                if self.keep_hits:
                    self.result.hits.append(hit)
                self.sink(hit)
        intel.forget(ids[final], ids[known].tolist())


def load_matcher(signatures_dir=None):
    return compile_patterns(load_signatures(signatures_dir or DEFAULT_SIGNATURES))


def load_intel(signatures_dir=None):
    """(PoolList, TimingRules) from `signatures_dir`, or the bundled files it lacks."""
    folder = Path(signatures_dir or DEFAULT_SIGNATURES)
    pools = folder / "pools.yaml"
    timing = folder / "timing.yaml"
    return (PoolList.load(pools if pools.is_file() else DEFAULT_SIGNATURES / "pools.yaml"),
            TimingRules.load(timing if timing.is_file() else DEFAULT_SIGNATURES / "timing.yaml"))


def load_detectors(signatures_dir=None):
    return Detectors(load_matcher(signatures_dir), *load_intel(signatures_dir))


def scan_capture(path, detectors, options: EngineOptions, k_bytes=4096, sink=None):
    """Scan one capture; return its ScanResult (hits are also passed to `sink`).
    `detectors`: a Detectors, or a bare matcher (bundled pools and timing rules)."""
    return CaptureScan(path, detectors, options, k_bytes, sink or (lambda hit: None)).run()


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
    detectors = load_detectors(signatures_dir)
    warm_up()
    startup_s = startup_seconds()
    results = []
    with open_output(output) as stream:
        writer = WRITERS[fmt](stream)

        def sink(hit):
            if hit["state"] != STATE_DETECTED or writer.writes_detected:
                writer.write(hit)

        for path in paths:
            result = CaptureScan(path, detectors, options, k_bytes, sink).run(
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
