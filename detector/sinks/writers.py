"""Shared pieces of the text outputs: csv rows and aligned tables, as UTF-8 bytes.

Strings that come from traffic are untrusted: csv cells that a spreadsheet
would run as a formula are neutralised, and table cells lose control
characters so they cannot drive the terminal.
"""

import csv
import io
import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def csv_safe(value):
    """Neutralise a cell a spreadsheet would evaluate (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def terminal_safe(value):
    """Text for a terminal: control characters shown as '?'."""
    return _CONTROL.sub("?", str(value))


class CsvRows:
    """csv rows as UTF-8 bytes, every cell neutralised (`csv_safe`); header first."""

    def __init__(self, stream, fields):
        self.stream = stream
        self.text = io.StringIO()
        self.writer = csv.writer(self.text, lineterminator="\n")
        self.write_row(fields)

    def write_row(self, values):
        self.writer.writerow([csv_safe(v) for v in values])
        self.stream.write(self.text.getvalue().encode())
        self.text.seek(0)
        self.text.truncate()


class TableWriter:
    """Aligned columns for people; widths fixed up front so output can stream."""

    def __init__(self, stream, columns):
        # columns: list of (field, header, width)
        self.stream = stream
        self.columns = columns
        self.stream.write((self._line([h for _, h, _ in columns]) + "\n").encode())

    def _line(self, cells):
        parts = []
        for (_, _, width), cell in zip(self.columns, cells):
            text = terminal_safe(cell)
            if len(text) > width:
                text = text[:width - 1] + "…"
            parts.append(text.ljust(width))
        return "  ".join(parts).rstrip()

    def write_columns(self, cols):
        names = [f for f, _, _ in self.columns]
        rows = zip(*(cols[f] for f in names))
        out = [self._line(r) for r in rows]
        if out:
            self.stream.write(("\n".join(out) + "\n").encode())
