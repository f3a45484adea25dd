"""SubscriberMap: who is accountable for a hit, from its client address, port and time.

Precedence, most specific first (docs/subscribers.md):
  cgnat   a CGNAT port block: public address, port in [lo, hi], start <= t < end
  lease   a time-bounded lease (DHCP, RADIUS): address, start <= t < end
  static  a static address or prefix; the longest prefix wins
  ip      nothing matched: the address itself is the subscriber
Overlapping leases (or CGNAT blocks) of one address: the one that started last wins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.errors import SubscriberMapError

from . import values
from .csv_map import kind_of, read_csv
from .entries import MapEntries
from .lookup import NONE, BlockTable, StaticTable
from .yaml_map import read_yaml

#: how a hit's subscriber was found; codes index this tuple
HOW = ("ip", "static", "lease", "cgnat")
HOW_IP, HOW_STATIC, HOW_LEASE, HOW_CGNAT = range(4)
MAP_SUFFIXES = (".yaml", ".yml", ".csv")


class SubscriberMap:
    """Lookup tables plus the subscribers' free fields; built once, read-only after."""

    def __init__(self, ids=(), fields=None, static=None, leases=None, cgnat=None,
                 counts=None, sources=()):
        self.ids = tuple(ids)                    # subscriber code -> id
        self._fields = fields or {}              # id -> {field: text}
        self.static = static or StaticTable.empty()
        self.leases = leases or BlockTable.empty()
        self.cgnat = cgnat or BlockTable.empty()
        self.counts = counts or {"subscribers": 0, "static": 0, "leases": 0, "cgnat": 0}
        self.sources = tuple(sources)

    def __repr__(self):
        kinds = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"SubscriberMap({kinds})"

    def resolve_addresses(self, hi, lo, ports, ts_ns):
        """Vectorised core: (codes int64, how uint8) per hit.

        hi, lo : uint64[n]  client address (IPv4 mapped, as in the engine)
        ports  : int[n]     client port (after NAT: the public port)
        ts_ns  : int[n]     time of the hit, ns since the epoch
        codes[i] indexes `ids`, NONE (-1) when no entry matched (how = HOW_IP).
        """
        hi = np.ascontiguousarray(hi, np.uint64)
        lo = np.ascontiguousarray(lo, np.uint64)
        ports = np.ascontiguousarray(ports, np.int64)
        ts_ns = np.ascontiguousarray(ts_ns, np.int64)
        codes = np.full(hi.shape[0], NONE, np.int64)
        how = np.zeros(hi.shape[0], np.uint8)
        every_port = np.zeros_like(ports)    # leases cover the whole port range
        for table_codes, code in ((self.static.lookup(hi, lo), HOW_STATIC),
                                  (self.leases.lookup(hi, lo, every_port, ts_ns), HOW_LEASE),
                                  (self.cgnat.lookup(hi, lo, ports, ts_ns), HOW_CGNAT)):
            found = table_codes != NONE
            codes[found] = table_codes[found]
            how[found] = code
        return codes, how

    def resolve(self, ips, ports, ts_ns):
        """Per hit: (subscriber id, how) with how in HOW; ips are address strings.

        Unmatched hits get the address itself (canonical text) as their id.
        Raises ValueError for a string that is not an IP address.
        """
        position: dict[str, int] = {}
        inverse = np.fromiter((position.setdefault(ip, len(position)) for ip in ips),
                              np.int64, count=len(ips))
        numbers = [values.address(ip) for ip in position]
        u_hi = np.array([v >> 64 for v in numbers], np.uint64)
        u_lo = np.array([v & 0xFFFFFFFFFFFFFFFF for v in numbers], np.uint64)
        codes, how = self.resolve_addresses(u_hi[inverse], u_lo[inverse], ports, ts_ns)
        out = np.array([values.address_text(v) for v in numbers] or [""], object)[inverse]
        found = codes != NONE
        if found.any():
            out[found] = np.array(self.ids, object)[codes[found]]
        return out.tolist(), np.array(HOW, object)[how].tolist()

    def info(self, subscriber_id: str) -> dict:
        """Free fields of a subscriber (name, address, contract, ...); {} if none."""
        return dict(self._fields.get(subscriber_id, {}))


def default_subscriber_map() -> SubscriberMap:
    """No map: every address is its own subscriber."""
    return SubscriberMap()


def load_subscriber_map(path) -> SubscriberMap:
    """Load a map from a file, a directory (every *.yaml, *.yml, *.csv in it, by
    name) or a list of those. YAML or CSV by extension, else by content.

    Raises SubscriberMapError (`FILE:LINE: what is wrong`) at the first problem.
    """
    paths = _map_files(path)
    entries = MapEntries()
    for file in paths:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SubscriberMapError(file, f"not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise SubscriberMapError(file, exc.strerror or str(exc)) from None
        if _is_csv(file, text):
            read_csv(file, text, entries)
        else:
            read_yaml(file, text, entries)
    entries.check_references()
    fields = {entries.ids[code]: f for code, f in entries.fields.items()}
    return SubscriberMap(
        ids=entries.ids, fields=fields,
        static=StaticTable.build(entries),
        leases=BlockTable.build(entries, entries.leases, "lease"),
        cgnat=BlockTable.build(entries, entries.cgnat, "CGNAT block"),
        counts={"subscribers": len(entries.ids), "static": len(entries.static),
                "leases": len(entries.leases), "cgnat": len(entries.cgnat)},
        sources=[str(p) for p in paths])


def _map_files(path) -> list[Path]:
    items = [path] if isinstance(path, (str, Path)) else list(path)
    out = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in MAP_SUFFIXES)
            if not found:
                raise SubscriberMapError(item, "no *.yaml, *.yml or *.csv subscriber maps")
            out.extend(found)
        elif item.exists():
            out.append(item)
        else:
            raise SubscriberMapError(item, "subscriber map not found")
    if not out:
        raise SubscriberMapError("--subscribers", "no subscriber map given")
    return out


def _is_csv(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return False
    if suffix == ".csv":
        return True
    for line in text.splitlines():     # sniff: a CSV header names known columns
        line = line.strip()
        if line and not line.startswith("#"):
            header = [c.strip().strip('"').lower() for c in line.split(",")]
            return len(header) > 1 and kind_of(header) is not None
    return False
