"""What the pcap and pcapng walkers share: statuses, limits, byte readers, time math.

Every helper here is a `@kernel` over a uint8 buffer and int64 scalars. None of
them checks bounds: the walker that calls them has checked `off + width <= end`
first. Integer values stay in int64 (never uint64, which numba would mix with
int64 into float64), so all arithmetic below is exact and never overflows.
"""

import numpy as np

from detector.engine.config import kernel
from detector.engine.prefetch import prefetch

# --- walker status (third value a walker returns) ------------------------------
WALK_OK = 0          # stopped because the output is full or `end` was reached exactly
WALK_NEED_MORE = 1   # [pos, end) holds an incomplete record; at EOF that is a truncation
WALK_CORRUPT = 2     # the record/block at `pos` is impossible; reason says why
WALK_IFACE_FULL = 3  # pcapng: an IDB at `pos` found the interface table full (grow, retry)

# --- reasons (fourth value) when status is WALK_CORRUPT -------------------------
R_NONE = 0
R_CAPLEN = 1         # caplen above MAX_CAPLEN
R_BLOCK_LEN = 2      # pcapng block length < minimum, not a multiple of 4, or > MAX_BLOCK_BYTES
R_TRAILER = 3        # pcapng trailing block length differs from the leading one
R_IFACE = 4          # pcapng packet block names an interface the section did not declare
R_BYTE_ORDER = 5     # pcapng SHB byte-order magic is neither 1A2B3C4D nor 4D3C2B1A
R_VERSION = 6        # pcapng SHB major version is not 1
R_TSRESOL = 7        # pcapng if_tsresol beyond 10^-19 or 2^-63
R_SHORT_BLOCK = 8    # pcapng packet block shorter than its header plus caplen

REASON_TEXT = (
    "",
    "record caplen above 262144 bytes",
    "block length not sane",
    "block trailing length does not match its leading length",
    "packet block for an interface the section did not declare",
    "section header byte-order magic not recognised",
    "unsupported pcapng major version",
    "interface time-stamp resolution out of range",
    "packet block too short for its captured length",
)

# --- limits -----------------------------------------------------------------------
MAX_CAPLEN = 262144              # tcpdump's MAXIMUM_SNAPLEN; a larger caplen means corrupt
MAX_BLOCK_BYTES = 16 * 1024 * 1024  # Wireshark's MAX_BLOCK_SIZE for one pcapng block
MAX_SEC = 9223372035             # last whole second whose ns still fits in int64
NS_PER_S = 1000000000
SEC_HUGE = 1 << 61                # stands for 'at least this many seconds'
INT64_MAX = 9223372036854775807
INT64_MIN = -9223372036854775807 - 1

# --- streaming the file into the cache ---------------------------------------------
CACHE_LINE = 64
STREAM_AHEAD = 1024   # bytes past the current record asked for before they are read

POW10 = np.array([10 ** i for i in range(19)], dtype=np.int64)  # 10^0 .. 10^18


@kernel
def stream_ahead(buf, pf, pos, end):
    """Prefetch every cache line of buf[pf:min(pos + STREAM_AHEAD, end)]; return where
    the next call starts (pass `start` the first time).

    Reading only record headers jumps a few hundred bytes at a time, each jump a
    dependent miss; touching every line in order lets the hardware prefetcher run
    ahead of the walk (about 6x faster), and leaves the packets cached for decoding.
    A prefetch never faults and changes nothing but timing."""
    ahead = min(pos + STREAM_AHEAD, end)
    while pf < ahead:
        prefetch(buf, pf)
        pf += CACHE_LINE
    return pf


@kernel
def rd16(buf, off, big):
    """uint16 at buf[off:off+2] as int64; big=1 for big-endian. Caller checks bounds."""
    a = np.int64(buf[off])
    b = np.int64(buf[off + 1])
    if big:
        return (a << 8) | b
    return (b << 8) | a


@kernel
def rd32(buf, off, big):
    """uint32 at buf[off:off+4] as int64 in [0, 2^32); big=1 for big-endian."""
    a = np.int64(buf[off])
    b = np.int64(buf[off + 1])
    c = np.int64(buf[off + 2])
    d = np.int64(buf[off + 3])
    if big:
        return (a << 24) | (b << 16) | (c << 8) | d
    return (d << 24) | (c << 16) | (b << 8) | a


@kernel
def rd64s(buf, off, big):
    """int64 (two's complement) at buf[off:off+8]; big=1 for big-endian."""
    if big:
        hi = rd32(buf, off, big)
        lo = rd32(buf, off + 4, big)
    else:
        lo = rd32(buf, off, big)
        hi = rd32(buf, off + 4, big)
    if hi >= 2147483648:                       # negative: build it without overflow
        return ((hi - 4294967296) << 32) | lo
    return (hi << 32) | lo


@kernel
def sec_frac_to_ns(sec, frac_ns):
    """sec * 10^9 + frac_ns, saturated to int64 when |sec| > MAX_SEC.

    sec : int64 seconds (may be negative); frac_ns : int64 in [0, 2^40)
    """
    if sec > MAX_SEC:
        return np.int64(INT64_MAX)
    if sec < -MAX_SEC:
        return np.int64(INT64_MIN)
    return sec * NS_PER_S + frac_ns


@kernel
def divmod_u64(hi, lo, d):
    """(q_hi, q_lo, r): the 64-bit value hi*2^32 + lo divided by d, by 16-bit long division.

    hi, lo : int64 in [0, 2^32); d : int64 in [1, 2^46). q = q_hi*2^32 + q_lo,
    with q_hi, q_lo in [0, 2^32); r in [0, d). Every intermediate < 2^62.
    """
    r = np.int64(0)
    q_hi = np.int64(0)
    q_lo = np.int64(0)
    for i in range(4):
        if i < 2:
            digit = (hi >> (16 - 16 * i)) & 0xFFFF
        else:
            digit = (lo >> (48 - 16 * i)) & 0xFFFF
        cur = (r << 16) | digit
        qd = cur // d                           # < 2^16 because r < d
        r = cur - qd * d
        if i < 2:
            q_hi = (q_hi << 16) | qd
        else:
            q_lo = (q_lo << 16) | qd
    return q_hi, q_lo, r


@kernel
def units_to_ns(hi, lo, tsresol, tsoffset_s):
    """pcapng time stamp (hi*2^32 + lo units of 1/tsresol s) -> int64 ns since the epoch.

    hi, lo     : int64 in [0, 2^32)  the two 32-bit halves from the block
    tsresol    : int64  if_tsresol byte: bit 7 clear -> 10^-v s, set -> 2^-(v & 0x7F) s;
                 the IDB reader has checked v <= 19 (decimal) or v <= 63 (binary)
    tsoffset_s : int64  if_tsoffset in seconds, |tsoffset_s| <= 2^40 (clamped by the IDB reader)
    Returns floor(units * 10^9 / resolution) + tsoffset_s * 10^9, exact, integer only;
    INT64_MAX / INT64_MIN when the whole seconds fall beyond +-MAX_SEC.
    """
    if tsresol & 0x80:
        k = tsresol & 0x7F
        if k <= 32:
            if (hi >> (k + 29)) != 0:               # seconds >= 2^61: beyond any offset
                sec = np.int64(SEC_HUGE)
            else:
                sec = (hi << (32 - k)) + (lo >> k)
            rem = lo & ((np.int64(1) << k) - 1)
            frac = (rem * NS_PER_S) >> k
        else:
            sec = hi >> (k - 32)
            rem_hi = hi & ((np.int64(1) << (k - 32)) - 1)
            # floor((rem_hi*2^32 + lo) * 10^9 / 2^k), split to stay below 2^62
            frac = (rem_hi * NS_PER_S + ((lo * NS_PER_S) >> 32)) >> (k - 32)
        return sec_frac_to_ns(sec + tsoffset_s, frac)
    v = tsresol
    if hi < 2147483648:                            # units < 2^63: plain int64 division
        units = (hi << 32) | lo
        if v <= 9:
            sec = units // POW10[v]
            frac = (units - sec * POW10[v]) * POW10[9 - v]
        else:
            ns = units // POW10[v - 9]
            sec = ns // NS_PER_S
            frac = ns - sec * NS_PER_S
        return sec_frac_to_ns(min(sec, SEC_HUGE) + tsoffset_s, frac)
    if v <= 9:
        q_hi, q_lo, r = divmod_u64(hi, lo, POW10[v])
        frac = r * POW10[9 - v]
    else:                                          # finer than 1 ns: whole ns first
        q_hi, q_lo, r = divmod_u64(hi, lo, POW10[v - 9])
        q_hi, q_lo, frac = divmod_u64(q_hi, q_lo, NS_PER_S)
    if q_hi >= 536870912:                          # seconds >= 2^61: beyond any offset
        sec = np.int64(SEC_HUGE)
    else:
        sec = (q_hi << 32) + q_lo
    return sec_frac_to_ns(sec + tsoffset_s, frac)
