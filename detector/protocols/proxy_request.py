"""Proxy requests that name the real destination: HTTP CONNECT, SOCKS4/4a, SOCKS5.

Specs: RFC 9110 9.3.6 (CONNECT host:port), SOCKS4 / SOCKS4a (NEC protocol
notes: VN=4, CD=1, DSTPORT, DSTIP, USERID NUL, 0.0.0.x then host NUL),
RFC 1928 (SOCKS5: greeting VER NMETHODS METHODS, then VER CMD=1 RSV ATYP
DST.ADDR DST.PORT). PROTOCOLS.md 2 and 11: a miner behind a proxy speaks the
same protocol on the inner hop; the target host is what stays visible.

`parse_proxy_request(client_bytes)` -> ProxyRequest | Incomplete | None.
`ProxyRequest.inner_offset` is where the client's tunnelled bytes start (for
SOCKS5 after the greeting and the request; the inner bytes may still be
cleartext stratum or a TLS ClientHello).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .message import untrusted_text

MAX_REQUEST_BYTES = 2048
MAX_NAME = 253


@dataclass
class Incomplete:
    needed: int


@dataclass
class ProxyRequest:
    kind: str            # "http-connect", "socks4", "socks4a", "socks5"
    host: str            # name or address literal, as asked
    port: int
    inner_offset: int    # client stream offset of the first tunnelled byte

    @property
    def target(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _name(raw):
    return untrusted_text(raw.decode("ascii", "replace").lower(), MAX_NAME)


def _http_connect(data):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return Incomplete(len(data) + 1) if len(data) < MAX_REQUEST_BYTES else None
    line = data[:data.find(b"\r\n")].split(b" ")
    if len(line) != 3 or line[0] != b"CONNECT" or not line[2].startswith(b"HTTP/"):
        return None
    host, sep, port = line[1].rpartition(b":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        return None
    return ProxyRequest("http-connect", _name(host.strip(b"[]")), int(port), end + 4)


def _socks4(data):
    if len(data) < 9:
        return Incomplete(9)
    port = int.from_bytes(data[2:4], "big")
    nul = data.find(b"\x00", 8)
    if nul < 0:
        return Incomplete(len(data) + 1) if len(data) < 8 + 256 else None
    if data[4:7] == b"\x00\x00\x00" and data[7] != 0:          # SOCKS4a: name follows
        end = data.find(b"\x00", nul + 1)
        if end < 0:
            return Incomplete(len(data) + 1) if len(data) < nul + 1 + 256 else None
        return ProxyRequest("socks4a", _name(data[nul + 1:end]), port, end + 1)
    return ProxyRequest("socks4", str(ipaddress.IPv4Address(data[4:8])), port, nul + 1)


def _socks5(data):
    greeting = 2 + data[1]
    head = greeting + 4
    if len(data) < head + 1:
        return Incomplete(head + 1)
    if data[greeting] != 5 or data[greeting + 1] not in (1, 2, 3) or data[greeting + 2] != 0:
        return None
    atyp, pos = data[greeting + 3], greeting + 4
    if atyp == 1:
        end = pos + 4
        host = lambda: str(ipaddress.IPv4Address(data[pos:end]))   # noqa: E731
    elif atyp == 4:
        end = pos + 16
        host = lambda: str(ipaddress.IPv6Address(data[pos:end]))   # noqa: E731
    elif atyp == 3:
        end = pos + 1 + data[pos]
        host = lambda: _name(data[pos + 1:end])                     # noqa: E731
    else:
        return None
    if len(data) < end + 2:
        return Incomplete(end + 2)
    return ProxyRequest("socks5", host(), int.from_bytes(data[end:end + 2], "big"), end + 2)


def parse_proxy_request(data: bytes):
    """The proxy request at the start of a client stream, Incomplete, or None."""
    if len(data) < 3 or (len(data) < 8 and b"CONNECT ".startswith(data)):
        return Incomplete(8 if data[:1] == b"C" else 3)
    if data.startswith(b"CONNECT "):
        return _http_connect(data)
    if data[0] == 5 and 1 <= data[1] <= 9:
        return _socks5(data)
    if data[0] == 4 and data[1] == 1:
        return _socks4(data)
    return None


def proxy_reply_length(data: bytes):
    """Length of a proxy's answers at the start of its stream to the client (the
    tunnelled bytes follow), Incomplete while they are cut, None when `data` does not
    open with a successful proxy reply.

    SOCKS5: method selection (05 M), the RFC 1929 password status (01 00) when M is
    2, then the reply 05 00 00 ATYP BND.ADDR BND.PORT. SOCKS4: 8 bytes, 00 5A.
    HTTP CONNECT: a 2xx status line and headers up to the empty line.
    """
    if len(data) < 2 or (len(data) < 7 and b"HTTP/1.".startswith(data)):
        return Incomplete(7)
    if data.startswith(b"HTTP/1."):
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return Incomplete(len(data) + 1) if len(data) < MAX_REQUEST_BYTES else None
        status = data[9:12] if len(data) >= 12 else b""
        return end + 4 if status[:1] == b"2" and status.isdigit() else None
    if data[0] == 0 and data[1] == 0x5A:
        return 8 if len(data) >= 8 else Incomplete(8)
    if data[0] != 5 or data[1] not in (0, 2):
        return None
    pos = 2
    if data[1] == 2:                                   # username/password status
        if len(data) < pos + 2:
            return Incomplete(pos + 2)
        if data[pos] != 1 or data[pos + 1] != 0:
            return None
        pos += 2
    if len(data) < pos + 5:
        return Incomplete(pos + 5)
    if data[pos] != 5 or data[pos + 1] != 0 or data[pos + 2] != 0:
        return None
    atyp = data[pos + 3]
    sizes = {1: 4, 4: 16, 3: 1 + data[pos + 4]}
    if atyp not in sizes:
        return None
    end = pos + 4 + sizes[atyp] + 2
    return end if len(data) >= end else Incomplete(end)
