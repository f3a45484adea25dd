"""Slow, obviously correct decode of plain Ethernet frames with dpkt (test oracle).

Covers what dpkt decodes without help: Ethernet II, 802.1Q, IPv4 (options),
IPv6 (dpkt walks the extension headers), TCP and UDP. Tunnels and the other
link types are checked against tests/gen/packets.py expectations and tshark.
"""

import ipaddress

import dpkt


def mapped(addr_bytes):
    """Packed IPv4/IPv6 address -> (hi, lo) as PACKET_DTYPE stores it (IPv4 mapped)."""
    return split(ipaddress.ip_address(addr_bytes))


def split(addr):
    """ipaddress object -> (hi, lo); IPv4 as ::ffff:a.b.c.d."""
    if addr.version == 4:
        return 0, 0xFFFF00000000 | int(addr)
    return int(addr) >> 64, int(addr) & 0xFFFFFFFFFFFFFFFF


def reference_decode(frame):
    """Decode one Ethernet frame -> dict of the PACKET_DTYPE fields that dpkt can vouch for.

    Returns None when dpkt finds no IP with TCP/UDP inside. payload is the
    L4 payload bounded by the IP length fields (Ethernet padding excluded).
    """
    eth = dpkt.ethernet.Ethernet(frame)
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        version, ip_payload_len = 4, ip.len - ip.hl * 4
    elif isinstance(ip, dpkt.ip6.IP6):
        version = 6
        ext_len = sum(len(h) for h in ip.extension_hdrs.values() if h is not None)
        ip_payload_len = ip.plen - ext_len
    else:
        return None
    l4 = ip.data
    if isinstance(l4, dpkt.tcp.TCP):
        proto, payload_len = 6, ip_payload_len - l4.off * 4
        extra = dict(seq=l4.seq, ack=l4.ack, tcp_flags=l4.flags)
    elif isinstance(l4, dpkt.udp.UDP):
        proto, payload_len = 17, min(l4.ulen, ip_payload_len) - 8
        extra = dict(seq=0, ack=0, tcp_flags=0)
    else:
        return None
    src_hi, src_lo = mapped(ip.src)
    dst_hi, dst_lo = mapped(ip.dst)
    return dict(ip_version=version, proto=proto, src_hi=src_hi, src_lo=src_lo,
                dst_hi=dst_hi, dst_lo=dst_lo, sport=l4.sport, dport=l4.dport,
                payload_len=payload_len, payload=bytes(l4.data)[:payload_len], **extra)
