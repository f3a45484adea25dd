"""Capture sources: pcap / pcapng files (plain, gzip, xz, zstd) and stdin -> RecordBatch.

    with open_capture("x.pcapng.zst") as source:
        for batch in source.batches():
            ...   # batch.offset / caplen / wirelen / ts_ns / linktype over batch.buf

Records are walked by numba kernels (pcap_walk.py, pcapng_walk.py); Python runs
once per batch, never per record.
"""

from detector.capture.batch import RecordBatch
from detector.capture.floor import record_walk_count
from detector.capture.source import CaptureSource, open_capture

__all__ = ["CaptureSource", "RecordBatch", "open_capture", "record_walk_count"]
