"""Test oracle: first bytes of each TCP flow per direction, with dpkt (not the engine).

Deliberately simple: segments are placed by sequence number relative to the
SYN (or to the first payload segment when the SYN is missing), duplicates are
ignored and reassembly stops at the first hole. Client = sender of a SYN
without ACK, else the sender of the first packet seen. Good enough for the
signature tests; the engine has its own flow table.
"""

from __future__ import annotations

import functools
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import numpy as np

from detector.engine.match import eval_signatures, match_payload

K_BYTES = 4096   # bytes per direction the engine inspects by default


@dataclass
class FlowBytes:
    """First bytes of one TCP flow, per direction (client = initiator)."""

    client: tuple          # (ip string, port)
    server: tuple          # (ip string, port)
    toserver: bytes = b""  # first <= k reassembled payload bytes, client -> server
    toclient: bytes = b""  # first <= k reassembled payload bytes, server -> client


@dataclass
class _Dir:
    base: int | None = None                     # sequence number of stream byte 0
    segs: dict = field(default_factory=dict)    # stream offset -> payload


_DECODE_ERRORS = (dpkt.Error, IndexError, ValueError, struct.error)


def _ip_layer(linktype, buf):
    """dpkt IP/IP6 object of one record, or None (not IP, unknown link, undecodable)."""
    try:
        if linktype == 1:
            pkt = dpkt.ethernet.Ethernet(buf).data
        elif linktype == 113:
            pkt = dpkt.sll.SLL(buf).data
        elif linktype == 276:
            pkt = dpkt.sll2.SLL2(buf).data
        elif linktype in (0, 108):
            pkt = dpkt.loopback.Loopback(buf).data
        elif linktype in (101, 228, 229, 12, 14):
            pkt = dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)
        else:
            return None
    except _DECODE_ERRORS:
        return None
    for _ in range(4):   # peel tunnels: IP-in-IP, GRE, GTP-U, VXLAN
        if not isinstance(pkt, (dpkt.ip.IP, dpkt.ip6.IP6)):
            return None
        inner = _tunnel_payload(pkt.data)
        if inner is None:
            return pkt
        pkt = inner
    return None


def _tunnel_payload(l4):
    """The inner IP packet of a tunnel header, or None when `l4` is not a tunnel."""
    try:
        if isinstance(l4, (dpkt.ip.IP, dpkt.ip6.IP6)):
            return l4
        if isinstance(l4, dpkt.gre.GRE):
            return l4.data if isinstance(l4.data, (dpkt.ip.IP, dpkt.ip6.IP6)) else None
        if isinstance(l4, dpkt.udp.UDP):
            raw = bytes(l4.data)
            if 2152 in (l4.sport, l4.dport) and len(raw) >= 8 and raw[0] >> 5 == 1:
                off = 12 if raw[0] & 0x07 else 8
                while raw[0] & 0x04 and off < len(raw) and raw[off - 1]:   # extension headers
                    if raw[off] == 0:
                        return None
                    off += raw[off] * 4
                return _raw_ip(raw[off:])
            if 4789 in (l4.sport, l4.dport) and len(raw) > 8:
                inner = dpkt.ethernet.Ethernet(raw[8:]).data
                return inner if isinstance(inner, (dpkt.ip.IP, dpkt.ip6.IP6)) else None
    except _DECODE_ERRORS:
        return None
    return None


def _raw_ip(raw):
    if not raw:
        return None
    return dpkt.ip6.IP6(raw) if raw[0] >> 4 == 6 else dpkt.ip.IP(raw) if raw[0] >> 4 == 4 else None


def _records(path: Path):
    """(linktype, bytes) of every record of a pcap or pcapng file; stops at damage."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        try:
            reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" \
                else dpkt.pcap.Reader(fh)
        except _DECODE_ERRORS:
            return
        linktype = reader.datalink()
        try:
            for _ts, buf in reader:
                yield linktype, buf
        except _DECODE_ERRORS:
            return


@functools.lru_cache(maxsize=None)
def first_bytes(path, k: int = K_BYTES) -> tuple:
    """First `k` payload bytes per direction of every TCP flow in `path` (cached).

    Returns a tuple of FlowBytes in order of first appearance.
    """
    flows: dict = {}
    for linktype, buf in _records(Path(path)):
        ip = _ip_layer(linktype, buf)
        if ip is None or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        fam = socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6) else socket.AF_INET
        src = (socket.inet_ntop(fam, ip.src), tcp.sport)
        dst = (socket.inet_ntop(fam, ip.dst), tcp.dport)
        key = frozenset((src, dst))
        syn = bool(tcp.flags & dpkt.tcp.TH_SYN)
        ack = bool(tcp.flags & dpkt.tcp.TH_ACK)
        if key not in flows:
            client, server = (dst, src) if syn and ack else (src, dst)
            flows[key] = (client, server, _Dir(), _Dir())
        client, server, c2s, s2c = flows[key]
        d = c2s if src == client else s2c
        if syn:
            d.base = (tcp.seq + 1) & 0xFFFFFFFF
            continue
        payload = bytes(tcp.data)
        if not payload:
            continue
        if d.base is None:
            d.base = tcp.seq
        rel = (tcp.seq - d.base) & 0xFFFFFFFF
        if rel < k:
            d.segs.setdefault(rel, payload)
    return tuple(FlowBytes(c, s, _assemble(a, k), _assemble(b, k))
                 for c, s, a, b in flows.values())


def _assemble(d: _Dir, k: int) -> bytes:
    """In-order segments from stream offset 0, up to `k` bytes or the first hole."""
    out = bytearray()
    for rel in sorted(d.segs):
        if rel > len(out):
            break
        out += d.segs[rel][len(out) - rel:]
        if len(out) >= k:
            break
    return bytes(out[:k])


def fired_signatures(tables, toserver: bytes, toclient: bytes) -> set:
    """Signature ids that fire on one flow, given its first bytes per direction."""
    hits = tables.new_hits(1)[0]
    for direction, data in ((0, toserver), (1, toclient)):
        buf = np.frombuffer(data, np.uint8) if data else np.zeros(0, np.uint8)
        match_payload(*tables.automaton, buf, 0, len(buf), 0, direction, np.int32(0), hits)
    fired = tables.new_fired(1)[0]
    eval_signatures(tables.sig_pat_start, tables.sig_pat, tables.sig_all_start,
                    tables.sig_all, tables.sig_any_start, tables.sig_any, tables.sig_order,
                    hits, fired)
    return {sid for j, sid in enumerate(tables.signature_ids)
            if (int(fired[j >> 6]) >> (j & 63)) & 1}
