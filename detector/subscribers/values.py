"""Text cell -> value for subscriber maps: addresses, prefixes, times, port ranges.

Every parser takes the text as written in the file (YAML scalar or CSV cell)
and raises ValueError with a message fit for `FILE:LINE: <message>`; the
readers add the file and line. Addresses become 128-bit integers, IPv4
stored IPv4-mapped (::ffff:a.b.c.d) as the engine does (engine/dtypes.py).
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

V4_MAPPED = 0xFFFF << 32        # ::ffff:0:0, where IPv4 lives in the 128-bit space
V4_MAPPED_BITS = 96             # prefix length of ::ffff:0:0/96
PORT_MAX = 65535
OPEN_END_NS = (1 << 63) - 1     # a lease or block without an end: still running
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def address(text: str) -> int:
    """'192.0.2.7' or '2001:db8::7' -> 128-bit integer (IPv4 mapped).

    inet_pton is as strict as ipaddress (no leading zeros, no short forms)
    and several times faster, which counts for maps of millions of leases.
    """
    text = text.strip()
    try:
        return V4_MAPPED | int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        pass
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except OSError:
        raise ValueError(f"'{text}' is not an IP address") from None


def prefix(text: str) -> tuple[int, int]:
    """'10.0.0.0/8', '2001:db8::/32' or a bare address -> (network, prefix length /128)."""
    text = text.strip()
    fast = _plain_prefix(text)
    if fast is not None:
        return fast
    family = ipaddress.IPv6Network if ":" in text else ipaddress.IPv4Network
    try:
        net = family(text, strict=True)
    except ValueError as exc:
        reason = str(exc)
        if "host bits set" in reason:
            raise ValueError(f"bad CIDR '{text}': host bits set (did you mean "
                             f"{family(text, strict=False)}?)") from None
        raise ValueError(f"bad CIDR '{text}': {reason}") from None
    if net.version == 4:
        return V4_MAPPED | int(net.network_address), V4_MAPPED_BITS + net.prefixlen
    return int(net.network_address), net.prefixlen


def _plain_prefix(text: str):
    """The common spelling 'a.b.c.d/n' or 'x::/n' (or a bare address), valid, without
    ipaddress's cost; None for anything else, which then goes the slow, explaining way."""
    addr_text, slash, bits_text = text.partition("/")
    v6 = ":" in addr_text
    width = 128 if v6 else 32
    if slash:
        if not (bits_text.isascii() and bits_text.isdigit()) or len(bits_text) > 3:
            return None
        bits = int(bits_text)
        if bits > width:
            return None
    else:
        bits = width
    try:
        raw = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, addr_text)
    except OSError:
        return None
    value = int.from_bytes(raw, "big")
    if value & ((1 << (width - bits)) - 1):
        return None                     # host bits set
    if v6:
        return value, bits
    return V4_MAPPED | value, V4_MAPPED_BITS + bits


def address_text(value: int) -> str:
    """128-bit integer -> canonical text; IPv4-mapped addresses print as IPv4."""
    if value >> 32 == 0xFFFF:
        return socket.inet_ntop(socket.AF_INET, (value & 0xFFFFFFFF).to_bytes(4, "big"))
    return str(ipaddress.IPv6Address(value))     # the engine's spelling (AddressCache)


def time_ns(text: str) -> int:
    """ISO 8601 with a UTC offset ('2024-03-01T08:00:00+08:00', '...Z') or Unix
    seconds ('1709251200', '1709251200.5') -> int64 ns since the epoch."""
    text = text.strip()
    if not text:
        raise ValueError("empty time")
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        seconds = None
    if seconds is not None:
        if not seconds.is_finite():
            raise ValueError(f"bad time '{text}'")
        ns = int(seconds * 1_000_000_000)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"bad time '{text}': use ISO 8601 with a UTC offset "
                             "(2024-03-01T08:00:00Z) or Unix seconds") from None
        if moment.tzinfo is None:
            raise ValueError(f"time '{text}' has no UTC offset: add Z or +HH:MM "
                             "(local times are ambiguous)")
        ns = (moment - _EPOCH) // _ONE_US * 1000
    if not -(1 << 63) < ns < OPEN_END_NS:
        raise ValueError(f"time '{text}' is out of range (years 1678-2262)")
    return ns



def port(text: str) -> int:
    """'1024' -> 1024; must be 0..65535."""
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"bad port '{text}'") from None
    if not 0 <= value <= PORT_MAX:
        raise ValueError(f"port {value} is outside 0-{PORT_MAX}")
    return value


def port_range(text: str) -> tuple[int, int]:
    """'1024-2047' (inclusive) or a single port '5000' -> (lo, hi)."""
    lo_text, sep, hi_text = text.strip().partition("-")
    lo = port(lo_text)
    hi = port(hi_text) if sep else lo
    return checked_ports(lo, hi)


def checked_ports(lo: int, hi: int) -> tuple[int, int]:
    if hi < lo:
        raise ValueError(f"port range {lo}-{hi} is reversed")
    return lo, hi


def subscriber_id(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("empty subscriber id")
    return text


def prefix_text(network: int, bits: int) -> str:
    """(128-bit network, length /128) -> '10.0.0.0/8' or '2001:db8::/32'."""
    if network >> 32 == 0xFFFF and bits >= V4_MAPPED_BITS:
        return f"{address_text(network)}/{bits - V4_MAPPED_BITS}"
    return f"{address_text(network)}/{bits}"
