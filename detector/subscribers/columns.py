"""Whole columns of CSV cells -> values: addresses, prefixes, times, ports.

Each column is given as byte spans (buf, s, e) from csv_scan.py. A kernel
reads the common spellings (dotted quads, plain IPv6, 'a.b.c.d/n', Unix
seconds, ISO 8601 'YYYY-MM-DDTHH:MM:SS[.f]Z' or '+HH:MM', decimal ports) and
accepts a cell only when values.py would give the same value. Every other
cell (IPv4 in IPv6, week dates, '+5'...) goes to values.py itself, one at a
time, so both paths accept exactly the same text; a cell values.py refuses is
marked bad, and csv_map.py reports its row the row-by-row way.

Each function returns the values and `bad`, a bool array: True where the
cell is not a valid value (its value is then meaningless).
"""

from __future__ import annotations

import numpy as np

from detector.engine.config import kernel

from . import values

_V4_MAPPED = np.uint64(values.V4_MAPPED)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_PORT_MAX = values.PORT_MAX
_NS = 1_000_000_000
_DAY = 86_400
_FRAC_SCALE = np.array([10 ** (9 - d) for d in range(10)], np.int64)   # digits -> ns factor
# Unix seconds the kernel takes: ns stays below values.OPEN_END_NS with any fraction
_MAX_SECONDS = (values.OPEN_END_NS - _NS) // _NS


# --------------------------------------------------------------------------- kernels

@kernel
def _digit(b):
    return 48 <= b <= 57


@kernel
def _hex(b):
    if 48 <= b <= 57:
        return b - 48
    if 97 <= b <= 102:
        return b - 87
    if 65 <= b <= 70:
        return b - 55
    return -1


@kernel
def _number(buf, s, e, most):
    """Decimal digits buf[s:e] -> value; -1 unless 1..most digits and nothing else."""
    if e <= s or e - s > most:
        return -1
    v = 0
    for i in range(s, e):
        b = int(buf[i])
        if not _digit(b):
            return -1
        v = v * 10 + b - 48
    return v


@kernel
def _ipv4(buf, s, e):
    """Dotted quad buf[s:e] -> 32-bit value, as strict as inet_pton; -1 if not one."""
    value = 0
    i = s
    for part in range(4):
        j = i
        while j < e and _digit(int(buf[j])):
            j += 1
        if j - i > 1 and buf[i] == 48:       # leading zero
            return -1
        v = _number(buf, i, j, 3)
        if v < 0 or v > 255:
            return -1
        value = value * 256 + v
        if part < 3:
            if j >= e or buf[j] != 46:       # '.'
                return -1
            i = j + 1
        elif j != e:
            return -1
    return value


@kernel
def _ipv6(buf, s, e, groups):
    """Hex groups with at most one '::' buf[s:e] -> (ok, hi, lo), as inet_pton; no
    embedded IPv4 (left to values.py). groups: int64[8] scratch."""
    i = s
    n = 0
    gap = -1
    if e - s < 2:
        return False, _ONE, _ONE
    if buf[i] == 58:                          # ':' must open '::'
        if buf[i + 1] != 58:
            return False, _ONE, _ONE
        gap = 0
        i += 2
    while i < e:
        v = 0
        d = 0
        while i < e and d < 5:
            h = _hex(int(buf[i]))
            if h < 0:
                break
            v = v * 16 + h
            d += 1
            i += 1
        if d == 0 or d > 4 or n == 8:
            return False, _ONE, _ONE
        groups[n] = v
        n += 1
        if i == e:
            break
        if buf[i] != 58:
            return False, _ONE, _ONE
        i += 1
        if i < e and buf[i] == 58:
            if gap >= 0:
                return False, _ONE, _ONE
            gap = n
            i += 1
        elif i == e:                          # a single trailing ':'
            return False, _ONE, _ONE
    if (gap < 0 and n != 8) or (gap >= 0 and n > 7):
        return False, _ONE, _ONE
    hi = np.uint64(0)
    lo = np.uint64(0)
    zeros = 8 - n
    for g in range(8):
        if gap >= 0 and gap <= g < gap + zeros:
            v = 0
        elif gap >= 0 and g >= gap + zeros:
            v = groups[g - zeros]
        else:
            v = groups[g]
        if g < 4:
            hi = (hi << np.uint64(16)) | np.uint64(v)
        else:
            lo = (lo << np.uint64(16)) | np.uint64(v)
    return True, hi, lo


@kernel
def _address(buf, s, e, groups):
    """(ok, hi, lo) of the address buf[s:e]; IPv4 mapped."""
    v4 = _ipv4(buf, s, e)
    if v4 >= 0:
        return True, np.uint64(0), _V4_MAPPED | np.uint64(v4)
    return _ipv6(buf, s, e, groups)


@kernel
def parse_addresses(buf, s, e, hi, lo, ok):
    """hi, lo : uint64[m] written; ok : bool[m] written, False = left to values.address."""
    groups = np.zeros(8, np.int64)
    for i in range(s.shape[0]):
        ok[i], hi[i], lo[i] = _address(buf, s[i], e[i], groups)


@kernel
def _low_ones(bits):
    """uint64 with the low `bits` (0..64) bits set."""
    if bits >= 64:
        return _ALL
    return (_ONE << np.uint64(bits)) - _ONE


@kernel
def parse_prefixes(buf, s, e, slash, hi, lo, bits, ok):
    """'a.b.c.d/n', 'x::/n' or a bare address -> network (hi, lo) and length /128.

    slash : bool  whether '/n' may be given (a 'cidr' column) or not ('ip')
    hi, lo : uint64[m], bits : int64[m], ok : bool[m] written; ok False where the
    text is anything else, host bits included (values.prefix says what is wrong).
    """
    groups = np.zeros(8, np.int64)
    for i in range(s.shape[0]):
        a = s[i]
        b = e[i]
        cut = a
        while cut < b and buf[cut] != 47:     # '/'
            cut += 1
        ok[i] = False
        if cut < b and not slash:
            continue
        v4 = _ipv4(buf, a, cut)
        v6 = v4 < 0
        if v6:
            good, h, low = _ipv6(buf, a, cut, groups)
            if not good:
                continue
        else:
            h, low = np.uint64(0), _V4_MAPPED | np.uint64(v4)
        width = 128 if v6 else 32
        n = width
        if cut < b:
            n = _number(buf, cut + 1, b, 3)
            if n < 0 or n > width:
                continue
        length = n if v6 else 96 + n
        host_hi = _low_ones(64 - length) if length < 64 else np.uint64(0)
        host_lo = _low_ones(128 - length) if length < 128 else np.uint64(0)
        if (h & host_hi) != np.uint64(0) or (low & host_lo) != np.uint64(0):
            continue
        ok[i], hi[i], lo[i], bits[i] = True, h, low, length


@kernel
def _days(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (y >= 1)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (9 if m <= 2 else -3)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


@kernel
def _month_days(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m == 4 or m == 6 or m == 9 or m == 11 else 31


@kernel
def _unix_ns(buf, s, e, scale):
    """'1709251200' or '1709251200.5' -> ns; -1 if not that spelling or too large."""
    dot = s
    while dot < e and buf[dot] != 46:
        dot += 1
    sec = _number(buf, s, dot, 10)
    if sec < 0 or sec > _MAX_SECONDS:
        return -1
    frac = 0
    if dot < e:
        frac = _number(buf, dot + 1, e, 9)
        if frac < 0:
            return -1
        frac *= scale[e - dot - 1]
    return sec * _NS + frac


@kernel
def _iso_ns(buf, s, e, scale):
    """'YYYY-MM-DD[T ]HH:MM:SS[.f]' then 'Z' or '+HH:MM' / '-HH:MM' -> (ok, ns), as
    datetime.fromisoformat (fraction cut to microseconds); years 1700-2200 only."""
    if e - s < 20 or buf[s + 4] != 45 or buf[s + 7] != 45 or buf[s + 13] != 58 \
            or buf[s + 16] != 58 or (buf[s + 10] != 84 and buf[s + 10] != 32):
        return False, 0
    y = _number(buf, s, s + 4, 4)
    mo = _number(buf, s + 5, s + 7, 2)
    d = _number(buf, s + 8, s + 10, 2)
    hh = _number(buf, s + 11, s + 13, 2)
    mi = _number(buf, s + 14, s + 16, 2)
    ss = _number(buf, s + 17, s + 19, 2)
    if y < 1700 or y > 2200 or mo < 1 or mo > 12 or d < 1 or d > _month_days(y, mo) \
            or hh < 0 or hh > 23 or mi < 0 or mi > 59 or ss < 0 or ss > 59:
        return False, 0
    i = s + 19
    us = 0
    if buf[i] == 46:                           # '.' and 1..9 digits, cut to microseconds
        j = i + 1
        while j < e and _digit(int(buf[j])):
            j += 1
        frac = _number(buf, i + 1, j, 9)
        if frac < 0:
            return False, 0
        us = frac * scale[j - i - 1] // 1000
        i = j
    if i == e - 1 and buf[i] == 90:            # 'Z'
        offset = 0
    elif i == e - 6 and (buf[i] == 43 or buf[i] == 45) and buf[i + 3] == 58:
        oh = _number(buf, i + 1, i + 3, 2)
        om = _number(buf, i + 4, i + 6, 2)
        if oh < 0 or oh > 23 or om < 0 or om > 59:
            return False, 0
        offset = oh * 3600 + om * 60
        if buf[i] == 45:
            offset = -offset
    else:
        return False, 0
    seconds = _days(y, mo, d) * _DAY + hh * 3600 + mi * 60 + ss - offset
    return True, seconds * _NS + us * 1000


@kernel
def parse_times(buf, s, e, empty, ns, ok):
    """ns : int64[m] written (`empty` for an empty cell); ok : bool[m] written, False
    = left to values.time_ns."""
    for i in range(s.shape[0]):
        if s[i] == e[i]:
            ns[i] = empty
            ok[i] = True
            continue
        t = _unix_ns(buf, s[i], e[i], _FRAC_SCALE)
        if t >= 0:
            ns[i] = t
            ok[i] = True
        else:
            ok[i], ns[i] = _iso_ns(buf, s[i], e[i], _FRAC_SCALE)


@kernel
def parse_ports(buf, s, e, out, ok):
    """out : int64[m] written; ok : bool[m] written, False = left to values.port."""
    for i in range(s.shape[0]):
        v = _number(buf, s[i], e[i], 5)
        ok[i] = 0 <= v <= _PORT_MAX
        out[i] = v


# --------------------------------------------------------------------------- columns

def _rest(buf, s, e, ok, parse, store):
    """Cells the kernel left: parse each with values.py; return `bad`."""
    bad = np.zeros(s.shape[0], bool)
    if ok.all():
        return bad
    raw = buf.data
    for i in np.flatnonzero(~ok):
        try:
            store(i, parse(bytes(raw[s[i]:e[i]]).decode("utf-8")))
        except ValueError:
            bad[i] = True
    return bad


def addresses(buf, s, e):
    """Address column -> (hi, lo, bad)."""
    m = s.shape[0]
    hi, lo, ok = np.empty(m, np.uint64), np.empty(m, np.uint64), np.empty(m, bool)
    parse_addresses(buf, s, e, hi, lo, ok)

    def store(i, value):
        hi[i], lo[i] = value >> 64, value & 0xFFFFFFFFFFFFFFFF
    return hi, lo, _rest(buf, s, e, ok, values.address, store)


def prefixes(buf, s, e, parse, slash: bool):
    """Prefix column -> (hi, lo, bits, bad); parse(text) -> (network, bits) or
    ValueError decides the cells the kernel leaves."""
    m = s.shape[0]
    hi, lo = np.empty(m, np.uint64), np.empty(m, np.uint64)
    bits, ok = np.empty(m, np.int64), np.empty(m, bool)
    parse_prefixes(buf, s, e, slash, hi, lo, bits, ok)

    def store(i, value):
        network, bits[i] = value
        hi[i], lo[i] = network >> 64, network & 0xFFFFFFFFFFFFFFFF
    return hi, lo, bits, _rest(buf, s, e, ok, parse, store)


def times(buf, s, e, empty: int):
    """Time column -> (ns, bad); an empty cell gives `empty`."""
    ns, ok = np.empty(s.shape[0], np.int64), np.empty(s.shape[0], bool)
    parse_times(buf, s, e, empty, ns, ok)

    def store(i, value):
        ns[i] = value
    return ns, _rest(buf, s, e, ok, values.time_ns, store)


def ports(buf, s, e):
    """Port column -> (ports, bad)."""
    out, ok = np.empty(s.shape[0], np.int64), np.empty(s.shape[0], bool)
    parse_ports(buf, s, e, out, ok)

    def store(i, value):
        out[i] = value
    return out, _rest(buf, s, e, ok, values.port, store)
