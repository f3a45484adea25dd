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
"""

from __future__ import annotations

import csv
import io

from . import values
from .entries import MapEntries

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


def _rows(text: str):
    """(line, cells) for each non-blank, non-comment row; line = where the row starts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    last = 0
    for cells in reader:
        line, last = last + 1, reader.line_num
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        yield line, cells


def read_csv(path, text: str, entries: MapEntries):
    """Parse `text` (the contents of `path`) into `entries`."""
    file = entries.add_file(path)
    rows = _rows(text)
    try:
        header_line, header = next(rows)
    except StopIteration:
        return
    except csv.Error as exc:
        entries.fail((file, 1), f"CSV error: {exc}")
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
    col = {name: i for i, name in enumerate(header)}
    read_row = {"cgnat": _cgnat_row, "lease": _lease_row, "static": _static_row,
                "registry": _registry_row}[kind]
    try:
        for line, cells in rows:
            where = (file, line)
            if len(cells) != len(header):
                entries.fail(where, f"expected {len(header)} cells (as in the header), "
                                    f"got {len(cells)}")
            try:
                read_row(entries, header, col, cells, where)
            except ValueError as exc:
                entries.fail(where, str(exc))
    except csv.Error as exc:
        entries.fail((file, None), f"CSV error: {exc}")


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
        text = _cell(cells, col, "ip")
        if "/" in text:
            raise ValueError("'ip' takes one address; use a 'cidr' column for prefixes")
        network, bits = values.prefix(text)
    code = entries.code(values.subscriber_id(_cell(cells, col, "subscriber")))
    entries.add_fields(code, _free_fields(header, cells, ("cidr", "ip", "subscriber")), where)
    entries.static.add(network, bits, code, where)


def _registry_row(entries: MapEntries, header, col, cells, where):
    sub_id = values.subscriber_id(_cell(cells, col, "subscriber"))
    entries.declare(sub_id, _free_fields(header, cells, ("subscriber",)), where)
