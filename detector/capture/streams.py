"""Byte streams for captures that cannot be mapped: stdin, pipes, gzip/xz/zstd files.

`open_stream(path)` returns a `ByteStream` that fills a caller's buffer with
decompressed bytes. It never raises on damaged compressed data: it reports end of
stream and keeps the reason in `error`, so the reader can hand out every complete
record first (STYLE.md 2.5).
"""

import gzip
import logging
import lzma
import os
import select
import stat
import sys
import zlib

import zstandard

from detector.capture.magic import SNIFF_BYTES, sniff_compression

log = logging.getLogger(__name__)

STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


class CountingRaw:
    """Unbuffered reader over a raw file that counts the bytes it hands out.

    prefix : bytes already read from `raw` (the sniffed magic), returned first.
    `consumed` is how far into the (compressed) input reading has gone.
    """

    def __init__(self, raw, prefix=b""):
        self._raw = raw
        self._prefix = prefix
        self.consumed = 0

    def readable(self):
        return True

    def read(self, size=-1):
        if self._prefix:
            out = self._prefix if size < 0 else self._prefix[:size]
            self._prefix = self._prefix[len(out):]
        else:
            read = getattr(self._raw, "read1", self._raw.read)   # one read, never waits to fill
            out = (read(size) if size >= 0 else self._raw.read()) or b""
        self.consumed += len(out)
        return out

    def readinto(self, view):
        if self._prefix:
            k = min(len(view), len(self._prefix))
            view[:k] = self._prefix[:k]
            self._prefix = self._prefix[k:]
        else:
            readinto = getattr(self._raw, "readinto1", self._raw.readinto)
            k = readinto(view) or 0
        self.consumed += k
        return k

    read1 = read
    readinto1 = readinto

    def close(self):
        pass


class ByteStream:
    """Decompressed bytes of a file, pipe or stdin, read in caller-sized pieces.

    compression  None | 'gzip' | 'xz' | 'zstd'
    is_pipe      True when the input is not a regular file (stdin pipe, FIFO)
    bytes_total  size of the input file in bytes, None for pipes
    eof          True once the stream has ended (cleanly or not)
    error        None, or why the (compressed) stream ended early
    """

    def __init__(self, raw, fd, owns, compression, counting, reader, is_pipe, bytes_total):
        self._raw = raw
        self._fd = fd
        self._owns = owns
        self._counting = counting
        self._reader = reader
        self.compression = compression
        self.is_pipe = is_pipe
        self.bytes_total = bytes_total
        self.eof = False
        self.error = None

    @property
    def bytes_done(self):
        """Bytes of the (compressed) input consumed so far."""
        return self._counting.consumed

    def _ready(self):
        try:
            return bool(select.select([self._fd], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def fill(self, view):
        """Read into `view` (writable memoryview), return bytes written (0 only at EOF).

        A regular file is read until `view` is full. A pipe returns what has arrived
        once at least one byte is there, so slow producers are not waited on.
        """
        got = 0
        total = len(view)
        while got < total and not self.eof:
            try:
                k = self._reader.readinto1(view[got:]) if hasattr(self._reader, "readinto1") \
                    else self._reader.readinto(view[got:])
            except STREAM_ERRORS as exc:
                self.error = f"{self.compression or 'input'} stream damaged: {exc}"
                self.eof = True
                break
            if not k:
                self.eof = True
                break
            got += k
            if self.is_pipe and not self._ready():
                break
        return got

    def close(self):
        try:
            if self._reader is not self._counting:
                self._reader.close()
        except STREAM_ERRORS:
            pass
        if self._owns:
            try:
                self._raw.close()
            except OSError:
                pass


class ZstdReader:
    """Concatenated zstd frames from `source`, decompressed as they arrive.

    zstandard's stream_reader ends quietly on a cut frame; this reader raises
    ZstdError instead, so a truncated .zst is reported like a truncated .gz.
    """

    CHUNK = 1 << 17

    def __init__(self, source):
        self._src = source
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False        # bytes fed to the current frame, frame not ended
        self._out = b""
        self._at = 0
        self._eof = False

    def readinto1(self, view):
        while self._at == len(self._out):
            if self._eof:
                return 0
            data = self._src.read(self.CHUNK)
            if not data:
                self._eof = True
                if self._in_frame:
                    raise zstandard.ZstdError("input ends inside a zstd frame")
                return 0
            self._out, self._at = self._feed(data), 0
        k = min(len(view), len(self._out) - self._at)
        view[:k] = self._out[self._at:self._at + k]
        self._at += k
        return k

    def _feed(self, data):
        pieces = []
        while data:
            pieces.append(self._dobj.decompress(data))
            self._in_frame = not self._dobj.eof
            if not self._dobj.eof:
                break
            data = self._dobj.unused_data
            self._dobj = zstandard.ZstdDecompressor().decompressobj()
        return b"".join(pieces)

    def close(self):
        pass


def _decompressor(compression, counting):
    if compression == "gzip":
        return gzip.GzipFile(fileobj=counting, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(counting)
    if compression == "zstd":
        return ZstdReader(counting)
    return counting


def open_stream(path, raw=None):
    """Open `path` ('-' = stdin) as a ByteStream, detecting compression by magic bytes.

    raw : an already opened unbuffered binary file for `path` (its position at 0),
          or None to open it here. OSError from opening propagates to the caller.
    """
    if raw is None:
        if path == "-":
            raw = sys.stdin.buffer
            owns = False
        else:
            raw = open(path, "rb", buffering=0)
            owns = True
    else:
        owns = True
    fd = raw.fileno()
    st = os.fstat(fd)
    is_pipe = not stat.S_ISREG(st.st_mode)
    bytes_total = None if (is_pipe or path == "-") else st.st_size
    head = b""
    while len(head) < SNIFF_BYTES:
        piece = raw.read(SNIFF_BYTES - len(head))
        if not piece:
            break
        head += piece
    compression = sniff_compression(head)
    counting = CountingRaw(raw, prefix=head)
    reader = _decompressor(compression, counting)
    log.debug("stream %s: compression=%s pipe=%s", path, compression, is_pipe)
    return ByteStream(raw, fd, owns, compression, counting, reader, is_pipe, bytes_total)
