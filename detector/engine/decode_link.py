"""Link layers up to the first IP header: every LINKTYPE_*, VLAN, MPLS, PPPoE.

Specs: tcpdump.org/linktypes.html (NULL, LOOP, SLL, SLL2, PPP, C_HDLC),
CACE "Per-Packet Information Header Specification" 1.0.10 (PPI),
IEEE 802.1Q (VLAN/QinQ), RFC 3032 (MPLS label stack), RFC 4385 (pseudowire
control word), RFC 2516 (PPPoE), RFC 1661/1662 (PPP, HDLC-like framing).
None of these are tunnels (no TUNNEL_* bit); they never write the packet row.
"""

import numpy as np

from detector.engine.bytes_ import be16, be32, le16, le32
from detector.engine.config import inline_kernel, kernel
from detector.engine.dtypes import (
    DECODE_MALFORMED, DECODE_NOT_IP, DECODE_OK, DECODE_TRUNCATED,
    DECODE_UNSUPPORTED_LINK, LINKTYPE_C_HDLC, LINKTYPE_ETHERNET, LINKTYPE_IPV4,
    LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP,
    LINKTYPE_NULL, LINKTYPE_PPI, LINKTYPE_PPP, LINKTYPE_PPP_ETHER, LINKTYPE_PPP_HDLC,
    LINKTYPE_RAW, LINKTYPE_RAW_BSD12, LINKTYPE_RAW_BSD14,
)
from detector.engine.layers import (
    ETH_MIN_TYPE, ETH_P_8021AD, ETH_P_FABRICPATH, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_P_MPLS_MC,
    ETH_P_MPLS_UC, ETH_P_PPPOE_SES, ETH_P_QINQ_OLD, NEXT_IPV4, NEXT_IPV6,
    PPP_IPV4, PPP_IPV6,
)

ETH_HLEN = 14
VLAN_HLEN = 4
MPLS_LABEL_LEN = 4
PW_CONTROL_WORD_LEN = 4
FABRICPATH_TAG_LEN = 2      # FabricPath FTag + TTL after its outer ethertype
PPPOE_HLEN = 6
SLL_HLEN = 16
SLL2_HLEN = 20
C_HDLC_HLEN = 4
NULL_HLEN = 4
PPI_HLEN = 8             # version, flags, header length (LE16), inner DLT (LE32)
AF_INET = 2
AF_INET6_LINUX = 10
AF_INET6_NETBSD = 24     # also OpenBSD
AF_INET6_FREEBSD = 28
AF_INET6_DARWIN = 30


@kernel
def ip_by_nibble(buf, off, end, other):
    """Pick IPv4 or IPv6 from the version nibble at buf[off] (raw IP, MPLS, GTP-U).

    Parameters
    ----------
    buf   : uint8[::1]  batch buffer; read only
    off   : int64       offset of the presumed IP header
    end   : int64       one past the last captured byte of this record
    other : int64       status to return when the nibble is neither 4 nor 6

    Returns
    -------
    (status, next_layer, off): DECODE_OK with NEXT_IPV4/NEXT_IPV6;
    DECODE_TRUNCATED when off >= end; `other` for any other nibble.
    """
    if end - off < 1:
        return DECODE_TRUNCATED, 0, off
    version = buf[off] >> 4
    if version == 4:
        return DECODE_OK, NEXT_IPV4, off
    if version == 6:
        return DECODE_OK, NEXT_IPV6, off
    return other, 0, off


@kernel
def decode_ppp(buf, off, end):
    """Decode a PPP header (optional ff 03 address/control, 1- or 2-byte protocol).

    Parameters
    ----------
    buf : uint8[::1]  batch buffer; read only
    off : int64       offset of the first PPP byte (address or protocol)
    end : int64       one past the last captured byte of this record

    Returns
    -------
    (status, next_layer, off): DECODE_OK with NEXT_IPV4 (protocol 0x0021) or
    NEXT_IPV6 (0x0057) and the offset of the IP header; DECODE_NOT_IP for any
    other protocol (LCP, IPCP, CCP...); DECODE_MALFORMED for ff without 03;
    DECODE_TRUNCATED when the capture ends inside the header.
    """
    if end - off < 1:
        return DECODE_TRUNCATED, 0, off
    if buf[off] == 0xFF:                   # HDLC-like framing (RFC 1662)
        if end - off < 2:
            return DECODE_TRUNCATED, 0, off
        if buf[off + 1] != 0x03:
            return DECODE_MALFORMED, 0, off
        off += 2
        if end - off < 1:
            return DECODE_TRUNCATED, 0, off
    if buf[off] & 1:                       # protocol-field compression: 1 byte
        proto = np.int64(buf[off])
        off += 1
    else:
        if end - off < 2:
            return DECODE_TRUNCATED, 0, off
        proto = be16(buf, off)
        off += 2
    if proto == PPP_IPV4:
        return DECODE_OK, NEXT_IPV4, off
    if proto == PPP_IPV6:
        return DECODE_OK, NEXT_IPV6, off
    return DECODE_NOT_IP, 0, off


@kernel
def decode_pppoe(buf, off, end):
    """Decode a PPPoE session header (RFC 2516) and the PPP protocol after it.

    Parameters
    ----------
    buf : uint8[::1]  batch buffer; read only
    off : int64       offset of the PPPoE version/type byte
    end : int64       one past the last captured byte of this record

    Returns
    -------
    As decode_ppp; DECODE_MALFORMED when version/type is not 0x11.
    """
    if end - off < PPPOE_HLEN:
        return DECODE_TRUNCATED, 0, off
    if buf[off] != 0x11:
        return DECODE_MALFORMED, 0, off
    return decode_ppp(buf, off + PPPOE_HLEN, end)


@kernel
def decode_mpls(buf, off, end):
    """Walk an MPLS label stack (RFC 3032) and guess what follows bottom-of-stack.

    Parameters
    ----------
    buf : uint8[::1]  batch buffer; read only
    off : int64       offset of the first label
    end : int64       one past the last captured byte of this record

    Returns
    -------
    (status, next_layer, off): DECODE_OK with NEXT_IPV4/NEXT_IPV6 when the first
    nibble after the stack is 4/6. Nibble 0 is a pseudowire control word
    (RFC 4385): returns DECODE_OK with next_layer 0 and `off` at the inner
    Ethernet header, which decode_ethertype continues with. Other nibbles:
    DECODE_NOT_IP. DECODE_TRUNCATED when the capture ends inside the stack.
    """
    while True:
        if end - off < MPLS_LABEL_LEN:
            return DECODE_TRUNCATED, 0, off
        bottom = buf[off + 2] & 1
        off += MPLS_LABEL_LEN
        if bottom:
            break
    if end - off < 1:
        return DECODE_TRUNCATED, 0, off
    if buf[off] >> 4 == 0:
        if end - off < PW_CONTROL_WORD_LEN:
            return DECODE_TRUNCATED, 0, off
        return DECODE_OK, 0, off + PW_CONTROL_WORD_LEN
    return ip_by_nibble(buf, off, end, DECODE_NOT_IP)


@kernel
def decode_ethertype(buf, off, end, etype):
    """Follow an ethertype through VLAN tags, MPLS, PPPoE and MPLS pseudowires to IP.

    Parameters
    ----------
    buf   : uint8[::1]  batch buffer; read only
    off   : int64       offset of the first byte after the ethertype field
    end   : int64       one past the last captured byte of this record
    etype : int64       the ethertype (Ethernet, SLL, SLL2, C-HDLC, GRE protocol)

    Returns
    -------
    (status, next_layer, off): DECODE_OK with NEXT_IPV4/NEXT_IPV6 and the IP
    header offset; DECODE_NOT_IP for other ethertypes and 802.3 lengths
    (< 0x600: LLC, STP); DECODE_TRUNCATED / DECODE_MALFORMED from the stacks.
    Cisco FabricPath (0x8903) frames are followed into the classic Ethernet
    frame they carry. Every stacked header consumes bytes, so the loop ends.
    """
    while True:
        if etype == ETH_P_IP:
            return DECODE_OK, NEXT_IPV4, off
        if etype == ETH_P_IPV6:
            return DECODE_OK, NEXT_IPV6, off
        if etype == ETH_P_8021Q or etype == ETH_P_8021AD or etype == ETH_P_QINQ_OLD:
            if end - off < VLAN_HLEN:
                return DECODE_TRUNCATED, 0, off
            etype = be16(buf, off + 2)
            off += VLAN_HLEN
            continue
        if etype == ETH_P_MPLS_UC or etype == ETH_P_MPLS_MC:
            status, nxt, off = decode_mpls(buf, off, end)
            if status != DECODE_OK or nxt != 0:
                return status, nxt, off
            if end - off < ETH_HLEN:          # pseudowire: inner Ethernet
                return DECODE_TRUNCATED, 0, off
            etype = be16(buf, off + 12)
            off += ETH_HLEN
            continue
        if etype == ETH_P_PPPOE_SES:
            return decode_pppoe(buf, off, end)
        if etype == ETH_P_FABRICPATH:          # FTag/TTL (2 bytes), then the classic frame
            if end - off < FABRICPATH_TAG_LEN + ETH_HLEN:
                return DECODE_TRUNCATED, 0, off
            etype = be16(buf, off + FABRICPATH_TAG_LEN + 12)
            off += FABRICPATH_TAG_LEN + ETH_HLEN
            continue
        return DECODE_NOT_IP, 0, off


@inline_kernel
def decode_ethernet(buf, off, end):
    """Decode an Ethernet II header at buf[off:end] and what it stacks up to IP.

    Parameters
    ----------
    buf : uint8[::1]  batch buffer; read only
    off : int64       offset of the destination MAC
    end : int64       one past the last captured byte of this record

    Returns
    -------
    As decode_ethertype; DECODE_TRUNCATED when fewer than 14 bytes are captured.
    """
    if end - off < ETH_HLEN:
        return DECODE_TRUNCATED, 0, off
    etype = be16(buf, off + 12)
    if etype == ETH_P_IP:                         # fast path: no call, no loop
        return DECODE_OK, NEXT_IPV4, off + ETH_HLEN
    if etype < ETH_MIN_TYPE:
        return DECODE_NOT_IP, 0, off
    return decode_ethertype(buf, off + ETH_HLEN, end, etype)


@kernel
def null_family_next(family):
    """Map a BSD address family (NULL/LOOP header) to NEXT_IPV4/NEXT_IPV6, or 0."""
    if family == AF_INET:
        return NEXT_IPV4
    if (family == AF_INET6_LINUX or family == AF_INET6_NETBSD
            or family == AF_INET6_FREEBSD or family == AF_INET6_DARWIN):
        return NEXT_IPV6
    return 0


@kernel
def ppi_frame(buf, off, end):
    """The frame inside a PPI record: (status, its DLT, its offset). PPI is little-endian
    whatever the file's byte order; its length covers the header and every field."""
    if end - off < PPI_HLEN:
        return DECODE_TRUNCATED, np.int64(0), off
    length = le16(buf, off + 2)
    inner = le32(buf, off + 4)
    if buf[off] != 0 or length < PPI_HLEN or inner == LINKTYPE_PPI:
        return DECODE_MALFORMED, np.int64(0), off
    if end - off < length:
        return DECODE_TRUNCATED, np.int64(0), off
    return DECODE_OK, inner, off + length


@inline_kernel
def decode_link(buf, off, end, linktype):
    """Decode the link-layer header of one record up to its first IP header.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only
    off      : int64       offset of the record's first captured byte
    end      : int64       one past the record's last captured byte
    linktype : int64       LINKTYPE_* of the record

    Returns
    -------
    (status, next_layer, off): DECODE_OK with NEXT_IPV4/NEXT_IPV6 and the IP
    header offset; DECODE_NOT_IP (ARP, LLDP, STP, LCP, unknown family...);
    DECODE_UNSUPPORTED_LINK for other link types; DECODE_TRUNCATED or
    DECODE_MALFORMED from the headers. Raw IP with a version nibble other
    than 4/6 is DECODE_MALFORMED. NULL's family is in the writer's byte
    order, so both orders are accepted; LOOP's is big-endian. PPI's header
    (its fields: radio, GPS...) is skipped and its frame decoded by its own DLT;
    a PPI header inside PPI, or a version other than 0, is DECODE_MALFORMED.
    """
    if linktype == LINKTYPE_PPI:
        status, linktype, off = ppi_frame(buf, off, end)
        if status != DECODE_OK:
            return status, 0, off
    if linktype == LINKTYPE_ETHERNET:
        return decode_ethernet(buf, off, end)
    if linktype == LINKTYPE_RAW or linktype == LINKTYPE_RAW_BSD12 or linktype == LINKTYPE_RAW_BSD14:
        return ip_by_nibble(buf, off, end, DECODE_MALFORMED)
    if linktype == LINKTYPE_IPV4:
        return DECODE_OK, NEXT_IPV4, off
    if linktype == LINKTYPE_IPV6:
        return DECODE_OK, NEXT_IPV6, off
    if linktype == LINKTYPE_LINUX_SLL:
        if end - off < SLL_HLEN:
            return DECODE_TRUNCATED, 0, off
        etype = be16(buf, off + 14)
        if etype < ETH_MIN_TYPE:
            return DECODE_NOT_IP, 0, off
        return decode_ethertype(buf, off + SLL_HLEN, end, etype)
    if linktype == LINKTYPE_LINUX_SLL2:
        if end - off < SLL2_HLEN:
            return DECODE_TRUNCATED, 0, off
        etype = be16(buf, off)
        if etype < ETH_MIN_TYPE:
            return DECODE_NOT_IP, 0, off
        return decode_ethertype(buf, off + SLL2_HLEN, end, etype)
    if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if end - off < NULL_HLEN:
            return DECODE_TRUNCATED, 0, off
        family = be32(buf, off)
        if linktype == LINKTYPE_NULL:
            little = le32(buf, off)
            if little < 0x10000:
                family = little
        nxt = null_family_next(family)
        if nxt == 0:
            return DECODE_NOT_IP, 0, off
        return DECODE_OK, nxt, off + NULL_HLEN
    if linktype == LINKTYPE_PPP or linktype == LINKTYPE_PPP_HDLC:
        return decode_ppp(buf, off, end)
    if linktype == LINKTYPE_PPP_ETHER:
        return decode_pppoe(buf, off, end)
    if linktype == LINKTYPE_C_HDLC:
        if end - off < C_HDLC_HLEN:
            return DECODE_TRUNCATED, 0, off
        return decode_ethertype(buf, off + C_HDLC_HLEN, end, be16(buf, off + 2))
    return DECODE_UNSUPPORTED_LINK, 0, off
