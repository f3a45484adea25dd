"""IPv4 (RFC 791), IPv6 with extension headers (RFC 8200) and the L4 header.

The IP decoders write the address, version, protocol and fragment fields of
the packet row (an inner IP header overwrites an outer one); decode_l4 writes
ports, TCP fields and the payload span. Lengths follow the wire (IP length
fields); reads stop at the captured end.
"""

import numpy as np

from detector.engine.bytes_ import be16, be32, be64
from detector.engine.config import inline_kernel, kernel
from detector.engine.dtypes import (
    DECODE_MALFORMED, DECODE_OK, DECODE_TRUNCATED, FRAG_FIRST, FRAG_LATER,
    FRAG_NONE, IPV4_MAPPED, L4_MALFORMED, L4_TRUNCATED,
)
from detector.engine.layers import (
    IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HIP, IPPROTO_HOPOPTS,
    IPPROTO_MOBILITY, IPPROTO_ROUTING, IPPROTO_SCTP, IPPROTO_SHIM6, IPPROTO_TCP,
    IPPROTO_UDP, IPPROTO_UDPLITE,
)

IPV4_MIN_HLEN = 20
IPV6_HLEN = 40
IPV6_FRAG_HLEN = 8
IPV4_MF = 0x2000
IPV4_OFFSET_MASK = 0x1FFF
TCP_MIN_HLEN = 20
UDP_HLEN = 8
PORTS_LEN = 4          # source + destination port: enough to place a packet in its flow
SCTP_COMMON_HLEN = 12


@inline_kernel
def decode_ipv4(buf, off, end, pkt):
    """Decode the IPv4 header at buf[off:end] into one PACKET_DTYPE row.

    Parameters
    ----------
    buf : uint8[::1]  batch buffer; read only, never copied
    off : int64       offset of the first IPv4 byte in `buf`
    end : int64       one past the last *captured* byte of this encapsulation
    pkt : record      row of a PACKET_DTYPE array; writes ip_version, proto,
                      frag, ip_id, src_*, dst_*

    Returns
    -------
    (status, proto, l4_off, l4_end, l4_len): status is DECODE_OK;
    DECODE_TRUNCATED (capture ends inside the header incl. options);
    DECODE_MALFORMED (version != 4, IHL < 5, total length < IHL).
    On OK: l4_off = off + IHL*4 <= l4_end = min(end, off + total length), and
    l4_len = total length - IHL*4 (wire bytes after the header; Ethernet
    padding is excluded). Never reads at or past `end`.
    """
    if end - off < IPV4_MIN_HLEN:
        return DECODE_TRUNCATED, 0, off, off, 0
    ihl = np.int64(buf[off] & 0x0F) * 4
    if buf[off] >> 4 != 4 or ihl < IPV4_MIN_HLEN:
        return DECODE_MALFORMED, 0, off, off, 0
    if end - off < ihl:
        return DECODE_TRUNCATED, 0, off, off, 0
    total_len = be16(buf, off + 2)
    if total_len == 0:
        # segmentation offload: the NIC fills the length in later, so the
        # capture shows 0 (Wireshark does the same); the captured bytes count
        total_len = end - off
    if total_len < ihl:
        return DECODE_MALFORMED, 0, off, off, 0
    proto = np.int64(buf[off + 9])
    frag_field = be16(buf, off + 6)
    frag_offset = frag_field & IPV4_OFFSET_MASK
    if frag_offset != 0:
        pkt["frag"] = FRAG_LATER
    elif frag_field & IPV4_MF:
        pkt["frag"] = FRAG_FIRST
    else:
        pkt["frag"] = FRAG_NONE
    pkt["ip_version"] = 4
    pkt["proto"] = proto
    pkt["ip_id"] = be16(buf, off + 4)
    pkt["src_hi"] = 0                                  # IPv4 kept as ::ffff:a.b.c.d
    pkt["src_lo"] = IPV4_MAPPED | np.uint64(be32(buf, off + 12))
    pkt["dst_hi"] = 0
    pkt["dst_lo"] = IPV4_MAPPED | np.uint64(be32(buf, off + 16))
    return DECODE_OK, proto, off + ihl, min(end, off + total_len), total_len - ihl


@kernel
def ipv6_ext_len(buf, off, nh):
    """Length in bytes of the IPv6 extension header `nh` at buf[off] (2 bytes readable).

    AH counts 4-byte units plus 2 (RFC 4302), the fragment header is always 8,
    the others count 8-byte units after the first 8 (RFC 8200). Returns 0 for
    a protocol that is not a walkable extension header.
    """
    if nh == IPPROTO_FRAGMENT:
        return IPV6_FRAG_HLEN
    if nh == IPPROTO_AH:
        return (np.int64(buf[off + 1]) + 2) * 4
    if (nh == IPPROTO_HOPOPTS or nh == IPPROTO_ROUTING or nh == IPPROTO_DSTOPTS
            or nh == IPPROTO_MOBILITY or nh == IPPROTO_HIP or nh == IPPROTO_SHIM6):
        return (np.int64(buf[off + 1]) + 1) * 8
    return 0


@kernel
def decode_ipv6(buf, off, end, pkt):
    """Decode the IPv6 header and its extension-header chain into one PACKET_DTYPE row.

    Parameters
    ----------
    buf : uint8[::1]  batch buffer; read only, never copied
    off : int64       offset of the first IPv6 byte in `buf`
    end : int64       one past the last *captured* byte of this encapsulation
    pkt : record      row of a PACKET_DTYPE array; writes ip_version, proto,
                      frag, ip_id, src_*, dst_*

    Returns
    -------
    (status, proto, l4_off, l4_end, l4_len) as decode_ipv4, where proto is the
    first header that is not an extension header (hop-by-hop 0, routing 43,
    fragment 44, destination options 60, AH 51, mobility 135, HIP 139, shim6
    140). A fragment header with offset > 0 stops the walk (FRAG_LATER, proto
    = its next header). Payload length 0 with a hop-by-hop header (jumbogram)
    takes the captured bytes as the length. DECODE_MALFORMED for version != 6
    or an extension header running past the payload length; DECODE_TRUNCATED
    when the capture ends inside the header chain.
    """
    if end - off < IPV6_HLEN:
        return DECODE_TRUNCATED, 0, off, off, 0
    if buf[off] >> 4 != 6:
        return DECODE_MALFORMED, 0, off, off, 0
    nh = np.int64(buf[off + 6])
    plen = be16(buf, off + 4)
    if plen == 0 and nh == IPPROTO_HOPOPTS:
        plen = end - off - IPV6_HLEN
    wire_end = off + IPV6_HLEN + plen
    pkt["ip_version"] = 6
    pkt["src_hi"] = be64(buf, off + 8)
    pkt["src_lo"] = be64(buf, off + 16)
    pkt["dst_hi"] = be64(buf, off + 24)
    pkt["dst_lo"] = be64(buf, off + 32)
    pkt["frag"] = FRAG_NONE
    pkt["ip_id"] = 0
    cur = off + IPV6_HLEN
    while True:
        if (nh != IPPROTO_FRAGMENT and nh != IPPROTO_AH and nh != IPPROTO_HOPOPTS
                and nh != IPPROTO_ROUTING and nh != IPPROTO_DSTOPTS and nh != IPPROTO_MOBILITY
                and nh != IPPROTO_HIP and nh != IPPROTO_SHIM6):
            break
        if wire_end - cur < 2:
            return DECODE_MALFORMED, 0, off, off, 0
        if end - cur < 2:
            return DECODE_TRUNCATED, 0, off, off, 0
        hlen = ipv6_ext_len(buf, cur, nh)
        if wire_end - cur < hlen:
            return DECODE_MALFORMED, 0, off, off, 0
        if end - cur < hlen:
            return DECODE_TRUNCATED, 0, off, off, 0
        next_nh = np.int64(buf[cur])
        if nh == IPPROTO_FRAGMENT:
            frag_field = be16(buf, cur + 2)
            pkt["ip_id"] = be32(buf, cur + 4)
            if frag_field >> 3 != 0:
                pkt["frag"] = FRAG_LATER
                nh = next_nh
                cur += hlen
                break
            if frag_field & 1:
                pkt["frag"] = FRAG_FIRST
        nh = next_nh
        cur += hlen
    pkt["proto"] = nh
    return DECODE_OK, nh, cur, min(end, wire_end), wire_end - cur


@kernel
def set_payload(pkt, pay_off, pay_len, end):
    """Write payload_offset/len/caplen; caplen = captured part of [pay_off, pay_off+pay_len)."""
    pkt["payload_offset"] = pay_off
    pkt["payload_len"] = pay_len
    pkt["payload_caplen"] = max(np.int64(0), min(end, pay_off + pay_len) - pay_off)


@kernel
def l4_anomaly(pkt, kind, end):
    """A TCP/UDP packet whose ports are known but whose header is cut or bogus:
    it joins its flow with no payload (and no TCP fields unless they were read)."""
    pkt["l4_anomaly"] = kind
    set_payload(pkt, end, 0, end)
    return DECODE_OK


@inline_kernel
def decode_l4(buf, off, end, wire_len, proto, frag, pkt):
    """Decode the L4 header after the innermost IP header: ports, TCP fields, payload.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only
    off      : int64       offset of the first byte after the IP header(s)
    end      : int64       one past the last captured byte of this IP packet
    wire_len : int64       bytes after the IP header(s) per the IP length fields
    proto    : int64       IP protocol of the header at `off`
    frag     : int64       FRAG_* of the IP packet; FRAG_LATER carries no L4 header
    pkt      : record      PACKET_DTYPE row; writes sport, dport, seq, ack,
                           tcp_flags, payload_offset, payload_caplen, payload_len

    Returns
    -------
    int  DECODE_OK, also when the TCP/UDP ports were read but the rest of the
         header is cut by the capture (l4_anomaly L4_TRUNCATED) or contradicts
         the IP length (L4_MALFORMED): such a packet joins its flow with an
         empty payload; DECODE_TRUNCATED (capture ends before the ports);
         DECODE_MALFORMED (IP payload too short to hold the ports, SCTP IP
         payload shorter than its fixed header). TCP: payload = IP payload
         minus data offset. UDP: from the UDP length, clamped to the IP payload. UDP-Lite and SCTP:
         IP payload minus their fixed header. Other protocols (ICMP, GRE, ESP,
         fragments after the first): ports 0 and payload = the whole IP
         payload. On OK: off <= payload_offset, payload_caplen <= payload_len,
         payload_offset + payload_caplen <= end.
    """
    pkt["sport"] = 0
    pkt["dport"] = 0
    pkt["seq"] = 0
    pkt["ack"] = 0
    pkt["tcp_flags"] = 0
    if frag == FRAG_LATER:
        set_payload(pkt, off, wire_len, end)
        return DECODE_OK
    if proto == IPPROTO_TCP:
        if end - off < PORTS_LEN:
            return DECODE_MALFORMED if wire_len < PORTS_LEN else DECODE_TRUNCATED
        # from here on the ports place the packet in its flow, as tshark does,
        # even when the rest of the header is cut or bogus (noted in l4_anomaly)
        pkt["sport"] = be16(buf, off)
        pkt["dport"] = be16(buf, off + 2)
        if wire_len < TCP_MIN_HLEN:
            return l4_anomaly(pkt, L4_MALFORMED, end)
        if end - off < TCP_MIN_HLEN:
            return l4_anomaly(pkt, L4_TRUNCATED, end)
        pkt["seq"] = be32(buf, off + 4)
        pkt["ack"] = be32(buf, off + 8)
        pkt["tcp_flags"] = buf[off + 13]
        doff = np.int64(buf[off + 12] >> 4) * 4
        if doff < TCP_MIN_HLEN or doff > wire_len:
            return l4_anomaly(pkt, L4_MALFORMED, end)
        set_payload(pkt, min(off + doff, end), wire_len - doff, end)
        return DECODE_OK
    if proto == IPPROTO_UDP or proto == IPPROTO_UDPLITE:
        if end - off < PORTS_LEN:
            return DECODE_MALFORMED if wire_len < PORTS_LEN else DECODE_TRUNCATED
        pkt["sport"] = be16(buf, off)
        pkt["dport"] = be16(buf, off + 2)
        if wire_len < UDP_HLEN:
            return l4_anomaly(pkt, L4_MALFORMED, end)
        if end - off < UDP_HLEN:
            return l4_anomaly(pkt, L4_TRUNCATED, end)
        pay_len = wire_len - UDP_HLEN
        if proto == IPPROTO_UDP:
            udp_len = be16(buf, off + 4)
            if udp_len == 0 and wire_len > 0xFFFF:
                udp_len = wire_len                     # RFC 2675 jumbogram
            if udp_len < UDP_HLEN:
                return l4_anomaly(pkt, L4_MALFORMED, end)
            pay_len = min(udp_len, wire_len) - UDP_HLEN
        set_payload(pkt, off + UDP_HLEN, pay_len, end)
        return DECODE_OK
    if proto == IPPROTO_SCTP:
        if wire_len < SCTP_COMMON_HLEN:
            return DECODE_MALFORMED
        if end - off < SCTP_COMMON_HLEN:
            return DECODE_TRUNCATED
        pkt["sport"] = be16(buf, off)
        pkt["dport"] = be16(buf, off + 2)
        set_payload(pkt, off + SCTP_COMMON_HLEN, wire_len - SCTP_COMMON_HLEN, end)
        return DECODE_OK
    set_payload(pkt, off, wire_len, end)
    return DECODE_OK
