"""Tunnels: GRE (+ERSPAN, PPTP), IP-in-IP/6in4/4in6/6in6, VXLAN, GTP-U, Teredo.

Each decoder looks at the L4 part of an already decoded IP packet and says
what is inside. Results are (status, bits, next_layer, off, end): bits is the
TUNNEL_* value crossed; bits == 0 means "no tunnel here", and the packet
decoded so far is the flow. Port-found tunnels (VXLAN, GTP-U, Teredo) are
heuristics: a header that does not match on the wire gives bits == 0, while
a match cut short by the capture gives DECODE_TRUNCATED. Specs: RFC 2784/2890
(GRE), RFC 1701 (routing), RFC 2637 (PPTP), ERSPAN draft-foschiano-erspan,
RFC 7348 (VXLAN), 3GPP TS 29.281 (GTP-U), RFC 4380 (Teredo).
"""

import numpy as np

from detector.engine.bytes_ import be16
from detector.engine.config import kernel
from detector.engine.decode_link import decode_ethertype, decode_ppp, ip_by_nibble
from detector.engine.dtypes import (
    DECODE_MALFORMED, DECODE_NOT_IP, DECODE_OK, DECODE_TRUNCATED, TUNNEL_4IN6,
    TUNNEL_6IN4, TUNNEL_6IN6, TUNNEL_ERSPAN, TUNNEL_GRE, TUNNEL_GTPU, TUNNEL_IPIP,
    TUNNEL_TEREDO, TUNNEL_VXLAN,
)
from detector.engine.layers import (
    ETH_P_8021AD, ETH_P_8021Q, ETH_P_ERSPAN2, ETH_P_ERSPAN3, ETH_P_IP, ETH_P_IPV6,
    ETH_P_MPLS_MC, ETH_P_MPLS_UC, ETH_P_PPP, ETH_P_QINQ_OLD, ETH_P_TEB,
    IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP, NEXT_ETHER, NEXT_IPV4,
    NEXT_IPV6,
)

GRE_C = 0x8000          # checksum present
GRE_R = 0x4000          # routing present (RFC 1701)
GRE_K = 0x2000          # key present
GRE_S = 0x1000          # sequence number present
GRE_A = 0x0080          # acknowledgment present (PPTP, version 1)
GRE_VERSION_MASK = 0x0007
ERSPAN2_HLEN = 8
ERSPAN3_HLEN = 12
ERSPAN3_PLATFORM_HLEN = 8
ERSPAN3_FT_ETHERNET = 0
ERSPAN3_FT_IP = 2
VXLAN_PORT = 4789
VXLAN_LINUX_PORT = 8472
VXLAN_HLEN = 8
VXLAN_FLAG_I = 0x08
ETH_HLEN = 14
GTPU_PORT = 2152
GTPU_HLEN = 8
GTPU_OPT_HLEN = 4       # sequence number, N-PDU number, next extension type
GTPU_G_PDU = 255
TEREDO_PORT = 3544
TEREDO_ORIGIN_HLEN = 8
TEREDO_AUTH_FIXED = 4 + 8 + 1   # type, id-len, au-len ... nonce, confirmation
IPV6_HLEN = 40


@kernel
def decode_gre(buf, off, end, wire_len):
    """Decode a GRE header (version 0 or PPTP's version 1) and say what it carries.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only
    off      : int64       offset of the GRE flags field
    end      : int64       one past the last captured byte of the carrying IP packet
    wire_len : int64       GRE bytes on the wire (IP payload length)

    Returns
    -------
    (status, bits, next_layer, off, end). Version 0 with protocol IPv4, IPv6,
    MPLS or VLAN: TUNNEL_GRE and the inner IP header; 0x6558: NEXT_ETHER;
    0x88BE: ERSPAN type I (no sequence flag, Ethernet follows) or II (8-byte
    header); 0x22EB: ERSPAN III (12 bytes + 8 when the O bit is set), with
    TUNNEL_GRE | TUNNEL_ERSPAN. Version 1 (PPTP) carrying PPP IPv4/IPv6:
    TUNNEL_GRE and the inner IP. Other protocol types, versions, and PPTP
    without IP inside: bits 0 (the GRE packet itself is the flow).
    DECODE_MALFORMED when the header runs past wire_len; DECODE_TRUNCATED
    when the capture ends inside it or the header after it.
    """
    if wire_len < 4:
        return DECODE_MALFORMED, 0, 0, off, end
    if end - off < 4:
        return DECODE_TRUNCATED, 0, 0, off, end
    flags = be16(buf, off)
    ptype = be16(buf, off + 2)
    version = flags & GRE_VERSION_MASK
    wire_end = off + wire_len
    if version == 1:
        if ptype != ETH_P_PPP or not flags & GRE_K:
            return DECODE_OK, 0, 0, off, end
        hlen = 8
        if flags & GRE_S:
            hlen += 4
        if flags & GRE_A:
            hlen += 4
        if hlen >= wire_len:                      # ack only, or bogus: no PPP inside
            return DECODE_OK, 0, 0, off, end
        if end - off < hlen:
            return DECODE_TRUNCATED, 0, 0, off, end
        status, nxt, inner = decode_ppp(buf, off + hlen, end)
        if status == DECODE_OK:
            return DECODE_OK, TUNNEL_GRE, nxt, inner, end
        if status == DECODE_TRUNCATED:
            return status, 0, 0, off, end
        return DECODE_OK, 0, 0, off, end          # LCP, CCP...: keep the GRE flow
    if version != 0:
        return DECODE_OK, 0, 0, off, end
    hlen = 4
    if flags & (GRE_C | GRE_R):
        hlen += 4
    if flags & GRE_K:
        hlen += 4
    if flags & GRE_S:
        hlen += 4
    if flags & GRE_R:                             # source route entries until the null SRE
        while True:
            if wire_len - hlen < 4:
                return DECODE_MALFORMED, 0, 0, off, end
            if end - off - hlen < 4:
                return DECODE_TRUNCATED, 0, 0, off, end
            family = be16(buf, off + hlen)
            sre_len = np.int64(buf[off + hlen + 3])
            hlen += 4 + sre_len
            if family == 0 and sre_len == 0:
                break
    if hlen > wire_len:
        return DECODE_MALFORMED, 0, 0, off, end
    if end - off < hlen:
        return DECODE_TRUNCATED, 0, 0, off, end
    inner = off + hlen
    if ptype == ETH_P_TEB:
        return DECODE_OK, TUNNEL_GRE, NEXT_ETHER, inner, end
    if ptype == ETH_P_ERSPAN2:
        if not flags & GRE_S:                     # type I: no ERSPAN header
            return DECODE_OK, TUNNEL_GRE | TUNNEL_ERSPAN, NEXT_ETHER, inner, end
        if wire_end - inner < ERSPAN2_HLEN:
            return DECODE_MALFORMED, 0, 0, off, end
        if end - inner < ERSPAN2_HLEN:
            return DECODE_TRUNCATED, 0, 0, off, end
        return DECODE_OK, TUNNEL_GRE | TUNNEL_ERSPAN, NEXT_ETHER, inner + ERSPAN2_HLEN, end
    if ptype == ETH_P_ERSPAN3:
        if wire_end - inner < ERSPAN3_HLEN:
            return DECODE_MALFORMED, 0, 0, off, end
        if end - inner < ERSPAN3_HLEN:
            return DECODE_TRUNCATED, 0, 0, off, end
        frame_type = (buf[inner + 10] >> 2) & 0x1F
        has_platform = buf[inner + 11] & 1
        inner += ERSPAN3_HLEN
        if has_platform:
            if wire_end - inner < ERSPAN3_PLATFORM_HLEN:
                return DECODE_MALFORMED, 0, 0, off, end
            if end - inner < ERSPAN3_PLATFORM_HLEN:
                return DECODE_TRUNCATED, 0, 0, off, end
            inner += ERSPAN3_PLATFORM_HLEN
        bits = TUNNEL_GRE | TUNNEL_ERSPAN
        if frame_type == ERSPAN3_FT_ETHERNET:
            return DECODE_OK, bits, NEXT_ETHER, inner, end
        if frame_type == ERSPAN3_FT_IP:
            status, nxt, inner = ip_by_nibble(buf, inner, end, DECODE_NOT_IP)
            return status, bits, nxt, inner, end
        return DECODE_NOT_IP, bits, 0, inner, end
    if (ptype == ETH_P_IP or ptype == ETH_P_IPV6 or ptype == ETH_P_MPLS_UC
            or ptype == ETH_P_MPLS_MC or ptype == ETH_P_8021Q or ptype == ETH_P_8021AD
            or ptype == ETH_P_QINQ_OLD):
        status, nxt, inner = decode_ethertype(buf, inner, end, ptype)
        return status, TUNNEL_GRE, nxt, inner, end
    return DECODE_OK, 0, 0, off, end


@kernel
def decode_vxlan(buf, off, end, wire_len):
    """Check a VXLAN header (RFC 7348) at the start of a UDP payload.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only
    off      : int64       offset of the UDP payload
    end      : int64       one past the last captured byte of the UDP payload
    wire_len : int64       UDP payload bytes on the wire

    Returns
    -------
    (status, bits, next_layer, off, end): TUNNEL_VXLAN with NEXT_ETHER after
    the 8-byte header when the I flag is set and an Ethernet header fits on
    the wire; bits 0 (not VXLAN) otherwise; DECODE_TRUNCATED when the
    capture ends inside the VXLAN header.
    """
    if wire_len < VXLAN_HLEN + ETH_HLEN:
        return DECODE_OK, 0, 0, off, end
    if end - off < VXLAN_HLEN:
        return DECODE_TRUNCATED, 0, 0, off, end
    if not buf[off] & VXLAN_FLAG_I:
        return DECODE_OK, 0, 0, off, end
    return DECODE_OK, TUNNEL_VXLAN, NEXT_ETHER, off + VXLAN_HLEN, end


@kernel
def decode_gtpu(buf, off, end, wire_len):
    """Check a GTP-U G-PDU (3GPP TS 29.281) at the start of a UDP payload.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only
    off      : int64       offset of the UDP payload
    end      : int64       one past the last captured byte of the UDP payload
    wire_len : int64       UDP payload bytes on the wire

    Returns
    -------
    (status, bits, next_layer, off, end): TUNNEL_GTPU with the inner IP header
    (guessed by its version nibble) after the optional sequence/N-PDU/next
    extension fields and the extension-header chain; `end` is bounded by the
    GTP length field. bits 0 (not a G-PDU carrying IP: version != 1, PT 0,
    message type != 255, lengths that do not fit, empty or non-IP T-PDU);
    DECODE_TRUNCATED when the capture ends inside a matching header.
    """
    if wire_len < GTPU_HLEN:
        return DECODE_OK, 0, 0, off, end
    if end - off < GTPU_HLEN:
        return DECODE_TRUNCATED, 0, 0, off, end
    flags = buf[off]
    if flags >> 5 != 1 or not flags & 0x10 or buf[off + 1] != GTPU_G_PDU:
        return DECODE_OK, 0, 0, off, end
    pdu_end = off + GTPU_HLEN + be16(buf, off + 2)
    if pdu_end > off + wire_len:
        return DECODE_OK, 0, 0, off, end
    cur = off + GTPU_HLEN
    if flags & 0x07:
        if pdu_end - cur < GTPU_OPT_HLEN:
            return DECODE_OK, 0, 0, off, end
        if end - cur < GTPU_OPT_HLEN:
            return DECODE_TRUNCATED, 0, 0, off, end
        next_type = np.int64(buf[cur + 3]) if flags & 0x04 else np.int64(0)
        cur += GTPU_OPT_HLEN
        while next_type != 0:
            if pdu_end - cur < 1:
                return DECODE_OK, 0, 0, off, end
            if end - cur < 1:
                return DECODE_TRUNCATED, 0, 0, off, end
            ext_len = np.int64(buf[cur]) * 4
            if ext_len == 0 or pdu_end - cur < ext_len:
                return DECODE_OK, 0, 0, off, end
            if end - cur < ext_len:
                return DECODE_TRUNCATED, 0, 0, off, end
            next_type = np.int64(buf[cur + ext_len - 1])
            cur += ext_len
    if pdu_end - cur < 1:
        return DECODE_OK, 0, 0, off, end
    if end - cur < 1:
        return DECODE_TRUNCATED, 0, 0, off, end
    status, nxt, cur = ip_by_nibble(buf, cur, end, DECODE_NOT_IP)
    if status != DECODE_OK:
        return DECODE_OK, 0, 0, off, end
    return DECODE_OK, TUNNEL_GTPU, nxt, cur, min(end, pdu_end)


@kernel
def decode_teredo(buf, off, end, wire_len):
    """Check for Teredo (RFC 4380): optional auth and origin headers, then IPv6.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only
    off      : int64       offset of the UDP payload
    end      : int64       one past the last captured byte of the UDP payload
    wire_len : int64       UDP payload bytes on the wire

    Returns
    -------
    (status, bits, next_layer, off, end): TUNNEL_TEREDO with NEXT_IPV6 when an
    IPv6 header follows whose 40 + payload length is exactly the rest of the
    UDP payload; bits 0 otherwise (the outer UDP packet is the flow);
    DECODE_TRUNCATED when the capture ends before that can be told.
    """
    wire_end = off + wire_len
    cur = off
    if wire_end - cur >= 2:
        if end - cur < 2:
            return DECODE_TRUNCATED, 0, 0, off, end
        if buf[cur] == 0 and buf[cur + 1] == 1:             # authentication header
            if wire_end - cur < 4:
                return DECODE_OK, 0, 0, off, end
            if end - cur < 4:
                return DECODE_TRUNCATED, 0, 0, off, end
            cur += TEREDO_AUTH_FIXED + np.int64(buf[cur + 2]) + np.int64(buf[cur + 3])
    if wire_end - cur >= 2:
        if end - cur < 2:
            return DECODE_TRUNCATED, 0, 0, off, end
        if buf[cur] == 0 and buf[cur + 1] == 0:             # origin indication
            cur += TEREDO_ORIGIN_HLEN
    if wire_end - cur < IPV6_HLEN:
        return DECODE_OK, 0, 0, off, end
    if end - cur < 6:
        return DECODE_TRUNCATED, 0, 0, off, end
    if buf[cur] >> 4 != 6 or IPV6_HLEN + be16(buf, cur + 4) != wire_end - cur:
        return DECODE_OK, 0, 0, off, end
    return DECODE_OK, TUNNEL_TEREDO, NEXT_IPV6, cur, end


@kernel
def may_be_tunnel(proto, sport, dport):
    """Cheap pre-check: could decode_tunnel find anything in this L4 protocol/ports?"""
    if proto == IPPROTO_IPIP or proto == IPPROTO_IPV6 or proto == IPPROTO_GRE:
        return True
    if proto != IPPROTO_UDP:
        return False
    return (dport == VXLAN_PORT or dport == VXLAN_LINUX_PORT or sport == GTPU_PORT
            or dport == GTPU_PORT or sport == TEREDO_PORT or dport == TEREDO_PORT)


@kernel
def decode_tunnel(buf, off, end, wire_len, proto, ip_version, sport, dport):
    """Dispatch on the innermost L4 protocol (and UDP ports) to the tunnel decoders.

    Parameters
    ----------
    buf        : uint8[::1]  batch buffer; read only
    off        : int64       offset of the L4 header (UDP: of the UDP payload)
    end        : int64       one past the last captured byte of that span
    wire_len   : int64       bytes of that span on the wire
    proto      : int64       IP protocol number
    ip_version : int64       4 or 6, version of the carrying IP header
    sport      : int64       UDP source port (0 for other protocols)
    dport      : int64       UDP destination port

    Returns
    -------
    (status, bits, next_layer, off, end) as the module docstring says;
    bits 0 with DECODE_OK when the packet is not a tunnel.
    """
    if proto == IPPROTO_IPIP:
        bits = TUNNEL_IPIP if ip_version == 4 else TUNNEL_4IN6
        return DECODE_OK, bits, NEXT_IPV4, off, end
    if proto == IPPROTO_IPV6:
        bits = TUNNEL_6IN4 if ip_version == 4 else TUNNEL_6IN6
        return DECODE_OK, bits, NEXT_IPV6, off, end
    if proto == IPPROTO_GRE:
        return decode_gre(buf, off, end, wire_len)
    if proto == IPPROTO_UDP:
        if dport == VXLAN_PORT or dport == VXLAN_LINUX_PORT:
            return decode_vxlan(buf, off, end, wire_len)
        if sport == GTPU_PORT or dport == GTPU_PORT:
            return decode_gtpu(buf, off, end, wire_len)
        if sport == TEREDO_PORT or dport == TEREDO_PORT:
            return decode_teredo(buf, off, end, wire_len)
    return DECODE_OK, 0, 0, off, end
