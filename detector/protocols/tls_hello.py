"""TLS ClientHello: SNI, ALPN, JA3 and JA4 (PROTOCOLS.md 11).

The record and handshake layers are parsed by dpkt (`dpkt.ssl.TLSRecord`,
`TLSHandshake`, `TLSClientHello`); the few extension bodies the fingerprints
need are read here (RFC 6066 server_name, RFC 7301 ALPN, RFC 8446
supported_versions / signature_algorithms / supported_groups, RFC 8422
ec_point_formats).

JA3: salesforce/ja3 README — "SSLVersion,Cipher,SSLExtension,EllipticCurve,
EllipticCurvePointFormat", decimal values joined by '-', GREASE removed, MD5.
JA4: FoxIO-LLC/ja4 technical_details/JA4.md — t<version><d|i><ciphers 2d>
<extensions 2d><alpn first+last>_<sha256 of sorted ciphers, 12 hex>_<sha256 of
sorted extensions without SNI/ALPN, '_', signature algorithms in order, 12 hex>.

`parse_client_hello(data)` takes the first bytes of a client stream and
returns a ClientHello, `Incomplete(needed)` when the handshake record is cut,
or None when the bytes are not a ClientHello.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass

import dpkt

from .message import untrusted_text

RECORD_HEADER = 5
HANDSHAKE = 22
CLIENT_HELLO = 1
MAX_HELLO_BYTES = 16384 + RECORD_HEADER     # one record; longer hellos are not followed

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
MAX_NAME = 253


def is_grease(value):
    """RFC 8701 GREASE values: 0x0a0a, 0x1a1a, ... 0xfafa."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


@dataclass
class Incomplete:
    needed: int          # total bytes the ClientHello record needs


@dataclass
class ClientHello:
    version: int                 # legacy_version of the hello
    sni: str | None
    alpn: list                   # offered protocols, in order
    ciphers: list                # cipher suite codes, GREASE removed, in order
    extensions: list             # extension types, GREASE removed, in order
    groups: list
    point_formats: list
    signature_algorithms: list
    supported_versions: list

    @property
    def ja3_text(self):
        return ",".join((str(self.version), "-".join(map(str, self.ciphers)),
                         "-".join(map(str, self.extensions)), "-".join(map(str, self.groups)),
                         "-".join(map(str, self.point_formats))))

    @functools.cached_property
    def ja3(self):
        return hashlib.md5(self.ja3_text.encode()).hexdigest()

    @functools.cached_property
    def ja4(self):
        version = max(self.supported_versions) if self.supported_versions else self.version
        alpn = ja4_alpn(self.alpn[0].encode("latin-1") if self.alpn else b"")
        a = (f"t{JA4_VERSIONS.get(version, '00')}{'d' if self.sni is not None else 'i'}"
             f"{min(len(self.ciphers), 99):02d}{min(len(self.extensions), 99):02d}{alpn}")
        return f"{a}_{ja4_hash(sorted(self.ciphers))}_{ja4_ext_hash(self)}"


def ja4_alpn(first):
    """First and last characters of the first ALPN value ('00' when none), hex when
    either is not alphanumeric."""
    if not first:
        return "00"
    lo, hi = first[0], first[-1]
    if chr(lo).isalnum() and chr(hi).isalnum() and lo < 0x80 and hi < 0x80:
        return chr(lo) + chr(hi)
    text = first.hex()
    return text[0] + text[-1]


def _hex_list(values):
    return ",".join(f"{v:04x}" for v in values)


def ja4_hash(values):
    if not values:
        return "000000000000"
    return hashlib.sha256(_hex_list(values).encode()).hexdigest()[:12]


def ja4_ext_hash(hello):
    exts = sorted(e for e in hello.extensions if e not in (EXT_SERVER_NAME, EXT_ALPN))
    if not exts:
        return "000000000000"
    text = _hex_list(exts)
    if hello.signature_algorithms:
        text += "_" + _hex_list(hello.signature_algorithms)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _u16_list(body, length_bytes=2):
    if len(body) < length_bytes:
        return []
    n = int.from_bytes(body[:length_bytes], "big")
    raw = body[length_bytes:length_bytes + n]
    return [v for (v,) in struct.iter_unpack(">H", raw[:len(raw) // 2 * 2]) if not is_grease(v)]


def _server_name(body):
    """The host_name entry of a server_name extension (RFC 6066 3)."""
    if len(body) < 2:
        return None
    end = min(len(body), 2 + int.from_bytes(body[:2], "big"))
    pos = 2
    while pos + 3 <= end:
        kind, n = body[pos], int.from_bytes(body[pos + 1:pos + 3], "big")
        name = body[pos + 3:pos + 3 + n]
        if kind == 0:
            return untrusted_text(name.decode("ascii", "replace").lower(), MAX_NAME)
        pos += 3 + n
    return None


def _alpn(body):
    out = []
    if len(body) < 2:
        return out
    end = min(len(body), 2 + int.from_bytes(body[:2], "big"))
    pos = 2
    while pos < end:
        n = body[pos]
        out.append(body[pos + 1:pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    return out


def parse_client_hello(data: bytes):
    """ClientHello | Incomplete | None from the first bytes of a client stream."""
    if len(data) < RECORD_HEADER:
        return Incomplete(RECORD_HEADER)
    if data[0] != HANDSHAKE or data[1] != 3:
        return None
    need = RECORD_HEADER + int.from_bytes(data[3:5], "big")
    if need > MAX_HELLO_BYTES:
        return None
    if len(data) < need:
        return Incomplete(need)
    try:
        record = dpkt.ssl.TLSRecord(data[:need])
        body = record.data
        if len(body) < 4 or body[0] != CLIENT_HELLO:
            return None
        hello = body[4:4 + int.from_bytes(body[1:4], "big")]
        # dpkt's own field readers, without TLSClientHello's per-cipher objects (the
        # slow path reads one hello per TLS flow: this is most of its cost)
        version = struct.unpack(">H", hello[:2])[0]
        pos = 2 + 32
        _session, n = dpkt.ssl.parse_variable_array(hello[pos:], 1)
        pos += n
        raw_ciphers, n = dpkt.ssl.parse_variable_array(hello[pos:], 2)
        pos += n
        _compression, n = dpkt.ssl.parse_variable_array(hello[pos:], 1)
        pos += n
        if pos > len(hello):
            return None
        extensions = dpkt.ssl.parse_extensions(hello[pos:]) if len(hello) - pos >= 2 else []
    except (dpkt.UnpackError, dpkt.ssl.SSL3Exception, struct.error, ValueError, IndexError,
            KeyError, TypeError):
        return None                      # malformed: dpkt's errors and what slicing raises
    ciphers = [c for (c,) in struct.iter_unpack(">H", raw_ciphers[:len(raw_ciphers) // 2 * 2])
               if not is_grease(c)]
    out = ClientHello(version=version, sni=None, alpn=[], ciphers=ciphers,
                      extensions=[], groups=[], point_formats=[], signature_algorithms=[],
                      supported_versions=[])
    try:
        _read_extensions(out, extensions)
    except (struct.error, IndexError, ValueError):
        return None
    return out


def _read_extensions(out, extensions):
    for ext_type, body in extensions:
        if is_grease(ext_type):
            continue
        out.extensions.append(ext_type)
        if ext_type == EXT_SERVER_NAME:
            out.sni = _server_name(body)
        elif ext_type == EXT_ALPN:
            out.alpn = _alpn(body)
        elif ext_type == EXT_SUPPORTED_GROUPS:
            out.groups = _u16_list(body)
        elif ext_type == EXT_EC_POINT_FORMATS:
            out.point_formats = list(body[1:1 + body[0]]) if body else []
        elif ext_type == EXT_SIGNATURE_ALGORITHMS:
            out.signature_algorithms = _u16_list(body)
        elif ext_type == EXT_SUPPORTED_VERSIONS:
            out.supported_versions = _u16_list(body, 1)
