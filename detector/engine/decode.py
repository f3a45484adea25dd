"""decode_batch: records of a RecordBatch -> PACKET_DTYPE rows (innermost IP packet).

One loop per record walks link layer -> IP -> L4 -> tunnel -> IP ... without
recursion; each step is a small kernel in decode_link / decode_ip /
decode_tunnel returning a status. Every read is bounded by the record's
captured end (offset + caplen), never by its wire length.
"""

import numpy as np

from detector.engine.config import inline_kernel, kernel
from detector.engine.decode_ip import decode_ipv4, decode_ipv6, decode_l4
from detector.engine.decode_link import decode_ethernet, decode_link
from detector.engine.decode_tunnel import decode_tunnel, may_be_tunnel
from detector.engine.dtypes import (
    DECODE_OK, DECODE_TUNNEL_DEPTH, FRAG_NONE, MAX_TUNNEL_DEPTH,
)
from detector.engine.layers import IPPROTO_UDP, NEXT_ETHER, NEXT_IPV4
from detector.engine.prefetch import prefetch

# decode_batch asks for the first two cache lines of record i + LOOKAHEAD (where its
# headers are) while it decodes record i: a batch is larger than the L2 cache
LOOKAHEAD = 8


@kernel
def clear_packet(pkt, status):
    """Zero every field of one PACKET_DTYPE row and set its status."""
    pkt["status"] = status
    pkt["ip_version"] = 0
    pkt["proto"] = 0
    pkt["tcp_flags"] = 0
    pkt["frag"] = 0
    pkt["tunnel"] = 0
    pkt["src_hi"] = 0
    pkt["src_lo"] = 0
    pkt["dst_hi"] = 0
    pkt["dst_lo"] = 0
    pkt["sport"] = 0
    pkt["dport"] = 0
    pkt["ip_id"] = 0
    pkt["seq"] = 0
    pkt["ack"] = 0
    pkt["payload_offset"] = 0
    pkt["payload_caplen"] = 0
    pkt["payload_len"] = 0
    pkt["l4_anomaly"] = 0


@inline_kernel
def decode_record(buf, off, end, linktype, pkt):
    """Decode one record buf[off:end] down to its innermost IP packet.

    Parameters
    ----------
    buf      : uint8[::1]  batch buffer; read only, never copied
    off      : int64       offset of the record's first captured byte
    end      : int64       one past its last captured byte (offset + caplen)
    linktype : int64       LINKTYPE_* of the record
    pkt      : record      PACKET_DTYPE row; every field is written

    Returns
    -------
    int  the DECODE_* status, also stored in pkt["status"]. On DECODE_OK the
         row holds the innermost IP packet (addresses, ports, proto, frag,
         ip_id, TCP fields, payload span) and the TUNNEL_* bits crossed, with
         off <= payload_offset, payload_caplen <= payload_len and
         payload_offset + payload_caplen <= end. Any other status leaves
         every other field 0. More than MAX_TUNNEL_DEPTH nested tunnels give
         DECODE_TUNNEL_DEPTH. Fragments are not looked into for tunnels.
    """
    clear_packet(pkt, DECODE_OK)
    status, nxt, off = decode_link(buf, off, end, linktype)
    tunnel = 0
    depth = 0
    while status == DECODE_OK:
        if nxt == NEXT_ETHER:
            status, nxt, off = decode_ethernet(buf, off, end)
            continue
        if nxt == NEXT_IPV4:
            status, proto, l4_off, end, l4_len = decode_ipv4(buf, off, end, pkt)
        else:
            status, proto, l4_off, end, l4_len = decode_ipv6(buf, off, end, pkt)
        if status != DECODE_OK:
            break
        frag = np.int64(pkt["frag"])
        status = decode_l4(buf, l4_off, end, l4_len, proto, frag, pkt)
        if status != DECODE_OK or frag != FRAG_NONE:
            break
        if not may_be_tunnel(proto, np.int64(pkt["sport"]), np.int64(pkt["dport"])):
            break                                 # fast path: plain TCP/UDP/ICMP...
        sport = np.int64(0)
        dport = np.int64(0)
        if proto == IPPROTO_UDP:
            sport = np.int64(pkt["sport"])
            dport = np.int64(pkt["dport"])
            l4_off = np.int64(pkt["payload_offset"])
            l4_len = np.int64(pkt["payload_len"])
            end = l4_off + np.int64(pkt["payload_caplen"])
        status, bits, nxt, off, end = decode_tunnel(
            buf, l4_off, end, l4_len, proto, np.int64(pkt["ip_version"]), sport, dport)
        if status != DECODE_OK or bits == 0:
            break
        depth += 1
        if depth > MAX_TUNNEL_DEPTH:
            status = DECODE_TUNNEL_DEPTH
            break
        tunnel |= bits
    if status != DECODE_OK:
        clear_packet(pkt, status)
        return status
    pkt["tunnel"] = tunnel
    return status


@kernel
def decode_batch(buf, offset, caplen, linktype, pkts):
    """Decode every record of a batch into PACKET_DTYPE rows.

    Parameters
    ----------
    buf      : uint8[::1]      batch buffer (mmap, stream chunk or ring block); read only
    offset   : int64[n]        offset of each record's first captured byte
    caplen   : uint32[n]       captured bytes of each record
    linktype : uint16[n]       LINKTYPE_* of each record
    pkts     : PACKET_DTYPE[n] output; row i is fully rewritten for record i

    Returns
    -------
    None. Each row's status says whether it decoded (DECODE_*); callers count
    statuses with count_outcomes. Never raises; never reads past
    offset[i] + caplen[i].
    """
    n = len(offset)
    for i in range(n):
        if i + LOOKAHEAD < n:
            ahead = np.int64(offset[i + LOOKAHEAD])
            prefetch(buf, ahead)
            prefetch(buf, ahead + 63)           # a hint: never faults, even past the end
        start = np.int64(offset[i])
        decode_record(buf, start, start + np.int64(caplen[i]), np.int64(linktype[i]), pkts[i])


@kernel
def count_outcomes(pkts, status_counts, anomaly_counts):
    """Add each row's status (DECODE_*) and l4_anomaly to the int64 counters indexed
    by them (values past a counter's end are not counted). One pass that lets the GIL
    go, where two np.bincount held it for ~0.5 ms per 64k records: in a scan on two
    threads, that time comes off the thread that folds batches."""
    n_status = len(status_counts)
    n_anomaly = len(anomaly_counts)
    for i in range(len(pkts)):
        s = np.int64(pkts[i]["status"])
        if s < n_status:
            status_counts[s] += 1
        a = np.int64(pkts[i]["l4_anomaly"])
        if a < n_anomaly:
            anomaly_counts[a] += 1
