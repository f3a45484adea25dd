"""Pack frames into one buffer the way a RecordBatch does, and decode them."""

import numpy as np

from detector.engine.decode import decode_batch
from detector.engine.dtypes import PACKET_DTYPE


def pack(records):
    """(linktype, bytes) pairs -> (buf, offset, caplen, linktype) arrays, records 3 bytes apart."""
    gap = 3                               # junk between records: reads past caplen show up
    offsets, caplens, linktypes, parts, pos = [], [], [], [], 0
    for linktype, frame in records:
        offsets.append(pos)
        caplens.append(len(frame))
        linktypes.append(linktype)
        parts.append(bytes(frame) + b"\x45\x60\x08"[:gap])
        pos += len(frame) + gap
    buf = np.frombuffer(b"".join(parts) or b"\x00", np.uint8).copy()
    return (buf, np.array(offsets, np.int64), np.array(caplens, np.uint32),
            np.array(linktypes, np.uint16))


def decode_frames(records, fn=decode_batch):
    """Decode (linktype, bytes) pairs with `fn` (decode_batch or its py_func) -> (buf, offset, pkts)."""
    buf, offset, caplen, linktype = pack(records)
    pkts = np.zeros(len(offset), PACKET_DTYPE)
    pkts["status"] = 255                  # every row must be rewritten
    fn(buf, offset, caplen, linktype, pkts)
    return buf, offset, pkts
