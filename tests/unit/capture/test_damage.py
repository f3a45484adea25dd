"""Damaged and invalid inputs: every complete record first, then one CaptureError that
says where (byte offset in the decompressed stream) and after how many records."""

import gzip
import os
import struct

import pytest

from detector.capture import open_capture, record_walk_count
from detector.errors import CaptureError
from tests.gen.capture_formats import (
    BT_EPB, PcapngWriter, PcapWriter, compress, payload, read_capture, simple_pcap, without_offsets, write,
)

KINDS = [None, "gzip", "xz", "zstd"]


def cut_pcap():
    """5 records, then the 6th cut inside its data."""
    w = simple_pcap(6)
    data = w.bytes()
    sixth = w.expected[5]
    return data[:sixth["offset"] + 3], w.expected[:5], sixth["offset"] - 16, "truncated record"


def cut_pcap_header():
    """5 records, then 9 bytes of a record header."""
    w = simple_pcap(5).raw(b"\x01" * 9)
    return w.bytes(), w.expected, w.size - 9, "truncated record"


def huge_caplen_pcap():
    """3 records, a header claiming caplen 262145, 2 more records after it."""
    w = simple_pcap(3)
    at = w.size
    w.raw(struct.pack("<IIII", 1, 2, 262145, 262145))
    w.record(5, 5, payload(9, 10)).record(6, 6, payload(9, 10))
    return w.bytes(), w.expected[:3], at, "caplen above 262144"


def cut_pcapng():
    w = PcapngWriter().shb().idb(1)
    for i in range(4):
        w.epb(0, i, payload(i, 30))
    data = w.bytes()
    last = w.expected[3]["offset"] - 28
    return data[:-5], w.expected[:3], last, "truncated block"


def pcapng_with(damage):
    """2 good records, then `damage(writer)` returning the damaged block's offset, then a good one."""
    w = PcapngWriter().shb().idb(1, tsresol=9)
    w.epb(0, 1, payload(0, 20)).epb(0, 2, payload(1, 21))
    good = list(w.expected)
    at = damage(w)
    w.epb(0, 3, payload(2, 22))
    return w.bytes(), good, at


def bad_block_len():
    def damage(w):
        at = w.size
        w.raw(struct.pack("<II", 0x1234, 14) + b"\x00" * 6)       # 14: not a multiple of 4
        return at
    return (*pcapng_with(damage), "block length not sane")


def huge_block_len():
    def damage(w):
        at = w.size
        w.raw(struct.pack("<II", BT_EPB, 0x7FFFFFF0) + b"\x00" * 40)
        return at
    return (*pcapng_with(damage), "block length not sane")


def trailer_mismatch():
    return (*pcapng_with(lambda w: w.block(0x1234, b"abcd", trailer=20)),
            "trailing length does not match")


def undeclared_interface():
    def damage(w):
        at = w.size
        w.block(BT_EPB, struct.pack("<IIIII", 1, 0, 5, 4, 4) + b"abcd")
        return at
    return (*pcapng_with(damage), "did not declare")


def epb_caplen_beyond_block():
    def damage(w):
        at = w.size
        w.block(BT_EPB, struct.pack("<IIIII", 0, 0, 5, 40, 40) + b"abcd")
        return at
    return (*pcapng_with(damage), "too short for its captured length")


def epb_caplen_too_big():
    def damage(w):
        at = w.size
        w.block(BT_EPB, struct.pack("<IIIII", 0, 0, 5, 300000, 300000) + b"abcd")
        return at
    return (*pcapng_with(damage), "caplen above 262144")


def bad_second_shb():
    def damage(w):
        at = w.size
        w.raw(struct.pack("<II", 0x0A0D0D0A, 28) + b"\x11\x22\x33\x44" + b"\x00" * 16)
        return at
    return (*pcapng_with(damage), "byte-order magic")


def bad_version():
    def damage(w):
        at = w.size
        w.block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1))
        return at
    return (*pcapng_with(damage), "major version")


def bad_tsresol():
    def damage(w):
        at = w.size
        w.block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 1) + b"\x14\x00\x00\x00")
        return at
    return (*pcapng_with(damage), "resolution out of range")


def spb_without_interface():
    w = PcapngWriter().shb()
    w.block(3, struct.pack("<I", 3) + b"abc")
    return w.bytes(), [], 28, "did not declare"


CASES = [cut_pcap, cut_pcap_header, huge_caplen_pcap, cut_pcapng, bad_block_len,
         huge_block_len, trailer_mismatch, undeclared_interface, epb_caplen_beyond_block,
         epb_caplen_too_big, bad_second_shb, bad_version, bad_tsresol, spb_without_interface]


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_damage_yields_records_then_error(tmp_path, case, kind):
    data, expected, offset, message = case()
    path = write(tmp_path / "d", data, kind)
    for batch_records in (1, 65536):
        records, err = read_capture(path, batch_records=batch_records, stream_buffer_bytes=256)
        if kind is None:
            assert records == expected
        else:
            assert without_offsets(records) == without_offsets(expected)
        assert isinstance(err, CaptureError)
        assert message in err.message
        assert (err.byte_offset, err.record_index) == (offset, len(expected))
        assert err.path == path


@pytest.mark.parametrize("case", [c for c in CASES if c is not bad_tsresol],
                         ids=lambda c: c.__name__)
def test_record_walk_count_stops_at_damage(tmp_path, case):
    data, expected, offset, message = case()
    with pytest.raises(CaptureError) as info:
        record_walk_count(write(tmp_path / "d", data))
    assert message in info.value.message and info.value.byte_offset == offset


def test_error_text_names_path_offset_and_records(tmp_path):
    data, _, offset, _ = cut_pcap()
    path = write(tmp_path / "cut.pcap", data)
    _, err = read_capture(path)
    assert str(err) == f"{path}: truncated record at byte {offset} after 5 records"


# --- open_capture refuses -----------------------------------------------------------------
def open_error(path, **kw):
    with pytest.raises(CaptureError) as info:
        open_capture(str(path), **kw)
    return info.value


def test_missing_file(tmp_path):
    err = open_error(tmp_path / "nope.pcap")
    assert "cannot open" in err.message and "No such file" in err.message


def test_directory(tmp_path):
    assert "cannot open" in open_error(tmp_path).message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.pcap"
    path.write_bytes(simple_pcap(1).bytes())
    path.chmod(0)
    assert "Permission denied" in open_error(path).message


def test_empty_file(tmp_path):
    err = open_error(write(tmp_path / "e.pcap", b""))
    assert (err.message, err.byte_offset, err.record_index) == ("empty file", 0, 0)


@pytest.mark.parametrize("kind", ["gzip", "xz", "zstd"])
def test_empty_compressed_file(tmp_path, kind):
    assert open_error(write(tmp_path / "e", b"", kind)).message == "empty capture"


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_not_a_capture(tmp_path, kind):
    err = open_error(write(tmp_path / "t.txt", b"GET / HTTP/1.1\r\n\r\n" * 3, kind))
    assert err.message == "not a pcap or pcapng capture" and err.byte_offset == 0


def test_tiny_not_a_capture(tmp_path):
    assert open_error(write(tmp_path / "t", b"\x00")).message == "not a pcap or pcapng capture"


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_unsupported_linktype(tmp_path, kind):
    err = open_error(write(tmp_path / "u.pcap", simple_pcap(2, linkfield=147).bytes(), kind))
    assert err.message == "unsupported link type 147"


def test_truncated_pcap_file_header(tmp_path):
    err = open_error(write(tmp_path / "h.pcap", simple_pcap(2).bytes()[:10]))
    assert "truncated pcap file header" in err.message


def test_pcapng_shorter_than_a_block(tmp_path):
    records, err = read_capture(write(tmp_path / "s.pcapng", PcapngWriter().shb().bytes()[:10]))
    assert records == [] and err.message == "truncated block" and err.byte_offset == 0


# --- damaged compression ----------------------------------------------------------------
def test_gzip_cut_short(tmp_path):
    w = simple_pcap(200)
    packed = gzip.compress(w.bytes())
    records, err = read_capture(write(tmp_path / "c.pcap.gz", packed[:len(packed) // 2]))
    assert err is not None and "gzip stream damaged" in err.message
    assert without_offsets(records) == without_offsets(w.expected[:len(records)]) and 0 < len(records) < 200
    assert err.record_index == len(records)
    assert err.byte_offset == (w.expected[len(records)]["offset"] - 16)


def test_gzip_bad_crc(tmp_path):
    w = simple_pcap(50)
    packed = bytearray(gzip.compress(w.bytes()))
    packed[-6] ^= 0xFF                                        # CRC32 in the trailer
    records, err = read_capture(write(tmp_path / "crc.pcap.gz", bytes(packed)))
    assert err is not None and "gzip stream damaged" in err.message
    assert without_offsets(records) == without_offsets(w.expected[:len(records)])


@pytest.mark.parametrize("kind", ["xz", "zstd"])
def test_xz_zstd_cut_short(tmp_path, kind):
    w = simple_pcap(300)
    packed = compress(w.bytes(), kind)
    records, err = read_capture(write(tmp_path / "c", packed[:len(packed) * 2 // 3]))
    assert err is not None and f"{kind} stream damaged" in err.message
    assert without_offsets(records) == without_offsets(w.expected[:len(records)]) and err.record_index == len(records)


def test_batches_only_once(tmp_path):
    with open_capture(write(tmp_path / "o.pcap", PcapWriter().bytes())) as source:
        list(source.batches())
        with pytest.raises(CaptureError):
            list(source.batches())
