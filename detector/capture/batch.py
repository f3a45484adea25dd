"""RecordBatch: what every capture source yields (files, pipes, live rings)."""

from dataclasses import dataclass

import numpy as np


@dataclass
class RecordBatch:
    """Parallel arrays describing `n` records inside one buffer.

    buf      uint8[::1]  the buffer the records live in (an mmap of the file, a
                         stream chunk, a ring block); valid only until the next
                         batch is requested from the same source
    offset   int64[n]    offset in `buf` of each record's first captured byte
    caplen   uint32[n]   captured bytes (offset + caplen <= len(buf))
    wirelen  uint32[n]   length on the wire (>= caplen)
    ts_ns    int64[n]    timestamp, ns since the Unix epoch (UTC)
    linktype uint16[n]   link-layer header type (tcpdump.org/linktypes)
    first_record int     0-based index of record 0 in its source (frame = +1)
    clock_ns     int | None  live sources: every record received before this time
                         (ns since the epoch) has been handed out, so the engine
                         may end flows idle by then even when no record comes
                         (None for files and pipes: their time is their records')
    """

    buf: np.ndarray
    offset: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    ts_ns: np.ndarray
    linktype: np.ndarray
    first_record: int = 0
    clock_ns: int | None = None

    def __len__(self):
        return len(self.offset)


def release_map(mapping):
    """Close an mmap a source read from; a batch that still holds a view keeps the
    memory alive until it is freed, so that is not an error."""
    try:
        mapping.close()
    except BufferError:
        pass
