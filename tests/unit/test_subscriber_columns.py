"""The column-wise CSV reader of subscriber maps against the row-by-row one.

csv_scan.py must split rows and cells as the csv module does, columns.py must
accept exactly what values.py accepts (with the same values), ids.py must
number ids as a dict would, and a whole file read by columns must give the
same entries, ids and first error as read row by row, across chunk edges.
"""

import csv
import io
import itertools
import os
import random
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.errors import SubscriberMapError
from detector.subscribers import columns, csv_map, values
from detector.subscribers.csv_scan import SCAN_COMPLEX, SCAN_END, SCAN_FULL, Chunk, texts
from detector.subscribers.entries import MapEntries
from detector.subscribers.ids import SubscriberIds

_EXAMPLES = int(os.environ.get("MINEWATCH_FUZZ_EXAMPLES", "150"))
T0 = 1_709_251_200


# --------------------------------------------------------------------------- scanner

def scanned(text, width=4, chunk_rows=3):
    """[(line, [stripped cells...])] as csv_scan reads text, and where it stopped:
    (line, 'complex') or None."""
    buf = np.frombuffer(text.encode("utf-8"), np.uint8)
    chunk = Chunk(chunk_rows, width, np.arange(width, dtype=np.int64))
    rows, pos, line = [], 0, 1
    while True:
        pos, line, why = chunk.scan(buf, pos, line)
        for r in range(chunk.rows):
            kept = min(width, int(chunk.cells[r]))
            cells = [texts(buf, chunk.cell_s[r:r + 1, c], chunk.cell_e[r:r + 1, c])[0]
                     for c in range(kept)]
            rows.append((int(chunk.line[r]), int(chunk.cells[r]), cells))
        if why == SCAN_END:
            return rows, None
        if why == SCAN_COMPLEX:
            return rows, line
        assert why == SCAN_FULL


def by_csv_module(text, width=4):
    reader = csv.reader(io.StringIO(text, newline=""))
    return [(line, len(cells), [c.strip() for c in cells[:width]])
            for line, cells in csv_map._rows(reader)]


SCAN_CASES = [
    "a,b\n1,2\n",
    "a,b\r\n1,2\r\n\r\n3,4",                      # CRLF, blank line, no final newline
    "a,b\r1,2\r3,4\r",                           # lone CR ends lines too
    "  # comment, with cells\n#x\n a , b \n",
    '"a","b, c"\n"#quoted comment",x\n"",""\n,\n ,\t\n',
    "\u00a0x\u3000,\u2003y\u2029\n\u00a0,\u3000\n\u0085#z,1\n",   # str.strip() whitespace
    "\x1c a \x1f,\x0bb\x0c\n",
    "é,ü\n漢字,\u00a0漢\n",
    "a,b,c,d,e,f\n1\n",                           # more and fewer cells than kept
    'a,b\n"x\ny",z\n1,2\n',                       # a cell across lines: complex there
    'a,b\n1,"2""3"\n',                            # doubled quote: complex
    'a,b\n1,x"y\n',                               # quote inside a cell: complex
    'a,b\n"1" ,2\n',                              # text after a closing quote: complex
    '1,"2\n',                                     # unclosed quote: complex
]


@pytest.mark.parametrize("text", SCAN_CASES)
def test_scanner_splits_like_the_csv_module(text):
    rows, stop = scanned(text)
    want = by_csv_module(text)
    if stop is None:
        assert rows == want
    else:
        assert rows == [r for r in want if r[0] < stop]
        # the scanner stops at the start of a line the csv module makes a row of
        assert stop in [r[0] for r in want]


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.text(alphabet='ab1#," \t\r\n\u00a0\u3000é', max_size=60))
def test_scanner_matches_csv_module_on_random_text(text):
    rows, stop = scanned(text)
    want = by_csv_module(text)
    if stop is None:
        assert rows == want
    else:
        assert rows == [r for r in want if r[0] < stop]


# --------------------------------------------------------------------------- cells

def column(cells):
    raw = ",".join(cells).encode("utf-8")
    lengths = np.array([len(c.encode("utf-8")) for c in cells], np.int64)
    ends = np.cumsum(lengths + 1) - 1
    return np.frombuffer(raw, np.uint8), ends - lengths, ends


def reference(parse, cells):
    out = []
    for text in cells:
        try:
            out.append(parse(text))
        except ValueError:
            out.append(None)
    return out


ADDRESSES = ["192.0.2.7", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3.04",
             "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.4x", "", "::", "::1", "1::", "1:2:3:4:5:6:7:8",
             "1:2:3:4:5:6:7::", "1:2:3:4::5:6:7:8", ":1::", "1:::2", "00001::", "ABCD::ef",
             "2001:db8::7", "::ffff:1.2.3.4", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "::g",
             "2001:DB8:0:0:0:0:0:1", "x", "1.2.3.-4", "١.٢.٣.٤"]


def check_addresses(cells):
    hi, lo, bad = columns.addresses(*column(cells))
    for i, want in enumerate(reference(values.address, cells)):
        assert bad[i] == (want is None), cells[i]
        if want is not None:
            assert (int(hi[i]) << 64 | int(lo[i])) == want, cells[i]


def test_address_column_agrees_with_values_address():
    check_addresses(ADDRESSES)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.lists(st.text(alphabet="0123456789abcdefABCDEF:.", max_size=42), min_size=1,
                max_size=8))
def test_address_column_agrees_on_random_text(cells):
    check_addresses(cells)


PREFIXES = ["10.0.0.0/8", "10.0.0.1/24", "10.0.0.0/33", "10.0.0.0/08", "0.0.0.0/0", "1.2.3.4/32",
            "2001:db8::/32", "2001:db8::1/64", "::/0", "::1/128", "::1/129", "::ffff:0:0/96",
            "::ffff:0:0/16", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/1000", "/8", "1.2.3.4",
            "2001:db8::", "a/b", "10.0.0.0/8/8", "8000::/1", "8000::/0", "ffff::1/127"]


def check_prefixes(cells):
    for slash, parse in ((True, values.prefix), (False, csv_map._single_address_prefix)):
        hi, lo, bits, bad = columns.prefixes(*column(cells), parse, slash)
        for i, want in enumerate(reference(parse, cells)):
            assert bad[i] == (want is None), (cells[i], slash)
            if want is not None:
                assert ((int(hi[i]) << 64 | int(lo[i])), int(bits[i])) == want, cells[i]


def test_prefix_column_agrees_with_values_prefix():
    check_prefixes(PREFIXES)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.lists(st.text(alphabet="0123456789abcdef:./", max_size=30), min_size=1,
                max_size=8))
def test_prefix_column_agrees_on_random_text(cells):
    check_prefixes(cells)


TIMES = ["1709251200", "0", "1709251200.5", "1709251200.123456789", "1709251200.1234567891",
         "9223372035", "9223372036", "9223372037", "99999999999", "1709251200.", ".5", "+5",
         "-5", "1e9", "1_000", "2024-03-01T08:00:00Z", "2024-03-01T08:00:00+08:00",
         "2024-03-01 08:00:00-05:30", "2024-03-01T08:00:00.5Z", "2024-03-01T08:00:00.1234567Z",
         "2024-03-01T08:00:00,5Z", "2024-03-01T08:00Z", "2024-03-01T08:00:00",
         "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2000-02-29T23:59:59Z", "1900-02-29T00:00:00Z",
         "2024-03-01T24:00:00Z", "2024-03-01T23:60:00Z", "2024-03-01T23:59:60Z",
         "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-04-31T00:00:00Z",
         "2024-03-01T08:00:00+24:00", "2024-03-01T08:00:00+23:59", "2024-03-01T08:00:00-00:00",
         "2024-03-01T08:00:00+0800", "2024-03-01t08:00:00z", "1677-09-21T00:12:44Z",
         "1700-01-01T00:00:00Z", "2200-12-31T23:59:59Z", "2262-04-11T23:47:16Z",
         "2262-04-11T23:47:17Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "yesterday", ""]


def check_times(cells):
    ns, bad = columns.times(*column(cells), values.OPEN_END_NS)
    for i, want in enumerate(reference(values.time_ns, cells)):
        if cells[i] == "":
            assert not bad[i] and ns[i] == values.OPEN_END_NS
            continue
        assert bad[i] == (want is None), cells[i]
        if want is not None:
            assert int(ns[i]) == want, cells[i]


def test_time_column_agrees_with_values_time_ns():
    check_times(TIMES)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.lists(st.one_of(
    st.text(alphabet="0123456789.", max_size=22),
    st.builds(lambda y, mo, d, h, mi, s, frac, tz: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:"
                                                    f"{s:02d}{frac}{tz}",
              st.integers(1600, 2300), st.integers(0, 13), st.integers(0, 32),
              st.integers(0, 24), st.integers(0, 60), st.integers(0, 60),
              st.sampled_from(["", ".5", ".123456", ".1234567", ".999999999", "."]),
              st.sampled_from(["Z", "+08:00", "-23:59", "+24:00", "+00:60", "", "z"]))),
    min_size=1, max_size=8))
def test_time_column_agrees_on_random_text(cells):
    check_times(cells)


def test_port_column_agrees_with_values_port():
    cells = ["0", "80", "65535", "65536", "0080", "000000", "99999", "-1", "+5", "1_0", "", "x",
             "1.0", "٣"]
    out, bad = columns.ports(*column(cells))
    for i, want in enumerate(reference(values.port, cells)):
        assert bad[i] == (want is None), cells[i]
        if want is not None:
            assert int(out[i]) == want, cells[i]


# --------------------------------------------------------------------------- ids

def test_ids_number_like_a_dict_whether_given_one_by_one_or_by_column():
    rng = random.Random(5)
    ids, numbering = SubscriberIds(), {}
    singles = ["a", "b", "é", "x\ny", "\udc80", "漢字", "e" * 40, ""]
    for _ in range(400):
        if rng.random() < 0.4:
            sub = rng.choice(singles + [f"n{rng.randint(0, 60)}"])
            assert ids.code(sub) == numbering.setdefault(sub, len(numbering))
        else:
            batch = [f"n{rng.randint(0, 3000)}" if rng.random() < 0.8 else rng.choice("abé")
                     for _ in range(rng.randint(0, 40))]
            codes = ids.codes(*column(batch))
            assert codes.tolist() == [numbering.setdefault(s, len(numbering)) for s in batch]
    assert ids.ids == list(numbering)


# --------------------------------------------------------------------------- whole files

def entries_of(tmp_path, name, text, by_rows):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    entries = MapEntries()
    try:
        csv_map.read_csv(path, path.read_text(encoding="utf-8-sig"), entries, by_rows=by_rows)
        entries.check_references()
    except SubscriberMapError as exc:
        return str(exc)
    tables = {kind: {k: v.tolist() for k, v in getattr(entries, kind).arrays().items()}
              for kind in ("static", "leases", "cgnat")}
    return tables, entries.ids, entries.fields, entries.declared


def assert_same_as_by_rows(tmp_path, name, text):
    by_columns = entries_of(tmp_path, name, text, by_rows=False)
    assert by_columns == entries_of(tmp_path, name, text, by_rows=True)
    return by_columns


@pytest.fixture(params=[csv_map.CHUNK_ROWS, 3])
def chunk_rows(request, monkeypatch):
    """Each file-level test with the real chunk size and with chunks of 3 rows."""
    monkeypatch.setattr(csv_map, "CHUNK_ROWS", request.param)
    return request.param


def iso(t, offset, tail):
    """Unix seconds t as local ISO time at `offset` seconds east of UTC, then `tail`."""
    return datetime.fromtimestamp(t + offset, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + tail


def lease_rows(n, rng):
    spellings = [lambda t: str(t), lambda t: f"{t}.25", lambda t: f" {t} ",
                 lambda t: iso(t, 0, "Z"), lambda t: iso(t, 8 * 3600, "+08:00"),
                 lambda t: iso(t, -12600, ".5-03:30"),
                 lambda t: iso(t, 8 * 3600, "+0800")]     # the last one goes to values.py
    rows = []
    for i in range(n):
        t = T0 + rng.randint(0, 10 ** 6)
        end = rng.choice(["", str(t + rng.randint(1, 9999))])
        ip = rng.choice([f"100.64.{rng.randint(0, 3)}.{rng.randint(0, 255)}",
                         f"2001:db8::{rng.randint(0, 99):x}", f"::ffff:100.64.0.{i % 256}"])
        rows.append(f'{ip},{rng.choice(spellings)(t)},{end},"u{rng.randint(0, n // 2)}"')
    return rows


def test_lease_file_by_columns_equals_by_rows(tmp_path, chunk_rows):
    rng = random.Random(1)
    head = "# DHCP export\r\nIP , Start,End,Subscriber,NAS\r\n"
    rows = [r + ",nas1" for r in lease_rows(40, rng)]
    rows[5:5] = ["", "# a comment", "  ,  ,,,"]
    tables, ids, _, _ = assert_same_as_by_rows(tmp_path, "l.csv", head + "\r\n".join(rows))
    assert len(tables["leases"]["sub"]) == 40 and len(ids) > 5


def test_cgnat_and_static_files_by_columns_equal_by_rows(tmp_path, chunk_rows):
    cgnat = ["ip,port_start,port_end,start,end,subscriber"] + [
        f"198.51.100.{i % 7},{b * 1024},{b * 1024 + 1023},{T0 + i},{T0 + 99 + i},c{i % 5}"
        for i, b in itertools.product(range(6), range(4))]
    tables = assert_same_as_by_rows(tmp_path, "c.csv", "\n".join(cgnat) + "\n")[0]
    assert len(tables["cgnat"]["sub"]) == 24
    static = ["cidr,subscriber,name"] + [
        "10.0.0.0/8,isp,ISP", "2001:db8::/32,isp,", "10.1.0.0/16,\u3000r\u00a0,R", "1.2.3.4,h,H",
        "::ffff:0:0/96,m,", "10.1.2.0/24,r,R", '"10.9.0.0/16","q","Q, Inc."']
    tables, ids, fields, _ = assert_same_as_by_rows(tmp_path, "s.csv", "\n".join(static))
    assert ids == ["isp", "r", "h", "m", "q"] and fields[4] == {"name": "Q, Inc."}


def test_registry_file_by_columns_equals_by_rows(tmp_path, chunk_rows):
    rows = ["subscriber,name,contract"] + [f"s{i},Name {i},{'' if i % 3 else f'C-{i}'}"
                                           for i in range(10)]
    _, ids, fields, declared = assert_same_as_by_rows(tmp_path, "r.csv", "\n".join(rows))
    assert ids == [f"s{i}" for i in range(10)] and fields[3] == {"name": "Name 3",
                                                                 "contract": "C-3"}
    assert declared[9] == (0, 11)


def test_lines_the_scanner_leaves_are_read_by_the_csv_module(tmp_path, chunk_rows):
    rows = [f"10.{i}.0.0/16,s{i}" for i in range(9)]
    rows[6] = '"10.6.0.0/16","s""6"'                     # doubled quote from here on
    rows[7] = '10.7.0.0/16,"s\n7"'                       # a cell across two lines
    tables, ids, _, _ = assert_same_as_by_rows(tmp_path, "s.csv",
                                               "cidr,subscriber\n" + "\n".join(rows) + "\n")
    assert ids[6:8] == ['s"6', "s\n7"] and tables["static"]["line"][-1] == 11


BAD_ROWS = [
    # (header, rows; the first bad row is the one marked with !, its line is checked)
    ("ip,start,end,subscriber", ["100.64.0.1,{T0},,a", "!100.64.0.300,{T0},,a", "x,y,z,"]),
    ("ip,start,end,subscriber", ["100.64.0.1,{T0},,a", "!100.64.0.2,{T0},{T0},a", "x,,,"]),
    ("ip,start,end,subscriber", ["100.64.0.1,{T0},,a", "!100.64.0.2,2024-03-01T00:00:00,,a"]),
    ("ip,start,end,subscriber", ["100.64.0.1,{T0},,a", "!100.64.0.2,{T0},,", "1,2"]),
    ("ip,start,end,subscriber", ["100.64.0.1,{T0},,a", "!100.64.0.2,{T0}", "x"]),
    ("ip,start,end,subscriber", ["100.64.0.1,{T0},,a", "!,{T0},,a"]),
    ("ip,port_start,port_end,start,end,subscriber",
     ["1.2.3.4,0,1023,{T0},,a", "!1.2.3.4,2047,1024,{T0},,a", "1.2.3.4,0,70000,{T0},,a"]),
    ("ip,port_start,port_end,start,end,subscriber",
     ["1.2.3.4,0,1023,{T0},,a", "!1.2.3.4,+1,70000,{T0},,a"]),
    ("cidr,subscriber,name", ["10.0.0.0/8,a,A", "!11.0.0.0/8,a,B", "12.0.0.1/8,b,"]),
    ("cidr,subscriber", ["10.0.0.0/8,a", "!10.0.0.1/24,a"]),
    ("ip,subscriber", ["10.0.0.1,a", "!10.0.0.0/8,a"]),
    ("subscriber,name", ["a,A", "b,B", "!a,C"]),
    ("subscriber,name", ["a,A", "!\u00a0,B"]),
]


@pytest.mark.parametrize("header,rows", BAD_ROWS, ids=[r[1][1] for r in BAD_ROWS])
def test_first_bad_row_reported_as_by_rows(tmp_path, chunk_rows, header, rows):
    lines = [header] + [r.replace("{T0}", str(T0)).lstrip("!") for r in rows]
    bad_line = 1 + next(i for i, r in enumerate(rows, 1) if r.startswith("!"))
    message = assert_same_as_by_rows(tmp_path, "m.csv", "\n".join(lines) + "\n")
    assert isinstance(message, str) and f"m.csv:{bad_line}: " in message, message
