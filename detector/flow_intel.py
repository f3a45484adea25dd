"""What stays visible of encrypted and proxied flows: names, fingerprints, proxy targets.

Fed by the engine's rare events (engine/handoff.py): EV_HELLO carries the
ClientHello record of a flow that opened with TLS and where its server name
is, EV_PEEK the first client bytes of a flow that opened with a proxy
request, EV_DNS one DNS answer datagram. Nothing here runs per packet of
ordinary flows, and everything is bounded:

- `Peek` buffers at most MAX_PEEK_BYTES of one proxied client stream until
  the proxy request and the ClientHello behind it are complete, then says
  "done" (the engine stops sending).
- `IntelTable` keeps one entry per live flow (dropped when the flow ends), at
  most `limit` of them: a FlowIntel, or a ClientHello's (record, name verdict,
  frame) until something asks for the flow's FlowIntel.
- `DnsCache` remembers (client, address) -> names for the answer's TTL,
  least recently answered dropped first beyond `limit` entries.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from .engine.dns_skip import DnsSkipSet
from .idsets import members
from .pool_names import address_key
from .protocols import dns_answer, proxy_request, tls_hello
from .protocols.message import untrusted_text

MAX_PEEK_BYTES = 8192
HELLO_NAMES_LIMIT = 1 << 14    # names remembered (each at most tls_hello.MAX_NAME bytes)
MIN_TTL_S = 60            # short TTLs still cover the connection that follows the answer
MAX_TTL_S = 86400


@dataclass(slots=True)
class FlowIntel:
    """Names and fingerprints of one flow (None when not seen).

    A direct TLS flow arrives as its ClientHello record and its server name,
    which the engine found (engine/client_hello.py); the rest of the hello
    (ALPN, JA3, JA4) is parsed by dpkt on first use, so only the flows that
    are scored on those fields or reported as hits pay for it. Slots: smaller
    and quicker to make; a direct TLS flow gets one only when `IntelTable.get`
    first asks for it.
    """

    tls: bool = False               # a ClientHello was seen (directly or inside a proxy)
    sni: str | None = None
    proxy_kind: str | None = None   # http-connect, socks4, socks4a, socks5
    proxy_host: str | None = None
    proxy_target: str | None = None  # host:port asked of the proxy
    first_frame: int = 0            # frame of the bytes that completed it
    hello_record: bytes = b""       # the ClientHello record, parsed when asked
    parsed: object = field(default=None, repr=False)   # its ClientHello, once parsed

    @property
    def hello(self):
        """The parsed ClientHello (None when there is none or dpkt rejects it)."""
        if self.parsed is None and self.hello_record:
            self.parsed = tls_hello.parse_client_hello(self.hello_record)
            if not isinstance(self.parsed, tls_hello.ClientHello):
                self.parsed = False
        return self.parsed or None

    @property
    def alpn(self):
        return self.hello.alpn if self.hello is not None else None

    @property
    def ja3(self):
        return self.hello.ja3 if self.hello is not None else None

    @property
    def ja4(self):
        return self.hello.ja4 if self.hello is not None else None


class Peek:
    """The client head of one peeked flow, parsed as it grows."""

    def __init__(self):
        self.data = b""
        self.intel = FlowIntel()
        self.inner = 0              # where the TLS (or cleartext) inside a proxy starts
        self.proxy_done = False

    def feed(self, pos, data, frame):
        """Add client bytes at stream offset `pos`; True when nothing more is needed."""
        if pos > len(self.data):
            return True                          # a hole: what we have is all we get
        self.data = (self.data[:pos] + data)[:MAX_PEEK_BYTES]
        if not self.proxy_done:
            req = proxy_request.parse_proxy_request(self.data)
            if isinstance(req, proxy_request.ProxyRequest):
                self.intel.proxy_kind = req.kind
                self.intel.proxy_host = req.host
                self.intel.proxy_target = req.target
                self.inner = req.inner_offset
            elif isinstance(req, proxy_request.Incomplete):
                if self.data[:1] != b"\x16":
                    return len(self.data) >= MAX_PEEK_BYTES
            self.proxy_done = True
        inner = self.data[self.inner:]
        hello = tls_hello.parse_client_hello(inner)
        if isinstance(hello, tls_hello.Incomplete):
            return len(self.data) >= MAX_PEEK_BYTES
        if hello is not None:
            self.intel.tls = True
            self.intel.sni = hello.sni
            self.intel.parsed = hello
            self.intel.first_frame = frame
        return True


class IntelTable:
    """FlowIntel by flow_id for live flows; Peek state while a flow is being read.

    With `use_names(names)` (a PoolNames) it also keeps `maybe_named`: the flows a
    name signal may hold for, as far as their own names tell (the server name under
    a pool name when the hello came, any proxied or peeked flow, every flow alive
    when the pool names changed). The encrypted detector then reads the names of
    those alone: thousands of TLS flows end per batch, their FlowIntel long out of
    the CPU's caches, while the hello's name is at hand when it arrives."""

    def __init__(self, limit=1 << 18):
        self.limit = limit
        self.flows = {}           # flow_id -> FlowIntel, or what on_hellos keeps until `get`
        self.flow_ids = np.zeros(0, np.int64)   # keys of `flows` (and forgotten ones)...
        self.new_ids = array("q")               # ...but those added since `_flow_ids`
        self.peeks = {}           # flow_id -> Peek
        self.finished = set()     # flows read to the end of what they show (engine may lag)
        self.dropped = 0          # flows not remembered because the table was full
        self.names = None         # the PoolNames `maybe_named` follows (None: none)
        self.maybe_named = set()  # flow_ids, a subset of those of `flows`
        self.hello_names = {}     # name bytes of a hello -> _hello_name of them

    def use_names(self, names):
        """Follow the pool names `names` (a PoolNames) from now on, and what they learn."""
        self.names = names
        names.on_learn.append(self.names_changed)
        self.names_changed()

    def names_changed(self):
        """The pool names changed (a host learned, a reload): a live flow's name may be
        covered now, or no longer."""
        self.maybe_named.update(self.flows)
        self.hello_names.clear()

    def on_peek(self, fid, pos, data, frame):
        """Client head bytes of flow `fid`; returns True when the engine may stop."""
        if fid in self.finished:
            return True           # events the engine wrote before it saw "done"
        peek = self.peeks.get(fid)
        if peek is None:
            if len(self.peeks) + len(self.flows) >= self.limit:
                self.dropped += 1
                return True
            peek = self.peeks[fid] = Peek()
        done = peek.feed(pos, data, frame)
        if done:
            del self.peeks[fid]
            self.finished.add(fid)
            if peek.intel.tls or peek.intel.proxy_kind:
                self.flows[fid] = peek.intel
                self.new_ids.append(fid)
                self.maybe_named.add(fid)        # rare: not worth telling apart
        return done

    def on_hellos(self, fids, records, names, frames):
        """The ClientHello records of flows that opened with TLS (lists, an item per
        flow), with the bytes of each one's server name as the engine found them (empty:
        none) and the frame that completed it.

        Thousands come per batch and most of their flows end without anyone asking:
        each is kept as a tuple (record, (server name, covered), frame), made into its
        FlowIntel when `get` first asks, and the batch is taken in a few C-level loops."""
        room = max(self.limit - len(self.flows) - len(self.peeks), 0)
        if room < len(fids):
            self.dropped += len(fids) - room
            fids, records, names, frames = fids[:room], records[:room], names[:room], \
                frames[:room]
        known = self.hello_names.get
        seen = [known(name) or self._hello_name(name) for name in names]
        self.flows.update(zip(fids, zip(records, seen, frames)))
        self.new_ids.extend(fids)
        self.maybe_named.update([fid for fid, (_, covered) in zip(fids, seen) if covered])

    def on_hello(self, fid, record, name, frame):
        """One ClientHello (see `on_hellos`)."""
        self.on_hellos([fid], [record], [name], [frame])

    def _hello_name(self, name):
        """(server name, whether the pool names cover it) of the name bytes of a hello,
        remembered: a network opens TLS flows to the same few names all day."""
        sni = untrusted_text(name.decode("ascii", "replace").lower(), tls_hello.MAX_NAME) \
            if name else None
        covered = bool(sni) and self.names is not None and self.names.name_match(sni) is not None
        if len(name) <= tls_hello.MAX_NAME:             # longer: not a host name, not kept
            if len(self.hello_names) >= HELLO_NAMES_LIMIT:
                self.hello_names.clear()
            self.hello_names[name] = (sni, covered)
        return sni, covered

    def get(self, fid):
        intel = self.flows.get(fid)
        if type(intel) is tuple:                 # a hello not asked for yet (on_hellos)
            record, (sni, _), frame = intel
            intel = self.flows[fid] = FlowIntel(tls=True, sni=sni, first_frame=frame,
                                                hello_record=record)
        if intel is None and fid in self.peeks:
            p = self.peeks[fid]
            if p.intel.proxy_kind:
                return p.intel
        return intel

    def known_mask(self, ids):
        """Boolean mask over the flow_id array `ids`: which flows may have FlowIntel
        (every one `get` answers, and flows it forgot, which end only once)."""
        mask = members(ids, self._flow_ids())
        if self.peeks:
            mask |= members(ids, [fid for fid, p in self.peeks.items() if p.intel.proxy_kind])
        return mask

    def _flow_ids(self):
        """The keys of `flows` as an int64 array, and keys forgotten since it was last
        read out of the dict: kept up to date as flows come, so that the dict's keys, long
        out of the CPU's caches, are read once in a while rather than every batch."""
        if self.new_ids:
            self.flow_ids = np.concatenate((self.flow_ids, np.frombuffer(self.new_ids,
                                                                         np.int64)))
            self.new_ids = array("q")
        if len(self.flow_ids) > 2 * len(self.flows) + 1024:   # more forgotten than live
            self.flow_ids = np.fromiter(self.flows, np.int64, len(self.flows))
        return self.flow_ids

    def forget(self, ended_ids, known):
        """Drop what is known of the flows in the flow_id array `ended_ids`: they ended.
        `known`: those of them `known_mask` accepts, as a list."""
        for fid in known:
            self.flows.pop(fid, None)
        if self.maybe_named:
            self.maybe_named.difference_update(known)
        if self.peeks:
            for fid in ended_ids[members(ended_ids, self.peeks)].tolist():
                del self.peeks[fid]
        if self.finished:
            self.finished.difference_update(
                ended_ids[members(ended_ids, self.finished)].tolist())


class DnsCache:
    """(client address, answered address) -> (names, expiry ns), bounded, LRU by answer.

    With `wanted(name)` (the pool list's name_match), only answers to questions
    it accepts are parsed and kept: most DNS traffic costs one label walk, and
    the questions it rejects go to `skip`, whose answers the engine then drops
    without handing them over. `answered` counts the entries per answered address
    as the flow table holds it (address_key): ended flows to any other server have
    no DNS name, which numpy tells for a whole batch (encrypted.py)."""

    def __init__(self, limit=1 << 16, wanted=None):
        self.limit = limit
        self.wanted = wanted
        self.entries = OrderedDict()   # (client, address) -> (names, expiry ns, address key)
        self.answered = {}             # address key (hi, lo) -> its entries
        self.verdicts = {}             # question name (wire form) -> wanted?
        self.skip = DnsSkipSet()  # the rejected ones, for the engine
        self.answers = 0
        self.skipped = 0

    def use_filter(self, wanted):
        """Keep only answers to questions `wanted(name)` accepts (None: every answer)."""
        self.wanted = wanted
        self.forget_verdicts()

    def forget_verdicts(self):
        """`wanted` accepts more names now (a pool host was learned)."""
        self.verdicts.clear()
        self.skip.clear()

    def wants(self, wire_name):
        """Whether answers to the question `wire_name` (RFC 1035 wire form) are worth
        reading; remembered per name, since a network asks the same names over and over."""
        if self.wanted is None:
            return True
        verdict = self.verdicts.get(wire_name)
        if verdict is None:
            verdict = self.wanted(dns_answer.wire_name_text(wire_name)) is not None
            if len(self.verdicts) >= self.limit:
                self.verdicts.clear()
            self.verdicts[wire_name] = verdict
        if not verdict:
            self.skipped += 1
            self.skip.add(wire_name)
        return verdict

    def on_response(self, client, payload, ts_ns):
        if self.wanted is not None and not self.wanted(dns_answer.question_name(payload)):
            self.skipped += 1
            return
        for ans in dns_answer.parse_dns_answers(payload):
            ttl = min(max(ans.ttl_s, MIN_TTL_S), MAX_TTL_S)
            key = (client, ans.address)
            old = self.entries.pop(key, None)
            server = old[2] if old is not None else self._answered(address_key(ans.address), 1)
            self.entries[key] = (ans.names, ts_ns + ttl * 1_000_000_000, server)
            self.answers += 1
            while len(self.entries) > self.limit:
                self._answered(self.entries.popitem(last=False)[1][2], -1)

    def _answered(self, server, change):
        """Count one more (or one fewer) entry for the address key `server`; returns it."""
        count = self.answered.get(server, 0) + change
        if count:
            self.answered[server] = count
        else:
            del self.answered[server]
        return server

    def names(self, client, address, ts_ns):
        """Names `client` was told `address` has, if the answer is still valid at ts_ns."""
        hit = self.entries.get((client, address))
        if hit is None or ts_ns > hit[1]:
            return ()
        return hit[0]
