"""The parent of `minewatch live`: opens the rings, forks the workers, writes hits.

Everything privileged or fallible happens before the first fork, so a missing
interface, a missing CAP_NET_RAW or a bad filter is one error line and exit 2.
Then the parent only gathers from the workers' queue: hits are written (and
flushed) as they arrive, counters feed the status line and /metrics, final
hits are collected for the ledger.

Shutdown: SIGTERM/SIGINT are passed on to the workers, which read what the
kernel has already received, end every flow (its 'ended' hit is sent) and say
"done"; the parent writes everything and exits 0. A worker that dies without
"done" makes the parent stop the others and exit 2.
"""

import logging
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time

from ..capture.afpacket import (check_ring_geometry, interface_linktype, open_fanout_rings,
                                open_packet_socket)
from ..capture.afpacket_bpf import compile_filter
from ..capture.afpacket_walk import warm_up_walk
from ..engine.handoff import Inspector
from ..errors import ConfigError
from ..hits import STATE_DETECTED, STATE_ENDED
from ..pipeline import warm_up
from ..scan_command import load_detectors
from ..sinks.hit_writers import WRITERS
from .metrics import LiveCounters, serve_metrics
from .reassembly import reassembly_failures
from .settings import LiveSettings
from .worker import worker_main

log = logging.getLogger(__name__)

LEDGER_EVERY_S = 5.0      # final hits are handed to the ledger this often
GATHER_TIMEOUT_S = 0.2


class HitOutput:
    """The one writer of hits: a file (appended, reopened on SIGHUP) or stdout."""

    def __init__(self, path, fmt):
        self.path = path
        self.fmt = fmt
        self.stream = None
        self.writer = None
        self.open()

    def open(self):
        if self.path in (None, "-"):
            self.stream = sys.stdout.buffer
        else:
            try:
                self.stream = open(self.path, "ab")
            except OSError as e:
                raise ConfigError(f"{self.path}: cannot open: {e.strerror or e}") from None
        self.writer = WRITERS[self.fmt](self.stream)

    def reopen(self):
        """After logrotate moved the file away: write to a new file of the same name."""
        if self.path in (None, "-"):
            return
        self.close()
        self.open()

    def write(self, hit):
        if hit["state"] != STATE_DETECTED or self.writer.writes_detected:
            self.writer.write(hit)       # each writer flushes per record

    def close(self):
        if self.stream is not None and self.stream is not sys.stdout.buffer:
            self.stream.close()
        self.stream = None


class Supervisor:
    """Parent process state: workers, output, counters, signals."""

    def __init__(self, settings: LiveSettings, report, final_hits_sink=None):
        self.settings = settings
        self.report = report
        self.final_hits_sink = final_hits_sink
        self.final_hits = []            # 'ended' hits not yet handed to the ledger
        self.counters = LiveCounters(settings.workers)
        self.processes = []
        self.done = set()
        self.errors = []
        self.stop_requested = False
        self.stop_sent = False
        self.reopen_requested = False
        self.queue = None
        self.output = None

    # --- start ---------------------------------------------------------------------------
    def prepare(self):
        """Checks and compilation before any socket is opened: (linktype, BPF program)."""
        s = self.settings
        linktype = interface_linktype(s.interface)          # missing interface
        check_ring_geometry(s.ring_block_size, s.ring_blocks)
        open_packet_socket(s.interface).close()             # missing CAP_NET_RAW
        program = compile_filter(s.bpf, linktype) if s.bpf else None
        return program

    def start(self, program, detectors):
        s = self.settings
        rings = open_fanout_rings(s.interface, s.workers, program, s.ring_block_size,
                                  s.ring_blocks, s.ring_block_timeout_ms)
        ctx = multiprocessing.get_context("fork")
        self.queue = ctx.Queue()
        try:
            for index, ring in enumerate(rings):
                others = [r for r in rings if r is not ring]
                p = ctx.Process(target=worker_main, name=f"minewatch-live-{index}",
                                args=(index, ring, others, s, detectors, self.queue))
                p.start()
                self.processes.append(p)
        finally:
            for ring in rings:          # the worker has its own copy now
                ring.close()

    def install_signals(self):
        def stop(*_):
            self.stop_requested = True

        def hup(*_):
            self.reopen_requested = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    # --- gather --------------------------------------------------------------------------
    def gather(self, output):
        """Until every worker is done (or gone): write hits, keep counters, pass signals on."""
        s = self.settings
        self.output = output
        next_status = time.monotonic() + s.status_interval_s
        next_ledger = time.monotonic() + LEDGER_EVERY_S
        next_check = time.monotonic()
        while len(self.done) < len(self.processes):
            self.pass_signals_on(output)
            try:
                kind, worker, payload = self.queue.get(timeout=GATHER_TIMEOUT_S)
            except queue_module.Empty:
                pass
            else:
                self.on_message(kind, worker, payload, output)
            now = time.monotonic()
            if now >= next_check:
                self.check_workers()
                next_check = now + GATHER_TIMEOUT_S
            if s.status_interval_s > 0 and now >= next_status:
                self.report(self.counters.status_line(s.interface))
                next_status = now + s.status_interval_s
            if now >= next_ledger:
                self.commit_final_hits()
                next_ledger = now + LEDGER_EVERY_S
        self.commit_final_hits()

    def on_message(self, kind, worker, payload, output):
        if kind == "hits":
            for hit in payload:
                output.write(hit)
                if hit["state"] == STATE_ENDED:
                    self.final_hits.append(hit)
        elif kind == "stats":
            self.counters.update(worker, payload)
        elif kind == "warning":
            self.report(f"warning: worker {worker}: {payload}")
        elif kind == "error":
            self.errors.append(payload)
            self.stop_requested = True
        elif kind == "done":
            self.done.add(worker)

    def commit_final_hits(self):
        """Hand the final hits gathered since the last call to the ledger.

        LEDGER: this is the single call site for the per-subscriber ledger
        (issue 5): `final_hits_sink(hits)` gets every 'ended' hit of all workers,
        once, every LEDGER_EVERY_S seconds and at shutdown (after the last one).
        """
        hits, self.final_hits = self.final_hits, []
        if hits and self.final_hits_sink is not None:
            self.final_hits_sink(hits)

    def pass_signals_on(self, output):
        if self.stop_requested and not self.stop_sent:
            self.stop_sent = True
            self.signal_workers(signal.SIGTERM)
        if self.reopen_requested:
            self.reopen_requested = False
            output.reopen()
            self.signal_workers(signal.SIGHUP)

    def signal_workers(self, signum):
        for index, p in enumerate(self.processes):
            if index not in self.done and p.pid is not None and p.exitcode is None:
                os.kill(p.pid, signum)

    def check_workers(self):
        """A worker that exited without 'done' is an error: stop the others."""
        for index, p in enumerate(self.processes):
            if index in self.done or p.exitcode is None:
                continue
            self.drain_after_exit()
            if index in self.done:
                continue
            self.errors.append(f"worker {index} exited unexpectedly (exit code {p.exitcode})")
            self.done.add(index)
            self.stop_requested = True

    def drain_after_exit(self):
        """Messages a worker sent just before exiting may still be in the pipe."""
        try:
            while True:
                kind, worker, payload = self.queue.get(timeout=0.05)
                self.on_message(kind, worker, payload, self.output)
        except queue_module.Empty:
            pass

    def join(self):
        for p in self.processes:
            p.join(timeout=10)
            if p.exitcode is None:
                p.kill()
                p.join()


def warm_up_kernels(detectors, k_bytes):
    """Load every kernel once in the parent, so forked workers start with them."""
    warm_up()
    warm_up_walk()
    Inspector(detectors.matcher, 1, k_bytes).warm_up()


def run_live(settings: LiveSettings, report=print, final_hits_sink=None):
    """Capture on `settings.interface` until SIGTERM/SIGINT; return the exit status.

    0 after a clean stop (mining found or not: a service must not look failed
    because it did its job), 2 when a worker failed. Setup errors raise
    CaptureError/ConfigError (cli.py prints them). `final_hits_sink(list)` is
    called with the final hits every few seconds (the ledger's entry point).
    """
    sup = Supervisor(settings, report, final_hits_sink)
    program = sup.prepare()
    detectors = load_detectors(settings.signatures_dir)
    output = HitOutput(settings.output, settings.fmt)
    try:
        warm_up_kernels(detectors, settings.k_bytes)
        sup.install_signals()
        t0 = time.monotonic()
        fails_at_start = reassembly_failures()
        sup.start(program, detectors)
        if settings.metrics_port is not None:
            serve_metrics(settings.metrics_port, sup.counters)
        if not settings.quiet:
            report(f"live {settings.interface}: capturing with {settings.workers} worker(s); "
                   "SIGTERM/SIGINT to stop, SIGHUP to reopen the output and reload "
                   "signatures and pool lists")
        sup.gather(output)
        sup.join()
    except BaseException:
        sup.stop_requested = True
        sup.signal_workers(signal.SIGTERM)
        sup.join()
        raise
    finally:
        output.close()
    if not settings.quiet:
        fails = reassembly_failures()
        fails = fails - fails_at_start if fails is not None and fails_at_start is not None \
            else None
        report(sup.counters.summary_line(settings.interface, time.monotonic() - t0, fails))
    for message in sup.errors:
        report(f"error: {message}")
    return 2 if sup.errors else 0
