"""Whole TCP conversations, wrapped in any link layer, encapsulation or tunnel.

`packets.py` builds one frame per case; the end-to-end flow tests need a
conversation per case (handshake, stratum lines both ways, FIN) so that packet,
byte, payload and flag counts per direction mean something. Here:

- `stratum_conversation` -> list of `Pkt` (inner IP packet, direction, time);
- `ENCAPS` -> how each link type / encapsulation / tunnel wraps an inner IP
  packet for one direction (outer addresses, MACs and UDP ports swap with it);
- `fragment` -> a packet cut into IPv4 or IPv6 fragments;
- `pcap_bytes` / `pcapng_bytes` store frames with the writers of
  `capture_formats` and return their `expected` records (exact ns time stamps).
"""

import struct
from dataclasses import dataclass, replace

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.contrib.ppi_cace import PPI_Dot11Common
from scapy.layers.inet import GRE, IP, TCP, UDP
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.layers.ppi import PPI, PPI_Hdr
from scapy.layers.ppp import HDLC, PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from detector.engine import dtypes as dt

from .capture_formats import PcapngWriter, PcapWriter
from .packets import (MAC_A, MAC_B, OUTER6_A, OUTER6_B, OUTER_A, OUTER_B, STRATUM,
                      TEREDO_PORT, V4_CLIENT, V4_POOL, V6_CLIENT, V6_POOL)

# A short stratum session: (direction, line). True = client to server.
STRATUM_LINES = (
    (True, STRATUM),
    (False, b'{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],'
            b'"08000002",4],"error":null}\n'),
    (True, b'{"id":2,"method":"mining.authorize","params":["wallet.rig1","x"]}\n'),
    (False, b'{"id":2,"result":true,"error":null}\n'),
    (False, b'{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6e2198f44ae2a6de67f78'
            b'487ae5611b77c6c0440b921e00000000","01000000","ffffffff",[],"00000002",'
            b'"1c2ac4af","504e86b9",false]}\n'),
    (True, b'{"id":4,"method":"mining.submit","params":["wallet.rig1","bf","00000001",'
            b'"504e86ed","b2957c02"]}\n'),
    (False, b'{"id":4,"result":true,"error":null}\n'),
)


@dataclass
class Pkt:
    """One packet of a conversation, before and after wrapping."""

    ts_ns: int
    c2s: bool
    ip: object                # scapy IP/IPv6 packet (the innermost one)
    payload_len: int          # L4 payload bytes this packet carries on the wire
    tcp_flags: int            # TCP flags byte (0 for a later fragment)
    later_fragment: bool = False
    frame: bytes = b""        # the record as stored (set by `wrap`)
    linktype: int = 0


def inner_ip(v, src, dst, ip_options=None, v6_ext=None, ip_id=0):
    """An IPv4 (optionally with options) or IPv6 (optionally with extension headers) header."""
    if v == 4:
        return IP(src=src, dst=dst, id=ip_id, options=ip_options or [])
    ip = IPv6(src=src, dst=dst)
    for ext in v6_ext or ():
        ip = ip / ext.copy()
    return ip


def v6_ext_chain():
    """Hop-by-hop, destination options, routing header (scapy layers)."""
    return (IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(addresses=[OUTER6_A]))


def stratum_conversation(v=4, client=None, server=None, cport=50123, sport=3333,
                         t0_ns=1_700_000_000_000_000_000, step_ns=20_000_000,
                         lines=STRATUM_LINES, ip_options=None, v6_ext=None):
    """SYN, SYN-ACK, ACK, the stratum lines each way (PSH+ACK, the peer ACKs a
    request with its answer), an ACK, FIN+ACK both ways and the last ACK."""
    client = client or (V4_CLIENT if v == 4 else V6_CLIENT)
    server = server or (V4_POOL if v == 4 else V6_POOL)
    seq = {True: 1_000_000, False: 7_000_000}
    ipid = {True: 0x1000, False: 0x2000}
    out = []

    def send(c2s, flags, data=b""):
        src, dst = (client, server) if c2s else (server, client)
        sp, dp = (cport, sport) if c2s else (sport, cport)
        ack = 0 if flags == "S" else seq[not c2s]
        ipid[c2s] += 1
        ip = inner_ip(v, src, dst, ip_options, v6_ext, ip_id=ipid[c2s])
        pkt = ip / TCP(sport=sp, dport=dp, seq=seq[c2s], ack=ack, flags=flags, window=64240)
        if data:
            pkt = pkt / Raw(data)
        seq[c2s] += len(data) + (1 if "S" in flags or "F" in flags else 0)
        ts = t0_ns + len(out) * step_ns
        out.append(Pkt(ts, c2s, pkt, len(data), int(pkt[TCP].flags)))

    send(True, "S")
    send(False, "SA")
    send(True, "A")
    for c2s, line in lines:
        send(c2s, "PA", line)
    send(True, "A")
    send(True, "FA")
    send(False, "FA")
    send(True, "A")
    return out


def fragment(pkt, first_data_bytes, pieces=2):
    """Cut `pkt` (a Pkt with an IPv4 or IPv6 packet) into fragments: the first carries
    the TCP header and `first_data_bytes` of payload, the rest is split into `pieces`-1
    later fragments (offsets in 8-byte units). Returns the fragment Pkts, same time."""
    ip = pkt.ip
    v6 = ip.version == 6
    l4 = bytes(ip[TCP])                      # TCP header + payload, checksum filled in
    tcp_hdr = len(l4) - pkt.payload_len
    cut = tcp_hdr + first_data_bytes
    assert cut % 8 == 0, "fragment boundaries are multiples of 8 bytes"
    rest = l4[cut:]
    size = -(-len(rest) // (pieces - 1) // 8) * 8
    chunks = [l4[:cut]] + [rest[k:k + size] for k in range(0, len(rest), size)]
    out, offset = [], 0
    for k, chunk in enumerate(chunks):
        more = k < len(chunks) - 1
        if v6:
            frag = IPv6(src=ip.src, dst=ip.dst) / IPv6ExtHdrFragment(
                nh=6, offset=offset // 8, m=int(more), id=0x5EED0000 | ip[TCP].sport)
        else:
            frag = IP(src=ip.src, dst=ip.dst, id=ip.id, proto=6, frag=offset // 8,
                      flags="MF" if more else 0)
        later = k > 0
        out.append(replace(pkt, ip=frag / Raw(chunk), later_fragment=later,
                           payload_len=len(chunk) if later else first_data_bytes,
                           tcp_flags=0 if later else pkt.tcp_flags))
        offset += len(chunk)
    return out


# --- encapsulations ----------------------------------------------------------------------
def _eth(c2s, payload, etype=None):
    src, dst = (MAC_A, MAC_B) if c2s else (MAC_B, MAC_A)
    return Ether(src=src, dst=dst, **({} if etype is None else {"type": etype})) / payload


def _outer(v, c2s, **kw):
    if v == 4:
        a, b = (OUTER_A, OUTER_B) if c2s else (OUTER_B, OUTER_A)
        return IP(src=a, dst=b, **kw)
    a, b = (OUTER6_A, OUTER6_B) if c2s else (OUTER6_B, OUTER6_A)
    return IPv6(src=a, dst=b, **kw)


def _pad60(frame):
    return frame + b"\x00" * max(0, 60 - len(frame))


def _null(order, af):
    return lambda ip, c2s: struct.pack(order + "I", af) + bytes(ip)


def _udp(c2s, port_c, port_s):
    """UDP from the client-side tunnel endpoint's port to the server side's, swapped back."""
    return UDP(sport=port_c, dport=port_s) if c2s else UDP(sport=port_s, dport=port_c)


@dataclass(frozen=True)
class Encap:
    """How one direction's inner IP packet becomes a stored record."""

    linktype: int
    wrap: object              # (scapy inner IP packet, c2s) -> scapy packet or bytes


E = dt.LINKTYPE_ETHERNET
ENCAPS = {
    # link types
    "ethernet": Encap(E, lambda ip, c2s: _eth(c2s, ip)),
    # received frames padded to the 60-byte Ethernet minimum (padding is no payload)
    "ethernet_padded": Encap(E, lambda ip, c2s: _pad60(bytes(_eth(c2s, ip)))),
    "linux_sll": Encap(dt.LINKTYPE_LINUX_SLL,
                       lambda ip, c2s: CookedLinux(pkttype=4 if c2s else 0) / ip),
    "linux_sll2": Encap(dt.LINKTYPE_LINUX_SLL2,
                        lambda ip, c2s: CookedLinuxV2(ifindex=2, pkttype=4 if c2s else 0) / ip),
    "raw": Encap(dt.LINKTYPE_RAW, lambda ip, c2s: ip),
    "raw_ipv4": Encap(dt.LINKTYPE_IPV4, lambda ip, c2s: ip),
    "raw_ipv6": Encap(dt.LINKTYPE_IPV6, lambda ip, c2s: ip),
    "null_le_af2": Encap(dt.LINKTYPE_NULL, _null("<", 2)),
    "null_be_af30": Encap(dt.LINKTYPE_NULL, _null(">", 30)),
    "loop_af24": Encap(dt.LINKTYPE_LOOP, _null(">", 24)),
    "loop_af2": Encap(dt.LINKTYPE_LOOP, _null(">", 2)),
    "ppp": Encap(dt.LINKTYPE_PPP, lambda ip, c2s: PPP() / ip),
    "ppp_hdlc": Encap(dt.LINKTYPE_PPP_HDLC, lambda ip, c2s: HDLC() / PPP() / ip),
    "cisco_hdlc": Encap(dt.LINKTYPE_C_HDLC, lambda ip, c2s: (
        (b"\x0f\x00\x08\x00" if ip.version == 4 else b"\x0f\x00\x86\xdd") + bytes(ip))),
    "ppp_ether": Encap(dt.LINKTYPE_PPP_ETHER, lambda ip, c2s: PPPoE(sessionid=9) / PPP() / ip),
    # PPI (a radio field, as a Wi-Fi sniffer writes it) before the frame of its own DLT
    "ppi_ethernet": Encap(dt.LINKTYPE_PPI, lambda ip, c2s: PPI(
        dlt=E, headers=[PPI_Hdr() / PPI_Dot11Common(Ch_Freq=2437)]) / _eth(c2s, ip)),
    "ppi_raw": Encap(dt.LINKTYPE_PPI, lambda ip, c2s: PPI(dlt=dt.LINKTYPE_RAW) / ip),
    # encapsulations inside Ethernet
    "vlan": Encap(E, lambda ip, c2s: _eth(c2s, Dot1Q(vlan=10) / ip)),
    "qinq_88a8": Encap(E, lambda ip, c2s: _eth(c2s, Dot1AD(vlan=100) / Dot1Q(vlan=10) / ip)),
    "qinq_9100": Encap(E, lambda ip, c2s: _eth(c2s, Dot1Q(vlan=100) / Dot1Q(vlan=10) / ip,
                                               etype=0x9100)),
    "mpls_stack": Encap(E, lambda ip, c2s: _eth(
        c2s, MPLS(label=100, s=0) / MPLS(label=200, s=0) / MPLS(label=300, s=1) / ip,
        etype=0x8847)),
    "vlan_mpls": Encap(E, lambda ip, c2s: _eth(
        c2s, Dot1Q(vlan=5, type=0x8847) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / ip)),
    "pppoe": Encap(E, lambda ip, c2s: _eth(c2s, PPPoE(sessionid=7) / PPP() / ip)),
    "vlan_pppoe": Encap(E, lambda ip, c2s: _eth(c2s, Dot1Q(vlan=20) / PPPoE(sessionid=7)
                                                / PPP() / ip)),
    # tunnels (outer addresses and ports swap with the direction)
    "gre": Encap(E, lambda ip, c2s: _eth(c2s, _outer(4, c2s) / GRE() / ip)),
    "gre_key_over_v6": Encap(E, lambda ip, c2s: _eth(
        c2s, _outer(6, c2s) / GRE(key_present=1, key=77, seqnum_present=1, sequence_number=3)
        / ip)),
    "erspan_ii": Encap(E, lambda ip, c2s: _eth(
        c2s, _outer(4, c2s) / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
        / ERSPAN_II(session_id=5, vlan=0) / _eth(c2s, ip))),
    "erspan_iii": Encap(E, lambda ip, c2s: _eth(
        c2s, _outer(4, c2s) / GRE(proto=0x22EB, seqnum_present=1, sequence_number=1)
        / ERSPAN_III(session_id=5) / _eth(c2s, Dot1Q(vlan=8) / ip))),
    "vxlan": Encap(E, lambda ip, c2s: _eth(
        c2s, _outer(4, c2s) / UDP(sport=61000, dport=4789) / VXLAN(vni=42) / _eth(c2s, ip))),
    "gtpu": Encap(E, lambda ip, c2s: _eth(
        c2s, _outer(4, c2s) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x1234) / ip)),
    "vlan_gtpu_gre": Encap(E, lambda ip, c2s: _eth(
        c2s, Dot1Q(vlan=300) / _outer(4, c2s) / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=1) / IP(src="172.16.0.1", dst="172.16.0.2") / GRE() / ip)),
    "in_ipv4": Encap(E, lambda ip, c2s: _eth(c2s, _outer(4, c2s) / ip)),   # ipip, 6in4
    "in_ipv6": Encap(E, lambda ip, c2s: _eth(c2s, _outer(6, c2s) / ip)),   # 4in6, 6in6
    "teredo": Encap(E, lambda ip, c2s: _eth(
        c2s, _outer(4, c2s) / _udp(c2s, 40001, TEREDO_PORT) / Raw(bytes(ip)))),
}


def wrap(pkts, encap):
    """Set each Pkt's frame and link type (in place); return the list."""
    for p in pkts:
        p.frame = bytes(encap.wrap(p.ip, p.c2s))
        p.linktype = encap.linktype
    return pkts


# --- storing frames ------------------------------------------------------------------------
def pcap_bytes(pkts, big=False, nsec=False):
    """A classic pcap of the Pkts (one link type); returns (bytes, writer.expected).
    With µs resolution the sub-µs part of each time stamp is dropped."""
    (linktype,) = {p.linktype for p in pkts}
    w = PcapWriter(big=big, nsec=nsec, linkfield=linktype)
    for p in pkts:
        sec, rem = divmod(p.ts_ns, 10**9)
        w.record(sec, rem if nsec else rem // 1000, p.frame)
    return w.bytes(), w.expected


def tsresol_units(ts_ns, tsresol):
    """ts_ns in if_tsresol units, rounded down."""
    denom = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
    return ts_ns * denom // 10**9


def pcapng_bytes(pkts, tsresol=None, big=False, split_sections=None, iface_tsresol=None):
    """A pcapng of the Pkts: one interface per link type, in order of first use.

    tsresol: if_tsresol of every interface (None: option absent, µs);
    iface_tsresol: {linktype: tsresol} overrides per interface;
    split_sections: index of the first Pkt written in a second section of the other
    byte order (interfaces are declared again there).
    Returns (bytes, writer.expected)."""
    iface_tsresol = iface_tsresol or {}
    w = PcapngWriter()

    def section(part, big_endian):
        w.shb(big=big_endian)
        ifaces = {}
        for p in part:
            if p.linktype not in ifaces:
                ifaces[p.linktype] = len(ifaces)
                w.idb(p.linktype, tsresol=iface_tsresol.get(p.linktype, tsresol))
        for p in part:
            res = iface_tsresol.get(p.linktype, tsresol)
            w.epb(ifaces[p.linktype], tsresol_units(p.ts_ns, 6 if res is None else res), p.frame)

    if split_sections is None:
        section(pkts, big)
    else:
        section(pkts[:split_sections], big)
        section(pkts[split_sections:], not big)
    return w.bytes(), w.expected
