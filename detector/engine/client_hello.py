"""TLS ClientHello framing in the engine: where the hello ends, where its server name is.

The engine reads the first client bytes of every TLS flow; Python should see
one event per hello, when it is complete, not one per segment. These kernels
check the framing a ClientHello must have (RFC 8446 4.1.2, RFC 5246 7.4.1.2:
one handshake record, vectors inside their parents, extensions that add up)
and find the server_name (RFC 6066 3), so the slow path can match the name
against the pool list without parsing anything. The fields behind the
fingerprints (JA3, JA4, ALPN) are parsed by dpkt in the slow path, and only
for the flows that need them (detector/flow_intel.py).

Everything reads head_row[:end] only and never raises.
"""

import numpy as np

from .config import kernel

RECORD_HEADER = 5
HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
EXT_SERVER_NAME = 0x0000
NAME_HOST = 0x00
HELLO_MALFORMED = -2     # server_name_at(): not a ClientHello's framing
HELLO_NO_NAME = -1       # server_name_at(): a ClientHello without a host_name


@kernel
def u16(a, i):
    return (np.int64(a[i]) << 8) | np.int64(a[i + 1])


@kernel
def hello_record_end(head_row, contig):
    """Bytes the handshake record needs (header included), 0 while the header is cut."""
    if contig < RECORD_HEADER:
        return np.int64(0)
    return RECORD_HEADER + u16(head_row, 3)


@kernel
def server_name_at(head_row, end):
    """(offset, length) of the host_name in the ClientHello record head_row[:end];
    (HELLO_NO_NAME, 0) when it has none, (HELLO_MALFORMED, 0) when the framing is wrong."""
    bad = (np.int64(HELLO_MALFORMED), np.int64(0))
    if end < RECORD_HEADER + 4 or head_row[0] != HANDSHAKE or head_row[RECORD_HEADER] != \
            CLIENT_HELLO:
        return bad
    body_end = RECORD_HEADER + 4 + ((np.int64(head_row[6]) << 16) | u16(head_row, 7))
    if body_end > end:
        return bad
    pos = RECORD_HEADER + 4 + 2 + 32                 # legacy_version, random
    if pos + 1 > body_end:
        return bad
    pos += 1 + np.int64(head_row[pos])               # legacy_session_id<0..32>
    if pos + 2 > body_end:
        return bad
    pos += 2 + u16(head_row, pos)                    # cipher_suites<2..2^16-2>
    if pos + 1 > body_end:
        return bad
    pos += 1 + np.int64(head_row[pos])               # legacy_compression_methods<1..2^8-1>
    if pos > body_end:
        return bad
    if pos == body_end:
        return (np.int64(HELLO_NO_NAME), np.int64(0))   # no extensions at all (SSL 3.0 style)
    if pos + 2 > body_end:
        return bad
    ext_end = pos + 2 + u16(head_row, pos)
    if ext_end > body_end:
        return bad
    pos += 2
    name_at, name_len = np.int64(HELLO_NO_NAME), np.int64(0)
    while pos < ext_end:
        if pos + 4 > ext_end:
            return bad
        ext_type = u16(head_row, pos)
        body = pos + 4
        pos = body + u16(head_row, pos + 2)
        if pos > ext_end:
            return bad
        if ext_type != EXT_SERVER_NAME:
            continue
        name_at, name_len = np.int64(HELLO_NO_NAME), np.int64(0)   # the last one counts
        if body + 2 > pos:
            continue
        list_end = min(pos, body + 2 + u16(head_row, body))
        q = body + 2
        while q + 3 <= list_end:                     # the first host_name entry
            n = u16(head_row, q + 1)
            if head_row[q] == NAME_HOST:
                name_at, name_len = q + 3, max(np.int64(0), min(n, pos - (q + 3)))
                break
            q += 3 + n
    return (name_at, name_len)
