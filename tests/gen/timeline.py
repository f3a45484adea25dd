"""Packets at simulated times: TCP connections, DNS and UDP datagrams, merged into one pcap.

A `TcpConn` turns application writes at given times into TCP segments (MSS
cut, sequence numbers, a pure ACK from the receiver half an RTT later), with
handshake and FIN. `Timeline` collects the packets of many connections and
writes them sorted by time as an Ethernet pcap. Nothing waits: an hour of
traffic is a list of time stamps.
"""

import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import TCP, UDP
from scapy.packet import Raw

from .conversations import ENCAPS, Pkt, inner_ip, pcap_bytes, wrap

MSS = 1448
T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000
S = 1_000_000_000


class TcpConn:
    """One TCP connection between `client` and `server`, written at simulated times."""

    def __init__(self, timeline, client, cport, server, sport, rtt_ns=40 * MS):
        self.tl = timeline
        self.client, self.cport, self.server, self.sport = client, cport, server, sport
        self.rtt = rtt_ns
        self.seq = {True: 1_000_000 + 7919 * cport, False: 7_000_000 + 104729 * cport}
        self.last = {True: 0, False: 0}    # time of the last segment each side sent

    def _pkt(self, t, c2s, flags, data=b""):
        src, dst = (self.client, self.server) if c2s else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if c2s else (self.sport, self.cport)
        ack = 0 if flags == "S" else self.seq[not c2s] & 0xFFFFFFFF
        p = inner_ip(4, src, dst) / TCP(sport=sp, dport=dp, seq=self.seq[c2s] & 0xFFFFFFFF,
                                        ack=ack, flags=flags, window=64240)
        if data:
            p = p / Raw(data)
        self.tl.add(Pkt(int(t), c2s, p, len(data), int(p[TCP].flags)))

    def open(self, t):
        self._pkt(t, True, "S")
        self.seq[True] += 1
        self._pkt(t + self.rtt // 2, False, "SA")
        self.seq[False] += 1
        self._pkt(t + self.rtt, True, "A")
        self.last = {True: t + self.rtt, False: t + self.rtt // 2}
        return t + self.rtt

    def write(self, t, c2s, data):
        """Send `data` at time t (never before this side's previous segment); the
        receiver ACKs half an RTT later. Returns when the data arrives at the peer."""
        t = max(int(t), self.last[c2s] + 1000)
        for k in range(0, len(data), MSS):
            seg = data[k:k + MSS]
            self._pkt(t + k // MSS * 20_000, c2s, "PA", seg)
            self.seq[c2s] += len(seg)
        end = t + (len(data) - 1) // MSS * 20_000
        self.last[c2s] = end
        self._pkt(end + self.rtt // 2, not c2s, "A")
        return end + self.rtt // 2

    def flights(self, t, flights, gap_ns=None):
        """Write (c2s, bytes) flights in turn, each one when the previous arrived."""
        for c2s, data in flights:
            t = self.write(t, c2s, data)
            if gap_ns:
                t += gap_ns
        return t

    def close(self, t):
        t = max(int(t), self.last[True] + 1000, self.last[False] + 1000)
        self._pkt(t, True, "FA")
        self.seq[True] += 1
        self._pkt(t + self.rtt // 2, False, "FA")
        self.seq[False] += 1
        self._pkt(t + self.rtt, True, "A")
        return t + self.rtt


class Timeline:
    """Packets of many connections; written sorted by time (stable for equal times)."""

    def __init__(self):
        self.pkts = []

    def add(self, pkt):
        self.pkts.append(pkt)

    def tcp(self, client, cport, server, sport, rtt_ns=40 * MS):
        return TcpConn(self, client, cport, server, sport, rtt_ns)

    def udp(self, t, src, sport, dst, dport, payload, c2s=True):
        p = inner_ip(4, src, dst) / UDP(sport=sport, dport=dport) / Raw(payload)
        self.add(Pkt(int(t), c2s, p, len(payload), 0))

    def dns(self, t, client, resolver, qname, answers, qid, cport=None, ttl=300,
            cname=None, rtt_ns=15 * MS):
        """A query from `client` and the resolver's answer (A records `answers`,
        through an optional CNAME), rtt later."""
        cport = cport or 40000 + qid % 20000
        q = DNS(id=qid, rd=1, qd=DNSQR(qname=qname, qtype="A"))
        self.udp(t, client, cport, resolver, 53, bytes(q))
        rrs = []
        target = qname
        if cname:
            rrs.append(DNSRR(rrname=qname, type="CNAME", ttl=ttl, rdata=cname))
            target = cname
        for ip in answers:
            rrs.append(DNSRR(rrname=target, type="A", ttl=ttl, rdata=ip))
        r = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype="A"), an=rrs)
        self.udp(t + rtt_ns, resolver, 53, client, cport, bytes(r), c2s=False)
        return t + rtt_ns

    def write(self, path):
        pkts = sorted(self.pkts, key=lambda p: p.ts_ns)
        data, _ = pcap_bytes(wrap(pkts, ENCAPS["ethernet"]))
        path.write_bytes(data)
        return path


def socks5_connect(host, port):
    """SOCKS5 (RFC 1928): greeting, no-auth choice, CONNECT by domain name, success."""
    name = host.encode()
    return [(True, b"\x05\x01\x00"), (False, b"\x05\x00"),
            (True, b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port)),
            (False, b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")]


def socks4a_connect(host, port):
    """SOCKS4a: CONNECT with IP 0.0.0.1 and the host name after the user id."""
    return [(True, b"\x04\x01" + struct.pack(">H", port) + b"\x00\x00\x00\x01" + b"miner\x00"
             + host.encode() + b"\x00"),
            (False, b"\x00\x5a" + bytes(6))]


def http_connect(host, port):
    """HTTP CONNECT (RFC 9110 9.3.6) and the proxy's 200."""
    return [(True, f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"User-Agent: xmrig-proxy-client\r\n\r\n".encode()),
            (False, b"HTTP/1.1 200 Connection established\r\n\r\n")]
