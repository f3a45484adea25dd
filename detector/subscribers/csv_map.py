"""Read a CSV subscriber map into MapEntries (format: docs/subscribers.md).

One CSV per kind, told apart by its header, because that is what DHCP lease
dumps and RADIUS accounting exports look like:

    cgnat       ip,port_start,port_end,start,end,subscriber
    lease       ip,start,end,subscriber
    static      cidr,subscriber[,name,address,...]   (or ip instead of cidr)
    registry    subscriber[,name,address,contract,...]

Column order is free, names are case-insensitive. Extra columns of a static or
registry file are the subscriber's free fields; extra columns of lease and
CGNAT files are ignored (accounting exports carry session ids, NAS names...).
`end` may be left out or empty: the lease or block is still running. Blank
lines and lines starting with '#' are skipped.

Maps of millions of rows are read a column at a time: csv_scan.py finds the
cells of a chunk of rows, columns.py converts each column at once, and the
chunk's rows go into MapEntries together. Only a row found bad goes through
the row-by-row reader below (`_lease_row`...), which says what is wrong with
it in the same words as for any other row; lines the scanner does not
understand (cells spanning lines, doubled quotes) are read by the csv module
from there on.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from . import columns, values
from .csv_scan import SCAN_COMPLEX, SCAN_END, Chunk, texts
from .entries import MapEntries

#: data rows scanned and converted together, and kept cells per chunk: they bound
#: the scratch memory of a load (about 16 bytes per cell)
CHUNK_ROWS = 1 << 16
CHUNK_CELLS = 1 << 19
HEAD_CHARS = 1 << 16

REQUIRED = {
    "cgnat": ("ip", "port_start", "port_end", "start", "subscriber"),
    "lease": ("ip", "start", "subscriber"),
    "static": ("subscriber",),
    "registry": ("subscriber",),
}
HEADERS = {
    "cgnat": "ip,port_start,port_end,start,end,subscriber",
    "lease": "ip,start,end,subscriber",
    "static": "cidr,subscriber[,free fields...]",
    "registry": "subscriber[,free fields...]",
}


def kind_of(header: list[str]) -> str | None:
    """Which kind of map a CSV header describes (None: not a subscriber map)."""
    names = set(header)
    if names & {"port_start", "port_end"}:
        return "cgnat"
    if names & {"start", "end"}:
        return "lease"
    if names & {"cidr", "ip"}:
        return "static"
    if "subscriber" in names:
        return "registry"
    return None


def _rows(reader, before: int = 0):
    """(line, cells) for each non-blank, non-comment row; line = where the row starts,
    counting `before` lines ahead of the reader's text."""
    last = 0
    for cells in reader:
        line, last = last + 1, reader.line_num
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        yield before + line, cells


def read_csv(path, text: str, entries: MapEntries, by_rows: bool = False):
    """Parse `text` (the contents of `path`) into `entries`; `by_rows` reads every
    row the row-by-row way (the tests' reference for the column reader)."""
    file = entries.add_file(path)
    try:
        found, after, lines = _header(text)
    except csv.Error as exc:
        entries.fail((file, 1), f"CSV error: {exc}")
    if found is None:
        return
    header_line, header = found
    header = [h.strip().lower() for h in header]
    hwhere = (file, header_line)
    kind = kind_of(header)
    if kind is None:
        entries.fail(hwhere, "cannot tell what this CSV holds from its header; expected "
                             + " or ".join(f"'{h}'" for h in HEADERS.values()))
    for name in header:
        if not name:
            entries.fail(hwhere, "empty column name in the header")
        if header.count(name) > 1:
            entries.fail(hwhere, f"column '{name}' appears twice in the header")
    for name in REQUIRED[kind]:
        if name not in header:
            entries.fail(hwhere, f"missing column '{name}' (a {kind} file has "
                                 f"{HEADERS[kind]})")
    if kind == "static" and {"cidr", "ip"} <= set(header):
        entries.fail(hwhere, "give one of the columns 'cidr' or 'ip', not both")
    if kind == "registry":
        entries.has_registry = True
    if by_rows:
        _read_rows(entries, file, kind, header,
                   _rows(csv.reader(io.StringIO(text[after:], newline="")), lines))
    else:
        _Columns(entries, file, kind, header).read(text, after, lines + 1)


def _header(text: str):
    """((line, cells) of the first data row or None, character position after it,
    lines up to its end). Looks in the first HEAD_CHARS characters first: the
    csv module would copy the whole text for a header that is nearly always there."""
    parts = (text[:HEAD_CHARS], text) if len(text) > HEAD_CHARS else (text,)
    for part in parts:
        stream = io.StringIO(part, newline="")
        reader = csv.reader(stream)
        try:
            found = next(_rows(reader), None)
        except csv.Error:
            if part is text:
                raise
            continue
        if part is text or (found is not None and stream.tell() < len(part)):
            return found, stream.tell(), reader.line_num


def _read_row(entries: MapEntries, kind, header, cells, where):
    """One row, the row-by-row way: checked, converted and added, or failed."""
    if len(cells) != len(header):
        entries.fail(where, f"expected {len(header)} cells (as in the header), "
                            f"got {len(cells)}")
    col = {name: i for i, name in enumerate(header)}
    try:
        ROW_READERS[kind](entries, header, col, cells, where)
    except ValueError as exc:
        entries.fail(where, str(exc))


def _read_rows(entries: MapEntries, file, kind, header, rows):
    try:
        for line, cells in rows:
            _read_row(entries, kind, header, cells, (file, line))
    except csv.Error as exc:
        entries.fail((file, None), f"CSV error: {exc}")


def _first(bad) -> int:
    """Index of the first True, len(bad) if none."""
    return int(np.argmax(bad)) if bad.any() else bad.shape[0]


class _Columns:
    """The data rows of one CSV file, read a chunk and a column at a time."""

    def __init__(self, entries: MapEntries, file: int, kind: str, header: list[str]):
        self.entries, self.file, self.kind, self.header = entries, file, kind, header
        used = USED.get(kind)
        kept = [name for name in header if used is None or name in used]
        self.at = {name: i for i, name in enumerate(kept)}      # name -> chunk column
        slot = np.array([self.at.get(name, -1) for name in header], np.int64)
        columns_kept = max(1, len(kept))
        self.chunk = Chunk(min(CHUNK_ROWS, max(1, CHUNK_CELLS // columns_kept)), columns_kept,
                           slot)
        self.buf = np.zeros(0, np.uint8)

    def read(self, text: str, char_pos: int, line: int):
        """Every data row of `text` from character char_pos, at line `line`, on."""
        raw = text.encode("utf-8")
        self.buf = buf = np.frombuffer(raw, np.uint8)
        pos = len(text[:char_pos].encode("utf-8"))
        chunk = self.chunk
        bulk = getattr(self, "_" + self.kind)
        while True:
            pos, line, why = chunk.scan(buf, pos, line)
            first = 0
            while first < chunk.rows:
                first = bulk(first)                 # adds rows first.. up to a bad one
                if first < chunk.rows:              # which the row reader explains
                    self._one_row(raw, first)
                    first += 1
            if why == SCAN_END:
                return
            if why == SCAN_COMPLEX:
                rest = io.StringIO(raw[pos:].decode("utf-8"), newline="")
                _read_rows(self.entries, self.file, self.kind, self.header,
                           _rows(csv.reader(rest), line - 1))
                return

    def _one_row(self, raw: bytes, r: int):
        chunk = self.chunk
        text = raw[chunk.start[r]:chunk.end[r]].decode("utf-8")
        _read_rows(self.entries, self.file, self.kind, self.header,
                   [(int(chunk.line[r]), next(csv.reader([text])))])

    # --- columns of rows first.. of the chunk
    def span(self, name, first):
        return self.chunk.span(self.at[name], first)

    def base_bad(self, first, required):
        """Rows with the wrong number of cells or an empty required cell."""
        bad = self.chunk.cells[first:self.chunk.rows] != len(self.header)
        for name in required:
            s, e = self.span(name, first)
            bad |= s == e
        return bad

    def times(self, first, bad):
        start, bad_start = columns.times(self.buf, *self.span("start", first), 0)
        if "end" in self.at:
            end, bad_end = columns.times(self.buf, *self.span("end", first),
                                         values.OPEN_END_NS)
        else:
            end, bad_end = np.full_like(start, values.OPEN_END_NS), np.zeros_like(bad)
        return start, end, bad | bad_start | bad_end | (end <= start)

    def codes(self, first, stop):
        s, e = self.span("subscriber", first)
        n = stop - first
        return self.entries.codes(self.buf, s[:n], e[:n])

    def lines(self, first, stop):
        return self.chunk.line[first:stop]

    # --- one method per kind: add the rows from `first` up to the first bad one
    def _lease(self, first):
        bad = self.base_bad(first, ("ip", "start", "subscriber"))
        hi, lo, bad_ip = columns.addresses(self.buf, *self.span("ip", first))
        start, end, bad = self.times(first, bad | bad_ip)
        n = _first(bad)
        self.entries.leases.extend(hi[:n], lo[:n], 0, values.PORT_MAX, start[:n], end[:n],
                                   self.codes(first, first + n), self.file,
                                   self.lines(first, first + n))
        return first + n

    def _cgnat(self, first):
        bad = self.base_bad(first, ("ip", "port_start", "port_end", "start", "subscriber"))
        hi, lo, bad_ip = columns.addresses(self.buf, *self.span("ip", first))
        port_lo, bad_lo = columns.ports(self.buf, *self.span("port_start", first))
        port_hi, bad_hi = columns.ports(self.buf, *self.span("port_end", first))
        start, end, bad = self.times(first, bad | bad_ip | bad_lo | bad_hi
                                     | (port_hi < port_lo))
        n = _first(bad)
        self.entries.cgnat.extend(hi[:n], lo[:n], port_lo[:n], port_hi[:n], start[:n],
                                  end[:n], self.codes(first, first + n), self.file,
                                  self.lines(first, first + n))
        return first + n

    def _static(self, first):
        name = "cidr" if "cidr" in self.at else "ip"
        bad = self.base_bad(first, (name, "subscriber"))
        hi, lo, bits, bad_prefix = columns.prefixes(
            self.buf, *self.span(name, first),
            values.prefix if name == "cidr" else _single_address_prefix, name == "cidr")
        n = _first(bad | bad_prefix)
        codes = self.codes(first, first + n)
        if len(self.header) > 2:
            for where, code, fields in self.free_fields(first, n, codes, (name, "subscriber")):
                self.entries.add_fields(code, fields, where)
        self.entries.static.extend(hi[:n], lo[:n], bits[:n], codes, self.file,
                                   self.lines(first, first + n))
        return first + n

    def _registry(self, first):
        self.entries.has_registry = True
        n = _first(self.base_bad(first, ("subscriber",)))
        s, e = self.span("subscriber", first)
        ids = texts(self.buf, s[:n], e[:n])
        for where, sub_id, fields in self.free_fields(first, n, ids, ("subscriber",)):
            self.entries.declare(sub_id, fields, where)
        return first + n

    def free_fields(self, first, n, keys, skip):
        """(where, key, {field: text}) for rows first..first+n, empty fields left out."""
        names = [name for name in self.header if name not in skip]
        cells = [texts(self.buf, *(a[:n] for a in self.span(name, first))) for name in names]
        lines = self.lines(first, first + n).tolist()
        for r in range(n):
            yield ((self.file, lines[r]), keys[r],
                   {name: column[r] for name, column in zip(names, cells) if column[r]})


def _single_address_prefix(text: str):
    """A static 'ip' cell -> (network, bits) of the one address."""
    if "/" in text:
        raise ValueError("'ip' takes one address; use a 'cidr' column for prefixes")
    return values.prefix(text)


def _cell(cells, col, name, required=True):
    text = cells[col[name]].strip() if name in col else ""
    if required and not text:
        raise ValueError(f"empty '{name}'")
    return text


def _times(cells, col):
    start = values.time_ns(_cell(cells, col, "start"))
    end_text = _cell(cells, col, "end", required=False)
    end = values.time_ns(end_text) if end_text else values.OPEN_END_NS
    if end <= start:
        raise ValueError(f"end {end_text} is not after start {_cell(cells, col, 'start')}")
    return start, end


def _lease_row(entries: MapEntries, header, col, cells, where):
    addr = values.address(_cell(cells, col, "ip"))
    start, end = _times(cells, col)
    sub = entries.code(values.subscriber_id(_cell(cells, col, "subscriber")))
    entries.leases.add(addr, 0, values.PORT_MAX, start, end, sub, where)


def _cgnat_row(entries: MapEntries, header, col, cells, where):
    addr = values.address(_cell(cells, col, "ip"))
    lo, hi = values.checked_ports(values.port(_cell(cells, col, "port_start")),
                                  values.port(_cell(cells, col, "port_end")))
    start, end = _times(cells, col)
    sub = entries.code(values.subscriber_id(_cell(cells, col, "subscriber")))
    entries.cgnat.add(addr, lo, hi, start, end, sub, where)


def _free_fields(header, cells, skip):
    return {name: cell.strip() for name, cell in zip(header, cells)
            if name not in skip and cell.strip()}


def _static_row(entries: MapEntries, header, col, cells, where):
    if "cidr" in col:
        network, bits = values.prefix(_cell(cells, col, "cidr"))
    else:
        network, bits = _single_address_prefix(_cell(cells, col, "ip"))
    code = entries.code(values.subscriber_id(_cell(cells, col, "subscriber")))
    entries.add_fields(code, _free_fields(header, cells, ("cidr", "ip", "subscriber")), where)
    entries.static.add(network, bits, code, where)


def _registry_row(entries: MapEntries, header, col, cells, where):
    sub_id = values.subscriber_id(_cell(cells, col, "subscriber"))
    entries.declare(sub_id, _free_fields(header, cells, ("subscriber",)), where)


ROW_READERS = {"cgnat": _cgnat_row, "lease": _lease_row, "static": _static_row,
               "registry": _registry_row}
#: columns the readers use; other columns of lease and CGNAT files are not kept
USED = {"lease": ("ip", "start", "end", "subscriber"),
        "cgnat": ("ip", "port_start", "port_end", "start", "end", "subscriber")}
