"""FLOW_DTYPE arrays -> flow records (dicts / rows) with the public field names.

The field names are a contract other tools rely on (see docs/flows.md):
transport, client_ip, client_port, server_ip, server_port, packets_c2s,
packets_s2c, bytes_c2s, bytes_s2c, first_ts, last_ts, tunnel, ...
Work is vectorised per array; addresses go through a small cache because
many flows share an address.
"""

import ipaddress

import numpy as np

from ..engine.dtypes import END_REASONS, IPV4_MAPPED, TUNNEL_NAMES

FIELDS = (
    "transport", "client_ip", "client_port", "server_ip", "server_port",
    "packets_c2s", "packets_s2c", "bytes_c2s", "bytes_s2c",
    "payload_bytes_c2s", "payload_bytes_s2c", "first_ts", "last_ts", "duration_s",
    "tunnel", "tcp_flags_c2s", "tcp_flags_s2c", "fragments", "end_reason",
    "flow_id", "first_frame",
)

TRANSPORT_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah",
                   58: "icmpv6", 132: "sctp", 136: "udplite"}
TCP_FLAG_LETTERS = "FSRPAUEC"   # bit 0 (FIN) .. bit 7 (CWR)
_V4_MASK = np.uint64(0xFFFFFFFF00000000)


class AddressCache:
    """128-bit (hi, lo) address -> text, remembered (bounded)."""

    def __init__(self, limit=1 << 18):
        self.limit = limit
        self.cache = {}

    def text(self, hi, lo):
        key = (hi, lo)
        s = self.cache.get(key)
        if s is None:
            if hi == 0 and (lo & _V4_MASK) == IPV4_MAPPED:
                s = str(ipaddress.IPv4Address(int(lo) & 0xFFFFFFFF))
            else:
                s = str(ipaddress.IPv6Address((int(hi) << 64) | int(lo)))
            if len(self.cache) >= self.limit:
                self.cache.clear()
            self.cache[key] = s
        return s


def iso_ns(ts_ns):
    """int64 ns since the epoch -> ISO 8601 UTC strings with ns ('...Z')."""
    return np.char.add(np.datetime_as_string(ts_ns.astype("datetime64[ns]"), unit="ns"), "Z")


def iso_ns_one(ts_ns: int) -> str:
    """One timestamp as `iso_ns` writes it."""
    return str(iso_ns(np.array([ts_ns], np.int64))[0])


def parse_iso_ns(text: str) -> int:
    """`iso_ns` text (or any ISO 8601 UTC 'Z' time, fraction optional) -> int ns."""
    return int(np.datetime64(text.rstrip("Z"), "ns").astype(np.int64))


def tunnel_text(bits):
    if not bits:
        return ""
    return "+".join(name for k, name in enumerate(TUNNEL_NAMES) if bits & (1 << k))


def flag_text(bits):
    return "".join(c for k, c in enumerate(TCP_FLAG_LETTERS) if bits & (1 << k))


def transport_text(proto):
    return TRANSPORT_NAMES.get(proto, str(proto))


class FlowFormatter:
    """Turns FLOW_DTYPE arrays into column lists, ready for any output format."""

    def __init__(self):
        self.addresses = AddressCache()
        self._tunnels = {}
        self._flags = {}

    def columns(self, flows):
        """Return {field: list} for an array of flows, fields in FIELDS order."""
        a = self.addresses.text
        tun = self._tunnels
        flg = self._flags
        first = flows["first_ts"]
        last = flows["last_ts"]

        def cached(table, fn, v):
            s = table.get(v)
            if s is None:
                s = table[v] = fn(v)
            return s

        cols = {
            "transport": [transport_text(p) for p in flows["proto"].tolist()],
            "client_ip": [a(h, lo) for h, lo in zip(flows["client_hi"].tolist(),
                                                    flows["client_lo"].tolist())],
            "client_port": flows["client_port"].tolist(),
            "server_ip": [a(h, lo) for h, lo in zip(flows["server_hi"].tolist(),
                                                    flows["server_lo"].tolist())],
            "server_port": flows["server_port"].tolist(),
            "packets_c2s": flows["packets_c2s"].tolist(),
            "packets_s2c": flows["packets_s2c"].tolist(),
            "bytes_c2s": flows["bytes_c2s"].tolist(),
            "bytes_s2c": flows["bytes_s2c"].tolist(),
            "payload_bytes_c2s": flows["payload_c2s"].tolist(),
            "payload_bytes_s2c": flows["payload_s2c"].tolist(),
            "first_ts": iso_ns(first).tolist(),
            "last_ts": iso_ns(last).tolist(),
            "duration_s": np.round((last - first) / 1e9, 9).tolist(),
            "tunnel": [cached(tun, tunnel_text, t) for t in flows["tunnel"].tolist()],
            "tcp_flags_c2s": [cached(flg, flag_text, t) for t in flows["flags_c2s"].tolist()],
            "tcp_flags_s2c": [cached(flg, flag_text, t) for t in flows["flags_s2c"].tolist()],
            "fragments": flows["fragments"].tolist(),
            "end_reason": [END_REASONS[r] for r in flows["end_reason"].tolist()],
            "flow_id": flows["flow_id"].tolist(),
            "first_frame": flows["first_frame"].tolist(),
        }
        return cols

    def records(self, flows):
        """Yield one dict per flow (field order as FIELDS)."""
        cols = self.columns(flows)
        values = [cols[f] for f in FIELDS]
        for row in zip(*values):
            yield dict(zip(FIELDS, row))
