"""The one place where engine arrays become Python objects (STYLE.md 2.3).

`Inspector` owns the inspection arrays and runs `inspect_batch` after each
flow-table step; its events go to `Handoff`, which keeps one MiningSession
per candidate flow (a flow on which a signature fired), feeds it the flow's
bytes and tells the engine to stop sending a flow that turned out not to be
mining. Nothing here runs per packet of ordinary flows.

Lifecycle (nfstream's names): on_match (a signature fired: new session),
on_update (more bytes), on_expire (the flow ended: its tracked state, if any).
Once a flow is mining, `followed` (protocols/followed.py) applies its usual
lines in numba before this loop sees its events; a line it cannot apply hands
the flow back to its session (`_on_data`), and reports publish its state first.

Rare events feed `flow_intel`: EV_HELLO (the ClientHello record of a flow that
opened with a TLS handshake, with where its server name is), EV_PEEK (the
first client bytes of a flow that opened with a proxy request: proxy target,
then the ClientHello inside) and EV_DNS (one DNS answer with answer records,
remembered for its TTL).
"""

import logging
from dataclasses import dataclass, field

import numpy as np

from ..flow_intel import DnsCache, IntelTable
from ..protocols import steady
from ..protocols.follow_kernel import CONSUMED, NOT_FOLLOWED
from ..protocols.followed import FollowedFlows
from ..protocols.message import TOCLIENT, TOSERVER
from ..protocols.session import MiningSession
from ..sinks.flow_records import AddressCache
from . import dns_skip
from .dtypes import PACKET_DTYPE
from .flowtable import META_FREE_TOP
from .inspect import (EV_DATA, EV_DNS, EV_FIRED, EV_HEAD, EV_HELLO, EV_PEEK, EVENT_DTYPE,
                      IM_ARENA, IM_CANDIDATES, IM_DNS, IM_DNS_SKIPPED, IM_EVENTS, IM_EXCLUDED,
                      IM_GAPS, IM_NOT_TEXT, IM_PEEKS, INSPECT_CANDIDATE, INSPECT_MATCHING,
                      INSPECT_OFF, PEEK_DONE, carry_state, inspect_batch, new_inspector,
                      rematch_heads)

log = logging.getLogger(__name__)

DIRECTION_NAMES = (TOSERVER, TOCLIENT)
EVENT_ROWS = 4096
ARENA_BYTES = 4 << 20
# a candidate that has not shown mining after this many bytes per direction
# is let go (the engine stops sending its packets)
GIVE_UP_BYTES = 64 * 1024
URL_SIGNATURES = "pool-url."    # signatures/pool_urls.yaml: flows that carry stratum URLs
# out-of-order bytes held per direction while waiting for a hole to fill; past
# this the hole is given up (lost in the capture) and the held bytes are fed
MAX_HELD_BYTES = 64 * 1024
# detected flows whose steady lines numba applies (protocols/followed.py); more than
# this are followed in Python
FOLLOWED_SLOTS = 256
# after `followed` refused a flow, the events Python feeds it before it is offered again
FOLLOW_RETRY_EVENTS = 8
# a flow numba gave back after fewer lines than this waits 2, 4, ... MAX_FOLLOW_WAIT
# events before it is offered again (a dialect numba reads few lines of)
SHORT_STINT = 8
MAX_FOLLOW_WAIT = 64
# a flow whose hand-over would come straight back (FollowedFlows.premature) is offered
# at each of its next events, at most this many times, then handed over all the same:
# a capture that shows only the miner's side never shows the pool's setting
MAX_EARLY_OFFERS = 8


@dataclass
class TrackedFlow:
    """Slow-path state of one candidate flow."""

    flow_id: int
    row: int
    session: MiningSession
    signatures: list                    # ids of the signatures that fired
    bytes_fed: list = field(default_factory=lambda: [0, 0])
    detected: bool = False              # session.is_mining has been seen true
    next_pos: list = field(default_factory=lambda: [0, 0])   # stream position fed up to
    held: list = field(default_factory=lambda: [{}, {}])     # pos -> (bytes, frame, ts_ns)
    start_ts: str | None = None         # first_ts of the flow's first reported record
    url_client: str | None = None       # a pool-url signature fired: the client whose
                                        # later flows the stratum URLs read here name
    core_slot: int = -1                 # its slot in Handoff.followed, -1: followed here
    follow_wait: int = 0                # events it waits before it is offered again
    follow_misses: int = 0              # short stints in numba in a row
    early_offers: int = 0               # offers held back as premature

    def in_order(self, d, pos, data, frame, ts_ns, flush=False):
        """The bytes of direction `d` that are now in stream order, as [(bytes, frame,
        ts_ns)]: bytes before `next_pos` are dropped (already fed), bytes past a hole
        are held until it fills, or until MAX_HELD_BYTES (or `flush`) gives it up.
        (Handoff.on_update feeds the usual case, the next bytes with no hole, itself.)"""
        held = self.held[d]
        if data and pos + len(data) > self.next_pos[d]:
            if len(held.get(pos, (b"",))[0]) < len(data):     # keep the longer copy
                held[pos] = (data, frame, ts_ns)
        out = []
        while held:
            at = min(held)
            if at > self.next_pos[d]:
                if not flush and sum(len(v[0]) for v in held.values()) <= MAX_HELD_BYTES:
                    break
                log.debug("flow %d: %d bytes missing in direction %d", self.flow_id,
                          at - self.next_pos[d], d)
                self.next_pos[d] = at
            chunk, f, t = held.pop(at)
            if at + len(chunk) > self.next_pos[d]:
                out.append((chunk[self.next_pos[d] - at:], f, t))
                self.next_pos[d] = at + len(chunk)
        return out


class Handoff:
    """Candidate flows by flow_id; decides which ones are mining."""

    def __init__(self, signature_ids, insp_state, insp_fid, max_line_bytes=65536, peek=None,
                 intel=None, dns=None, followed=None):
        self.signature_ids = signature_ids
        self.insp_state = insp_state
        self.insp_fid = insp_fid
        self.peek = peek
        self.max_line_bytes = max_line_bytes
        self.flows = {}          # flow_id -> TrackedFlow
        self.newly_detected = []  # TrackedFlow that became mining since the last take
        self.intel = intel if intel is not None else IntelTable()
        self.dns = dns if dns is not None else DnsCache()
        self.addresses = AddressCache()
        self.names = None        # PoolNames: learns pool hosts from stratum URLs
        self.followed = followed  # FollowedFlows: detected flows whose lines numba applies

    def on_events(self, events, arena, client_of=None):
        """Hand a batch's events to the slow path. `client_of(frame)`: the client address
        (text) of the flow of the packet with that frame number, read from the packet
        (the flow table's rows may hold other flows by now)."""
        raw = arena.tobytes()      # one copy; events slice it (cheaper than numpy per event)
        kinds = events["kind"]
        hellos = kinds == EV_HELLO
        # ClientHellos only add to `intel`, which the other kinds do not read (proxy peeks
        # share its size limit, nothing else): the busiest kind in a network gets its own
        # loop, over the columns it needs, before the others (in their order)
        if hellos.any():
            self._on_hellos(events[hellos], raw)
            events = events[~hellos]
        followed = self.followed
        if followed is not None and followed.count:
            events, resume = self._follow(events, arena)
        else:
            resume = [NOT_FOLLOWED] * len(events)
        columns = [events[k].tolist() for k in ("flow_id", "row", "kind", "direction", "frame",
                                                  "ts_ns", "stream_pos", "arena_off", "length",
                                                  "name_at", "name_len")]
        intel, dns = self.intel, self.dns
        deferred = []           # events of flows handed to numba during this loop
        handed = set()
        for i, (fid, row, kind, direction, frame, ts_ns, pos, off, length, name_at,
                name_len, at) in enumerate(zip(*columns, resume)):
            if kind == EV_DATA or kind == EV_HEAD:
                if self._on_data(fid, direction, raw, off, length, frame, ts_ns, pos, at,
                                 handed):
                    deferred.append(i)
            elif kind == EV_DNS:
                wire_name = raw[off + name_at:off + name_at + name_len]
                if dns.wants(wire_name) and client_of is not None:
                    dns.on_response(client_of(frame), raw[off:off + length], ts_ns)
            elif kind == EV_PEEK:
                if intel.on_peek(fid, pos, raw[off:off + length], frame) \
                        and self.peek is not None and self.insp_fid[row] == fid:
                    self.peek[row] = PEEK_DONE
            elif kind == EV_FIRED:
                self.on_match(fid, row, arena[off:off + length],
                              client_of(frame) if client_of is not None else None)
        while deferred:         # their flows' later bytes, in order, now to numba
            events, resume = self._follow(events[deferred], arena)
            deferred, handed = [], set()
            for i, (fid, direction, frame, ts_ns, pos, off, length, at) in enumerate(zip(
                    *(events[k].tolist() for k in ("flow_id", "direction", "frame", "ts_ns",
                                                   "stream_pos", "arena_off", "length")),
                    resume)):
                if self._on_data(fid, direction, raw, off, length, frame, ts_ns, pos, at,
                                 handed):
                    deferred.append(i)

    def _follow(self, events, arena):
        """Let numba apply what it can of `events`; the events left for Python, and
        for each the offset to feed its bytes from (NOT_FOLLOWED: all of them)."""
        resume = self.followed.run(events, arena)
        kept = resume != CONSUMED
        return events[kept], resume[kept].tolist()

    def _on_data(self, fid, direction, raw, off, length, frame, ts_ns, pos, at, handed):
        """One data event numba left (its bytes from `at`) for a tracked flow; a mining
        flow is then offered to numba, and added to `handed` when it took it. True when
        the event must wait for another numba pass instead (its flow is in `handed`)."""
        if fid in handed:
            return True
        tracked = self.flows.get(fid)
        if tracked is None:
            return False
        if tracked.core_slot >= 0:          # numba stopped before a line it cannot apply
            if self.followed.take_back(tracked) < SHORT_STINT:
                tracked.follow_misses += 1  # wait longer each time it comes back soon
                tracked.follow_wait = min(2 ** tracked.follow_misses, MAX_FOLLOW_WAIT)
            else:
                tracked.follow_misses = 0
        at = max(at, 0)
        self.on_update(tracked, direction, raw[off + at:off + length], frame, ts_ns, pos + at)
        if tracked.detected and self.followed is not None and self._offer(tracked):
            handed.add(fid)
        return False

    def _offer(self, tracked) -> bool:
        """Hand a mining flow's lines to numba (`followed`) when it can take them."""
        if tracked.follow_wait > 0:
            tracked.follow_wait -= 1
            return False
        if tracked.early_offers < MAX_EARLY_OFFERS and self.followed.premature(tracked):
            tracked.early_offers += 1              # offered again at its next event
            return False
        if tracked.flow_id in self.flows and self.followed.hand_over(tracked):
            return True
        tracked.follow_wait = FOLLOW_RETRY_EVENTS
        return False

    def _on_hellos(self, events, raw):
        start = events["arena_off"]
        name_at = start + events["name_at"]
        records = [raw[a:b] for a, b in zip(start.tolist(), (start + events["length"]).tolist())]
        names = [raw[a:b] for a, b in zip(name_at.tolist(),
                                          (name_at + events["name_len"]).tolist())]
        self.intel.on_hellos(events["flow_id"].tolist(), records, names,
                             events["frame"].tolist())

    def on_match(self, fid, row, fired_words, client=None):
        """A signature fired for flow `fid`; `client`: its client address as text."""
        bits = np.unpackbits(fired_words, bitorder="little")
        ids = [self.signature_ids[j] for j in np.flatnonzero(bits) if j < len(self.signature_ids)]
        tracked = TrackedFlow(fid, row, MiningSession(max_line_bytes=self.max_line_bytes), ids)
        if any(i.startswith(URL_SIGNATURES) for i in ids):
            tracked.url_client = client
        self.flows[fid] = tracked

    def client_reader(self, pkts, side_of_packet, first_record):
        """client_of(frame) for on_events: the client address, as text, of the flow of
        the packet with that frame number in a batch (its sender, or its receiver
        when the packet came from the flow's server)."""
        def client_of(frame):
            i = frame - first_record - 1
            end = "src" if side_of_packet[i] == 0 else "dst"
            return self.addresses.text(int(pkts[i][end + "_hi"]), int(pkts[i][end + "_lo"]))
        return client_of

    def on_update(self, tracked, direction, data, frame, ts_ns, stream_pos=None):
        """Bytes of one direction at `stream_pos` (None: right after the last ones)."""
        if not data:
            return
        if stream_pos is None:
            stream_pos = tracked.next_pos[direction]
        if stream_pos == tracked.next_pos[direction] and not tracked.held[direction]:
            tracked.next_pos[direction] = stream_pos + len(data)   # the usual case: the
            self.feed(tracked, direction, data, frame, ts_ns)      # next bytes, no hole
            return
        for chunk, f, t in tracked.in_order(direction, stream_pos, data, frame, ts_ns):
            self.feed(tracked, direction, chunk, f, t)
            if tracked.flow_id not in self.flows:
                return                        # let go

    def feed(self, tracked, direction, data, frame, ts_ns):
        if tracked.url_client is not None and self.names is not None:
            self.names.harvest(data, tracked.flow_id, frame, tracked.url_client)
        tracked.session.feed(DIRECTION_NAMES[direction], data, frame, ts_ns)
        tracked.bytes_fed[direction] += len(data)
        if not tracked.detected and tracked.session.is_mining:
            tracked.detected = True
            self.newly_detected.append(tracked)
        if not tracked.detected and min(tracked.bytes_fed) >= GIVE_UP_BYTES:
            self.let_go(tracked)

    def let_go(self, tracked):
        """Not mining: stop the engine sending this flow and forget it."""
        if self.insp_fid[tracked.row] == tracked.flow_id:
            self.insp_state[tracked.row] = INSPECT_OFF
        del self.flows[tracked.flow_id]

    def take_detected(self):
        out, self.newly_detected = self.newly_detected, []
        for tracked in out:
            if tracked.core_slot >= 0:       # its report reads the session
                self.followed.publish(tracked)
        return [t for t in out if t.flow_id in self.flows]

    def on_expire(self, flow_ids, final):
        """Tracked state of the flows that ended (final) or emitted an active-timeout record."""
        out = []
        for fid in flow_ids:
            tracked = self.flows.get(int(fid))
            if tracked is None:
                continue
            if tracked.core_slot >= 0:       # the report reads the session; an ended
                if final:                    # flow's last bytes are framed in Python
                    self.followed.take_back(tracked)
                else:
                    self.followed.publish(tracked)
            if final:
                for d in range(2):            # bytes still held past a hole
                    for chunk, f, t in tracked.in_order(d, 0, b"", 0, 0, flush=True):
                        tracked.session.feed(DIRECTION_NAMES[d], chunk, f, t)
                tracked.session.finish()
                del self.flows[int(fid)]
                if not tracked.detected and tracked.session.is_mining:
                    tracked.detected = True
            out.append(tracked)
        return out


def learning_signatures(matcher):
    """Bit mask (uint64 words, as the fired bits) of the pool-url signatures: their flows'
    bytes teach pool hosts (Handoff.feed), which the engine's DNS skips must respect."""
    words = np.zeros(max(1, matcher.n_sig_words), np.uint64)
    for j, sig_id in enumerate(matcher.signature_ids):
        if sig_id.startswith(URL_SIGNATURES):
            words[j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    return words


class Inspector:
    """Runs the inspection kernel for one flow table and hands events to a Handoff."""

    def __init__(self, matcher, capacity, k_bytes=4096, max_line_bytes=65536, followed=None,
                 state=None):
        """`state`: the inspection arrays to work on (default: new ones, new_inspector)."""
        self.matcher = matcher
        self.capacity, self.k_bytes, self.max_line_bytes = capacity, k_bytes, max_line_bytes
        self.state = state if state is not None else \
            new_inspector(capacity, k_bytes, matcher.n_words, matcher.n_sig_words)
        insp_fid, insp_state, peek = self.state[0], self.state[1], self.state[7]
        if followed is None:
            followed = FollowedFlows(FOLLOWED_SLOTS, capacity)
        self.handoff = Handoff(matcher.signature_ids, insp_state, insp_fid, max_line_bytes,
                               peek=peek, followed=followed)
        self.events = np.zeros(EVENT_ROWS, EVENT_DTYPE)
        self.arena = np.zeros(ARENA_BYTES + 2 * k_bytes + 8 * matcher.n_sig_words + 65536,
                              np.uint8)
        m = matcher
        self.tables = (*m.automaton, m.sig_pat_start, m.sig_pat, m.sig_all_start, m.sig_all,
                       m.sig_any_start, m.sig_any, m.sig_order)
        self.flow_rules = (learning_signatures(m), m.binary_openings)  # inspect_batch's only

    @property
    def meta(self):
        return self.state[-1]

    @property
    def dns_skip(self):
        """The kernel's arguments for the DNS questions rejected so far (DnsSkipSet)."""
        return self.handoff.dns.skip.arrays

    def inspect(self, pkts, batch, flow_of_packet, fid_of_packet, side_of_packet, start, stop):
        """Inspect packets [start, stop) of a batch already folded into the flow table
        (which wrote flow_of_packet, fid_of_packet and side_of_packet)."""
        client_of = self.handoff.client_reader(pkts, side_of_packet, batch.first_record)
        i = start
        while i < stop:
            i = inspect_batch(pkts[:stop], batch.buf, batch.ts_ns, batch.first_record,
                              flow_of_packet[:stop], fid_of_packet[:stop],
                              side_of_packet[:stop], i, *self.state,
                              *self.tables, *self.flow_rules, *self.dns_skip, self.events,
                              self.arena)
            n = self.meta[IM_EVENTS]
            if n:
                self.handoff.on_events(self.events[:n], self.arena[:self.meta[IM_ARENA]],
                                       client_of)

    def warm_up(self):
        """Load the inspection kernels (packets, and heads after a reload) and the slow
        path's kernels (line reader, DNS skip set, follower; compiled once, then from
        the cache) on empty input."""
        steady.warm_up()
        dns_skip.warm_up()
        self.handoff.followed.warm_up()
        empty = np.zeros(0, np.uint8)
        empty.flags.writeable = False
        inspect_batch(np.zeros(0, PACKET_DTYPE), empty, np.zeros(0, np.int64), 0,
                      np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.uint8), 0,
                      *self.state, *self.tables, *self.flow_rules, *self.dns_skip, self.events,
                      self.arena)
        self._rematch_heads(np.zeros(0, np.int64), 0)

    def with_matcher(self, matcher, table=None):
        """An Inspector for new signatures that carries this one's flows over (a reload).

        It works on the same arrays, so every flow keeps its stream state and head
        slots, and candidates their slow-path sessions. Candidates and ClientHellos
        still arriving need no automaton. Flows still in their first K bytes are
        matched again from byte 0 with the new signatures (`rematch`; `table`: the
        flow table, which says which of them are still open); a flow that fires now
        is handed over at once. Without a table, call `rematch` before the next batch.
        """
        new = Inspector(matcher, self.capacity, self.k_bytes, self.max_line_bytes,
                        followed=self.handoff.followed,
                        state=carry_state(self.state, matcher.n_words, matcher.n_sig_words))
        self._carry_fired(new)
        old, handoff = self.handoff, new.handoff
        handoff.flows, handoff.newly_detected = old.flows, old.newly_detected
        handoff.intel, handoff.dns = old.intel, old.dns
        handoff.addresses, handoff.names = old.addresses, old.names
        if table is not None:
            new.rematch(table)
        return new

    def _carry_fired(self, new):
        """Candidates keep the signatures that fired on them, by id: the kernel reads them
        (flows whose bytes may teach pool names stop it skipping DNS answers)."""
        rows = np.flatnonzero(self.state[1] == INSPECT_CANDIDATE)
        if not len(rows):
            return
        bits = np.unpackbits(self.state[6][rows].view(np.uint8), axis=1, bitorder="little")
        index = {sig: k for k, sig in enumerate(new.matcher.signature_ids)}
        fired = new.state[6]
        for j, sig in enumerate(self.matcher.signature_ids):
            k = index.get(sig)
            if k is not None and bits[:, j].any():
                fired[rows[bits[:, j] == 1], k >> 6] |= np.uint64(1) << np.uint64(k & 63)

    def rematch(self, table):
        """Match the open flows still in their first K bytes from byte 0 (after a reload:
        their automaton states were the old signatures'); hand over those that fire."""
        flows, free_rows, table_meta = table[0], table[4], table[6]
        insp_fid, insp_state = self.state[0], self.state[1]
        rows = np.flatnonzero((insp_state == INSPECT_MATCHING) & (insp_fid >= 0))
        rows = rows[flows["flow_id"][rows] == insp_fid[rows]]
        free = np.zeros(len(insp_fid), bool)
        free[free_rows[:table_meta[META_FREE_TOP]]] = True    # ended, row not reused yet
        rows = rows[~free[rows]]
        i = 0
        while i < len(rows):
            i = self._rematch_heads(rows, i)
            events = self.events[:self.meta[IM_EVENTS]]
            fired = events[events["kind"] == EV_FIRED]
            client = {frame: self.handoff.addresses.text(int(flows["client_hi"][row]),
                                                         int(flows["client_lo"][row]))
                      for frame, row in zip(fired["frame"].tolist(), fired["row"].tolist())}
            if len(events):
                self.handoff.on_events(events, self.arena[:self.meta[IM_ARENA]], client.get)
        log.info("signatures reloaded: %d flows in their first bytes matched again",
                 len(rows))

    def _rematch_heads(self, rows, start):
        state = (*self.state[:7], *self.state[8:])             # all but `peek`
        return rematch_heads(rows, start, *state, *self.tables, self.events, self.arena)

    def counters(self):
        meta = self.meta
        return {"candidates": int(meta[IM_CANDIDATES]), "inspect_gaps": int(meta[IM_GAPS]),
                "encrypted_skipped": int(meta[IM_EXCLUDED]),
                "peeks": int(meta[IM_PEEKS]), "dns_answers": int(meta[IM_DNS]),
                "dns_skipped": int(meta[IM_DNS_SKIPPED]),
                "binary_skipped": int(meta[IM_NOT_TEXT])}
