"""Walk pcapng blocks in a byte buffer (numba kernels, no per-record Python).

Format: draft-ietf-opsawg-pcapng (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/).
Every block is  type u32 | total length u32 | body | total length u32, in the byte
order of its section. Handled here:
    SHB 0x0A0D0D0A  starts a section: byte order from its magic, interfaces reset
    IDB 0x00000001  declares interface i (link type, snaplen, if_tsresol, if_tsoffset)
    EPB 0x00000006  enhanced packet: interface, 64-bit time stamp, caplen, wirelen
    SPB 0x00000003  simple packet: interface 0, no time stamp (previous record's is used)
    OPB 0x00000002  obsolete packet: like EPB with a 16-bit interface id
Every other block (NRB, ISB, DSB, custom, unknown) is skipped by its length.
"""

import numpy as np

from detector.capture.walk_common import (
    MAX_BLOCK_BYTES, MAX_CAPLEN, R_BLOCK_LEN, R_BYTE_ORDER, R_CAPLEN, R_IFACE, R_NONE,
    R_SHORT_BLOCK, R_TRAILER, R_TSRESOL, R_VERSION, WALK_CORRUPT, WALK_IFACE_FULL,
    WALK_NEED_MORE, WALK_OK, rd16, rd32, rd64s, stream_ahead, units_to_ns,
)
from detector.engine.config import kernel

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_OPB = 0x00000002
BT_SPB = 0x00000003
BT_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
TSOFFSET_BOUND_S = 1 << 40        # |if_tsoffset| is clamped to this (keeps sums in int64)

# PCAPNG_STATE: int64[3], carried from one call to the next
S_BIG = 0        # 1 when the current section is big-endian
S_NIF = 1        # interfaces declared in the current section
S_LAST_TS = 2    # time stamp of the previous record (ns), used by SPB

# IFACES: int64[capacity, 4], one row per interface of the current section
I_LINKTYPE = 0
I_SNAPLEN = 1
I_TSRESOL = 2    # if_tsresol byte (default 6: microseconds)
I_TSOFFSET = 3   # if_tsoffset, seconds


def new_pcapng_state():
    """Fresh walker state: no section yet, no interfaces, previous time stamp 0."""
    return np.zeros(3, dtype=np.int64)


def new_ifaces(capacity=16):
    """Interface table with room for `capacity` interfaces (grown on WALK_IFACE_FULL)."""
    return np.zeros((capacity, 4), dtype=np.int64)


@kernel
def read_idb(buf, pos, blen, big, row):
    """Parse the IDB at buf[pos:pos+blen] (length already checked >= 20) into `row`.

    Options are read only inside the body; a malformed option ends option parsing
    (the interface keeps what was read), as readers do. Returns R_NONE, or R_TSRESOL
    when if_tsresol is finer than 10^-19 s or 2^-63 s.
    """
    row[I_LINKTYPE] = rd16(buf, pos + 8, big)
    row[I_SNAPLEN] = rd32(buf, pos + 12, big)
    row[I_TSRESOL] = 6
    row[I_TSOFFSET] = 0
    opt = pos + 16
    oend = pos + blen - 4
    while oend - opt >= 4:
        code = rd16(buf, opt, big)
        olen = rd16(buf, opt + 2, big)
        if code == OPT_ENDOFOPT or olen > oend - opt - 4:
            break
        if code == OPT_IF_TSRESOL and olen >= 1:
            res = np.int64(buf[opt + 4])
            binary = res >= 128
            if (binary and res - 128 > 63) or (not binary and res > 19):
                return R_TSRESOL
            row[I_TSRESOL] = res
        elif code == OPT_IF_TSOFFSET and olen >= 8:
            off = rd64s(buf, opt + 4, big)
            row[I_TSOFFSET] = min(max(off, -TSOFFSET_BOUND_S), TSOFFSET_BOUND_S)
        opt += 4 + ((olen + 3) & ~3)
    return R_NONE


@kernel
def block_header(buf, pos, end, state):
    """(btype, blen, status, reason) for the block at buf[pos:end].

    An SHB sets state[S_BIG] from its byte-order magic before its length is read.
    status WALK_OK means the whole block, trailer checked, lies in [pos, end).
    """
    if end - pos < 12:
        return 0, 0, WALK_NEED_MORE, R_NONE
    btype = rd32(buf, pos, state[S_BIG])
    if btype == BT_SHB:                         # palindrome: readable in either order
        bom = rd32(buf, pos + 8, 0)
        if bom == BYTE_ORDER_MAGIC:
            big = 0
        elif bom == 0x4D3C2B1A:
            big = 1
        else:
            return btype, 0, WALK_CORRUPT, R_BYTE_ORDER
        blen = rd32(buf, pos + 4, big)
        if blen < 28 or blen & 3 or blen > MAX_BLOCK_BYTES:
            return btype, blen, WALK_CORRUPT, R_BLOCK_LEN
        if end - pos < 16:
            return btype, blen, WALK_NEED_MORE, R_NONE
        if rd16(buf, pos + 12, big) != 1:
            return btype, blen, WALK_CORRUPT, R_VERSION
        state[S_BIG] = big
    else:
        blen = rd32(buf, pos + 4, state[S_BIG])
        if blen < 12 or blen & 3 or blen > MAX_BLOCK_BYTES:
            return btype, blen, WALK_CORRUPT, R_BLOCK_LEN
    if end - pos < blen:
        return btype, blen, WALK_NEED_MORE, R_NONE
    if rd32(buf, pos + blen - 4, state[S_BIG]) != blen:
        return btype, blen, WALK_CORRUPT, R_TRAILER
    return btype, blen, WALK_OK, R_NONE


@kernel
def pcapng_walk(buf, start, end, state, ifaces, out_offset, out_caplen, out_wirelen,
                out_ts_ns, out_linktype):
    """Fill record arrays from the pcapng blocks in buf[start:end].

    Parameters
    ----------
    buf          : uint8[::1]       capture bytes (mmap or stream buffer); read only
    start        : int64            offset of a block (the first call: the first SHB)
    end          : int64            one past the last valid byte of `buf` (<= len(buf))
    state        : int64[3]         `new_pcapng_state()`; updated (section byte order,
                                    interface count, previous time stamp)
    ifaces       : int64[k, 4]      `new_ifaces(k)`; rows [0, state[S_NIF]) updated by IDBs
    out_*        : as in `pcap_walk`; the link type is the record's interface's.
    m = len(out_offset) is the most records filled in one call.

    Returns
    -------
    (n, pos, status, reason) : n records filled; pos = offset of the first block not
    consumed; status WALK_OK (output full, or pos == end), WALK_NEED_MORE (block at
    pos incomplete), WALK_IFACE_FULL (IDB at pos; grow `ifaces` and call again) or
    WALK_CORRUPT with an R_* reason. Never raises; never reads at or past `end`;
    every record has out_offset + out_caplen <= pos of the next block <= end.
    """
    m = len(out_offset)
    cap = ifaces.shape[0]
    pos = start
    pf = start
    n = 0
    while n < m:
        pf = stream_ahead(buf, pf, pos, end)
        if pos == end:
            return n, pos, WALK_OK, R_NONE
        btype, blen, status, reason = block_header(buf, pos, end, state)
        if status != WALK_OK:
            return n, pos, status, reason
        big = state[S_BIG]
        if btype == BT_EPB or btype == BT_OPB:
            if blen < 32:
                return n, pos, WALK_CORRUPT, R_BLOCK_LEN
            if btype == BT_EPB:
                iface = rd32(buf, pos + 8, big)
            else:
                iface = rd16(buf, pos + 8, big)
            if iface >= state[S_NIF]:
                return n, pos, WALK_CORRUPT, R_IFACE
            caplen = rd32(buf, pos + 20, big)
            if caplen > MAX_CAPLEN:
                return n, pos, WALK_CORRUPT, R_CAPLEN
            if caplen > blen - 32:
                return n, pos, WALK_CORRUPT, R_SHORT_BLOCK
            wirelen = rd32(buf, pos + 24, big)
            ts = units_to_ns(rd32(buf, pos + 12, big), rd32(buf, pos + 16, big),
                             ifaces[iface, I_TSRESOL], ifaces[iface, I_TSOFFSET])
            out_offset[n] = pos + 28
            out_caplen[n] = caplen
            out_wirelen[n] = wirelen if wirelen > caplen else caplen
            out_ts_ns[n] = ts
            out_linktype[n] = ifaces[iface, I_LINKTYPE]
            state[S_LAST_TS] = ts
            n += 1
        elif btype == BT_SPB:
            if blen < 16:
                return n, pos, WALK_CORRUPT, R_BLOCK_LEN
            if state[S_NIF] == 0:
                return n, pos, WALK_CORRUPT, R_IFACE
            wirelen = rd32(buf, pos + 8, big)
            caplen = wirelen
            snaplen = ifaces[0, I_SNAPLEN]
            if snaplen > 0 and caplen > snaplen:
                caplen = snaplen
            if caplen > blen - 16:
                caplen = blen - 16
            if caplen > MAX_CAPLEN:
                return n, pos, WALK_CORRUPT, R_CAPLEN
            out_offset[n] = pos + 12
            out_caplen[n] = caplen
            out_wirelen[n] = wirelen
            out_ts_ns[n] = state[S_LAST_TS]
            out_linktype[n] = ifaces[0, I_LINKTYPE]
            n += 1
        elif btype == BT_IDB:
            if blen < 20:
                return n, pos, WALK_CORRUPT, R_BLOCK_LEN
            nif = state[S_NIF]
            if nif >= cap:
                return n, pos, WALK_IFACE_FULL, R_NONE
            reason = read_idb(buf, pos, blen, big, ifaces[nif])
            if reason != R_NONE:
                return n, pos, WALK_CORRUPT, reason
            state[S_NIF] = nif + 1
        elif btype == BT_SHB:
            state[S_NIF] = 0
        pos += blen
    return n, pos, WALK_OK, R_NONE


@kernel
def pcapng_count(buf, start, end, state):
    """Count packet blocks (EPB, SPB, OPB) in buf[start:end], reading block headers only.

    Returns (records, caplen_bytes, pos, status, reason); state as in `pcapng_walk`
    (only S_BIG and S_NIF are kept). Checks framing, caplen and interface ids like
    `pcapng_walk`, but reads no IDB options (if_tsresol is not checked) and counts
    an SPB as min(original length, data area) bytes, not clipped by snaplen.
    """
    pos = start
    pf = start
    n = 0
    total = 0
    while True:
        pf = stream_ahead(buf, pf, pos, end)
        if pos == end:
            return n, total, pos, WALK_OK, R_NONE
        btype, blen, status, reason = block_header(buf, pos, end, state)
        if status != WALK_OK:
            return n, total, pos, status, reason
        big = state[S_BIG]
        if btype == BT_EPB or btype == BT_OPB:
            if blen < 32:
                return n, total, pos, WALK_CORRUPT, R_BLOCK_LEN
            iface = rd32(buf, pos + 8, big) if btype == BT_EPB else rd16(buf, pos + 8, big)
            if iface >= state[S_NIF]:
                return n, total, pos, WALK_CORRUPT, R_IFACE
            caplen = rd32(buf, pos + 20, big)
            if caplen > MAX_CAPLEN:
                return n, total, pos, WALK_CORRUPT, R_CAPLEN
            if caplen > blen - 32:
                return n, total, pos, WALK_CORRUPT, R_SHORT_BLOCK
            n += 1
            total += caplen
        elif btype == BT_SPB:
            if blen < 16:
                return n, total, pos, WALK_CORRUPT, R_BLOCK_LEN
            if state[S_NIF] == 0:
                return n, total, pos, WALK_CORRUPT, R_IFACE
            n += 1
            total += min(rd32(buf, pos + 8, big), blen - 16)
        elif btype == BT_IDB:
            if blen < 20:
                return n, total, pos, WALK_CORRUPT, R_BLOCK_LEN
            state[S_NIF] += 1
        elif btype == BT_SHB:
            state[S_NIF] = 0
        pos += blen
