#!/usr/bin/env python3
"""Where the engine's time goes: each kernel of `flows` and `scan` timed apart.

    python benchmarks/engine_profile.py benchmarks/out/bench.pcap [--repeat 3] [--mode both]

Runs the same batch loop as detector.pipeline.FlowEngine.feed (walk -> decode ->
update_flows -> inspect_batch -> Handoff) over the whole capture, with a timer
around every kernel call (a few hundred calls per run: the timers cost nothing
measurable). Each repeat opens the capture again, so the walk pays its page
faults as a real run does. Prints per kernel the median seconds over the
repeats, the packets/s of the whole loop, page faults per stage
(resource.getrusage) and a census of what inspection saw: packets per
inspection state and payload bytes that go through the head buffer
(place_segment) and the automaton (match_payload).

With `--floor`, a third mode runs the flows loop plus a kernel that only reads the
first K payload bytes of each direction of each flow, the bytes the issue has
detection match: once with a load per 64-byte cache line (what memory must deliver
whatever the matcher) and once with a load per byte (a plain loop, what a matcher
that looks at each byte pays at least). Their seconds next to flows' say how much of
detection's budget the reading alone takes.

The census comes from one extra run that calls inspect_batch one packet at a
time from a kernel, reading each row's state before and its head after (exact,
but slower: that run is not timed).
A report, not a test: figures move with the machine's load; compare runs made
back to back (alternate A/B, take the median).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detector.capture import open_capture  # noqa: E402
from detector.engine.decode import decode_batch  # noqa: E402
from detector.engine.dtypes import DECODE_OK, FLOW_DTYPE, PACKET_DTYPE  # noqa: E402
from detector.engine.flowtable import META_OUT_N, new_flow_table, update_flows  # noqa: E402
from detector.engine.handoff import Inspector  # noqa: E402
from detector.engine.inspect import (IM_ARENA, IM_EVENTS, INSPECT_CANDIDATE,  # noqa: E402
                                     INSPECT_MATCHING, INSPECT_OFF, S_CONTIG, bare_ack,
                                     inspect_batch)
from detector.pipeline import OUT_ROWS, EngineOptions, readonly  # noqa: E402
from detector.scan_command import CaptureScan, load_matcher  # noqa: E402

C_NEW = 0          # census columns
C_MATCHING = 1     # packets per inspection state of their row (after a new flow's reset)
C_CANDIDATE = 2
C_OFF = 3
C_TLS = 4
C_PLACED = 5       # payload bytes handed to place_segment (MATCHING and TLS packets)
C_MATCHED = 6      # bytes run through match_payload (growth of the contiguous head)
C_NO_PAYLOAD = 7   # packets with no payload and no SYN: skipped before their row is read
C_UDP = 8          # packets of non-TCP flows
C_SIZE = 9
CENSUS_NAMES = ("new flow", "matching", "candidate", "off", "tls", "placed bytes",
                "matched bytes", "bare ACKs (skipped)", "non-tcp")


@njit(cache=False)
def census_inspect(pkts, buf, ts_ns, first_record, fop, fids, sides, start, stop, insp_fid,
                   insp_state, streams, head, segs, hits, fired, peek, slot_of, free_slots,
                   imeta, goto,
                   byte_class, class_shift, start_pairs, phase_start, tail_map, tail_from,
                   out_start, out_pattern, pat_info, first_out_state, sig_pat_start, sig_pat,
                   sig_all_start, sig_all, sig_any_start, sig_any, sig_order, learn_sigs,
                   binary_openings, skip_keys, skip_names, skip_lengths, skip_seed, events,
                   arena, k_bytes, out):
    """inspect_batch one packet at a time, counting what each one does; returns the
    next packet to inspect (stops after a packet that wrote events: drain them)."""
    for i in range(start, stop):
        row = fop[i]
        p = pkts[i]
        if row >= 0 and bare_ack(p):
            out[C_NO_PAYLOAD] += 1           # skipped before its row is read
            s = -1
        elif row >= 0:
            if insp_fid[row] != fids[i]:
                out[C_NEW] += 1
            s = insp_state[row]
            if insp_fid[row] != fids[i]:
                s = INSPECT_MATCHING if p["proto"] == 6 else INSPECT_OFF
            if p["proto"] != 6:
                out[C_UDP] += 1
            d = np.int64(sides[i])
            before = streams[row, d, S_CONTIG] if insp_fid[row] == fids[i] else 0
            if s == INSPECT_MATCHING:
                out[C_MATCHING] += 1
                if p["payload_caplen"] > 0 and before < k_bytes:
                    out[C_PLACED] += p["payload_caplen"]
            elif s == INSPECT_CANDIDATE:
                out[C_CANDIDATE] += 1
            elif s == INSPECT_OFF:
                out[C_OFF] += 1
            else:
                out[C_TLS] += 1
                if d == 0 and p["payload_caplen"] > 0:
                    out[C_PLACED] += p["payload_caplen"]
        else:
            s = -1
        r = inspect_batch(pkts[:i + 1], buf, ts_ns, first_record, fop[:i + 1],
                          fids[:i + 1], sides[:i + 1], i, insp_fid, insp_state, streams, head, segs, hits,
                          fired, peek, slot_of, free_slots, imeta, goto, byte_class,
                          class_shift, start_pairs, phase_start, tail_map, tail_from,
                          out_start, out_pattern, pat_info, first_out_state, sig_pat_start,
                          sig_pat, sig_all_start, sig_all, sig_any_start, sig_any, sig_order,
                          learn_sigs, binary_openings, skip_keys, skip_names, skip_lengths,
                          skip_seed, events, arena)
        if s == INSPECT_MATCHING:
            after = streams[row, d, S_CONTIG]
            if after > before:
                out[C_MATCHED] += after - before
        if r == i:
            return i              # out of room: the caller drains and calls again
        if imeta[IM_EVENTS] > 0:
            return i + 1
    return stop


@njit(cache=False)
def read_first_bytes(pkts, buf, fop, fids, sides, start, stop, seen_fid, seen, k_bytes, step,
                     out):
    """Load every `step`-th byte of the first k_bytes payload bytes of each direction of
    each flow in packets [start, stop) (in capture order: a floor, not reassembly);
    seen_fid/seen: per flow-table row, whose bytes and how many so far. out[0] += bytes
    covered, out[1] += a sum of the loaded bytes (so that the loads are kept)."""
    total = np.uint64(0)
    for i in range(start, stop):
        row = fop[i]
        if row < 0:
            continue
        p = pkts[i]
        n = np.int64(p["payload_caplen"])
        if p["status"] != DECODE_OK or n <= 0:
            continue
        if seen_fid[row] != fids[i]:
            seen_fid[row] = fids[i]
            seen[row, 0] = seen[row, 1] = 0
        d = np.int64(sides[i])
        done = seen[row, d]
        if done >= k_bytes:
            continue
        m = min(n, k_bytes - done)
        at = np.int64(p["payload_offset"])
        for j in range(0, m, step):
            total += buf[at + j]
        seen[row, d] = done + m
        out[0] += m
    out[1] += total


FLOOR_STAGES = (("read K: per line", 64), ("read K: per byte", 1))


def faults():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_minflt + ru.ru_majflt


class Clock:
    """Seconds and page faults per stage name."""

    def __init__(self):
        self.s = {}
        self.f = {}
        self.floor_bytes = np.zeros(2, np.uint64)   # read_first_bytes' `out`, every stage

    def add(self, name, t0, f0):
        self.s[name] = self.s.get(name, 0.0) + time.perf_counter() - t0
        self.f[name] = self.f.get(name, 0) + faults() - f0


def run_once(path, options, matcher, k_bytes, with_census, floor=False):
    """One pass over the capture; returns (Clock, packets, census array or None).
    `floor`: after each flow-table step, time read_first_bytes (FLOOR_STAGES)."""
    clock = Clock()
    table = new_flow_table(options.max_flows, options.idle_timeout_s,
                           options.active_timeout_s, options.timing_windows_s)
    meta = table[6]
    out = np.zeros(OUT_ROWS, FLOW_DTYPE)
    pkts_all = np.zeros(options.batch_records, PACKET_DTYPE)
    fop_all = np.zeros(options.batch_records, np.int32)
    fid_all = np.zeros(options.batch_records, np.int64)
    side_all = np.zeros(options.batch_records, np.uint8)
    # the inspector as scan sets it up (pool names, the DNS filter, which hellos to read):
    # a bare Inspector would send every DNS answer to Python
    insp = (CaptureScan(path, matcher, options, k_bytes, lambda hit: None).inspector
            if matcher is not None else None)
    cen = np.zeros(C_SIZE, np.int64) if with_census and insp is not None else None
    if floor:
        seen = [(np.full(options.max_flows, -1, np.int64), np.zeros((options.max_flows, 2),
                                                                     np.int64))
                for _ in FLOOR_STAGES]
    total = 0
    t_all = time.perf_counter()
    with open_capture(path, batch_records=options.batch_records) as source:
        it = source.batches()
        while True:
            t0, f0 = time.perf_counter(), faults()
            batch = next(it, None)
            clock.add("walk", t0, f0)
            if batch is None:
                break
            n = len(batch)
            total += n
            pkts, fop, fids, sides = pkts_all[:n], fop_all[:n], fid_all[:n], side_all[:n]
            batch.buf = readonly(batch.buf)
            t0, f0 = time.perf_counter(), faults()
            decode_batch(batch.buf, batch.offset, batch.caplen, batch.linktype, pkts)
            clock.add("decode", t0, f0)
            i = 0
            while i < n:
                t0, f0 = time.perf_counter(), faults()
                j = update_flows(*table, pkts, batch.ts_ns, batch.wirelen, batch.first_record,
                                 i, out, fop, fids, sides)
                clock.add("update_flows", t0, f0)
                if floor:
                    for (name, step), (seen_fid, seen_n) in zip(FLOOR_STAGES, seen):
                        t0, f0 = time.perf_counter(), faults()
                        read_first_bytes(pkts, batch.buf, fop, fids, sides, i, j, seen_fid,
                                         seen_n, k_bytes, step, clock.floor_bytes)
                        clock.add(name, t0, f0)
                if insp is not None:
                    k = i
                    while k < j:
                        t0, f0 = time.perf_counter(), faults()
                        if cen is not None:
                            k = census_inspect(pkts, batch.buf, batch.ts_ns,
                                               batch.first_record, fop, fids, sides, k, j,
                                               *insp.state, *insp.tables, *insp.flow_rules,
                                               *insp.dns_skip, insp.events, insp.arena,
                                               k_bytes, cen)
                        else:
                            k = inspect_batch(pkts[:j], batch.buf, batch.ts_ns,
                                              batch.first_record, fop[:j], fids[:j],
                                              sides[:j], k,
                                              *insp.state, *insp.tables, *insp.flow_rules,
                                              *insp.dns_skip, insp.events, insp.arena)
                        clock.add("inspect", t0, f0)
                        ne = insp.meta[IM_EVENTS]
                        if ne:
                            t0, f0 = time.perf_counter(), faults()
                            insp.handoff.on_events(
                                insp.events[:ne], insp.arena[:insp.meta[IM_ARENA]],
                                insp.handoff.client_reader(pkts, sides, batch.first_record))
                            clock.add("handoff (python)", t0, f0)
                if meta[META_OUT_N]:
                    t0, f0 = time.perf_counter(), faults()
                    out[:meta[META_OUT_N]].copy()
                    clock.add("drain", t0, f0)
                i = j
    clock.s["TOTAL"] = time.perf_counter() - t_all
    return clock, total, cen


def warm(options, matcher, k_bytes, path):
    """Load every kernel once (compile or cache) on the first batch."""
    small = EngineOptions(max_flows=1024, batch_records=64,
                          timing_windows_s=options.timing_windows_s)
    with open_capture(path, batch_records=64) as source:
        batch = next(iter(source.batches()))
    pkts = np.zeros(len(batch), PACKET_DTYPE)
    decode_batch(readonly(batch.buf), batch.offset, batch.caplen, batch.linktype, pkts)
    table = new_flow_table(small.max_flows)
    fop = np.zeros(len(batch), np.int32)
    fids = np.zeros(len(batch), np.int64)
    sides = np.zeros(len(batch), np.uint8)
    out = np.zeros(OUT_ROWS, FLOW_DTYPE)
    update_flows(*table, pkts, batch.ts_ns, batch.wirelen, 0, 0, out, fop, fids, sides)
    if matcher is not None:
        insp = Inspector(matcher, small.max_flows, k_bytes)
        inspect_batch(pkts, readonly(batch.buf), batch.ts_ns, 0, fop, fids, sides, 0,
                      *insp.state, *insp.tables, *insp.flow_rules, *insp.dns_skip,
                      insp.events, insp.arena)
        census_inspect(pkts, readonly(batch.buf), batch.ts_ns, 0, fop, fids, sides, 0,
                       len(pkts), *insp.state, *insp.tables, *insp.flow_rules,
                       *insp.dns_skip, insp.events, insp.arena, k_bytes,
                       np.zeros(C_SIZE, np.int64))
    read_first_bytes(pkts, readonly(batch.buf), fop, fids, sides, 0, len(pkts),
                     np.full(small.max_flows, -1, np.int64),
                     np.zeros((small.max_flows, 2), np.int64), k_bytes, 64,
                     np.zeros(2, np.uint64))


def report(label, runs, packets):
    names = list(runs[0].s)
    print(f"\n{label}: {packets} packets, median of {len(runs)} runs")
    print(f"  {'stage':18s} {'seconds':>9s} {'ns/packet':>10s} {'faults':>9s}")
    for name in names:
        vals = [r.s.get(name, 0.0) for r in runs]
        med = statistics.median(vals)
        flt = statistics.median([r.f.get(name, 0) for r in runs]) if name != "TOTAL" else ""
        print(f"  {name:18s} {med:9.3f} {med / packets * 1e9:10.1f} {flt!s:>9s}")
    tot = statistics.median([r.s["TOTAL"] for r in runs])
    print(f"  -> {packets / tot / 1e6:.2f}M packets/s (whole loop, Python included)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=("flows", "scan", "both"), default="both")
    ap.add_argument("--k-bytes", type=int, default=4096)
    ap.add_argument("--core", type=int, default=None, help="pin to this core")
    ap.add_argument("--no-census", action="store_true")
    ap.add_argument("--floor", action="store_true",
                    help="also time flows plus reading the first K bytes of each direction")
    ap.add_argument("--batch-records", type=int, default=EngineOptions().batch_records)
    args = ap.parse_args(argv)
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    options = EngineOptions(batch_records=args.batch_records)
    matcher = load_matcher()
    with open(args.capture, "rb", buffering=0) as f:     # page cache warm, as for the walk
        while f.read(16 << 20):
            pass
    t = time.perf_counter()
    warm(options, matcher, args.k_bytes, args.capture)
    print(f"kernels loaded in {time.perf_counter() - t:.2f} s")
    modes = ("flows", "scan") if args.mode == "both" else (args.mode,)
    if args.floor:
        modes += ("flows + reading K",)
    results = {m: [] for m in modes}
    cen = None
    for _ in range(args.repeat):
        for m in modes:           # alternate, so load changes hit both alike
            clock, packets, c = run_once(args.capture, options,
                                         matcher if m == "scan" else None, args.k_bytes,
                                         m == "scan" and not args.no_census and cen is None,
                                         floor=m == "flows + reading K")
            if c is not None:
                cen = c
                clock, packets, _ = run_once(args.capture, options, matcher, args.k_bytes,
                                             False)
            results[m].append(clock)
    for m in modes:
        report(f"minewatch {m}", results[m], packets)
    if args.floor:
        covered = int(results["flows + reading K"][0].floor_bytes[0]) // len(FLOOR_STAGES)
        print(f"\nreading K: {covered / 1e6:.1f} MB, the first {args.k_bytes} payload bytes of "
              f"each direction of each flow")
    if cen is not None:
        print("\ninspection census (state of each packet's row when it is inspected):")
        for name, v in zip(CENSUS_NAMES, cen):
            print(f"  {name:19s} {int(v):>12d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
