"""Flow records as JSON lines or CSV rows, formatted by a numba kernel.

A capture of a few million packets has ~100k flows; formatting them in
Python cost more than decoding the packets. The kernel writes the same text
as the Python reference (`FlowFormatter` + `json`, checked in the tests):
every value here is a number, an address, a timestamp or a name from a fixed
table, so nothing needs escaping.

Layout: the text between two values (keys, quotes, separators) is a "piece";
row = piece[0] value[0] piece[1] value[1] ... value[n-1] piece[n].
"""

import numpy as np

from ..engine.config import kernel, inline_kernel
from ..engine.dtypes import END_REASONS
from .flow_records import FIELDS, flag_text, transport_text, tunnel_text

# how each field is rendered; the kernel writes the fields in FIELDS order
STRING_FIELDS = {"transport", "client_ip", "server_ip", "first_ts", "last_ts", "tunnel",
                 "tcp_flags_c2s", "tcp_flags_s2c", "end_reason"}
MAX_ROW_BYTES = 1024   # the longest row (two IPv6 addresses, every field at its max) is < 700
COPY_WORD = 8          # put_text copies in chunks of this many bytes
HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


class StringTable:
    """code -> bytes, as a 2-D uint8 array and lengths the kernel can index."""

    def __init__(self, texts):
        raw = [t.encode() for t in texts]
        width = -(-max(1, max(map(len, raw))) // COPY_WORD) * COPY_WORD   # whole words
        self.data = np.zeros((len(raw), width), np.uint8)
        self.length = np.zeros(len(raw), np.int64)
        for i, b in enumerate(raw):
            self.data[i, :len(b)] = np.frombuffer(b, np.uint8)
            self.length[i] = len(b)


def pieces_for(fmt):
    """The fixed text around the values of one row, for 'jsonl' or 'csv'."""
    texts = []
    for k, f in enumerate(FIELDS):
        q = '"' if f in STRING_FIELDS and fmt == "jsonl" else ""
        if fmt == "jsonl":
            lead = "{" if k == 0 else ","
            texts.append(f'{lead}"{f}":{q}')
        else:
            texts.append("" if k == 0 else ",")
        if k > 0:
            prev_q = '"' if FIELDS[k - 1] in STRING_FIELDS and fmt == "jsonl" else ""
            texts[-1] = prev_q + texts[-1]
    last_q = '"' if FIELDS[-1] in STRING_FIELDS and fmt == "jsonl" else ""
    texts.append(last_q + ("}\n" if fmt == "jsonl" else "\n"))
    return StringTable(texts)


class FlowTextFormatter:
    """Formats FLOW_DTYPE arrays to bytes (JSON lines or CSV rows) in one kernel call."""

    def __init__(self, fmt):
        self.pieces = pieces_for(fmt)
        self.transport = StringTable([transport_text(p) for p in range(256)])
        self.tunnel = StringTable([tunnel_text(b) for b in range(1 << 9)])
        self.flags = StringTable([flag_text(b) for b in range(256)])
        self.end = StringTable(list(END_REASONS))
        self.out = np.zeros(0, np.uint8)

    def format(self, flows):
        """Return the rows of `flows` as one bytes object."""
        need = len(flows) * MAX_ROW_BYTES
        if len(self.out) < need:
            self.out = np.zeros(need, np.uint8)
        n = format_flows(flows, self.pieces.data, self.pieces.length,
                         self.transport.data, self.transport.length,
                         self.tunnel.data, self.tunnel.length,
                         self.flags.data, self.flags.length,
                         self.end.data, self.end.length, self.out)
        return self.out[:n].tobytes()


@inline_kernel
def put_text(out, pos, table, length, code):
    """Copy entry `code` of a StringTable to out[pos:]; return the new position.

    Copies whole COPY_WORD-byte chunks (table rows are padded to them): up to
    COPY_WORD - 1 bytes past the entry are written, then overwritten by what
    follows (`out` keeps MAX_ROW_BYTES per row, rows are far shorter).
    A fixed-length inner loop compiles to word moves; a byte loop of
    variable length was most of the formatting time."""
    n = length[code]
    entry = table[code]
    a = np.uint64(pos)                    # unsigned: no negative-index fix-up per byte
    c = np.uint64(0)
    while c < np.uint64(n):
        for j in range(np.uint64(0), np.uint64(COPY_WORD)):
            out[a + c + j] = entry[c + j]
        c += np.uint64(COPY_WORD)
    return pos + n


POW10 = np.array([10 ** k for k in range(20)], np.uint64)


@inline_kernel
def put_uint(out, pos, v, min_digits):
    """Decimal digits of v >= 0 (at least min_digits, zero padded)."""
    v = np.uint64(v)
    n = 1
    while n < 20 and v >= POW10[n]:      # digit count by comparison, no division
        n += 1
    n = max(n, min_digits)
    last = np.uint64(pos + n - 1)
    for i in range(np.uint64(0), np.uint64(n)):
        out[last - i] = 48 + np.uint8(v % np.uint64(10))
        v //= np.uint64(10)
    return pos + n


@inline_kernel
def ipv6_group(hi, lo, k):
    """16-bit group k (0..7) of the address (hi, lo)."""
    word = hi if k < 4 else lo
    return np.int64((word >> np.uint64(48 - 16 * (k % 4))) & np.uint64(0xFFFF))


@inline_kernel
def put_ip(out, pos, hi, lo):
    """Dotted IPv4 for ::ffff:a.b.c.d, else RFC 5952 IPv6 (longest zero run as '::')."""
    if hi == 0 and (lo >> np.uint64(32)) == np.uint64(0xFFFF):
        for k in range(4):
            if k:
                out[pos] = 46  # '.'
                pos += 1
            pos = put_uint(out, pos, (lo >> np.uint64(24 - 8 * k)) & np.uint64(0xFF), 1)
        return pos
    best_at, best_len, run_at, run_len = -1, 0, -1, 0
    for k in range(8):
        if ipv6_group(hi, lo, k) == 0:
            if run_len == 0:
                run_at = k
            run_len += 1
            if run_len > best_len:
                best_at, best_len = run_at, run_len
        else:
            run_len = 0
    if best_len < 2:
        best_at = -1
    k = 0
    while k < 8:
        if k == best_at:
            out[pos] = 58  # ':'
            out[pos + 1] = 58
            pos += 2
            k += best_len
            continue
        if k > 0 and k != best_at + best_len:
            out[pos] = 58
            pos += 1
        g = ipv6_group(hi, lo, k)
        started = False
        for shift in (12, 8, 4, 0):
            d = (g >> shift) & 0xF
            if d != 0 or started or shift == 0:
                out[pos] = HEX[d]
                pos += 1
                started = True
        k += 1
    return pos


@inline_kernel
def put_date(out, pos, days):
    """Days since the epoch as YYYY-MM-DD (proleptic Gregorian, UTC)."""
    # civil_from_days (H. Hinnant, 'chrono-compatible low-level date algorithms')
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    pos = put_uint(out, pos, y, 4)
    out[pos] = 45  # '-'
    pos = put_uint(out, pos + 1, m, 2)
    out[pos] = 45
    return put_uint(out, pos + 1, d, 2)


@inline_kernel
def put_iso_ns(out, pos, ts_ns, day_cache):
    """ISO 8601 UTC with nanoseconds: 2020-02-07T21:03:54.258190000Z.

    day_cache int64[16]: [day, length, date bytes...] of the last date written;
    flows of one capture mostly share their date, so it is formatted once.
    """
    day_ns = np.int64(86400) * np.int64(1_000_000_000)
    days = ts_ns // day_ns
    rem = ts_ns - days * day_ns
    if day_cache[1] == 0 or day_cache[0] != days:
        end = put_date(out, pos, days)
        day_cache[0] = days
        day_cache[1] = end - pos
        for j in range(end - pos):
            day_cache[2 + j] = out[pos + j]
        pos = end
    else:
        for j in range(day_cache[1]):
            out[pos + j] = day_cache[2 + j]
        pos += day_cache[1]
    out[pos] = 84  # 'T'
    secs = rem // 1_000_000_000
    pos = put_uint(out, pos + 1, secs // 3600, 2)
    out[pos] = 58
    pos = put_uint(out, pos + 1, (secs // 60) % 60, 2)
    out[pos] = 58
    pos = put_uint(out, pos + 1, secs % 60, 2)
    out[pos] = 46
    pos = put_uint(out, pos + 1, rem % 1_000_000_000, 9)
    out[pos] = 90  # 'Z'
    return pos + 1


@inline_kernel
def put_seconds(out, pos, ns):
    """ns >= 0 as seconds like Python's repr of round(ns / 1e9, 9): 57.74692, 0.0."""
    pos = put_uint(out, pos, ns // 1_000_000_000, 1)
    out[pos] = 46
    pos += 1
    frac = ns % 1_000_000_000
    if frac == 0:
        out[pos] = 48
        return pos + 1
    width = 9
    while frac % 10 == 0:
        frac //= 10
        width -= 1
    return put_uint(out, pos, frac, width)


@kernel
def format_flows(flows, pieces, piece_len, transport, transport_len, tunnel, tunnel_len,
                 flags, flags_len, end, end_len, out):
    """Write one row per flow into `out` (>= MAX_ROW_BYTES per flow); return bytes used.

    Fields in FIELDS order; pieces[k] precedes field k, pieces[n] ends the row.
    """
    pos = 0
    day_cache = np.zeros(16, np.int64)
    for i in range(len(flows)):
        f = flows[i]
        pos = put_text(out, pos, pieces, piece_len, 0)
        pos = put_text(out, pos, transport, transport_len, f["proto"])
        pos = put_text(out, pos, pieces, piece_len, 1)
        pos = put_ip(out, pos, f["client_hi"], f["client_lo"])
        pos = put_text(out, pos, pieces, piece_len, 2)
        pos = put_uint(out, pos, f["client_port"], 1)
        pos = put_text(out, pos, pieces, piece_len, 3)
        pos = put_ip(out, pos, f["server_hi"], f["server_lo"])
        pos = put_text(out, pos, pieces, piece_len, 4)
        pos = put_uint(out, pos, f["server_port"], 1)
        pos = put_text(out, pos, pieces, piece_len, 5)
        pos = put_uint(out, pos, f["packets_c2s"], 1)
        pos = put_text(out, pos, pieces, piece_len, 6)
        pos = put_uint(out, pos, f["packets_s2c"], 1)
        pos = put_text(out, pos, pieces, piece_len, 7)
        pos = put_uint(out, pos, f["bytes_c2s"], 1)
        pos = put_text(out, pos, pieces, piece_len, 8)
        pos = put_uint(out, pos, f["bytes_s2c"], 1)
        pos = put_text(out, pos, pieces, piece_len, 9)
        pos = put_uint(out, pos, f["payload_c2s"], 1)
        pos = put_text(out, pos, pieces, piece_len, 10)
        pos = put_uint(out, pos, f["payload_s2c"], 1)
        pos = put_text(out, pos, pieces, piece_len, 11)
        pos = put_iso_ns(out, pos, f["first_ts"], day_cache)
        pos = put_text(out, pos, pieces, piece_len, 12)
        pos = put_iso_ns(out, pos, f["last_ts"], day_cache)
        pos = put_text(out, pos, pieces, piece_len, 13)
        pos = put_seconds(out, pos, max(np.int64(0), f["last_ts"] - f["first_ts"]))
        pos = put_text(out, pos, pieces, piece_len, 14)
        pos = put_text(out, pos, tunnel, tunnel_len, f["tunnel"] & 0x1FF)
        pos = put_text(out, pos, pieces, piece_len, 15)
        pos = put_text(out, pos, flags, flags_len, f["flags_c2s"])
        pos = put_text(out, pos, pieces, piece_len, 16)
        pos = put_text(out, pos, flags, flags_len, f["flags_s2c"])
        pos = put_text(out, pos, pieces, piece_len, 17)
        pos = put_uint(out, pos, f["fragments"], 1)
        pos = put_text(out, pos, pieces, piece_len, 18)
        pos = put_text(out, pos, end, end_len, min(f["end_reason"], len(end_len) - 1))
        pos = put_text(out, pos, pieces, piece_len, 19)
        pos = put_uint(out, pos, f["flow_id"], 1)
        pos = put_text(out, pos, pieces, piece_len, 20)
        pos = put_uint(out, pos, f["first_frame"], 1)
        pos = put_text(out, pos, pieces, piece_len, 21)
    return pos
