"""RecordBatch -> decode -> flow table: the engine's batch loop, shared by every source.

Python runs once per batch (tens of thousands of records), never per packet.
"""

import functools
import gc
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .capture import open_capture
from .capture.batch import RecordBatch
from .engine.decode import count_outcomes, decode_batch
from .engine.dtypes import DECODE_REASONS, END_EOF, FLOW_DTYPE, L4_ANOMALIES, PACKET_DTYPE
from .engine.flowtable import (META_FORCED, META_FRAG_ORPHANS, META_FRAGS, META_LIVE,
                               META_NEXT_ID, META_OUT_N, expire_idle, flush_flows,
                               new_flow_table, update_flows)
from .engine.records import copy_rows
from .errors import CaptureError
from .run_ahead import in_step, run_ahead

OUT_ROWS = 16384   # finished flows handed to Python per drain


@dataclass(frozen=True)
class EngineOptions:
    """What bounds the engine's memory and when flows end."""

    max_flows: int = 262144
    idle_timeout_s: float = 300.0     # 0 = never
    active_timeout_s: float = 0.0     # 0 = never
    # records per batch: the kernels stream through a batch whatever its size, while
    # the Python work per batch (events, ended flows) is paid less often when it is large
    batch_records: int = 65536
    timing_windows_s: tuple = (0.010, 0.5, 0.2)   # burst, reply, sync (signatures/timing.yaml)
    # 2: with detection, files and pipes are read, decoded and folded into the flow
    # table in a second thread, one batch segment ahead of inspection (same output)
    threads: int = 1


@dataclass
class CaptureStats:
    """Counters of one capture, for the summary line and the stats event."""

    path: str
    records: int = 0
    bytes: int = 0                 # captured bytes of all records
    decoded: int = 0
    undecodable: dict = field(default_factory=dict)   # reason -> records
    anomalies: dict = field(default_factory=dict)     # decoded, but: reason -> packets
    flows: int = 0
    forced_expiries: int = 0
    fragments_attributed: int = 0
    fragment_orphans: int = 0
    elapsed_s: float = 0.0
    error: CaptureError | None = None

    @property
    def packets_per_s(self):
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def rate_text(self):
        """packets/s for people: '2.85M' or '404.7k'."""
        rate = self.packets_per_s
        return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.1f}k"


def default_threads():
    """2 (a detection thread) when this process may run on more than one CPU, else 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:          # no affinity call on this platform
        cpus = os.cpu_count() or 1
    return 2 if cpus > 1 else 1


def readonly(buf):
    """The same bytes as a read-only array: the kernels are compiled for that type
    (an mmap is read-only), so stream buffers do not need a second compilation."""
    if buf.flags.writeable:
        buf = buf.view()
        buf.flags.writeable = False
    return buf


@functools.cache
def warm_up():
    """Load (or compile, the first time) every kernel on empty input.

    Called before timing starts so `elapsed_s` measures packets only and the
    start-up cost is reported apart.
    """
    engine = FlowEngine(EngineOptions(max_flows=1, batch_records=1))
    empty = np.zeros(0, np.uint8)
    batch = RecordBatch(empty, np.zeros(0, np.int64), np.zeros(0, np.uint32),
                        np.zeros(0, np.uint32), np.zeros(0, np.int64), np.zeros(0, np.uint16))
    for _ in engine.feed(batch):
        pass
    for _ in engine.finish():
        pass
    # what start-up built (numba's types and dispatchers, tens of thousands of objects)
    # lives as long as the process: kept out of the collector's generations, it is not
    # walked again by every full collection the slow path's garbage triggers
    gc.freeze()
    return True


class PacketArrays:
    """Per-packet arrays of one batch: the decoded packets, and the row, flow_id and
    side update_flows gives each (inspection reads them)."""

    def __init__(self, n):
        self.pkts = np.zeros(n, PACKET_DTYPE)
        self.flow_of_packet = np.zeros(n, np.int32)
        self.fid_of_packet = np.zeros(n, np.int64)
        self.side_of_packet = np.zeros(n, np.uint8)


@dataclass
class Segment:
    """Packets [start, stop) of `batch`, decoded into `packets` and folded into the
    flow table, and the flows that ended meanwhile (a copy; None: none). Clock
    steps and the final flush have no batch; `batch_done` marks the end of one."""

    batch: RecordBatch | None = None
    packets: PacketArrays | None = None
    start: int = 0
    stop: int = 0
    ended: np.ndarray | None = None
    batch_done: bool = False


class FlowEngine:
    """Decode batches and fold them into one flow table; hands back finished flows.

    Each batch is folded in segments (one update_flows call each, ending when
    the output of ended flows is full). With an `inspector` (detection), the
    inspection kernel then runs over each segment's packets, so the slow path
    has seen a flow's bytes before the flow is handed back as finished.

    `at_rest()`, when set, runs after each segment is folded and before it is
    inspected: the moment detection may read the flow table's rows. Folding
    and inspecting may run in two threads (`packet_sets=2`, iter_capture_flows);
    the rows then change only between two calls of `at_rest`. A callable it
    returns runs after it, before the segment is inspected, while the next may
    be folded (run_ahead).
    """

    def __init__(self, options: EngineOptions, inspector=None, first_flow_id=1, packet_sets=1):
        self.options = options
        self.inspector = inspector
        self.at_rest = None
        self.table = new_flow_table(options.max_flows, options.idle_timeout_s,
                                    options.active_timeout_s, options.timing_windows_s)
        self.meta[META_NEXT_ID] = first_flow_id   # live workers: disjoint flow_id ranges
        self.out = np.zeros(OUT_ROWS, FLOW_DTYPE)
        # two sets when the next batch is folded while this one is inspected
        self.packet_sets = [PacketArrays(options.batch_records) for _ in range(packet_sets)]
        self.batches_folded = 0
        self.status_counts = np.zeros(len(DECODE_REASONS), np.int64)
        self.anomaly_counts = np.zeros(len(L4_ANOMALIES), np.int64)

    @property
    def meta(self):
        return self.table[6]

    def fold(self, batch, ends_batch=True):
        """Decode and fold one RecordBatch; yield a Segment per update_flows call (the
        last one marked `batch_done` if `ends_batch`)."""
        n = len(batch)
        k = self.batches_folded % len(self.packet_sets)
        self.batches_folded += 1
        if n > len(self.packet_sets[k].pkts):
            self.packet_sets[k] = PacketArrays(n)
        packets = self.packet_sets[k]
        pkts = packets.pkts[:n]
        batch.buf = readonly(batch.buf)
        decode_batch(batch.buf, batch.offset, batch.caplen, batch.linktype, pkts)
        count_outcomes(pkts, self.status_counts, self.anomaly_counts)
        fop = packets.flow_of_packet[:n]
        fids = packets.fid_of_packet[:n]
        sides = packets.side_of_packet[:n]
        i = 0
        while True:       # at least one call: warm_up folds an empty batch to load the kernel
            j = update_flows(*self.table, pkts, batch.ts_ns, batch.wirelen,
                             batch.first_record, i, self.out, fop, fids, sides)
            yield Segment(batch, packets, i, j, self._take_out(), ends_batch and j >= n)
            i = j
            if i >= n:
                return

    def inspect(self, segment):
        """Inspect a folded segment's packets (with an inspector); return its ended flows."""
        if self.inspector is not None and segment.batch is not None:
            p = segment.packets
            self.inspector.inspect(p.pkts, segment.batch, p.flow_of_packet, p.fid_of_packet,
                                   p.side_of_packet, segment.start, segment.stop)
        return segment.ended

    def rest(self):
        """Run `at_rest` (the flow table is not changing now); what it returns runs once
        the table may change again (run_ahead)."""
        if self.at_rest is not None:
            return self.at_rest()
        return None

    def _settled(self, segments):
        """The ended flows of each segment, in one thread: at rest, inspected, handed back."""
        for segment in in_step(segments, self.rest):
            ended = self.inspect(segment)
            if ended is not None:
                yield ended

    def feed(self, batch):
        """Decode, fold and inspect one RecordBatch; yield arrays of flows that ended meanwhile."""
        yield from self._settled(self.fold(batch))

    def advance(self, now_ns):
        """Move the clock to `now_ns` without records; yield the flows idle by then."""
        yield from self._settled(self.clock_segments(now_ns))

    def finish(self, reason=END_EOF):
        """Emit every live flow (end of capture, shutdown)."""
        yield from self._settled(self.flush_segments(reason))

    def clock_segments(self, now_ns):
        rows, index, lru_prev, lru_next, free_rows, _frag, meta, _sync = self.table
        return self._drain(lambda: expire_idle(rows, index, lru_prev, lru_next, free_rows,
                                               meta, self.out, now_ns))

    def flush_segments(self, reason=END_EOF):
        rows, index, lru_prev, lru_next, free_rows, _frag, meta, _sync = self.table
        return self._drain(lambda: flush_flows(rows, index, lru_prev, lru_next, free_rows,
                                               meta, self.out, reason))

    @property
    def live_flows(self):
        return int(self.meta[META_LIVE])

    def _drain(self, step):
        """Call `step` (a kernel that writes ended flows to self.out and returns nonzero
        while more are left) until it is done; a Segment of what each call wrote."""
        while True:
            more = step()
            ended = self._take_out()
            if ended is not None:
                yield Segment(ended=ended)
            if not more:
                return

    def _take_out(self):
        """A copy of the flows the last kernel call wrote to `out` (None: none); the next
        call writes over them."""
        n = self.meta[META_OUT_N]
        return copy_rows(self.out[:n]) if n else None

    def fill_stats(self, stats: CaptureStats):
        stats.decoded = int(self.status_counts[0])
        stats.undecodable = {DECODE_REASONS[k]: int(v)
                             for k, v in enumerate(self.status_counts) if k and v}
        stats.anomalies = {L4_ANOMALIES[k]: int(v)
                           for k, v in enumerate(self.anomaly_counts) if k and v}
        meta = self.meta
        if meta[META_FRAG_ORPHANS]:
            stats.undecodable["fragment_orphan"] = int(meta[META_FRAG_ORPHANS])
        stats.forced_expiries = int(meta[META_FORCED])
        stats.fragments_attributed = int(meta[META_FRAGS])
        assert meta[META_LIVE] >= 0


def capture_segments(engine, source, stats):
    """Every Segment of one capture: its batches folded, clock steps (live sources),
    then the final flush. A damaged capture is folded up to the damage and the
    CaptureError is left in `stats.error`."""
    try:
        for batch in source.batches():
            clocked = batch.clock_ns is not None
            if len(batch):
                stats.records += len(batch)
                stats.bytes += int(batch.caplen.sum(dtype=np.int64))
                yield from engine.fold(batch, ends_batch=not clocked)
            if clocked:
                yield from engine.clock_segments(batch.clock_ns)
            if clocked or not len(batch):
                yield Segment(batch_done=True)
    except CaptureError as err:
        stats.error = err
    yield from engine.flush_segments()


def iter_capture_flows(path, options: EngineOptions, stats: CaptureStats, progress=None,
                       inspector=None, on_engine=None, source=None, first_flow_id=1):
    """Yield FLOW_DTYPE arrays of one capture's flows, in the order they ended.

    A damaged capture is read up to the damage: its flows are still yielded
    and the error is left in `stats.error` (never raised from here). A capture
    that cannot be opened at all raises CaptureError. `on_engine(engine)` is
    called once the engine exists (detection reads open flows from its table).
    `source` is any object with `batches()` and the context-manager protocol
    (default: open_capture(path)); a live source's batches carry `clock_ns`,
    which ends idle flows when no record comes. `progress(source)` runs after
    every batch.
    """
    # a second thread only where it pays and the source allows: detection on a file or
    # pipe (a live source's batches are its ring's, and its workers fill the cores)
    threaded = inspector is not None and source is None and options.threads > 1
    engine = FlowEngine(options, inspector, first_flow_id, packet_sets=2 if threaded else 1)
    if on_engine is not None:
        on_engine(engine)
    if source is None:
        # the engine is done with each batch before it asks for the next (or the one
        # after, when it folds the next while inspecting this one)
        source = open_capture(path, batch_records=options.batch_records, reuse_arrays=True,
                              batches_held=2 if threaded else 1)
    t0 = time.perf_counter()        # opened: its walker's kernel is loaded (start-up)
    with source:
        segments = capture_segments(engine, source, stats)
        folded = (run_ahead(segments, engine.rest, "minewatch-flows") if threaded
                  else in_step(segments, engine.rest))
        try:
            for segment in folded:
                ended = engine.inspect(segment)
                if ended is not None:
                    stats.flows += len(ended)
                    yield ended
                if segment.batch_done and progress is not None:
                    progress(source)
        finally:
            folded.close()            # the thread stops before the source is closed
    engine.fill_stats(stats)
    stats.elapsed_s = time.perf_counter() - t0
