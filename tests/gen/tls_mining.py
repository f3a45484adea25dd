"""Encrypted and proxied mining, and the encrypted traffic it must not be mistaken for.

`write_corpus(folder)` writes a labelled folder (LABELS.tsv, pcaps, truth
files) that `minewatch eval` scores like the shared corpus:

mining_tls (truth: every mining flow, computed here from what was generated)
  pool_sni_dns.pcap   8 xmrig miners on one pool over TLS; DNS answers for the
                      pool name; 5 send SNI, 3 do not (found via DNS)
  pool_by_ip.pcap     6 Stratum V1 miners on one pool by IP literal over TLS: no
                      SNI, no DNS (found by timing and pushes shared across clients)
  proxied.pcap        SOCKS5, SOCKS4a and HTTP CONNECT to pool names with TLS
                      inside, and one SOCKS5 hop with cleartext stratum inside
  solo_timing.pcap    3 miners, each alone on its own pool IP, no name anywhere
                      (timing only), next to ordinary HTTPS browsing
  config_url.pcap     a config.json over HTTP names an unlisted pool by a stratum
                      URL; two short TLS sessions to it follow (SNI; DNS only)
  split_openings.pcap short sessions whose client cuts its first write after a byte
                      or three, as DPI-evasion tools do: two ClientHellos to a pool
                      name, a SOCKS5 greeting (cleartext stratum inside), an HTTP
                      CONNECT (TLS inside); no DNS, too short for timing
benign
  mqtt_tls.pcap       MQTT over TLS: telemetry broadcast to 4 subscribers,
                      PINGREQ keepalives, periodic client publishes
  ws_chat.pcap        websocket group chat over TLS: people post at random
                      times, the server relays each message to every member
  h2_idle.pcap        idle HTTP/2 connections with server PINGs, then GOAWAY
  vpn_keepalive.pcap  TLS tunnel over TCP (keepalives both ways + browsing
                      bursts inside) and a UDP keepalive channel
  tls_bulk.pcap       one 6 MB download over TLS
  https_browsing.pcap short HTTPS visits with DNS, including a pool's website
                      (dashboard, ALPN h2): a pool *name* that is not mining

Timing model (PROTOCOLS.md 11, 12): a pool broadcasts a new job to all its
miners every 10-60 s (each miner gets it within a few ms of the others);
each miner submits shares as a Poisson process (its own mean, 8-40 s), each
answered within one RTT; vardiff sends a miner its own new target now and
then; xmrig sends `keepalived` after 60 s without a submit. Every random
choice comes from a seeded PRNG.
"""

import json
import random

from .mining import MONERO_WALLET, XMRIG_AGENT, Hex, _dumps, _spaced
from .timeline import (MS, S, T0_NS, Timeline, http_connect, socks4a_connect,
                       socks5_connect)
from .tls_channel import TlsChannel

RESOLVER = "10.0.0.53"


# --- dialects ---------------------------------------------------------------------------
class Xmrig:
    """CryptoNote stratum messages (PROTOCOLS.md 4) with realistic lengths."""

    variant = "xmrig"

    def __init__(self, seed):
        self.h = Hex(seed)
        self.id = 1
        self.sid = self.h(8)
        self.seed_hash = self.h(32)
        self.target = "b88d0600"
        self.job_n = 0

    def _job(self):
        self.job_n += 1
        return {"blob": "1010" + self.h(74), "job_id": self.h(6), "target": self.target,
                "algo": "rx/0", "height": 3312410 + self.job_n, "seed_hash": self.seed_hash}

    def login(self):
        return _dumps({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
            "login": MONERO_WALLET, "pass": "x", "agent": XMRIG_AGENT, "rigid": "",
            "algo": ["rx/0", "cn/r", "rx/wow", "cn-heavy/xhv", "argon2/chukwav2"]}})

    def login_reply(self):
        return [_dumps({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
            "id": self.sid, "job": self._job(), "status": "OK",
            "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"]}})]

    def job(self):
        return _dumps({"jsonrpc": "2.0", "method": "job", "params": self._job()})

    def retarget(self, rng):
        self.target = f"{rng.randrange(0x100000, 0xFFFFFF):06x}00"
        return self.job()

    def submit(self):
        self.id += 1
        return _dumps({"id": self.id, "jsonrpc": "2.0", "method": "submit", "params": {
            "id": self.sid, "job_id": self.h(6), "nonce": self.h(4),
            "result": self.h(29) + "190000", "algo": "rx/0"}})

    def accept(self):
        return _dumps({"id": self.id, "jsonrpc": "2.0", "error": None,
                       "result": {"status": "OK"}})

    def keepalive(self):
        self.id += 1
        return _dumps({"id": self.id, "jsonrpc": "2.0", "method": "keepalived",
                       "params": {"id": self.sid}})

    def keepalive_reply(self):
        return _dumps({"id": self.id, "jsonrpc": "2.0", "error": None,
                       "result": {"status": "KEEPALIVED"}})


class StratumV1:
    """Bitcoin-family Stratum V1 (PROTOCOLS.md 3)."""

    variant = "stratum-v1"

    def __init__(self, seed, worker="bc1qexampleaddr0000000000000000000000000.rig"):
        self.h = Hex(seed)
        self.rng = random.Random(seed)
        self.worker = worker + str(seed % 100)
        self.id = 3
        self.diff = 65536
        self.job_n = 0x1f00

    def login(self):
        return (_spaced({"id": 1, "method": "mining.subscribe", "params": ["bmminer/2.0.0"]})
                + _spaced({"id": 2, "method": "mining.authorize", "params": [self.worker, "x"]}))

    def login_reply(self):
        return [_spaced({"id": 1, "result": [[["mining.set_difficulty", self.h(16)],
                                              ["mining.notify", self.h(16)]], self.h(4), 4],
                         "error": None}),
                _spaced({"id": 2, "result": True, "error": None}),
                _spaced({"id": None, "method": "mining.set_difficulty", "params": [self.diff]}),
                self.job()]

    def job(self):
        self.job_n += 1
        branches = self.rng.randrange(9, 13)
        return _spaced({"id": None, "method": "mining.notify", "params": [
            f"{self.job_n:x}", self.h(32),
            "01000000010000000000000000000000000000000000000000000000000000000000"
            "000000ffffffff2c03a1d80d" + self.h(20), self.h(40) + "88ac00000000",
            [self.h(32) for _ in range(branches)], "20000000", "17034219", "66a1f0c2", True]})

    def retarget(self, rng):
        self.diff = rng.choice((32768, 65536, 131072, 262144))
        return _spaced({"id": None, "method": "mining.set_difficulty", "params": [self.diff]})

    def submit(self):
        self.id += 1
        return _spaced({"id": self.id, "method": "mining.submit", "params": [
            self.worker, f"{self.job_n:x}", self.h(4), "66a1f0c2", self.h(4)]})

    def accept(self):
        return _spaced({"id": self.id, "result": True, "error": None})

    keepalive = None


DIALECTS = {"xmrig": Xmrig, "stratum-v1": StratumV1}


# --- one miner --------------------------------------------------------------------------
class Wire:
    """Application writes on one TCP connection, through TLS or in clear."""

    def __init__(self, conn, channel):
        self.conn, self.channel = conn, channel

    def send(self, t, c2s, data):
        if self.channel is None:
            return self.conn.write(t, c2s, data)
        return self.conn.flights(t, self.channel.send(c2s, data))


def job_schedule(rng, start, end, lo_s=10, hi_s=60):
    """A pool's job broadcast times: every 10-60 s (new block or refresh)."""
    out, t = [], start
    while True:
        t += int(rng.uniform(lo_s, hi_s) * S)
        if t >= end:
            return out
        out.append(t)


def cut_first_write(flights, cuts):
    """`flights` with the client's first write sent in pieces ending at the offsets
    `cuts` (zapret and GoodbyeDPI cut a ClientHello or a proxy greeting so)."""
    (c2s, data), rest = flights[0], flights[1:]
    assert c2s and cuts
    bounds = [0, *cuts, len(data)]
    return [(True, data[a:b]) for a, b in zip(bounds, bounds[1:])] + list(rest)


def mine(tl, rng, client, cport, server, sport, start, end, jobs, dialect, sni=None,
         tls=True, preamble=None, share_mean_s=None, rtt_ns=None, cuts=None):
    """One miner's connection from `start` to `end`; returns its truth flow. `cuts`:
    where the client cuts its first write (the preamble's, else the ClientHello)."""
    rtt = rtt_ns or int(rng.uniform(20, 120) * MS)
    conn = tl.tcp(client, cport, server, sport, rtt)
    t = conn.open(start)
    if preamble:
        t = conn.flights(t, cut_first_write(preamble, cuts) if cuts else preamble,
                         gap_ns=MS)
    channel = TlsChannel(sni=sni) if tls else None
    if channel is not None:
        handshake = channel.handshake()
        if cuts and not preamble:
            handshake = cut_first_write(handshake, cuts)
        t = conn.flights(t, handshake)
    wire = Wire(conn, channel)
    t = wire.send(t, True, dialect.login())
    for msg in dialect.login_reply():
        t = wire.send(t + MS, False, msg)
    share_mean = share_mean_s or rng.uniform(8, 40)
    events = [(j + int(rng.uniform(0.3, 12) * MS), "job") for j in jobs if t < j < end - S]
    s = t + int(rng.uniform(3, 20) * S)             # dataset / DAG initialisation
    while True:
        s += int(rng.expovariate(1 / share_mean) * S)
        if s >= end - S:
            break
        events.append((s, "share"))
    events.sort()
    last_submit, shares = t, 0
    for at, kind in events:
        if dialect.keepalive is not None:
            while at - last_submit > 60 * S:         # xmrig keepalived after 60 s idle
                last_submit += 60 * S
                r = wire.send(last_submit, True, dialect.keepalive())
                wire.send(r + MS, False, dialect.keepalive_reply())
        if kind == "job":
            wire.send(at, False, dialect.job())
            continue
        r = wire.send(at, True, dialect.submit())
        last_submit = at
        wire.send(r + int(rng.uniform(0.5, 4) * MS), False, dialect.accept())
        shares += 1
        if shares % 7 == 0:                           # vardiff: a target of its own
            wire.send(r + int(rng.uniform(5, 9) * MS), False, dialect.retarget(rng))
    conn.close(end)
    return {"client_ip": client, "client_port": cport, "server_ip": server,
            "server_port": sport, "variant": dialect.variant if not tls else "encrypted"}


def pool(tl, rng, name, server, sport, clients, dialect_name, duration_s=(1200, 2400),
         sni_for=None, dns=False, t0=T0_NS):
    """Miners on one pool; `sni_for(i)` says whether miner i sends SNI."""
    end_max = t0 + int(duration_s[1] * S) + 600 * S
    jobs = job_schedule(rng, t0, end_max)
    truth = []
    for i, client in enumerate(clients):
        start = t0 + int(rng.uniform(0, 300) * S)
        end = start + int(rng.uniform(*duration_s) * S)
        if dns:
            tl.dns(start - 30 * MS, client, RESOLVER, name, [server], qid=rng.randrange(65536),
                   ttl=rng.choice((60, 300, 600)))
        sni = name if (sni_for is None or sni_for(i)) else None
        dialect = DIALECTS[dialect_name](rng.randrange(1 << 30))
        truth.append(mine(tl, rng, client, 40000 + 17 * i + rng.randrange(17), server, sport,
                          start, end, jobs, dialect, sni=sni))
    return truth


# --- mining captures --------------------------------------------------------------------
def pool_sni_dns(path, seed=101):
    rng = random.Random(seed)
    tl = Timeline()
    clients = [f"10.10.0.{11 + i}" for i in range(8)]
    truth = pool(tl, rng, "xmr-eu1.nanopool.org", "203.0.113.50", 14433, clients, "xmrig",
                 sni_for=lambda i: i < 5, dns=True)
    tl.write(path)
    return truth


def pool_by_ip(path, seed=102):
    rng = random.Random(seed)
    tl = Timeline()
    clients = [f"10.11.0.{21 + i}" for i in range(6)]
    truth = pool(tl, rng, None, "203.0.113.80", 3334, clients, "stratum-v1",
                 sni_for=lambda i: False)
    tl.write(path)
    return truth


def proxied(path, seed=103):
    rng = random.Random(seed)
    tl = Timeline()
    t0 = T0_NS
    jobs = job_schedule(rng, t0, t0 + 3600 * S)
    truth = []
    hops = [("10.12.0.31", "10.12.0.1", 1080, socks5_connect("pool.supportxmr.com", 443)),
            ("10.12.0.32", "10.12.0.1", 1080, socks5_connect("pool.supportxmr.com", 443)),
            ("10.12.0.33", "10.12.0.1", 1080, socks4a_connect("gulf.moneroocean.stream", 20128)),
            ("10.12.0.34", "10.12.0.2", 8080, http_connect("xmr-eu1.nanopool.org", 14433)),
            ("10.12.0.35", "10.12.0.2", 8080, http_connect("xmr-eu1.nanopool.org", 14433))]
    for i, (client, proxy, pport, pre) in enumerate(hops):
        start = t0 + int(rng.uniform(0, 200) * S)
        end = start + int(rng.uniform(1200, 2400) * S)
        f = mine(tl, rng, client, 41000 + i, proxy, pport, start, end, jobs,
                 Xmrig(rng.randrange(1 << 30)), sni=None, preamble=pre)
        f["variant"] = "proxied"
        truth.append(f)
    # a SOCKS5 hop with cleartext stratum inside: the cleartext path finds it
    start = t0 + 100 * S
    f = mine(tl, rng, "10.12.0.36", 41010, "10.12.0.1", 1080, start, start + 900 * S, jobs,
             StratumV1(rng.randrange(1 << 30)), tls=False,
             preamble=socks5_connect("stratum.example-pool.net", 3333))
    truth.append(f)
    tl.write(path)
    return truth


def solo_timing(path, seed=104):
    rng = random.Random(seed)
    tl = Timeline()
    truth = []
    for i, (server, port, dialect) in enumerate((("203.0.113.90", 443, "xmrig"),
                                                 ("198.51.100.91", 5555, "stratum-v1"),
                                                 ("203.0.113.92", 20128, "xmrig"))):
        jobs = job_schedule(rng, T0_NS, T0_NS + 4000 * S)
        start = T0_NS + int(rng.uniform(0, 120) * S)
        end = start + int(rng.uniform(1800, 3600) * S)
        truth.append(mine(tl, rng, f"10.13.0.{41 + i}", 42000 + i, server, port, start, end,
                          jobs, DIALECTS[dialect](rng.randrange(1 << 30))))
    browsing(tl, rng, [f"10.13.0.{41 + i}" for i in range(3)], T0_NS, 1800 * S, visits=12)
    tl.write(path)
    return truth


# --- benign -----------------------------------------------------------------------------
def tls_session(tl, rng, client, cport, server, sport, start, sni, alpn=None,
                server_alpn=None):
    conn = tl.tcp(client, cport, server, sport, int(rng.uniform(15, 90) * MS))
    t = conn.open(start)
    channel = TlsChannel(sni=sni, alpn=alpn, server_alpn=server_alpn)
    t = conn.flights(t, channel.handshake())
    return conn, Wire(conn, channel), t


def browsing(tl, rng, clients, t0, span_ns, visits=30, names=None):
    """Short HTTPS visits (request, response of 2-300 kB) after a DNS lookup."""
    names = names or ["www.example.org", "cdn.example.net", "news.example.com",
                      "static.example.org", "mail.example.com", "shop.example.net"]
    for k in range(visits):
        client = rng.choice(clients)
        name = rng.choice(names)
        server = f"192.0.2.{10 + names.index(name)}"
        start = t0 + int(rng.uniform(0, span_ns / S) * S)
        tl.dns(start, client, RESOLVER, name, [server], qid=rng.randrange(65536))
        conn, wire, t = tls_session(tl, rng, client, 50000 + k, server, 443, start + 20 * MS,
                                    name, alpn=["h2", "http/1.1"], server_alpn=["h2"])
        for _ in range(rng.randrange(1, 6)):
            t = wire.send(t, True, b"\x00" * rng.randrange(60, 600))
            t = wire.send(t + 30 * MS, False, b"\x01" * rng.randrange(2000, 60000))
            t += int(rng.uniform(0.2, 8) * S)
        conn.close(t + int(rng.uniform(1, 30) * S))


def https_browsing(path, seed=201):
    rng = random.Random(seed)
    tl = Timeline()
    clients = [f"10.20.0.{i}" for i in range(2, 8)]
    browsing(tl, rng, clients, T0_NS, 1800 * S, visits=30)
    # a pool's website (dashboard API): a pool name that is not mining
    browsing(tl, rng, clients, T0_NS, 1800 * S, visits=6,
             names=["xmr.nanopool.org", "supportxmr.com"])
    tl.write(path)
    return []


def mqtt_tls(path, seed=202):
    rng = random.Random(seed)
    tl = Timeline()
    broker = "198.51.100.20"
    end = T0_NS + 2400 * S
    wires = []
    for i in range(4):
        conn, wire, t = tls_session(tl, rng, f"10.21.0.{i + 2}", 45000 + i, broker, 8883,
                                    T0_NS + int(rng.uniform(0, 60) * S), "mqtt.example-iot.net")
        t = wire.send(t, True, b"\x10\x2c" + b"\x00\x04MQTT\x04\xc2\x00\x3c" + b"c" * 34)
        t = wire.send(t + MS, False, b"\x20\x02\x00\x00")
        t = wire.send(t, True, b"\x82\x12\x00\x01\x00\x0dsensors/house\x01")
        t = wire.send(t + MS, False, b"\x90\x03\x00\x01\x01")
        wires.append((conn, wire, t, i))
    events = []
    t = T0_NS + 90 * S
    while t < end:                                  # a sensor publishes every ~10 s
        t += int(rng.gauss(10, 0.3) * S)
        events.append((t, "telemetry", rng.randrange(60, 120)))
    for conn, wire, t_open, i in wires:
        mine_events = [(at, kind, n) for at, kind, n in events if at > t_open]
        ping = t_open
        while ping + 60 * S < end:                  # keepalive timer: 60 s
            ping += 60 * S
            mine_events.append((ping, "ping", 2))
        if i % 2 == 0:                              # this client publishes every 30 s
            p = t_open
            while p + 30 * S < end:
                p += 30 * S
                mine_events.append((p + int(rng.uniform(0, 50) * MS), "publish", 88))
        for at, kind, n in sorted(mine_events):
            if kind == "telemetry":
                wire.send(at + int(rng.uniform(0.2, 4) * MS), False,
                          b"\x30" + bytes([n + 15]) + b"\x00\x0dsensors/house" + b"{" * n)
            elif kind == "ping":
                r = wire.send(at, True, b"\xc0\x00")
                wire.send(r + MS, False, b"\xd0\x00")
            else:
                wire.send(at, True, b"\x30" + bytes([n]) + b"\x00\x0ctelemetry/me" + b"}" * (n - 14))
        conn.close(end + int(rng.uniform(0, 5) * S))
    tl.write(path)
    return []


def ws_frame(data, masked):
    n = len(data)
    head = b"\x81" + (bytes([n | (0x80 if masked else 0)]) if n < 126
                      else bytes([126 | (0x80 if masked else 0)]) + n.to_bytes(2, "big"))
    return head + (b"\x11\x22\x33\x44" if masked else b"") + data


def ws_chat(path, seed=203):
    rng = random.Random(seed)
    tl = Timeline()
    server = "198.51.100.30"
    end = T0_NS + 2400 * S
    members = []
    for i in range(5):
        conn, wire, t = tls_session(tl, rng, f"10.22.0.{i + 2}", 46000 + i, server, 443,
                                    T0_NS + int(rng.uniform(0, 30) * S), "chat.example.com",
                                    alpn=["http/1.1"], server_alpn=["http/1.1"])
        t = wire.send(t, True, b"GET /chat HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: "
                               b"websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                               b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        t = wire.send(t + 2 * MS, False, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: "
                                         b"websocket\r\nConnection: Upgrade\r\n\r\n")
        members.append((conn, wire, t))
    posts = []                                      # (time, author, text length)
    for i in range(5):
        t = T0_NS + 60 * S
        while True:
            t += int(rng.expovariate(1 / 45) * S)
            if t >= end:
                break
            posts.append((t, i, max(2, int(rng.lognormvariate(3.5, 0.9)))))
    posts.sort()
    queue = {i: [] for i in range(5)}
    for t, author, n in posts:
        queue[author].append((t - int(rng.uniform(1, 5) * S), True, ws_frame(
            b'{"typing":true}', True)))
        msg = json.dumps({"from": author, "text": "x" * n}).encode()
        queue[author].append((t, True, ws_frame(msg, True)))
        for j in range(5):                          # relayed to every member, author included
            queue[j].append((t + int(rng.uniform(3, 15) * MS), False, ws_frame(msg, False)))
    for i, (conn, wire, _t) in enumerate(members):
        for at, c2s, data in sorted(queue[i]):
            wire.send(at, c2s, data)
        conn.close(end)
    tl.write(path)
    return []


def h2_idle(path, seed=204):
    rng = random.Random(seed)
    tl = Timeline()
    for i in range(3):
        start = T0_NS + int(rng.uniform(0, 60) * S)
        conn, wire, t = tls_session(tl, rng, f"10.23.0.{i + 2}", 47000 + i, "198.51.100.40",
                                    443, start, "api.example.org", alpn=["h2"],
                                    server_alpn=["h2"])
        t = wire.send(t, True, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x12\x04" + bytes(23))
        t = wire.send(t + MS, False, b"\x00\x00\x06\x04" + bytes(11))
        t = wire.send(t, True, b"\x00\x00\x40\x01\x05" + bytes(68))
        t = wire.send(t + 20 * MS, False, b"\x00\x00\x30\x01\x04" + bytes(52) + bytes(900))
        end = start + int(rng.uniform(900, 1800) * S)
        while t + 45 * S < end:                    # server PING every 45 s, client ACKs
            t += 45 * S
            r = wire.send(t, False, b"\x00\x00\x08\x06\x00" + bytes(12))
            t = wire.send(r, True, b"\x00\x00\x08\x06\x01" + bytes(12))
        wire.send(end, False, b"\x00\x00\x08\x07\x00" + bytes(12))   # GOAWAY
        conn.close(end + 10 * MS)
    tl.write(path)
    return []


def vpn_keepalive(path, seed=205):
    rng = random.Random(seed)
    tl = Timeline()
    start = T0_NS
    end = start + 2400 * S
    conn, wire, t = tls_session(tl, rng, "10.24.0.2", 48000, "198.51.100.50", 443, start,
                                "vpn.example.net")
    events = [(start + k * 10 * S, "ping") for k in range(1, 240)]
    u = start
    while True:                                     # browsing inside the tunnel
        u += int(rng.expovariate(1 / 25) * S)
        if u >= end:
            break
        events.append((u, "burst"))
    for at, kind in sorted(events):
        if kind == "ping":
            wire.send(at, True, b"\x2a" * 42)
            wire.send(at + int(rng.uniform(0, 900) * MS), False, b"\x2a" * 42)
        else:
            r = wire.send(at, True, b"\x45" * rng.randrange(80, 900))
            wire.send(r + 20 * MS, False, b"\x45" * rng.randrange(3000, 40000))
    conn.close(end)
    for k in range(1, 240):                         # UDP keepalive channel (DTLS-like)
        tl.udp(start + k * 10 * S, "10.24.0.3", 51820, "198.51.100.51", 51820,
               b"\x17\xfe\xfd" + bytes(29))
        tl.udp(start + k * 10 * S + 30 * MS, "198.51.100.51", 51820, "10.24.0.3", 51820,
               b"\x17\xfe\xfd" + bytes(29), c2s=False)
    tl.write(path)
    return []


def tls_bulk(path, seed=206):
    rng = random.Random(seed)
    tl = Timeline()
    conn, wire, t = tls_session(tl, rng, "10.25.0.2", 49000, "198.51.100.60", 443, T0_NS,
                                "downloads.example.org", alpn=["http/1.1"])
    t = wire.send(t, True, b"GET /big.iso HTTP/1.1\r\nHost: downloads.example.org\r\n\r\n")
    for _ in range(6 * 64):                         # 6 MB in 16 kB records
        t = wire.send(t, False, b"\x00" * 16384) - 20 * MS + 300_000
    conn.close(t + S)
    tl.write(path)
    return []


def config_url(path, seed=105):
    """A miner's config.json fetched over plain HTTP names the pool by a stratum URL;
    then two short TLS sessions to it (two minutes: too short for timing), one with
    SNI, one found through the DNS answer for the URL's host. Another device, which
    never fetched the config, makes one short TLS request to the same host (SNI, no
    ALPN): the URL taught nothing about that device, so it is not a truth flow."""
    rng = random.Random(seed)
    tl = Timeline()
    host, server = "xmr.newpool-example.net", "203.0.113.120"
    client = "10.14.0.51"
    body = json.dumps({"autosave": True, "cpu": True, "pools": [
        {"url": f"stratum+tls://{host}:443", "user": MONERO_WALLET, "pass": "rig7",
         "tls": True, "keepalive": True}]}, indent=4).encode()
    http = tl.tcp(client, 47000, "198.51.100.10", 80, 30 * MS)
    t = http.open(T0_NS)
    t = http.write(t, True, b"GET /dl/config.json HTTP/1.1\r\nHost: files.example.org\r\n"
                            b"User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
    t = http.write(t + 2 * MS, False, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    http.close(t + 5 * MS)
    truth = []
    for i, sni in enumerate((host, None)):
        start = T0_NS + (10 + 200 * i) * S
        tl.dns(start - 30 * MS, client, RESOLVER, host, [server], qid=rng.randrange(65536))
        end = start + 120 * S
        jobs = job_schedule(rng, start, end)
        truth.append(mine(tl, rng, client, 47001 + i, server, 443, start, end, jobs,
                          Xmrig(rng.randrange(1 << 30)), sni=sni, share_mean_s=15))
    conn, wire, t = tls_session(tl, rng, "10.14.0.52", 47100, server, 443, T0_NS + 100 * S,
                                sni=host)
    for _ in range(3):
        t = wire.send(t + 40 * MS, True, b'{"id":1,"method":"status"}\n')
        t = wire.send(t + 2 * MS, False, b'{"id":1,"result":{"status":"OK"}}\n')
    conn.close(t + S)
    tl.write(path)
    return truth


def split_openings(path, seed=106):
    rng = random.Random(seed)
    tl = Timeline()
    truth = []
    host = "xmr-eu1.nanopool.org"
    sessions = [("10.15.0.61", "203.0.113.50", 14433, None, (1,), "encrypted"),
                ("10.15.0.62", "203.0.113.50", 14433, None, (2,), "encrypted"),
                ("10.15.0.63", "10.15.0.1", 1080,
                 socks5_connect("stratum.example-pool.net", 3333), (2,), "stratum-v1"),
                ("10.15.0.64", "10.15.0.2", 8080, http_connect(host, 14433), (3,), "proxied")]
    for i, (client, server, port, pre, cuts, variant) in enumerate(sessions):
        start = T0_NS + (10 + 150 * i) * S
        end = start + 120 * S                    # below the timing gate: names decide
        jobs = job_schedule(rng, start, end)
        cleartext = variant == "stratum-v1"
        dialect = StratumV1(rng.randrange(1 << 30)) if cleartext else Xmrig(rng.randrange(1 << 30))
        f = mine(tl, rng, client, 48000 + i, server, port, start, end, jobs, dialect,
                 sni=None if pre else host, tls=not cleartext, preamble=pre, cuts=cuts,
                 share_mean_s=15)
        f["variant"] = variant
        truth.append(f)
    tl.write(path)
    return truth


CAPTURES = {
    "pool_sni_dns.pcap": ("mining_tls", pool_sni_dns),
    "pool_by_ip.pcap": ("mining_tls", pool_by_ip),
    "proxied.pcap": ("mining_tls", proxied),
    "solo_timing.pcap": ("mining_tls", solo_timing),
    "config_url.pcap": ("mining_tls", config_url),
    "split_openings.pcap": ("mining_tls", split_openings),
    "mqtt_tls.pcap": ("benign", mqtt_tls),
    "ws_chat.pcap": ("benign", ws_chat),
    "h2_idle.pcap": ("benign", h2_idle),
    "vpn_keepalive.pcap": ("benign", vpn_keepalive),
    "tls_bulk.pcap": ("benign", tls_bulk),
    "https_browsing.pcap": ("benign", https_browsing),
}


def write_corpus(folder, only=None):
    """Write the captures (all, or the names in `only`), LABELS.tsv and truth files."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["file\tlabel"]
    truths = {}
    for name, (label, build) in CAPTURES.items():
        if only is not None and name not in only:
            continue
        truth = build(folder / name)
        lines.append(f"{name}\t{label}")
        truths[name] = truth
        if label == "mining_tls":
            (folder / f"{name}.truth.json").write_text(json.dumps(
                {"file": name, "derived_by": "tests/gen/tls_mining.py",
                 "mining_flows": truth}, indent=1) + "\n")
    (folder / "LABELS.tsv").write_text("\n".join(lines) + "\n")
    return truths


if __name__ == "__main__":          # python -m tests.gen.tls_mining OUT_DIR
    import sys
    from pathlib import Path
    write_corpus(Path(sys.argv[1]))
