"""Frame generators for decode tests: one builder per link type, encapsulation and tunnel.

Each builder returns a Case: the link type, the frame bytes and what the
decoder must find (the innermost 5-tuple, tunnel bits, payload). Builders use
scapy where it has the layer and spell the bytes out where it does not
(Teredo, NULL in both byte orders, PPTP GRE, generic IPv6 extension headers).
`write_pcap` stores any list of frames as a classic pcap for other tests and
for tshark.
"""

import random
import struct
from dataclasses import dataclass, field

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.contrib.mpls import MPLS
from scapy.contrib.ppi_cace import PPI_Dot11Common
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, LLC, STP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.layers.ppi import PPI, PPI_Hdr
from scapy.layers.ppp import HDLC, PPP, PPPoE
from scapy.layers.sctp import SCTP
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from detector.engine import dtypes as dt

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
V4_CLIENT, V4_POOL = "10.1.2.3", "198.51.100.7"
V6_CLIENT, V6_POOL = "2001:db8::10", "2001:db8:ffff::3333"
OUTER_A, OUTER_B = "192.0.2.1", "192.0.2.2"
OUTER6_A, OUTER6_B = "2001:db8:1::1", "2001:db8:1::2"
STRATUM = b'{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5"]}\n'
TEREDO_PORT = 3544


@dataclass
class Expect:
    """What decode_batch must write for one frame (status OK unless said)."""

    status: int = dt.DECODE_OK
    ip_version: int = 4
    proto: int = 6
    src: str = V4_CLIENT
    dst: str = V4_POOL
    sport: int = 0
    dport: int = 0
    tunnel: int = 0
    frag: int = dt.FRAG_NONE
    ip_id: int | None = None          # None: not checked
    seq: int = 0
    ack: int = 0
    tcp_flags: int = 0
    payload: bytes = b""              # the captured payload bytes
    payload_len: int | None = None    # wire payload length; None: len(payload)


@dataclass
class Case:
    """One generated frame and its expected decode."""

    name: str
    linktype: int
    frame: bytes
    expect: Expect
    tags: set = field(default_factory=set)   # "tunnel": tshark cross-check; "outer": heuristic miss


def inner_tcp(v=4, sport=50123, dport=3333, payload=STRATUM, seq=1000, ack=2000, flags="PA",
              src=None, dst=None):
    """An inner TCP packet (scapy) and its Expect."""
    src = src or (V4_CLIENT if v == 4 else V6_CLIENT)
    dst = dst or (V4_POOL if v == 4 else V6_POOL)
    ip = IP(src=src, dst=dst, id=0x4242) if v == 4 else IPv6(src=src, dst=dst)
    pkt = ip / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags) / Raw(payload)
    flag_bits = int(TCP(flags=flags).flags)
    return pkt, Expect(ip_version=v, proto=6, src=src, dst=dst, sport=sport, dport=dport,
                       seq=seq, ack=ack, tcp_flags=flag_bits, payload=payload)


def inner_udp(v=4, sport=40000, dport=53, payload=b"\x12\x34query", src=None, dst=None):
    """An inner UDP packet (scapy) and its Expect."""
    src = src or (V4_CLIENT if v == 4 else V6_CLIENT)
    dst = dst or (V4_POOL if v == 4 else V6_POOL)
    ip = IP(src=src, dst=dst) if v == 4 else IPv6(src=src, dst=dst)
    pkt = ip / UDP(sport=sport, dport=dport) / Raw(payload)
    return pkt, Expect(ip_version=v, proto=17, src=src, dst=dst, sport=sport, dport=dport,
                       payload=payload)


def eth(payload, etype=None):
    """Ethernet II around `payload` (scapy picks the ethertype unless given)."""
    if etype is None:
        return Ether(src=MAC_A, dst=MAC_B) / payload
    return Ether(src=MAC_A, dst=MAC_B, type=etype) / payload


def outer_ip(v, **kw):
    """Outer IPv4/IPv6 header between the tunnel endpoints."""
    if v == 4:
        return IP(src=OUTER_A, dst=OUTER_B, **kw)
    nh = kw.pop("proto", None)
    return IPv6(src=OUTER6_A, dst=OUTER6_B, **({"nh": nh} if nh is not None else {}), **kw)


def case(name, linktype, frame, expect, *tags):
    """Build a Case from a scapy packet or bytes."""
    return Case(name, linktype, bytes(frame), expect, set(tags))


# --- link layers ---------------------------------------------------------------

def link_cases():
    """Every link type and L2 encapsulation around an inner TCP or UDP packet."""
    out = []
    p4, e4 = inner_tcp(4)
    p6, e6 = inner_tcp(6)
    u6, eu6 = inner_udp(6)
    out.append(case("eth_ipv4_tcp", dt.LINKTYPE_ETHERNET, eth(p4), e4))
    out.append(case("eth_ipv6_tcp", dt.LINKTYPE_ETHERNET, eth(p6), e6))
    out.append(case("eth_ipv6_udp", dt.LINKTYPE_ETHERNET, eth(u6), eu6))
    out.append(case("eth_vlan", dt.LINKTYPE_ETHERNET, eth(Dot1Q(vlan=10) / p4), e4))
    out.append(case("eth_qinq_88a8", dt.LINKTYPE_ETHERNET,
                    eth(Dot1AD(vlan=100) / Dot1Q(vlan=10) / p6), e6))
    out.append(case("eth_qinq_9100", dt.LINKTYPE_ETHERNET,
                    eth(Dot1Q(vlan=100) / Dot1Q(vlan=10) / p4, etype=0x9100), e4))
    out.append(case("eth_mpls_stack_v4", dt.LINKTYPE_ETHERNET,
                    eth(MPLS(label=100, s=0) / MPLS(label=200, s=0) / MPLS(label=300, s=1) / p4,
                        etype=0x8847), e4))
    out.append(case("eth_mpls_multicast_v6", dt.LINKTYPE_ETHERNET,
                    eth(MPLS(label=16, s=1) / p6, etype=0x8848), e6))
    out.append(case("eth_vlan_mpls_pw_cw_eth", dt.LINKTYPE_ETHERNET,
                    eth(Dot1Q(vlan=5, type=0x8847) / MPLS(label=99, s=1)
                        / Raw(b"\x00\x00\x00\x00") / eth(Dot1Q(vlan=7) / p4)), e4))
    out.append(case("eth_pppoe_v4", dt.LINKTYPE_ETHERNET,
                    eth(PPPoE(sessionid=7) / PPP(proto=0x0021) / p4), e4))
    out.append(case("eth_pppoe_v6", dt.LINKTYPE_ETHERNET,
                    eth(PPPoE(sessionid=7) / PPP(proto=0x0057) / p6), e6))
    out.append(case("sll_v4", dt.LINKTYPE_LINUX_SLL, CookedLinux(pkttype=0) / p4, e4))
    out.append(case("sll_vlan_v6", dt.LINKTYPE_LINUX_SLL,
                    CookedLinux(pkttype=4, proto=0x8100) / Dot1Q(vlan=3) / p6, e6))
    out.append(case("sll2_v4", dt.LINKTYPE_LINUX_SLL2, CookedLinuxV2(ifindex=2) / p4, e4))
    out.append(case("sll2_v6", dt.LINKTYPE_LINUX_SLL2, CookedLinuxV2(ifindex=2) / p6, e6))
    out.append(case("null_le_v4", dt.LINKTYPE_NULL, struct.pack("<I", 2) + bytes(p4), e4))
    out.append(case("null_be_v4", dt.LINKTYPE_NULL, struct.pack(">I", 2) + bytes(p4), e4))
    for af in (10, 24, 28, 30):
        out.append(case(f"null_le_v6_af{af}", dt.LINKTYPE_NULL, struct.pack("<I", af) + bytes(p6), e6))
    out.append(case("null_be_v6_af30", dt.LINKTYPE_NULL, struct.pack(">I", 30) + bytes(p6), e6))
    out.append(case("loop_v4", dt.LINKTYPE_LOOP, struct.pack(">I", 2) + bytes(p4), e4))
    out.append(case("loop_v6", dt.LINKTYPE_LOOP, struct.pack(">I", 24) + bytes(p6), e6))
    out.append(case("ppp_v4", dt.LINKTYPE_PPP, PPP(proto=0x0021) / p4, e4))
    out.append(case("ppp_hdlc_framed_v6", dt.LINKTYPE_PPP, HDLC() / PPP(proto=0x0057) / p6, e6))
    out.append(case("ppp_pfc_v4", dt.LINKTYPE_PPP, b"\x21" + bytes(p4), e4))
    out.append(case("ppp_hdlc_v4", dt.LINKTYPE_PPP_HDLC, HDLC() / PPP(proto=0x0021) / p4, e4))
    out.append(case("ppp_hdlc_noaddr_v6", dt.LINKTYPE_PPP_HDLC, PPP(proto=0x0057) / p6, e6))
    out.append(case("ppp_ether_v4", dt.LINKTYPE_PPP_ETHER, PPPoE(sessionid=9) / PPP(proto=0x0021) / p4, e4))
    out.append(case("c_hdlc_v4", dt.LINKTYPE_C_HDLC, b"\x0f\x00\x08\x00" + bytes(p4), e4))
    out.append(case("c_hdlc_v6", dt.LINKTYPE_C_HDLC, b"\x8f\x00\x86\xdd" + bytes(p6), e6))
    for lt in (dt.LINKTYPE_RAW, dt.LINKTYPE_RAW_BSD12, dt.LINKTYPE_RAW_BSD14):
        out.append(case(f"raw{lt}_v4", lt, p4, e4))
        out.append(case(f"raw{lt}_v6", lt, p6, e6))
    out.append(case("ipv4_linktype", dt.LINKTYPE_IPV4, p4, e4))
    out.append(case("ipv6_linktype", dt.LINKTYPE_IPV6, p6, e6))
    # PPI: a radio field (802.11-common) before an Ethernet frame; none before raw IP
    out.append(case("ppi_dot11common_eth_v4", dt.LINKTYPE_PPI,
                    PPI(dlt=dt.LINKTYPE_ETHERNET, headers=[PPI_Hdr() / PPI_Dot11Common()])
                    / eth(Dot1Q(vlan=10) / p4), e4))
    out.append(case("ppi_raw_v6", dt.LINKTYPE_PPI, PPI(dlt=dt.LINKTYPE_RAW) / p6, e6))
    return out


# --- IP features ---------------------------------------------------------------------

def generic_ext(nh, units=0):
    """A generic IPv6 extension header (mobility, HIP, shim6 layout): nh, len, padding."""
    return bytes([nh, units]) + bytes(6 + 8 * units)


def ip_cases():
    """IPv4 options, IPv6 extension headers, fragments, padding, non-port protocols."""
    out = []
    payload = STRATUM
    tcp = TCP(sport=50123, dport=3333, seq=5, ack=6, flags="A")
    base = dict(sport=50123, dport=3333, seq=5, ack=6, tcp_flags=0x10)
    out.append(case("ipv4_options", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL, options=[b"\x01\x01\x01\x00" * 3]) / tcp / payload),
                    Expect(payload=payload, **base)))
    out.append(case("tcp_options", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL)
                        / TCP(sport=50123, dport=3333, seq=5, ack=6, flags="A",
                              options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]) / payload),
                    Expect(payload=payload, **base)))
    chain = (IPv6(src=V6_CLIENT, dst=V6_POOL) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
             / IPv6ExtHdrRouting(addresses=[OUTER6_A]) / AH(nh=60, payloadlen=1, spi=1, seq=1)
             / IPv6ExtHdrDestOpt() / tcp / payload)
    e6 = dict(ip_version=6, src=V6_CLIENT, dst=V6_POOL)
    out.append(case("ipv6_ext_chain", dt.LINKTYPE_ETHERNET, eth(chain), Expect(payload=payload, **e6, **base)))
    raw_chain = generic_ext(139) + generic_ext(140, 1) + generic_ext(6) + bytes(tcp / payload)
    out.append(case("ipv6_mobility_hip_shim6", dt.LINKTYPE_ETHERNET,
                    eth(IPv6(src=V6_CLIENT, dst=V6_POOL, nh=135) / Raw(raw_chain)),
                    Expect(payload=payload, **e6, **base)))
    out.append(case("ipv6_no_next_header", dt.LINKTYPE_ETHERNET,
                    eth(IPv6(src=V6_CLIENT, dst=V6_POOL, nh=0) / IPv6ExtHdrHopByHop(nh=59)),
                    Expect(proto=59, **e6)))
    out.append(case("eth_padding", dt.LINKTYPE_ETHERNET,
                    bytes(eth(IP(src=V4_CLIENT, dst=V4_POOL) / tcp)) + b"\xee" * 6,
                    Expect(payload=b"", **base)))
    out.append(case("icmp_echo", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL) / ICMP(id=7, seq=1) / b"ping"),
                    Expect(proto=1, payload=bytes(ICMP(id=7, seq=1) / b"ping"))))
    out.append(case("sctp", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL) / SCTP(sport=2905, dport=2906) / b"chunk..."),
                    Expect(proto=132, sport=2905, dport=2906, payload=b"chunk...")))
    lite = struct.pack(">HHHH", 5000, 5001, 8, 0) + b"lite-data"
    out.append(case("udplite", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL, proto=136) / Raw(lite)),
                    Expect(proto=136, sport=5000, dport=5001, payload=b"lite-data")))
    # UDP length shorter than the IP payload: the UDP length wins
    out.append(case("udp_len_short", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL) / UDP(sport=1, dport=2, len=12) / b"abcdefgh"),
                    Expect(proto=17, sport=1, dport=2, payload=b"abcd")))
    # fragments
    first_data = bytes(TCP(sport=50123, dport=3333, seq=5, ack=6, flags="A")) + payload[:16]
    out.append(case("frag_v4_first", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL, id=0xBEEF, flags="MF", proto=6) / Raw(first_data)),
                    Expect(frag=dt.FRAG_FIRST, ip_id=0xBEEF, payload=payload[:16], **base)))
    out.append(case("frag_v4_later", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL, id=0xBEEF, frag=5, proto=6) / Raw(payload[16:])),
                    Expect(frag=dt.FRAG_LATER, ip_id=0xBEEF, payload=payload[16:])))
    out.append(case("frag_v6_first", dt.LINKTYPE_ETHERNET,
                    eth(IPv6(src=V6_CLIENT, dst=V6_POOL) / IPv6ExtHdrFragment(nh=6, m=1, id=0xCAFE01)
                        / Raw(first_data)),
                    Expect(frag=dt.FRAG_FIRST, ip_id=0xCAFE01, payload=payload[:16], **e6, **base)))
    out.append(case("frag_v6_later", dt.LINKTYPE_ETHERNET,
                    eth(IPv6(src=V6_CLIENT, dst=V6_POOL) / IPv6ExtHdrDestOpt()
                        / IPv6ExtHdrFragment(nh=6, offset=5, id=0xCAFE01) / Raw(payload[16:])),
                    Expect(frag=dt.FRAG_LATER, ip_id=0xCAFE01, payload=payload[16:], **e6)))
    out.append(case("frag_v4_later_gre_not_followed", dt.LINKTYPE_ETHERNET,
                    eth(IP(src=V4_CLIENT, dst=V4_POOL, id=9, frag=100, proto=47) / Raw(b"x" * 24)),
                    Expect(proto=47, frag=dt.FRAG_LATER, ip_id=9, payload=b"x" * 24)))
    return out


# --- tunnels -------------------------------------------------------------------------

def teredo_payload(inner, auth=False, origin=False):
    """Teredo UDP payload: optional authentication and origin indication, then IPv6."""
    out = b""
    if auth:
        client_id, auth_value = b"cid", b"auth-value"
        out += (b"\x00\x01" + bytes([len(client_id), len(auth_value)]) + client_id + auth_value
                + b"N" * 8 + b"\x00")
    if origin:
        out += b"\x00\x00" + struct.pack(">H", 0xFFFF ^ 3544) + bytes([255 ^ 198, 255 ^ 51, 255 ^ 100, 255 ^ 9])
    return out + bytes(inner)


def pptp_gre(inner_ppp, seq=1, ack=None):
    """PPTP enhanced GRE (version 1, key = payload length + call id) around PPP bytes."""
    flags = 0x2001 | 0x1000 | (0x0080 if ack is not None else 0)
    hdr = struct.pack(">HHHH", flags, 0x880B, len(inner_ppp), 0x1234) + struct.pack(">I", seq)
    if ack is not None:
        hdr += struct.pack(">I", ack)
    return hdr + inner_ppp


def with_tunnel(e, bits):
    """Copy of Expect `e` with extra tunnel bits."""
    return Expect(**{**e.__dict__, "tunnel": e.tunnel | bits})


def tunnel_cases():
    """Every tunnel, plus heuristic near-misses that must stay outer UDP/GRE flows."""
    out = []
    E = dt.LINKTYPE_ETHERNET
    p4, e4 = inner_tcp(4)
    p6, e6 = inner_tcp(6)
    u4, eu4 = inner_udp(4)
    g = dt.TUNNEL_GRE
    out.append(case("gre_v4", E, eth(outer_ip(4) / GRE() / p4), with_tunnel(e4, g), "tunnel"))
    out.append(case("gre_key_seq_csum_v6", E,
                    eth(outer_ip(4) / GRE(chksum_present=1, key_present=1, key=77, seqnum_present=1,
                                          sequence_number=5) / p6), with_tunnel(e6, g), "tunnel"))
    out.append(case("gre_over_v6", E, eth(outer_ip(6, proto=47) / GRE(key_present=1, key=3) / p4),
                    with_tunnel(e4, g), "tunnel"))
    out.append(case("gre_teb", E, eth(outer_ip(4) / GRE(proto=0x6558) / eth(Dot1Q(vlan=4) / p4)),
                    with_tunnel(e4, g), "tunnel"))
    out.append(case("gre_mpls", E, eth(outer_ip(4) / GRE(proto=0x8847) / MPLS(label=5, s=1) / p4),
                    with_tunnel(e4, g), "tunnel"))
    ge = g | dt.TUNNEL_ERSPAN
    out.append(case("erspan_i", E, eth(outer_ip(4) / GRE(proto=0x88BE) / eth(p4)), with_tunnel(e4, ge), "tunnel"))
    out.append(case("erspan_ii", E,
                    eth(outer_ip(4) / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
                        / ERSPAN_II(session_id=5) / eth(p4)), with_tunnel(e4, ge), "tunnel"))
    out.append(case("erspan_iii", E,
                    eth(outer_ip(4) / GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(session_id=5)
                        / eth(Dot1Q(vlan=8) / p6)), with_tunnel(e6, ge), "tunnel"))
    out.append(case("erspan_iii_platform", E,
                    eth(outer_ip(4) / GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(o=1)
                        / ERSPAN_PlatformSpecific(platf_id=3) / eth(p4)), with_tunnel(e4, ge), "tunnel"))
    ppp_v4 = b"\xff\x03\x00\x21" + bytes(p4)
    out.append(case("pptp_gre_ppp_v4", E, eth(outer_ip(4, proto=47) / Raw(pptp_gre(ppp_v4, ack=3))),
                    with_tunnel(e4, g), "tunnel"))
    out.append(case("pptp_gre_ppp_pfc_v6", E,
                    eth(outer_ip(4, proto=47) / Raw(pptp_gre(b"\x57" + bytes(p6)))),
                    with_tunnel(e6, g), "tunnel"))
    lcp = b"\xff\x03\xc0\x21\x09\x01\x00\x08abcd"
    out.append(case("pptp_gre_lcp_is_gre_flow", E, eth(outer_ip(4, proto=47) / Raw(pptp_gre(lcp))),
                    Expect(proto=47, src=OUTER_A, dst=OUTER_B, payload=pptp_gre(lcp)), "outer"))
    out.append(case("gre_unknown_proto_is_gre_flow", E,
                    eth(outer_ip(4) / GRE(proto=0x883E) / Raw(b"wccp-redirect")),
                    Expect(proto=47, src=OUTER_A, dst=OUTER_B, payload=bytes(GRE(proto=0x883E)) + b"wccp-redirect"), "outer"))
    for port in (4789, 8472):
        out.append(case(f"vxlan_{port}", E,
                        eth(outer_ip(4) / UDP(sport=61000, dport=port) / VXLAN(vni=42) / eth(p4)),
                        with_tunnel(e4, dt.TUNNEL_VXLAN), "tunnel"))
    out.append(case("vxlan_over_v6_inner_udp", E,
                    eth(outer_ip(6) / UDP(sport=61000, dport=4789) / VXLAN(vni=42) / eth(u4)),
                    with_tunnel(eu4, dt.TUNNEL_VXLAN), "tunnel"))
    gt = dt.TUNNEL_GTPU
    out.append(case("gtpu_v4", E, eth(outer_ip(4) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=9) / p4),
                    with_tunnel(e4, gt), "tunnel"))
    out.append(case("gtpu_seq_v6", E,
                    eth(outer_ip(4) / UDP(sport=40000, dport=2152) / GTP_U_Header(teid=9, S=1, seq=77) / p6),
                    with_tunnel(e6, gt), "tunnel"))
    out.append(case("gtpu_ext_pdu_session", E,
                    eth(outer_ip(4) / UDP(sport=2152, dport=2152)
                        / GTP_U_Header(teid=9, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9) / p4),
                    with_tunnel(e4, gt), "tunnel"))
    out.append(case("vlan_gtpu_gre_nested", E,
                    eth(Dot1Q(vlan=300) / outer_ip(4) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=1)
                        / IP(src="172.16.0.1", dst="172.16.0.2") / GRE() / p6),
                    with_tunnel(e6, gt | g), "tunnel"))
    out.append(case("ipip", E, eth(outer_ip(4) / p4), with_tunnel(e4, dt.TUNNEL_IPIP), "tunnel"))
    out.append(case("6in4", E, eth(outer_ip(4) / p6), with_tunnel(e6, dt.TUNNEL_6IN4), "tunnel"))
    out.append(case("4in6", E, eth(outer_ip(6) / p4), with_tunnel(e4, dt.TUNNEL_4IN6), "tunnel"))
    out.append(case("6in6", E, eth(outer_ip(6) / p6), with_tunnel(e6, dt.TUNNEL_6IN6), "tunnel"))
    out.append(case("ipip_depth4", E, eth(outer_ip(4) / outer_ip(4) / outer_ip(4) / outer_ip(4) / p4),
                    with_tunnel(e4, dt.TUNNEL_IPIP), "tunnel"))
    te = dt.TUNNEL_TEREDO
    for auth in (False, True):
        for origin in (False, True):
            name = "teredo" + ("_auth" if auth else "") + ("_origin" if origin else "")
            out.append(case(name, E,
                            eth(outer_ip(4) / UDP(sport=3544, dport=40001) / Raw(teredo_payload(p6, auth, origin))),
                            with_tunnel(e6, te), "tunnel"))
    bubble = IPv6(src=V6_CLIENT, dst=V6_POOL, nh=59)
    out.append(case("teredo_bubble", E, eth(outer_ip(4) / UDP(sport=40001, dport=3544) / Raw(bytes(bubble))),
                    Expect(ip_version=6, proto=59, src=V6_CLIENT, dst=V6_POOL, tunnel=te), "tunnel"))
    # heuristic near-misses: the outer UDP packet stays the flow
    junk = b"not a tunnel header, just some bytes"
    for name, sport, dport, data in (
            ("teredo_port_not_ipv6", 3544, 5000, junk),
            ("teredo_bad_length", 5000, 3544, bytes(p6)[:-3] + b"\x00"),
            ("gtpu_echo_request", 2152, 2152, b"\x32\x01\x00\x04\x00\x00\x00\x00\x00\x01\x00\x00"),
            ("gtpu_non_ip_tpdu", 2152, 2152, bytes(GTP_U_Header(teid=1) / Raw(b"\x11" * 30))),
            ("vxlan_no_i_flag", 5000, 4789, b"\x00" * 8 + bytes(eth(p4))),
            ("udp_tiny_on_teredo_port", 1, 3544, b"z")):
        out.append(case(name, E, eth(outer_ip(4) / UDP(sport=sport, dport=dport) / Raw(data)),
                        Expect(proto=17, src=OUTER_A, dst=OUTER_B, sport=sport, dport=dport, payload=data),
                        "outer"))
    return out


def all_cases():
    """Every generated Case (link layers, IP features, tunnels)."""
    return link_cases() + ip_cases() + tunnel_cases()


# --- frames that must not decode OK ---------------------------------------------------

def l4_anomaly_cases():
    """(name, linktype, frame, sport, dport) of TCP/UDP headers that contradict the
    IP length: the ports still place the packet in its flow (L4_MALFORMED)."""
    p4, _ = inner_tcp(4)
    ip4 = bytes(p4)
    udp = IP() / UDP(sport=5353, dport=53, len=7) / b"abc"
    return [
        ("tcp_doff_4", dt.LINKTYPE_RAW, ip4[:32] + bytes([0x40]) + ip4[33:],
         p4[TCP].sport, p4[TCP].dport),
        ("udp_len_7", dt.LINKTYPE_RAW, bytes(udp), 5353, 53),
    ]


def failure_cases():
    """(name, linktype, frame, status) for non-IP, malformed and unsupported records."""
    p4, _ = inner_tcp(4)
    ip4 = bytes(p4)
    out = [
        ("arp", dt.LINKTYPE_ETHERNET, bytes(eth(ARP(psrc=V4_CLIENT, pdst=V4_POOL))), dt.DECODE_NOT_IP),
        ("lldp", dt.LINKTYPE_ETHERNET, bytes(eth(Raw(b"\x02\x07\x04" + b"\x00" * 40), etype=0x88CC)),
         dt.DECODE_NOT_IP),
        ("stp_llc", dt.LINKTYPE_ETHERNET, bytes(Ether(dst="01:80:c2:00:00:00", src=MAC_A) / LLC() / STP()),
         dt.DECODE_NOT_IP),
        ("pppoe_discovery", dt.LINKTYPE_ETHERNET, bytes(eth(Raw(b"\x11\x09\x00\x00\x00\x00"), etype=0x8863)),
         dt.DECODE_NOT_IP),
        ("ppp_lcp", dt.LINKTYPE_PPP, b"\xff\x03\xc0\x21\x01\x01\x00\x04", dt.DECODE_NOT_IP),
        ("sll_netlink", dt.LINKTYPE_LINUX_SLL, bytes(CookedLinux(lladdrtype=824, proto=0)) + b"\x00" * 20,
         dt.DECODE_NOT_IP),
        ("null_af_unknown", dt.LINKTYPE_NULL, struct.pack("<I", 7) + ip4, dt.DECODE_NOT_IP),
        ("unknown_linktype", 147, ip4, dt.DECODE_UNSUPPORTED_LINK),
        ("unknown_linktype_big", 65535, ip4, dt.DECODE_UNSUPPORTED_LINK),
        ("raw_version_5", dt.LINKTYPE_RAW, b"\x55" + ip4[1:], dt.DECODE_MALFORMED),
        ("ppi_dot11_frame", dt.LINKTYPE_PPI,
         bytes(PPI(dlt=105, headers=[PPI_Hdr() / PPI_Dot11Common()])) + b"\x08\x02" + bytes(30),
         dt.DECODE_UNSUPPORTED_LINK),
        ("ppi_inside_ppi", dt.LINKTYPE_PPI,
         bytes(PPI(dlt=dt.LINKTYPE_PPI) / PPI(dlt=dt.LINKTYPE_RAW) / p4), dt.DECODE_MALFORMED),
        ("ppi_version_1", dt.LINKTYPE_PPI, bytes(PPI(version=1, dlt=dt.LINKTYPE_RAW) / p4),
         dt.DECODE_MALFORMED),
        ("ppi_length_4", dt.LINKTYPE_PPI, bytes(PPI(len=4, dlt=dt.LINKTYPE_RAW) / p4),
         dt.DECODE_MALFORMED),
        ("ppi_length_past_record", dt.LINKTYPE_PPI, bytes(PPI(len=4000, dlt=dt.LINKTYPE_RAW) / p4),
         dt.DECODE_TRUNCATED),
        ("eth_ipv4_version_6", dt.LINKTYPE_ETHERNET, bytes(eth(Raw(b"\x65" + ip4[1:]), etype=0x0800)),
         dt.DECODE_MALFORMED),
        ("ipv4_ihl_4", dt.LINKTYPE_ETHERNET, bytes(eth(Raw(b"\x44" + ip4[1:]), etype=0x0800)), dt.DECODE_MALFORMED),
        ("ipv4_total_lt_ihl", dt.LINKTYPE_ETHERNET,
         bytes(eth(Raw(ip4[:2] + b"\x00\x10" + ip4[4:]), etype=0x0800)), dt.DECODE_MALFORMED),
        ("ipv6_linktype_v4_inside", dt.LINKTYPE_IPV6, ip4 + b"\x00" * 40, dt.DECODE_MALFORMED),
        ("ipv6_ext_past_plen", dt.LINKTYPE_RAW,
         bytes(IPv6(nh=0, plen=8) / Raw(b"\x06\x05" + b"\x00" * 60)), dt.DECODE_MALFORMED),
        ("ipip_depth5", dt.LINKTYPE_ETHERNET,
         bytes(eth(outer_ip(4) / outer_ip(4) / outer_ip(4) / outer_ip(4) / outer_ip(4) / p4)),
         dt.DECODE_TUNNEL_DEPTH),
        ("vxlan_inner_arp", dt.LINKTYPE_ETHERNET,
         bytes(eth(outer_ip(4) / UDP(dport=4789) / VXLAN(vni=1) / eth(ARP()))), dt.DECODE_NOT_IP),
        ("empty_eth", dt.LINKTYPE_ETHERNET, b"", dt.DECODE_TRUNCATED),
    ]
    return out


# --- random plain frames (dpkt cross-check) ------------------------------------------

def random_frames(n, seed=1):
    """`n` random-ish Ethernet frames: v4/v6, TCP/UDP, VLAN, options, padding, payload sizes."""
    rng = random.Random(seed)
    frames = []
    for _ in range(n):
        v = rng.choice((4, 6))
        if v == 4:
            ip = IP(src=".".join(str(rng.randrange(256)) for _ in range(4)),
                    dst=".".join(str(rng.randrange(256)) for _ in range(4)), id=rng.randrange(65536),
                    options=[b"\x01" * 4 * rng.randrange(3)] if rng.random() < 0.3 else [])
        else:
            ip = IPv6(src=":".join("%x" % rng.randrange(65536) for _ in range(8)),
                      dst=":".join("%x" % rng.randrange(65536) for _ in range(8)))
        payload = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 40, 300))))
        if rng.random() < 0.5:
            l4 = TCP(sport=rng.randrange(1, 65536), dport=rng.randrange(1, 65536), seq=rng.randrange(2 ** 32),
                     flags=rng.randrange(256),
                     options=[("NOP", None)] * rng.randrange(0, 9, 4) if rng.random() < 0.3 else [])
        else:
            l4 = UDP(sport=rng.randrange(1, 65536), dport=rng.choice((53, 123, 3333, 4444, 443)))
        pkt = ip / l4 / Raw(payload)
        if rng.random() < 0.3:
            pkt = Dot1Q(vlan=rng.randrange(4096)) / pkt
        frame = bytes(eth(pkt))
        if len(frame) < 60:
            frame += b"\x00" * (60 - len(frame))        # Ethernet minimum: padding
        frames.append(frame)
    return frames


# --- pcap ---------------------------------------------------------------------------------

PCAP_MAGIC_US = 0xA1B2C3D4


def write_pcap(path, frames, linktype, snaplen=262144):
    """Write `frames` (bytes, or (bytes, wirelen)) as a classic little-endian µs pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        for i, fr in enumerate(frames):
            data, wirelen = (fr, len(fr)) if isinstance(fr, (bytes, bytearray)) else fr
            f.write(struct.pack("<IIII", 1_700_000_000 + i, i, len(data), wirelen))
            f.write(data)
    return path
