"""record_walk_count: the cheapest full pass over a capture, the floor a reader is timed against."""

from detector.capture.source import open_capture
from detector.capture.walk_common import WALK_OK


def record_walk_count(path):
    """(records, caplen_bytes) of the capture at `path`, touching only record headers.

    An uncompressed file is counted by one kernel call over its mmap (`pcap_count` /
    `pcapng_count`); a compressed file or stdin is walked batch by batch. Raises
    CaptureError as `open_capture` and `CaptureSource.batches` do.
    """
    with open_capture(path) as source:
        if source._mmap is None:
            records = caplen_bytes = 0
            for batch in source.batches():
                records += len(batch)
                caplen_bytes += int(batch.caplen.sum(dtype="int64"))
            return records, caplen_bytes
        walker, buf, end = source._walker, source._buf, source._fill
        records, caplen_bytes, pos, status, reason = walker.count(buf, walker.data_start, end)
        if status != WALK_OK:
            source.records = records
            raise source._damage(status, reason, pos)
        return int(records), int(caplen_bytes)
