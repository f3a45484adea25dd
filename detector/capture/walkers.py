"""One Python face for the pcap and pcapng walker kernels, owning their state.

The source calls `walker.walk(buf, pos, end, m)` the same way for both formats and
for both mmap and stream buffers; per call this costs one kernel call, whatever
the number of records.
"""

import numpy as np

from detector.capture.batch import RecordBatch
from detector.capture.magic import PCAP_HEADER_BYTES
from detector.capture.pcap_walk import new_pcap_state, pcap_count, pcap_walk
from detector.capture.pcapng_walk import (
    new_ifaces, new_pcapng_state, pcapng_count, pcapng_walk,
)
from detector.capture.walk_common import MAX_BLOCK_BYTES, MAX_CAPLEN, WALK_IFACE_FULL

MIN_RECORD_BYTES = 16   # smallest record: a pcap header, or an SPB with no data


def new_record_arrays(m):
    """(offset, caplen, wirelen, ts_ns, linktype) arrays for up to m records."""
    return (np.empty(m, np.int64), np.empty(m, np.uint32), np.empty(m, np.uint32),
            np.empty(m, np.int64), np.empty(m, np.uint16))


def make_batch(buf, arrays, n, first_record):
    """A RecordBatch over `buf` holding the first n entries of `arrays`."""
    offset, caplen, wirelen, ts_ns, linktype = arrays
    return RecordBatch(buf, offset[:n], caplen[:n], wirelen[:n], ts_ns[:n], linktype[:n],
                       first_record)


def load_walker(walker, buf):
    """Load `walker`'s kernel for buffers of `buf`'s type (compiled once, then from the
    cache) with a walk of no bytes, before the source's records are timed."""
    walker.walk(buf, walker.data_start, walker.data_start, new_record_arrays(0))


class PcapWalker:
    """Classic pcap: records start after the 24-byte file header.

    data_start   offset of the first record header in the decompressed stream
    max_unit     largest record (header + MAX_CAPLEN) a buffer must be able to hold
    truncated    message for an incomplete record at the end of the input
    """

    truncated = "truncated record"

    def __init__(self, header):
        self.state = new_pcap_state(header.big, header.hdr_len, header.nsec, header.linktype)
        self.data_start = PCAP_HEADER_BYTES
        self.max_unit = header.hdr_len + MAX_CAPLEN

    def walk(self, buf, pos, end, arrays):
        """Kernel call: (n, pos, status, reason), see `pcap_walk`."""
        offset, caplen, wirelen, ts_ns, linktype = arrays
        return pcap_walk(buf, pos, end, self.state, offset, caplen, wirelen, ts_ns, linktype)

    def count(self, buf, pos, end):
        """Kernel call: (records, caplen_bytes, pos, status, reason), see `pcap_count`."""
        return pcap_count(buf, pos, end, self.state)


class PcapngWalker:
    """pcapng: blocks from offset 0; keeps the section's interfaces between calls."""

    truncated = "truncated block"

    def __init__(self):
        self.state = new_pcapng_state()
        self.ifaces = new_ifaces()
        self.data_start = 0
        self.max_unit = MAX_BLOCK_BYTES

    def walk(self, buf, pos, end, arrays):
        """Kernel call: (n, pos, status, reason), see `pcapng_walk`; grows the interface
        table when a section declares more interfaces than it holds."""
        offset, caplen, wirelen, ts_ns, linktype = arrays
        total = 0
        while True:
            n, pos, status, reason = pcapng_walk(
                buf, pos, end, self.state, self.ifaces, offset[total:], caplen[total:],
                wirelen[total:], ts_ns[total:], linktype[total:])
            total += n
            if status != WALK_IFACE_FULL:
                return total, pos, status, reason
            grown = new_ifaces(2 * len(self.ifaces))
            grown[:len(self.ifaces)] = self.ifaces
            self.ifaces = grown

    def count(self, buf, pos, end):
        """Kernel call: (records, caplen_bytes, pos, status, reason), see `pcapng_count`."""
        return pcapng_count(buf, pos, end, self.state)
