"""DNS responses -> (name asked, address, ttl) for A and AAAA answers (RFC 1035, 3596).

Parsed by dpkt.dns. CNAME chains are followed back to the question name, so
`pool.example` -> CNAME `lb.cdn.example` -> A 203.0.113.5 gives
("pool.example", "203.0.113.5", ttl) and also the CNAME target names, since
either may be on a pool list. PROTOCOLS.md 11: a later flow from the same
client to that address inherits the name.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

import dpkt

from .message import untrusted_text

MAX_NAME = 253
MAX_ANSWERS = 64


@dataclass(frozen=True)
class Answer:
    names: tuple         # question name first, then CNAME targets leading to the address
    address: str
    ttl_s: int


def _name(raw):
    return untrusted_text(str(raw).lower().rstrip("."), MAX_NAME)


def question_name(payload: bytes):
    """The first question's name (RFC 1035 4.1.2: labels from offset 12), lower case,
    or None when there is none or it is malformed. Cheap: no record objects."""
    if len(payload) < 17 or payload[4:6] == b"\x00\x00":
        return None
    return wire_name_text(payload, 12)


def wire_name_text(data: bytes, pos=0):
    """The dotted, lower-case form of the uncompressed name at data[pos:] (labels up to
    the closing zero), or None when it is empty, cut or compressed."""
    labels = []
    while pos < len(data) and len(labels) < 128:
        n = data[pos]
        if n == 0:
            return ".".join(labels).lower() if labels else None
        if n > 63 or pos + 1 + n > len(data):
            return None                          # a pointer or a cut name: not a question
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    return None


def parse_dns_answers(payload: bytes):
    """The A/AAAA answers of one DNS response datagram ([] when not a usable response)."""
    try:
        msg = dpkt.dns.DNS(payload)
    except (dpkt.UnpackError, IndexError, ValueError, UnicodeDecodeError, KeyError, TypeError,
            struct.error):
        return []
    if not msg.qr or msg.rcode != 0 or not msg.an:
        return []
    question = _name(msg.qd[0].name) if msg.qd else None
    aliases = {}                   # CNAME target -> owner
    addresses = []
    for rr in msg.an[:MAX_ANSWERS]:
        owner = _name(rr.name)
        if rr.type == dpkt.dns.DNS_CNAME and getattr(rr, "cname", None):
            aliases[_name(rr.cname)] = owner
        elif rr.type == dpkt.dns.DNS_A and len(rr.rdata) == 4:
            addresses.append((owner, str(ipaddress.IPv4Address(rr.rdata)), rr.ttl))
        elif rr.type == dpkt.dns.DNS_AAAA and len(rr.rdata) == 16:
            addresses.append((owner, str(ipaddress.IPv6Address(rr.rdata)), rr.ttl))
    out = []
    for owner, address, ttl in addresses:
        chain = [owner]
        while chain[-1] in aliases and len(chain) < 8:
            chain.append(aliases[chain[-1]])
        names = tuple(reversed(chain))
        if question and names[0] != question:
            names = (question,) + names
        out.append(Answer(tuple(n for n in names if n), address, int(ttl)))
    return out
