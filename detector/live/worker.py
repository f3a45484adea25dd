"""One live worker: its ring's batches through CaptureScan, hits and counters to the parent.

Runs in a forked process that owns one AfPacketRing and one flow table. After
every batch (a ring block, or an empty tick when the link is quiet) it sends
the hits that batch produced, so a crash loses at most the batch in hand.

Messages on the queue, all tuples (kind, worker, payload):
    ("hits", w, [hit, ...])     in the order the worker made them
    ("stats", w, WorkerCounters) about once a second, and once at the end
    ("warning", w, text)        e.g. signatures that could not be reloaded
    ("error", w, text)          the worker is stopping because of it
    ("done", w, None)           every flow ended and was sent; the worker exits
"""

import ctypes
import logging
import signal
import time
from dataclasses import dataclass

from ..errors import MinewatchError
from ..hits import STATE_ENDED
from ..scan_command import CaptureScan, load_detectors
from .settings import first_flow_id

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0
PR_SET_PDEATHSIG = 1     # linux/prctl.h


@dataclass
class WorkerCounters:
    """One worker's running totals (since it started) and where it is."""

    packets: int = 0          # records handed to the engine
    bytes: int = 0            # their captured bytes
    drops: int = 0            # packets the kernel dropped: the ring was full
    flows: int = 0            # flows ended
    active_flows: int = 0     # flows in the table now
    hits: int = 0             # final hits (flows that ended as mining)
    at: float = 0.0           # time.monotonic() of the snapshot


class Worker:
    """The loop of one worker process (see module doc)."""

    def __init__(self, index, ring, settings, detectors, queue):
        self.index = index
        self.ring = ring
        self.settings = settings
        self.queue = queue
        self.pending = []
        self.counters = WorkerCounters()
        self.reload_requested = False
        self.last_stats = 0.0
        self.scan = CaptureScan(ring.name, detectors, settings.engine, settings.k_bytes,
                                self.pending.append, first_flow_id=first_flow_id(index),
                                keep_hits=False)

    def install_signals(self):
        signal.signal(signal.SIGTERM, lambda *_: self.ring.stop())
        signal.signal(signal.SIGINT, lambda *_: self.ring.stop())
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_hup(self, *_):
        self.reload_requested = True

    def run(self):
        result = self.scan.run(progress=self.after_batch, source=self.ring)
        self.send_hits()
        if result.stats.error is not None:
            self.queue.put(("error", self.index, str(result.stats.error)))
        self.send_stats(time.monotonic())
        self.queue.put(("done", self.index, None))

    def after_batch(self, _source):
        """Runs after each batch, inside the shared loop: hits out, stats, reload."""
        self.scan.report_detected()
        self.send_hits()
        for error in self.ring.take_errors():
            self.queue.put(("warning", self.index, error))
        now = time.monotonic()
        if now - self.last_stats >= STATS_EVERY_S:
            self.send_stats(now)
        if self.reload_requested:
            self.reload_requested = False
            self.reload()

    def send_hits(self):
        if self.pending:
            self.counters.hits += sum(1 for h in self.pending if h["state"] == STATE_ENDED)
            self.queue.put(("hits", self.index, list(self.pending)))
            self.pending.clear()

    def send_stats(self, now):
        c = self.counters
        stats = self.scan.result.stats
        _received, c.drops = self.ring.statistics() if self.ring.sock is not None else (0, c.drops)
        c.packets, c.bytes, c.flows = stats.records, stats.bytes, stats.flows
        c.active_flows = self.scan.engine.live_flows if self.scan.engine is not None else 0
        c.at = now
        self.last_stats = now
        self.queue.put(("stats", self.index, WorkerCounters(**vars(c))))

    def reload(self):
        try:
            detectors = load_detectors(self.settings.signatures_dir)
        except MinewatchError as e:
            self.queue.put(("warning", self.index,
                            f"signatures and pool lists not reloaded: {e}"))
            return
        self.scan.reload(detectors)


def stop_with_parent():
    """SIGTERM this process when the parent dies, however it dies (prctl)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable")


def worker_main(index, ring, others, settings, detectors, queue):
    """Process entry (after fork): run until SIGTERM/SIGINT, then end every flow.

    `others` are the other workers' rings, inherited through fork: closed at
    once, so a ring lives exactly as long as its own worker.
    """
    worker = Worker(index, ring, settings, detectors, queue)
    worker.install_signals()
    stop_with_parent()
    for other in others:
        other.close()
    try:
        worker.run()
    except Exception as e:           # one line to the parent, never a traceback
        log.debug("worker %d failed", index, exc_info=True)
        queue.put(("error", index, f"worker {index}: {type(e).__name__}: {e}"))
        queue.close()
        queue.join_thread()
        raise SystemExit(1) from None
    queue.close()
    queue.join_thread()
