"""Split CSV bytes into rows and cells in one pass, without a Python object per cell.

csv_map.py reads the header with the csv module, then hands the rest of the
file here: a kernel walks the UTF-8 bytes and records, per data row, its line
and byte span and, per wanted column, the (start, end) of the cell's text as
`str.strip()` would leave it. Converting those cells is columns.py's job.

The kernel follows the csv module's excel dialect (what csv_map.py used row by
row), for the lines it understands: unquoted cells, and cells quoted whole
("...") with no quote, CR or LF inside. Anything else (a doubled quote, a
quote inside a cell, text after a closing quote, a cell spanning lines) stops
the scan at that line with SCAN_COMPLEX, and csv_map.py reads from there with
the csv module. Lines end at LF, CR LF or a lone CR, as io.StringIO(newline="")
splits them; blank lines and lines whose first cell starts with '#' are skipped.
"""

from __future__ import annotations

import numpy as np

from detector.engine.config import kernel

SCAN_END, SCAN_FULL, SCAN_COMPLEX = 0, 1, 2   # why a scan returned
_LF, _CR, _COMMA, _QUOTE, _HASH = 10, 13, 44, 34, 35


@kernel
def space_len(buf, i, end):
    """Bytes of the whitespace character (str.isspace) starting at buf[i], 0 if none."""
    b = int(buf[i])
    if b == 32 or 9 <= b <= 13 or 28 <= b <= 31:
        return 1
    if b == 0xC2 and i + 1 < end:                            # U+0085, U+00A0
        b1 = int(buf[i + 1])
        return 2 if b1 == 0x85 or b1 == 0xA0 else 0
    if i + 2 >= end or b < 0xE1 or b > 0xE3:
        return 0
    b1 = int(buf[i + 1])
    b2 = int(buf[i + 2])
    if b == 0xE1:                                            # U+1680
        return 3 if b1 == 0x9A and b2 == 0x80 else 0
    if b == 0xE3:                                            # U+3000
        return 3 if b1 == 0x80 and b2 == 0x80 else 0
    if b1 == 0x80 and (0x80 <= b2 <= 0x8A or b2 == 0xA8 or b2 == 0xA9 or b2 == 0xAF):
        return 3                                             # U+2000-200A, 2028, 2029, 202F
    if b1 == 0x81 and b2 == 0x9F:                            # U+205F
        return 3
    return 0


@kernel
def strip_span(buf, s, e):
    """(s, e) of buf[s:e] without leading and trailing whitespace, as str.strip()."""
    while s < e:
        n = space_len(buf, s, e)
        if n == 0:
            break
        s += n
    while e > s:
        b = int(buf[e - 1])
        if b == 32 or 9 <= b <= 13 or 28 <= b <= 31:
            e -= 1
        elif e - 2 >= s and int(buf[e - 2]) == 0xC2 and (b == 0x85 or b == 0xA0):
            e -= 2
        elif e - 3 >= s and space_len(buf, e - 3, e) == 3:
            e -= 3
        else:
            break
    return s, e


@kernel
def scan_rows(buf, pos, line, slot, cell_s, cell_e, row_line, row_start, row_end, row_cells):
    """Read data rows from buf[pos:], line `line` on, until the end, a full chunk or a
    line this kernel does not understand.

    buf        : uint8[n]       UTF-8 text
    slot       : int64[c]       column index -> column of cell_s/cell_e, -1 = not kept
    cell_s/e   : int64[r, k]    written: stripped span of each kept cell; (row start,
                                row start) where the row has fewer cells
    row_line   : int64[r]       written: line number of each data row
    row_start/end : int64[r]    written: byte span of the row (without its line end)
    row_cells  : int64[r]       written: number of cells in the row
    Returns (rows, pos, line, why): rows written; where the next scan starts (for
    SCAN_COMPLEX the start of the line not understood) and its line number; why
    the scan returned (SCAN_END, SCAN_FULL or SCAN_COMPLEX).
    """
    n = buf.shape[0]
    max_rows = row_line.shape[0]
    k = 0
    while pos < n:
        if k == max_rows:
            return k, pos, line, SCAN_FULL
        start = pos
        i = pos
        cells = 0
        blank = True
        comment = False
        while True:                       # one cell per turn, starting at i
            if i < n and buf[i] == _QUOTE:
                j = i + 1
                while j < n and buf[j] != _QUOTE and buf[j] != _LF and buf[j] != _CR:
                    j += 1
                if j >= n or buf[j] != _QUOTE:
                    return k, start, line, SCAN_COMPLEX
                cs, ce = i + 1, j
                i = j + 1
                if i < n and buf[i] != _COMMA and buf[i] != _LF and buf[i] != _CR:
                    return k, start, line, SCAN_COMPLEX
            else:
                j = i
                while j < n and buf[j] != _COMMA and buf[j] != _LF and buf[j] != _CR:
                    if buf[j] == _QUOTE:
                        return k, start, line, SCAN_COMPLEX
                    j += 1
                cs, ce = i, j
                i = j
            cs, ce = strip_span(buf, cs, ce)
            if ce > cs:
                blank = False
                if cells == 0 and buf[cs] == _HASH:
                    comment = True
            if cells < slot.shape[0] and slot[cells] >= 0:
                cell_s[k, slot[cells]] = cs
                cell_e[k, slot[cells]] = ce
            cells += 1
            if i < n and buf[i] == _COMMA:
                i += 1
            else:
                break
        end = i
        if i < n:
            i += 2 if buf[i] == _CR and i + 1 < n and buf[i + 1] == _LF else 1
        if end > start and not blank and not comment:
            for c in range(cells, slot.shape[0]):
                if slot[c] >= 0:
                    cell_s[k, slot[c]] = start
                    cell_e[k, slot[c]] = start
            row_line[k] = line
            row_start[k] = start
            row_end[k] = end
            row_cells[k] = cells
            k += 1
        line += 1
        pos = i
    return k, pos, line, SCAN_END


@kernel
def _gather(buf, s, e, out):
    """Copy buf[s[i]:e[i]] into out, each followed by LF."""
    p = 0
    for i in range(s.shape[0]):
        for j in range(s[i], e[i]):
            out[p] = buf[j]
            p += 1
        out[p] = _LF
        p += 1


def texts(buf, s, e) -> list[str]:
    """The cells buf[s[i]:e[i]] as str, decoded in one go (cells never hold LF)."""
    if s.shape[0] == 0:
        return []
    out = np.empty(int((e - s).sum()) + s.shape[0], np.uint8)
    _gather(buf, s, e, out)
    return out[:-1].tobytes().decode("utf-8").split("\n")


class Chunk:
    """Up to `size` data rows of a CSV file: where they are and where their kept cells are."""

    def __init__(self, size: int, columns: int, slot: np.ndarray):
        self.slot = slot
        self.cell_s = np.empty((size, columns), np.int64)
        self.cell_e = np.empty((size, columns), np.int64)
        self.line = np.empty(size, np.int64)
        self.start = np.empty(size, np.int64)
        self.end = np.empty(size, np.int64)
        self.cells = np.empty(size, np.int64)
        self.rows = 0

    def scan(self, buf, pos: int, line: int):
        """Fill the chunk from buf[pos:]; (next pos, next line, why) as scan_rows."""
        self.rows, pos, line, why = scan_rows(buf, pos, line, self.slot, self.cell_s,
                                              self.cell_e, self.line, self.start, self.end,
                                              self.cells)
        return int(pos), int(line), int(why)

    def span(self, column: int, first: int):
        """(start, end) byte offsets of kept column `column`, rows first.. of the chunk."""
        return (np.ascontiguousarray(self.cell_s[first:self.rows, column]),
                np.ascontiguousarray(self.cell_e[first:self.rows, column]))
