"""Recognise a capture by its first bytes: compression, format, and the pcap file header.

Content decides, never the file name: a `.pcap` that is really pcapng, or a gzip
file without `.gz`, is read as what it is.
"""

import struct
from dataclasses import dataclass

from detector.engine.dtypes import SUPPORTED_LINKTYPES
from detector.errors import CaptureError

# (leading bytes, compression name); xz is the longest at 6 bytes
COMPRESSION_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
SNIFF_BYTES = 6

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"   # SHB block type, the same in both byte orders

# pcap magic as it appears in the file -> (big_endian, nanosecond, record header bytes)
PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4": (1, 0, 16),   # microsecond, big-endian
    b"\xd4\xc3\xb2\xa1": (0, 0, 16),   # microsecond, little-endian
    b"\xa1\xb2\x3c\x4d": (1, 1, 16),   # nanosecond, big-endian
    b"\x4d\x3c\xb2\xa1": (0, 1, 16),   # nanosecond, little-endian
    b"\xa1\xb2\xcd\x34": (1, 0, 24),   # modified pcap (Kuznetzov), big-endian
    b"\x34\xcd\xb2\xa1": (0, 0, 24),   # modified pcap (Kuznetzov), little-endian
}
PCAP_HEADER_BYTES = 24
LINKTYPE_MASK = 0xFFFF               # LinkType is the lower 16 bits; FCS bits above it


@dataclass(frozen=True)
class PcapHeader:
    """The classic pcap file header, as the walker needs it.

    big       1 if the file is big-endian
    nsec      1 if record time stamps carry nanoseconds (else microseconds)
    hdr_len   record header bytes: 16, or 24 for modified pcap
    version   (major, minor), informational
    snaplen   bytes, as written (records may exceed it; see pcap_walk)
    linktype  LinkType, lower 16 bits of the header field
    """

    big: int
    nsec: int
    hdr_len: int
    version: tuple
    snaplen: int
    linktype: int


def sniff_compression(head):
    """'gzip' | 'xz' | 'zstd' | None from the first SNIFF_BYTES bytes of a file."""
    for magic, name in COMPRESSION_MAGICS:
        if head.startswith(magic):
            return name
    return None


def sniff_format(head):
    """'pcap' | 'pcapng' | None from the first 4 (decompressed) bytes."""
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    return None


def read_pcap_header(head, path):
    """Parse the 24-byte pcap file header at the start of `head` (bytes-like).

    Raises CaptureError when fewer than 24 bytes are present or the link type is
    not in SUPPORTED_LINKTYPES ("unsupported link type N").
    """
    head = bytes(head[:PCAP_HEADER_BYTES])
    if len(head) < PCAP_HEADER_BYTES:
        raise CaptureError(path, f"truncated pcap file header ({len(head)} of 24 bytes)",
                           byte_offset=0, record_index=0)
    big, nsec, hdr_len = PCAP_MAGICS[head[:4]]
    major, minor, _zone, _sigfigs, snaplen, linkfield = struct.unpack(
        (">" if big else "<") + "HHiIII", head[4:])
    linktype = linkfield & LINKTYPE_MASK
    if linktype not in SUPPORTED_LINKTYPES:
        raise CaptureError(path, f"unsupported link type {linktype}", byte_offset=20,
                           record_index=0)
    return PcapHeader(big, nsec, hdr_len, (major, minor), snaplen, linktype)
