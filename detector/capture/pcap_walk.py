"""Walk classic pcap records in a byte buffer (numba kernels, no per-record Python).

Format: draft-ietf-opsawg-pcap (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/).
The 24-byte file header is read once in Python (`magic.read_pcap_header`); the
kernels here start at the first record header and serve both the mmap of a file
and the bounded buffer of a stream.

Record header (16 bytes; 24 in the modified "Kuznetzov" format, magic a1b2cd34):
    ts_sec   u32  seconds since the epoch
    ts_frac  u32  microseconds, or nanoseconds when the magic is a1b23c4d
    caplen   u32  bytes captured, which follow the header
    wirelen  u32  bytes on the wire
    (modified format only: ifindex u32, protocol u16, pkt_type u8, pad u8)
"""

import numpy as np

from detector.capture.walk_common import (
    MAX_CAPLEN, NS_PER_S, R_CAPLEN, R_NONE, WALK_CORRUPT, WALK_NEED_MORE, WALK_OK, rd32,
    stream_ahead,
)
from detector.engine.config import kernel

# PCAP_STATE: int64[4] made by `new_pcap_state`, read only by the kernels
P_BIG = 0        # 1 when the file is big-endian
P_HDR_LEN = 1    # record header bytes: 16, or 24 for the modified format
P_NSEC = 2       # 1 when ts_frac is in nanoseconds
P_LINKTYPE = 3   # LinkType (lower 16 bits of the header field)


def new_pcap_state(big, hdr_len, nsec, linktype):
    """State array for `pcap_walk`/`pcap_count`, from the parsed file header."""
    return np.array([big, hdr_len, nsec, linktype], dtype=np.int64)


@kernel
def pcap_walk(buf, start, end, state, out_offset, out_caplen, out_wirelen, out_ts_ns,
              out_linktype):
    """Fill record arrays from the pcap records in buf[start:end].

    Parameters
    ----------
    buf          : uint8[::1]  capture bytes (mmap or stream buffer); read only
    start        : int64       offset of a record header in `buf`
    end          : int64       one past the last valid byte of `buf` (<= len(buf))
    state        : int64[4]    `new_pcap_state(...)`
    out_offset   : int64[m]    written [0, n): offset of each record's first data byte
    out_caplen   : uint32[m]   written [0, n): captured bytes
    out_wirelen  : uint32[m]   written [0, n): wire bytes, max(wirelen, caplen)
    out_ts_ns    : int64[m]    written [0, n): ns since the epoch
    out_linktype : uint16[m]   written [0, n): the file's link type
    m = len(out_offset) is the most records filled in one call.

    Returns
    -------
    (n, pos, status, reason) : n records filled; pos = offset of the first record
    not consumed (start <= pos <= end); status WALK_OK (output full, or pos == end),
    WALK_NEED_MORE (an incomplete record at pos) or WALK_CORRUPT (caplen at pos
    above MAX_CAPLEN; reason R_CAPLEN). Never raises; never reads at or past `end`.
    Every filled record has out_offset + out_caplen <= end.
    """
    big = state[P_BIG]
    hdr_len = state[P_HDR_LEN]
    frac_mult = np.int64(1) if state[P_NSEC] else np.int64(1000)
    linktype = state[P_LINKTYPE]
    m = len(out_offset)
    pos = start
    pf = start
    n = 0
    while n < m:
        pf = stream_ahead(buf, pf, pos, end)
        if end - pos < hdr_len:
            if pos == end:
                return n, pos, WALK_OK, R_NONE
            return n, pos, WALK_NEED_MORE, R_NONE
        caplen = rd32(buf, pos + 8, big)
        if caplen > MAX_CAPLEN:
            return n, pos, WALK_CORRUPT, R_CAPLEN
        if end - pos - hdr_len < caplen:
            return n, pos, WALK_NEED_MORE, R_NONE
        wirelen = rd32(buf, pos + 12, big)
        sec = rd32(buf, pos, big)
        frac = rd32(buf, pos + 4, big)
        out_offset[n] = pos + hdr_len
        out_caplen[n] = caplen
        out_wirelen[n] = wirelen if wirelen > caplen else caplen
        out_ts_ns[n] = sec * NS_PER_S + frac * frac_mult   # < 2^32 * 10^9 + 2^32 * 10^3
        out_linktype[n] = linktype
        n += 1
        pos += hdr_len + caplen
    return n, pos, WALK_OK, R_NONE


@kernel
def pcap_count(buf, start, end, state):
    """Count the records in buf[start:end], touching only their headers.

    Returns (records, caplen_bytes, pos, status, reason) with the meaning of
    `pcap_walk`'s (pos, status, reason); used as the floor a walk is measured against.
    """
    big = state[P_BIG]
    hdr_len = state[P_HDR_LEN]
    pos = start
    pf = start
    n = 0
    total = 0
    while True:
        pf = stream_ahead(buf, pf, pos, end)
        if end - pos < hdr_len:
            if pos == end:
                return n, total, pos, WALK_OK, R_NONE
            return n, total, pos, WALK_NEED_MORE, R_NONE
        caplen = rd32(buf, pos + 8, big)
        if caplen > MAX_CAPLEN:
            return n, total, pos, WALK_CORRUPT, R_CAPLEN
        if end - pos - hdr_len < caplen:
            return n, total, pos, WALK_NEED_MORE, R_NONE
        n += 1
        total += caplen
        pos += hdr_len + caplen
