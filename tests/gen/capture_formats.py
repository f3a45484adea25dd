"""Write pcap and pcapng captures with struct, and say what a reader must find in them.

Plain functions and two small writers; every capture the capture tests use is made
here by code (never a hand-edited binary file). Each writer keeps `expected`: one
dict per record with the exact offset, caplen, wirelen, ts_ns, linktype and data a
correct reader yields, computed independently of the reader (Python big integers).
"""

import gzip
import lzma
import struct

import zstandard

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_MAGIC_MODIFIED = 0xA1B2CD34

BT_SHB, BT_IDB, BT_OPB, BT_SPB, BT_NRB, BT_ISB, BT_EPB = (
    0x0A0D0D0A, 1, 2, 3, 4, 5, 6)
BT_DSB = 0x0000000A
BT_CUSTOM, BT_CUSTOM_NOCOPY = 0x00000BAD, 0x40000BAD


def payload(i, length):
    """Deterministic bytes for record i: i, i+1, ... mod 256."""
    return bytes((i + k) % 256 for k in range(length))


# --- classic pcap ---------------------------------------------------------------------
class _CaptureBytes:
    """What both builders share: the bytes so far, their length, and raw damage."""

    def __init__(self):
        self.parts = []
        self.size = 0
        self.expected = []        # one dict per record, as a reader must yield it

    def _append(self, data):
        self.parts.append(bytes(data))
        self.size += len(data)

    def raw(self, data):
        """Append bytes that are not a record (damage)."""
        self._append(data)
        return self

    def bytes(self):
        return b"".join(self.parts)


class PcapWriter(_CaptureBytes):
    """Build a classic pcap. big/nsec/modified choose the magic; linkfield is the raw
    header field (link type plus any FCS bits above bit 15)."""

    def __init__(self, big=False, nsec=False, modified=False, linkfield=1, snaplen=65535):
        self.e = ">" if big else "<"
        self.nsec = nsec
        self.modified = modified
        self.linktype = linkfield & 0xFFFF
        magic = (PCAP_MAGIC_MODIFIED if modified else
                 PCAP_MAGIC_NSEC if nsec else PCAP_MAGIC_USEC)
        super().__init__()
        self._append(struct.pack(self.e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linkfield))

    def record(self, sec, frac, data, wirelen=None):
        """Append one record; frac is in us or ns as the magic says."""
        wirelen = len(data) if wirelen is None else wirelen
        hdr = struct.pack(self.e + "IIII", sec, frac, len(data), wirelen)
        if self.modified:
            hdr += struct.pack(self.e + "IHBB", 1, 0x0800, 0, 0)
        self.expected.append(dict(
            offset=self.size + len(hdr), caplen=len(data), wirelen=max(wirelen, len(data)),
            ts_ns=sec * 10**9 + frac * (1 if self.nsec else 1000),
            linktype=self.linktype, data=bytes(data)))
        self._append(hdr)
        self._append(data)
        return self


def simple_pcap(n=10, big=False, nsec=False, modified=False, linkfield=1, length=60):
    """A pcap with n records of `length`+i bytes, 1.5 s apart from 2021-01-01."""
    w = PcapWriter(big=big, nsec=nsec, modified=modified, linkfield=linkfield)
    for i in range(n):
        frac = (500_000_123 if nsec else 500_123) if i % 2 else 7
        w.record(1609459200 + i, frac, payload(i, length + i))
    return w


# --- pcapng ---------------------------------------------------------------------------
def _pad4(b):
    return b + b"\x00" * (-len(b) % 4)


def option(e, code, value):
    """One pcapng option (code, length, value padded to 4 bytes)."""
    return struct.pack(e + "HH", code, len(value)) + _pad4(value)


def tsresol_denominator(tsresol):
    """Units per second for an if_tsresol byte."""
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


def saturate_ns(ns):
    """Readers saturate a time stamp whose whole seconds exceed 9223372035 (int64 ns)."""
    if ns // 10**9 > 9223372035:
        return 2**63 - 1
    if ns // 10**9 < -9223372035:
        return -2**63
    return ns


class PcapngWriter(_CaptureBytes):
    """Build a pcapng block by block; sections may change byte order."""

    def __init__(self):
        super().__init__()
        self.e = "<"
        self.ifaces = []          # (linktype, snaplen, tsresol, tsoffset) in this section
        self.last_ts = 0

    def block(self, btype, body, e=None, trailer=None):
        """Append a block with the given body (padded); trailer overrides the trailing length."""
        e = e or self.e
        body = _pad4(body)
        total = 12 + len(body)
        start = self.size
        self._append(struct.pack(e + "II", btype, total) + body +
                     struct.pack(e + "I", total if trailer is None else trailer))
        return start

    def shb(self, big=False, options=b""):
        self.e = ">" if big else "<"
        self.ifaces = []
        body = struct.pack(self.e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options
        self.block(BT_SHB, body)
        return self

    def idb(self, linktype, snaplen=0, tsresol=None, tsoffset=None, extra_options=()):
        opts = b"".join(option(self.e, c, v) for c, v in extra_options)
        if tsresol is not None:
            opts += option(self.e, 9, bytes([tsresol]))
        if tsoffset is not None:
            opts += option(self.e, 14, struct.pack(self.e + "q", tsoffset))
        if opts:
            opts += struct.pack(self.e + "HH", 0, 0)
        self.block(BT_IDB, struct.pack(self.e + "HHI", linktype, 0, snaplen) + opts)
        self.ifaces.append((linktype, snaplen, 6 if tsresol is None else tsresol,
                            tsoffset or 0))
        return self

    def _ts(self, iface, units):
        _lt, _snap, res, off = self.ifaces[iface]
        return saturate_ns(units * 10**9 // tsresol_denominator(res) + off * 10**9)

    def epb(self, iface, units, data, wirelen=None, options=b""):
        wirelen = len(data) if wirelen is None else wirelen
        body = struct.pack(self.e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF,
                           len(data), wirelen) + _pad4(bytes(data)) + options
        start = self.block(BT_EPB, body)
        self._expect(start + 28, data, wirelen, self._ts(iface, units), iface)
        return self

    def opb(self, iface, units, data, wirelen=None):
        wirelen = len(data) if wirelen is None else wirelen
        body = struct.pack(self.e + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF,
                           len(data), wirelen) + _pad4(bytes(data))
        start = self.block(BT_OPB, body)
        self._expect(start + 28, data, wirelen, self._ts(iface, units), iface)
        return self

    def spb(self, data, wirelen=None):
        """Simple packet on interface 0; `data` is what is stored (already snapped)."""
        wirelen = len(data) if wirelen is None else wirelen
        start = self.block(BT_SPB, struct.pack(self.e + "I", wirelen) + _pad4(bytes(data)))
        self._expect(start + 12, data, wirelen, self.last_ts, 0)
        return self

    def _expect(self, offset, data, wirelen, ts_ns, iface):
        self.last_ts = ts_ns
        self.expected.append(dict(offset=offset, caplen=len(data),
                                  wirelen=max(wirelen, len(data)), ts_ns=ts_ns,
                                  linktype=self.ifaces[iface][0], data=bytes(data)))

    def nrb(self):
        rec = struct.pack(self.e + "HH", 1, 14) + _pad4(b"\x0a\x00\x00\x01pool.x\x00")
        return self._skip(BT_NRB, rec + struct.pack(self.e + "HH", 0, 0))

    def isb(self, iface=0):
        return self._skip(BT_ISB, struct.pack(self.e + "III", iface, 1, 2) +
                          option(self.e, 4, struct.pack(self.e + "Q", 5)))

    def custom(self, btype=BT_CUSTOM):
        return self._skip(btype, struct.pack(self.e + "I", 32473) + b"opaque vendor bytes")

    def unknown(self, btype=0x00001234, length=7):
        return self._skip(btype, bytes(range(length)))

    def _skip(self, btype, body):
        self.block(btype, body)
        return self

def rich_pcapng():
    """Two sections (little then big endian), several interfaces with different link
    types, resolutions and offsets, EPB/SPB/OPB and skipped blocks interleaved."""
    w = PcapngWriter()
    w.shb(big=False)
    w.idb(1, snaplen=0)                                    # Ethernet, usec (default)
    w.nrb()
    w.idb(101, snaplen=96, tsresol=9)                     # raw IP, ns
    w.idb(113, snaplen=65535, tsresol=0x80 | 20, tsoffset=3600)   # SLL, 2^-20 s, +1 h
    w.epb(0, 1609459200_123456, payload(0, 60))
    w.spb(payload(1, 61))                                  # iface 0: previous ts
    w.custom()
    w.epb(1, 1609459200_987654321, payload(2, 96), wirelen=1500)
    w.epb(2, (1609459200 << 20) | 0xABCDE, payload(3, 40))
    w.isb(0)
    w.opb(1, 1609459201_000000001, payload(4, 33))
    w.unknown()
    w.custom(BT_CUSTOM_NOCOPY)
    w.epb(0, 2**64 - 1 - 2**63, payload(5, 0))            # empty record, huge ts
    w.shb(big=True)                                        # new section, interfaces reset
    w.idb(228, snaplen=128, tsresol=3, tsoffset=-10)       # IPv4, ms, -10 s
    w.idb(1, snaplen=64, tsresol=0x80 | 10)                # 2^-10 s
    w.epb(1, 5 * 1024 + 3, payload(6, 64), wirelen=1514)
    w.spb(payload(7, 17))
    w.epb(0, 1609459200_555, payload(8, 128))
    w.isb(1)
    return w


# --- compression ------------------------------------------------------------------------
def compress(data, kind):
    """data compressed as 'gzip' | 'xz' | 'zstd' (or returned as is for None)."""
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def write(path, data, kind=None):
    """Write `data` (compressed as `kind`) to `path`; return the path as str."""
    with open(path, "wb") as f:
        f.write(compress(data, kind))
    return str(path)


# --- reading back, in the same form as `expected` ----------------------------------------
def records_of(batches):
    """Records of an iterable of RecordBatch as dicts like the writers' `expected`.

    Returns (records, first_records): first_records lists each batch's first_record.
    """
    out, firsts = [], []
    for batch in batches:
        firsts.append(batch.first_record)
        buf = batch.buf
        for i in range(len(batch)):
            off, cap = int(batch.offset[i]), int(batch.caplen[i])
            out.append(dict(offset=off, caplen=cap, wirelen=int(batch.wirelen[i]),
                            ts_ns=int(batch.ts_ns[i]), linktype=int(batch.linktype[i]),
                            data=bytes(buf[off:off + cap])))
    return out, firsts


def read_capture(path, **kw):
    """(records, error) from reading `path` with open_capture(**kw); error is the
    CaptureError raised (at open or while reading) or None. Each batch is converted
    before the next is asked for (a stream reuses its buffer)."""
    from detector.capture import open_capture
    from detector.errors import CaptureError
    records = []
    try:
        with open_capture(path, **kw) as source:
            for batch in source.batches():
                records.extend(records_of([batch])[0])
    except CaptureError as exc:
        return records, exc
    return records, None


def without_offsets(records):
    """Records without 'offset' (a stream's offsets are into its buffer, not the file)."""
    return [{k: v for k, v in r.items() if k != "offset"} for r in records]
