"""CaptureSource: any pcap or pcapng input (file, gzip/xz/zstd file, stdin) -> RecordBatch.

An uncompressed regular file is mapped (np.frombuffer over mmap, zero copy) and
walked in place. Everything else is a stream read into one bounded buffer: walk
the complete records, yield them, move the incomplete tail to the front, read
more. The walker kernels are the same in both cases (walkers.py).
"""

import logging
import mmap
import os
import stat

import numpy as np

from detector.capture.batch import release_map
from detector.capture.magic import (
    SNIFF_BYTES, read_pcap_header, sniff_compression, sniff_format,
)
from detector.capture.streams import open_stream
from detector.capture.walk_common import REASON_TEXT, WALK_CORRUPT, WALK_NEED_MORE, WALK_OK
from detector.capture.walkers import (
    MIN_RECORD_BYTES, PcapngWalker, PcapWalker, load_walker, make_batch, new_record_arrays,
)
from detector.errors import CaptureError

log = logging.getLogger(__name__)

MIN_STREAM_BUFFER = 64          # bytes; the buffer grows past this for big records
NOT_A_CAPTURE = "not a pcap or pcapng capture"


def open_capture(path, batch_records=65536, stream_buffer_bytes=16 << 20, reuse_arrays=False,
                 batches_held=1):
    """Open a capture for reading in batches.

    Parameters
    ----------
    path                : str  file path, or "-" for stdin (a pipe, possibly compressed)
    batch_records       : int  most records per RecordBatch (>= 1)
    stream_buffer_bytes : int  stream buffer size in bytes (compressed files, stdin);
                               grows only for a record larger than it, up to one
                               record (pcap) or block (pcapng, 16 MiB) at most
    reuse_arrays        : bool every batch's record arrays (offset, caplen, ...) are
                               those of the batch before, overwritten: for a reader
                               done with each batch before it asks for the next (the
                               engine), which then skips a fresh allocation and its
                               page faults per batch
    batches_held        : int  1 or 2: how many of the latest batches the reader may still
                               be reading when it asks for the next one. With 2 (the
                               engine's detection thread), reused record arrays cycle
                               through two sets and a stream keeps two buffers: a batch
                               stays valid until the one after the next is handed out

    Raises CaptureError (only) for a missing or unreadable file, an empty input,
    an input that is not pcap/pcapng ("not a pcap or pcapng capture") and a classic
    pcap header with a link type outside SUPPORTED_LINKTYPES ("unsupported link type N").
    """
    return CaptureSource(path, batch_records, stream_buffer_bytes, reuse_arrays, batches_held)


class CaptureSource:
    """Records of one capture, handed out as RecordBatch objects by `batches()`.

    path         str         as given ("-" = stdin)
    format       str         "pcap" | "pcapng"
    compression  str | None  None | "gzip" | "xz" | "zstd"
    bytes_total  int | None  size of the (compressed) file in bytes; None for stdin/pipes
    bytes_done   int         bytes of the (compressed) input read so far, for progress
    records      int         records yielded so far
    """

    def __init__(self, path, batch_records=65536, stream_buffer_bytes=16 << 20,
                 reuse_arrays=False, batches_held=1):
        self.path = str(path)
        self.format = None
        self.compression = None
        self.bytes_total = None
        self.bytes_done = 0
        self.records = 0
        self._batch_records = max(1, int(batch_records))
        self._reuse_arrays = reuse_arrays
        if batches_held not in (1, 2):
            raise ValueError(f"batches_held must be 1 or 2, not {batches_held}")
        self._batches_held = batches_held
        self._kept_arrays = []    # with reuse_arrays: the array sets batches cycle through
        self._spare_buf = None    # batches_held=2, streams: the buffer refills move into
        self._file = None
        self._mmap = None
        self._buf = None          # whole mmap (mmap mode) or the stream buffer
        self._stream = None
        self._fill = 0            # valid bytes in the stream buffer
        self._started = False
        try:
            self._open(max(MIN_STREAM_BUFFER, int(stream_buffer_bytes)))
        except CaptureError:
            self.close()
            raise
        except (OSError, ValueError) as exc:
            self.close()
            raise CaptureError(self.path, f"cannot read: {exc}") from None

    # --- opening --------------------------------------------------------------------
    def _open(self, buffer_bytes):
        if self.path != "-":
            try:
                self._file = open(self.path, "rb", buffering=0)
            except OSError as exc:
                raise CaptureError(self.path, f"cannot open: {exc.strerror or exc}") from None
            st = os.fstat(self._file.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise CaptureError(self.path, "cannot open: is a directory")
            if stat.S_ISREG(st.st_mode):
                self.bytes_total = st.st_size
                if st.st_size == 0:
                    raise CaptureError(self.path, "empty file", byte_offset=0, record_index=0)
                head = os.pread(self._file.fileno(), SNIFF_BYTES, 0)
                if sniff_compression(head) is None:
                    self._open_mmap(st.st_size)
                    return
        self._open_stream(buffer_bytes)

    def _open_mmap(self, size):
        self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(self._mmap, "madvise"):
            self._mmap.madvise(mmap.MADV_SEQUENTIAL)
        self._buf = np.frombuffer(self._mmap, dtype=np.uint8)
        self._fill = size
        self._walker = self._make_walker(self._buf[:24])

    def _open_stream(self, buffer_bytes):
        raw, self._file = self._file, None
        self._stream = open_stream(self.path, raw)
        self.compression = self._stream.compression
        self.bytes_total = self._stream.bytes_total
        self._buf = np.empty(buffer_bytes, dtype=np.uint8)
        view = memoryview(self._buf)
        while self._fill < 24 and not self._stream.eof:
            self._fill += self._stream.fill(view[self._fill:])
        self.bytes_done = self._stream.bytes_done
        if self._fill == 0:
            if self._stream.error:
                raise CaptureError(self.path, self._stream.error, byte_offset=0, record_index=0)
            raise CaptureError(self.path, "empty input" if self.path == "-" else
                               "empty capture", byte_offset=0, record_index=0)
        self._walker = self._make_walker(self._buf[:self._fill])

    def _make_walker(self, head):
        """The walker of the format `head` starts with, its kernel loaded for self._buf's
        type (at open, so that a run's timed part only walks)."""
        self.format = sniff_format(bytes(head[:4]))
        if self.format == "pcap":
            walker = PcapWalker(read_pcap_header(head, self.path))
        elif self.format == "pcapng":
            walker = PcapngWalker()
        else:
            raise CaptureError(self.path, NOT_A_CAPTURE, byte_offset=0, record_index=0)
        load_walker(walker, self._buf)
        return walker

    # --- reading --------------------------------------------------------------------
    def batches(self):
        """Yield RecordBatch objects, in order, until the end of the capture.

        On damage, every complete record before it is yielded first; then CaptureError
        names the byte offset (in the decompressed stream) where the damage starts and
        the number of records read. A batch's buffer is valid until the next batch.
        """
        if self._started:
            raise CaptureError(self.path, "batches() can be called only once")
        self._started = True
        if self._mmap is not None:
            yield from self._mmap_batches()
        else:
            yield from self._stream_batches()

    def _arrays(self, pos, end):
        size = min(self._batch_records, (end - pos) // MIN_RECORD_BYTES + 1)
        if not self._reuse_arrays:
            return new_record_arrays(size)
        kept = self._kept_arrays
        arrays = None
        if len(kept) == self._batches_held:
            arrays = kept.pop(0)          # the set of the oldest batch the reader may hold
        if arrays is None or len(arrays[0]) < size:
            arrays = new_record_arrays(size)
        kept.append(arrays)
        return arrays

    def _damage(self, status, reason, offset, message=None):
        if message is None:
            message = self._walker.truncated if status == WALK_NEED_MORE else REASON_TEXT[reason]
        return CaptureError(self.path, message, byte_offset=offset, record_index=self.records)

    def count(self):
        """(records, caplen_bytes) of the whole capture, touching only record headers.

        A file read through mmap is counted by one kernel call; a stream is walked
        batch by batch. Raises CaptureError as `batches` does. Use instead of
        `batches`, not after it.
        """
        if self._mmap is None:
            records = caplen_bytes = 0
            for batch in self.batches():
                records += len(batch)
                caplen_bytes += int(batch.caplen.sum(dtype="int64"))
            return records, caplen_bytes
        walker = self._walker
        records, caplen_bytes, pos, status, reason = walker.count(self._buf, walker.data_start,
                                                                  self._fill)
        if status != WALK_OK:
            self.records = int(records)
            raise self._damage(status, reason, pos)
        return int(records), int(caplen_bytes)

    def _mmap_batches(self):
        buf, end, walker = self._buf, self._fill, self._walker
        pos = walker.data_start
        while True:
            arrays = self._arrays(pos, end)
            n, pos, status, reason = walker.walk(buf, pos, end, arrays)
            self.bytes_done = pos
            if n:
                batch = make_batch(buf, arrays, n, self.records)
                self.records += n
                yield batch
            if status == WALK_OK and pos == end:
                return
            if status != WALK_OK:
                raise self._damage(status, reason, pos)

    def _stream_batches(self):
        walker, stream = self._walker, self._stream
        pos = walker.data_start
        base = 0                  # decompressed-stream offset of self._buf[0]
        while True:
            buf, fill = self._buf, self._fill
            arrays = self._arrays(pos, fill)
            n, pos, status, reason = walker.walk(buf, pos, fill, arrays)
            if n:
                batch = make_batch(buf, arrays, n, self.records)
                self.records += n
                yield batch
            if status == WALK_CORRUPT:
                raise self._damage(status, reason, base + pos)
            if status == WALK_OK and pos < fill:
                continue                                   # output full, more to walk
            if stream.eof:
                if stream.error:
                    raise self._damage(status, reason, base + pos, stream.error)
                if pos == fill:
                    return
                raise self._damage(WALK_NEED_MORE, reason, base + pos)
            if pos:                                        # keep the incomplete tail
                buf = self._move_tail(buf, pos, fill)
                base += pos
                fill -= pos
                pos = 0
            if fill == len(buf):
                buf = self._grow(buf, fill, base)
            self._fill = fill + stream.fill(memoryview(buf)[fill:])
            self.bytes_done = stream.bytes_done

    def _move_tail(self, buf, pos, fill):
        """Move buf[pos:fill] to the front of the buffer the next bytes are read into:
        the same one, or with batches_held=2 the other one (the reader may still be
        reading the batch just handed out from this one)."""
        if self._batches_held == 1:
            buf[:fill - pos] = buf[pos:fill]
            return buf
        spare = self._spare_buf
        if spare is None or len(spare) < len(buf):
            spare = np.empty(len(buf), dtype=np.uint8)
        spare[:fill - pos] = buf[pos:fill]
        self._spare_buf, self._buf = buf, spare
        return spare

    def _grow(self, buf, fill, base):
        """Double the stream buffer for a record bigger than it (bounded by max_unit)."""
        if len(buf) >= self._walker.max_unit:
            raise CaptureError(self.path, "record larger than any valid record",
                               byte_offset=base, record_index=self.records)
        bigger = np.empty(min(2 * len(buf), self._walker.max_unit), dtype=np.uint8)
        bigger[:fill] = buf[:fill]
        self._buf = bigger
        log.debug("%s: stream buffer grown to %d bytes", self.path, len(bigger))
        return bigger

    # --- closing --------------------------------------------------------------------
    def close(self):
        """Release the mapping, file and stream; safe to call twice."""
        self._buf = None
        if self._mmap is not None:
            release_map(self._mmap)
            self._mmap = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
