"""What the YAML and CSV readers collect: the map's entries, each with file and line.

The readers validate each value (values.py) and append here; checks that need
the whole map (conflicting duplicates, unknown subscriber references) run
when the lookup tables are built (lookup.py), and name the entry's file and
line. Entries are kept in typed arrays, not one Python object per entry,
so a map of millions of leases stays small.
"""

from __future__ import annotations

import difflib
from array import array

import numpy as np

from detector.errors import SubscriberMapError

from .ids import SubscriberIds

_LO_MASK = (1 << 64) - 1
_DTYPES = {"Q": np.uint64, "q": np.int64}


def _append(arr: array, column, n: int):
    """Append n values to a typed array: a numpy column, or one scalar n times."""
    dtype = _DTYPES[arr.typecode]
    if np.ndim(column) == 0:
        values = np.full(n, column, dtype)
    else:
        values = np.ascontiguousarray(column, dtype)
    arr.frombytes(memoryview(values).cast("B"))


class BlockEntries:
    """Time-bounded assignments of (address, port range) to a subscriber.

    Leases use the whole port range 0-65535; CGNAT blocks their own.
    Times are ns since the epoch, start inclusive, end exclusive.
    """

    def __init__(self):
        self.hi, self.lo = array("Q"), array("Q")
        self.port_lo, self.port_hi = array("q"), array("q")
        self.start, self.end = array("q"), array("q")
        self.sub, self.file, self.line = array("q"), array("q"), array("q")

    def __len__(self):
        return len(self.sub)

    def add(self, addr, port_lo, port_hi, start, end, sub, where):
        self.hi.append(addr >> 64)
        self.lo.append(addr & _LO_MASK)
        self.port_lo.append(port_lo)
        self.port_hi.append(port_hi)
        self.start.append(start)
        self.end.append(end)
        self.sub.append(sub)
        self.file.append(where[0])
        self.line.append(where[1])

    def extend(self, hi, lo, port_lo, port_hi, start, end, sub, file, line):
        """Append whole columns (numpy arrays, or scalars for every row) at once."""
        n = len(sub)
        for arr, col in ((self.hi, hi), (self.lo, lo), (self.port_lo, port_lo),
                         (self.port_hi, port_hi), (self.start, start), (self.end, end),
                         (self.sub, sub), (self.file, file), (self.line, line)):
            _append(arr, col, n)

    def arrays(self) -> dict:
        """Columns as numpy arrays (views on the typed arrays, no copy)."""
        def col(a, dtype):
            return np.frombuffer(a, dtype) if len(a) else np.zeros(0, dtype)
        return {"hi": col(self.hi, np.uint64), "lo": col(self.lo, np.uint64),
                "port_lo": col(self.port_lo, np.int64),
                "port_hi": col(self.port_hi, np.int64),
                "start": col(self.start, np.int64), "end": col(self.end, np.int64),
                "sub": col(self.sub, np.int64), "file": col(self.file, np.int64),
                "line": col(self.line, np.int64)}


class StaticEntries:
    """Addresses and prefixes (128-bit network, prefix length) -> subscriber."""

    def __init__(self):
        self.hi, self.lo = array("Q"), array("Q")
        self.bits = array("q")
        self.sub, self.file, self.line = array("q"), array("q"), array("q")

    def __len__(self):
        return len(self.sub)

    def add(self, network, bits, sub, where):
        self.hi.append(network >> 64)
        self.lo.append(network & _LO_MASK)
        self.bits.append(bits)
        self.sub.append(sub)
        self.file.append(where[0])
        self.line.append(where[1])

    def extend(self, hi, lo, bits, sub, file, line):
        """Append whole columns (numpy arrays, or scalars for every row) at once."""
        n = len(sub)
        for arr, col in ((self.hi, hi), (self.lo, lo), (self.bits, bits), (self.sub, sub),
                         (self.file, file), (self.line, line)):
            _append(arr, col, n)

    def arrays(self) -> dict:
        def col(a, dtype):
            return np.frombuffer(a, dtype) if len(a) else np.zeros(0, dtype)
        return {"hi": col(self.hi, np.uint64), "lo": col(self.lo, np.uint64),
                "bits": col(self.bits, np.int64),
                "sub": col(self.sub, np.int64), "file": col(self.file, np.int64),
                "line": col(self.line, np.int64)}


class MapEntries:
    """Everything read from one or more map files, before indexing.

    Subscribers are numbered in order of first appearance (`ids`, coded by
    `names`); `fields` holds their free fields. `declared` is set once a file
    has a subscriber registry (YAML `subscribers:` or a subscriber CSV): from then on every
    reference must name a declared subscriber.
    """

    def __init__(self):
        self.files: list[str] = []
        self.names = SubscriberIds()
        self.ids: list[str] = self.names.ids
        self.fields: dict[int, dict[str, str]] = {}
        self.field_lines: dict[tuple[int, str], tuple[int, int]] = {}
        self.declared: dict[int, tuple[int, int]] = {}   # code -> where declared
        self.has_registry = False
        self.static = StaticEntries()
        self.leases = BlockEntries()
        self.cgnat = BlockEntries()

    # --- reporting
    def add_file(self, path) -> int:
        self.files.append(str(path))
        return len(self.files) - 1

    def fail(self, where, message):
        file, line = where
        raise SubscriberMapError(self.files[file], message, line)

    def place(self, where) -> str:
        file, line = where
        return f"{self.files[file]}:{line}"

    # --- subscribers
    def code(self, sub_id: str) -> int:
        return self.names.code(sub_id)

    def codes(self, buf, s, e) -> np.ndarray:
        """code() of each id buf[s[i]:e[i]] (UTF-8 bytes, stripped), at once."""
        return self.names.codes(buf, s, e)

    def declare(self, sub_id: str, fields: dict, where):
        """A registry entry (YAML `subscribers:` or subscriber CSV row)."""
        self.has_registry = True
        code = self.code(sub_id)
        if code in self.declared:
            self.fail(where, f"subscriber '{sub_id}' declared twice "
                             f"(first at {self.place(self.declared[code])})")
        self.declared[code] = where
        self.add_fields(code, fields, where)

    def add_fields(self, code: int, fields: dict, where):
        """Merge free fields; the same field with two different values is an error."""
        if not fields:
            return
        mine = self.fields.setdefault(code, {})
        for name, value in fields.items():
            old = mine.get(name)
            if old is not None and old != value:
                first = self.field_lines[(code, name)]
                self.fail(where, f"subscriber '{self.ids[code]}' field '{name}' is "
                                 f"'{value}' here but '{old}' at {self.place(first)}")
            if old is None:
                mine[name] = value
                self.field_lines[(code, name)] = where

    def check_references(self):
        """With a registry, every referenced subscriber must be declared."""
        if not self.has_registry or len(self.declared) == len(self.ids):
            return
        undeclared = np.array([c for c in range(len(self.ids)) if c not in self.declared],
                              np.int64)
        first = None
        for entries in (self.static, self.leases, self.cgnat):
            cols = entries.arrays()
            hit = np.flatnonzero(np.isin(cols["sub"], undeclared))
            if hit.size:
                order = np.lexsort((cols["line"][hit], cols["file"][hit]))[0]
                i = hit[order]
                where = (int(cols["file"][i]), int(cols["line"][i]))
                if first is None or where < first[0]:
                    first = (where, int(cols["sub"][i]))
        if first is None:
            return
        where, code = first
        known = [self.ids[c] for c in self.declared]
        close = difflib.get_close_matches(self.ids[code], known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        self.fail(where, f"unknown subscriber '{self.ids[code]}' (not in the subscriber "
                         f"registry){hint}")
