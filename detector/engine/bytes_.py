"""Bounds-free byte readers for kernels: callers check `end` before reading.

Every value comes back as int64 (be64 as uint64), so arithmetic on it behaves
the same compiled and under NUMBA_DISABLE_JIT=1 (numpy uint8 would wrap).
Offsets are indexed as uint64: with a signed index numba adds a negative-index
fix-up to every access (decode reads ~10% faster without it).
"""

import numpy as np

from detector.engine.config import inline_kernel, kernel


@kernel
def be16(buf, off):
    """Big-endian uint16 at buf[off:off+2] as int64; caller guarantees off + 2 <= end."""
    at = np.uint64(off)
    return (np.int64(buf[at]) << 8) | np.int64(buf[at + np.uint64(1)])


@kernel
def be32(buf, off):
    """Big-endian uint32 at buf[off:off+4] as int64; caller guarantees off + 4 <= end."""
    return (be16(buf, off) << 16) | be16(buf, off + 2)


@kernel
def le16(buf, off):
    """Little-endian uint16 at buf[off:off+2] as int64; caller guarantees off + 2 <= end."""
    at = np.uint64(off)
    return (np.int64(buf[at + np.uint64(1)]) << 8) | np.int64(buf[at])


@kernel
def le32(buf, off):
    """Little-endian uint32 at buf[off:off+4] as int64; caller guarantees off + 4 <= end."""
    at = np.uint64(off)
    return ((np.int64(buf[at + np.uint64(3)]) << 24) | (np.int64(buf[at + np.uint64(2)]) << 16)
            | (np.int64(buf[at + np.uint64(1)]) << 8) | np.int64(buf[at]))


@kernel
def be64(buf, off):
    """Big-endian uint64 at buf[off:off+8] as uint64; caller guarantees off + 8 <= end."""
    return (np.uint64(be32(buf, off)) << np.uint64(32)) | np.uint64(be32(buf, off + 4))


FNV_OFFSET = 14695981039346656037     # FNV-1a 64-bit offset basis
FNV_PRIME = 0x100000001B3


@inline_kernel
def fnv1a(h, buf, at, n):
    """FNV-1a (64 bit) of buf[at:at+n], started from `h` (FNV_OFFSET, or a seed)."""
    h = np.uint64(h)
    prime = np.uint64(FNV_PRIME)
    for j in range(np.uint64(0), np.uint64(n)):
        h = (h ^ np.uint64(buf[np.uint64(at) + j])) * prime
    return h


@inline_kernel
def copy_bytes(dst, at, src, src_at, n):
    """dst[at:at+n] = src[src_at:src_at+n]; nothing when n <= 0. Caller checks bounds.

    Indexed unsigned: with signed indices numba adds a negative-index fix-up to
    every access, which keeps LLVM from vectorising the loop (a byte at a time,
    about 5x slower on payload-sized copies).
    """
    if n > 0:                     # one exit: inlined, its arrays need no reference counts
        a = np.uint64(at)
        b = np.uint64(src_at)
        for j in range(np.uint64(0), np.uint64(n)):
            dst[a + j] = src[b + j]
