"""pcap and pcapng records read back exactly as the generator wrote them."""

import struct

import numpy as np
import pytest

from detector.capture import open_capture
from tests.gen.capture_formats import (
    PcapngWriter, PcapWriter, payload, read_capture, records_of, rich_pcapng, simple_pcap,
    write,
)


@pytest.mark.parametrize("big", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("nsec", [False, True], ids=["usec", "nsec"])
def test_pcap_byte_orders_and_resolutions(tmp_path, big, nsec):
    w = simple_pcap(12, big=big, nsec=nsec)
    path = write(tmp_path / "x.pcap", w.bytes())
    records, err = read_capture(path)
    assert err is None
    assert records == w.expected
    with open_capture(path) as source:
        assert (source.format, source.compression) == ("pcap", None)
        assert source.bytes_total == len(w.bytes())
        list(source.batches())
        assert source.records == 12 and source.bytes_done == len(w.bytes())


@pytest.mark.parametrize("big", [False, True], ids=["le", "be"])
def test_modified_pcap_24_byte_headers(tmp_path, big):
    w = simple_pcap(5, big=big, modified=True)
    records, err = read_capture(write(tmp_path / "m.pcap", w.bytes()))
    assert err is None and records == w.expected
    assert records[1]["offset"] == 24 + 24 + 60 + 24


def test_pcap_linktype_upper_bits_are_fcs_flags(tmp_path):
    w = simple_pcap(3, linkfield=0x44000000 | 113)    # FCS length 4, F bit, SLL
    records, err = read_capture(write(tmp_path / "f.pcap", w.bytes()))
    assert err is None and [r["linktype"] for r in records] == [113, 113, 113]


def test_pcap_caplen_above_snaplen_and_wirelen_below_caplen(tmp_path):
    w = PcapWriter(snaplen=64)
    w.record(10, 1, payload(0, 100))                   # caplen 100 > snaplen 64: accepted
    w.record(11, 2, payload(1, 50), wirelen=20)        # wirelen < caplen: wirelen = caplen
    w.record(12, 3, payload(2, 64), wirelen=1514)      # truncated by snaplen
    records, err = read_capture(write(tmp_path / "s.pcap", w.bytes()))
    assert err is None and records == w.expected
    assert [(r["caplen"], r["wirelen"]) for r in records] == [(100, 100), (50, 50), (64, 1514)]


def test_pcap_max_caplen_record_is_accepted(tmp_path):
    w = PcapWriter()
    w.record(1, 0, payload(0, 262144))
    records, err = read_capture(write(tmp_path / "big.pcap", w.bytes()))
    assert err is None and records == w.expected


def test_header_only_files_have_no_records(tmp_path):
    for name, data in (("h.pcap", PcapWriter().bytes()),
                       ("h.pcapng", PcapngWriter().shb().idb(1).bytes())):
        with open_capture(write(tmp_path / name, data)) as source:
            assert list(source.batches()) == []
            assert source.records == 0


def test_pcapng_rich_file(tmp_path):
    w = rich_pcapng()
    path = write(tmp_path / "r.pcapng", w.bytes())
    records, err = read_capture(path)
    assert err is None
    assert records == w.expected
    assert len(records) == 9
    # values spelled out once, so the generator's own arithmetic is checked too
    assert [r["linktype"] for r in records] == [1, 1, 101, 113, 101, 1, 1, 228, 228]
    assert records[0]["ts_ns"] == 1609459200_123456_000
    assert records[1]["ts_ns"] == 1609459200_123456_000          # SPB: previous record's
    assert records[2]["ts_ns"] == 1609459200_987654321
    assert records[3]["ts_ns"] == (1609459200 + 3600) * 10**9 + 0xABCDE * 10**9 // 2**20
    assert records[4]["ts_ns"] == 1609459201_000000001
    assert records[5]["ts_ns"] == 2**63 - 1                     # saturated, not wrapped
    assert records[6]["ts_ns"] == 5 * 10**9 + 3 * 10**9 // 1024
    assert records[7]["ts_ns"] == records[6]["ts_ns"]
    assert records[8]["ts_ns"] == 1609459200_555 * 10**6 - 10 * 10**9
    assert (records[2]["caplen"], records[2]["wirelen"]) == (96, 1500)
    with open_capture(path) as source:
        assert source.format == "pcapng"


def test_pcapng_big_endian_only(tmp_path):
    w = PcapngWriter().shb(big=True).idb(1, tsresol=9)
    for i in range(5):
        w.epb(0, 1700000000_000000000 + i, payload(i, 10 + i))
    records, err = read_capture(write(tmp_path / "be.pcapng", w.bytes()))
    assert err is None and records == w.expected


def test_pcapng_spb_is_cut_by_snaplen_of_interface_0(tmp_path):
    w = PcapngWriter().shb().idb(1, snaplen=32)
    w.epb(0, 77, payload(0, 20))
    w.spb(payload(1, 32), wirelen=1000)     # stored snapped to 32 bytes
    records, err = read_capture(write(tmp_path / "spb.pcapng", w.bytes()))
    assert err is None and records == w.expected
    assert (records[1]["caplen"], records[1]["wirelen"], records[1]["ts_ns"]) == (32, 1000, 77000)


def test_pcapng_spb_before_any_packet_has_time_zero(tmp_path):
    w = PcapngWriter().shb().idb(1).spb(payload(0, 5))
    records, err = read_capture(write(tmp_path / "spb0.pcapng", w.bytes()))
    assert err is None and records == w.expected and records[0]["ts_ns"] == 0


def test_pcapng_many_interfaces_grow_the_table(tmp_path):
    w = PcapngWriter().shb()
    for i in range(40):
        w.idb(1 if i % 2 else 101, tsresol=9 if i % 3 else 6)
    for i in range(40):
        w.epb(39 - i, 1000 + i, payload(i, 8))
    records, err = read_capture(write(tmp_path / "many.pcapng", w.bytes()))
    assert err is None and records == w.expected


def test_pcapng_options_in_epb_and_shb_are_skipped(tmp_path):
    w = PcapngWriter()
    w.shb(options=struct.pack("<HH", 4, 5) + b"linux\x00\x00\x00" + b"\x00" * 4)
    w.idb(1, tsresol=9, extra_options=[(2, b"eth0"), (12, b"Linux 6.1")])
    w.epb(0, 123456789, payload(0, 7), options=struct.pack("<HHI", 2, 4, 1) + b"\x00" * 4)
    records, err = read_capture(write(tmp_path / "opt.pcapng", w.bytes()))
    assert err is None and records == w.expected


@pytest.mark.parametrize("batch_records", [1, 2, 3, 7, 65536])
def test_batches_across_batch_records_boundaries(tmp_path, batch_records):
    for name, w in (("b.pcap", simple_pcap(23)), ("b.pcapng", rich_pcapng())):
        path = write(tmp_path / name, w.bytes())
        with open_capture(path, batch_records=batch_records) as source:
            batches = list(source.batches())
            records, firsts = records_of(batches)
        assert records == w.expected
        assert all(1 <= len(b) <= batch_records for b in batches)
        assert firsts == list(np.cumsum([0] + [len(b) for b in batches[:-1]]))
        assert all(b.buf is batches[0].buf for b in batches)      # one mmap, no copies


def test_batch_arrays_have_the_declared_dtypes(tmp_path):
    path = write(tmp_path / "d.pcap", simple_pcap(3).bytes())
    with open_capture(path) as source:
        (batch,) = list(source.batches())
    assert batch.buf.dtype == np.uint8
    assert [a.dtype for a in (batch.offset, batch.caplen, batch.wirelen, batch.ts_ns,
                              batch.linktype)] == [np.int64, np.uint32, np.uint32, np.int64,
                                                   np.uint16]
