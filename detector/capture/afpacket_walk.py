"""Walk one TPACKET_V3 ring block into record arrays (numba, no per-record Python).

Layouts from linux/if_packet.h (host byte order, little-endian on the machines
Minewatch supports; offsets in bytes):

struct tpacket_block_desc (at the start of each block)
    0  version            u32
    4  offset_to_priv     u32
    8  block_status       u32   TP_STATUS_KERNEL (0) / TP_STATUS_USER (1)
   12  num_pkts           u32
   16  offset_to_first_pkt u32  from the start of the block
   20  blk_len            u32
   24  seq_num            u64

struct tpacket3_hdr (one per record, chained by tp_next_offset)
    0  tp_next_offset     u32   from this header to the next one; 0 after the last
    4  tp_sec             u32
    8  tp_nsec            u32   nanoseconds with TPACKET_V3
   12  tp_snaplen         u32   captured bytes
   16  tp_len             u32   bytes on the wire
   20  tp_status          u32
   24  tp_mac             u16   from this header to the link-layer header
"""

import numpy as np

from detector.capture.walk_common import NS_PER_S, rd16, rd32
from detector.engine.config import kernel

BLOCK_STATUS = 8
BLOCK_NUM_PKTS = 12
BLOCK_FIRST_PKT = 16
BLOCK_HDR_BYTES = 48           # tpacket_block_desc with both timestamps
TP3_HDR_BYTES = 48             # sizeof(struct tpacket3_hdr)
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1


@kernel
def ring_block_walk(ring, block_off, block_size, linktype, out_offset, out_caplen,
                    out_wirelen, out_ts_ns, out_linktype):
    """Fill record arrays from the records of the ring block at ring[block_off:].

    Parameters
    ----------
    ring         : uint8[::1]  the whole mmap'ed ring
    block_off    : int64       offset of the block (a multiple of the block size)
    block_size   : int64       bytes per block; no record is read past block_off + block_size
    linktype     : int64       LINKTYPE_* of the interface, written for every record
    out_*        : arrays of m entries (offset int64, caplen/wirelen uint32, ts_ns int64,
                   linktype uint16); m bounds the records filled

    Returns
    -------
    int  records filled (n <= num_pkts, n <= m). A header or record that would
         cross the end of the block stops the walk (never read past it).
    """
    end = block_off + block_size
    num = rd32(ring, block_off + BLOCK_NUM_PKTS, 0)
    pos = block_off + rd32(ring, block_off + BLOCK_FIRST_PKT, 0)
    m = len(out_offset)
    n = 0
    while n < num and n < m:
        if pos < block_off + BLOCK_HDR_BYTES or pos + TP3_HDR_BYTES > end:
            break
        nxt = rd32(ring, pos, 0)
        snaplen = rd32(ring, pos + 12, 0)
        wirelen = rd32(ring, pos + 16, 0)
        start = pos + rd16(ring, pos + 24, 0)
        if start + snaplen > end:
            break
        out_offset[n] = start
        out_caplen[n] = snaplen
        out_wirelen[n] = wirelen if wirelen > snaplen else snaplen
        out_ts_ns[n] = rd32(ring, pos + 4, 0) * NS_PER_S + rd32(ring, pos + 8, 0)
        out_linktype[n] = linktype
        n += 1
        if nxt == 0:
            break
        pos += nxt
    return n


def warm_up_walk():
    """Load (or compile) the kernel on an empty block."""
    ring = np.zeros(BLOCK_HDR_BYTES, np.uint8)
    arrays = (np.zeros(1, np.int64), np.zeros(1, np.uint32), np.zeros(1, np.uint32),
              np.zeros(1, np.int64), np.zeros(1, np.uint16))
    return ring_block_walk(ring, 0, BLOCK_HDR_BYTES, 1, *arrays)
