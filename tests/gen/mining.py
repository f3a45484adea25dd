"""Realistic mining conversations (and lookalikes) as TCP packets and pcaps.

Each builder returns a `Dialogue`: the application messages of one TCP
connection, in order, as (c2s, bytes), plus the fields a scan must report
for it (`expect`, computed here from the generated messages and the wire
formats of PROTOCOLS.md, never copied from program output). `tcp_packets`
turns a dialogue into `conversations.Pkt`s (handshake, segments, FIN) with
the transport quirks the engine has to survive: segments cut mid-JSON,
retransmitted segments, one segment out of order, a session picked up
mid-stream (no SYN). `write_capture` wraps them with any
`conversations.ENCAPS` entry (VLAN, GTP-U, ...) and writes a classic pcap.

All hex values (blobs, hashes, nonces) come from a seeded PRNG: realistic
lengths and shapes, invented content.
"""

import base64
import json
import random
import struct
from dataclasses import dataclass, field

from scapy.layers.inet import TCP
from scapy.packet import Raw

from .conversations import ENCAPS, Pkt, inner_ip, pcap_bytes, wrap
from .packets import V4_CLIENT, V4_POOL, V6_CLIENT, V6_POOL

T0_NS = 1_700_000_000_000_000_000
STEP_NS = 250_000_000            # 250 ms between packets: submits spread over seconds
MSS = 1448


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _spaced(obj):
    """JSON with spaces after ':' and ',' (cpuminer/python pools style)."""
    return json.dumps(obj).encode() + b"\n"


class Hex:
    """Seeded random hex strings of a given byte length."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def __call__(self, nbytes):
        return self.rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()


@dataclass
class Dialogue:
    """Messages of one TCP connection and what a scan must say about it."""

    name: str
    messages: list                    # [(c2s: bool, bytes)]
    expect: dict = field(default_factory=dict)   # hit fields; empty: no hit


# --- Stratum V1 (§3) -----------------------------------------------------------------------
def stratum_v1(worker="bc1qexampleaddr0000000000000000000000000.rig07",
               agent="bmminer/2.0.0", seed=1):
    """configure+subscribe+authorize (pipelined), set_difficulty, notify, 4 submits
    (one rejected: low difficulty), a difficulty change, a second notify."""
    h = Hex(seed)
    msgs = [
        (True, _spaced({"id": 1, "method": "mining.configure",
                        "params": [["version-rolling"], {"version-rolling.mask": "1fffe000",
                                                         "version-rolling.min-bit-count": 2}]})
         + _spaced({"id": 2, "method": "mining.subscribe", "params": [agent]})
         + _spaced({"id": 3, "method": "mining.authorize", "params": [worker, "x"]})),
        (False, _spaced({"id": 1, "result": {"version-rolling": True,
                                             "version-rolling.mask": "1fffe000"},
                         "error": None})),
        (False, _spaced({"id": 2, "result": [[["mining.set_difficulty", h(16)],
                                              ["mining.notify", h(16)]], "08000002", 4],
                         "error": None})),
        (False, _spaced({"id": 3, "result": True, "error": None})),
        (False, _spaced({"id": None, "method": "mining.set_difficulty", "params": [65536]})),
    ]

    def notify(job):
        return _spaced({"id": None, "method": "mining.notify", "params": [
            job, h(32), "01000000010000000000000000000000000000000000000000000000000000000000"
            "000000ffffffff2c03a1d80d" + h(20), h(40) + "88ac00000000",
            [h(32) for _ in range(11)], "20000000", "17034219", "66a1f0c2", True]})

    def submit(i, job):
        return _spaced({"id": i, "method": "mining.submit",
                        "params": [worker, job, h(4), "66a1f0c2", h(4), "00a40000"]})

    msgs.append((False, notify("1f3a")))
    for i, ok in ((4, True), (5, True), (6, False)):
        msgs.append((True, submit(i, "1f3a")))
        msgs.append((False, _spaced({"id": i, "result": True, "error": None}) if ok else
                     _spaced({"id": i, "result": None,
                              "error": [23, "Low difficulty share", None]})))
    msgs.append((False, _spaced({"id": None, "method": "mining.set_difficulty",
                                 "params": [131072]})))
    msgs.append((False, notify("1f3b")))
    msgs.append((True, submit(7, "1f3b")))
    msgs.append((False, _spaced({"id": 7, "result": True, "error": None})))
    return Dialogue("stratum_v1", msgs, dict(
        variant="stratum-v1", worker=worker, agent=agent, shares_submitted=4,
        shares_accepted=3, shares_rejected=1, difficulty=131072, jobs=2))


# --- XMRig / CryptoNote (§4) ---------------------------------------------------------------
XMRIG_AGENT = "XMRig/6.26.0 (Linux x86_64) libuv/1.48.0 gcc/13.2.0"
MONERO_WALLET = "48" + "exampleMoneroAddress".ljust(93, "x")


def xmrig(agent=XMRIG_AGENT, login=MONERO_WALLET, seed=2):
    """login (agent, algo list), login result with the first job, a second job with a
    new target, three submits (one rejected), keepalived."""
    h = Hex(seed)
    sid = "7c3a2f"
    seed_hash = h(32)

    def job(job_id, target, height):
        return {"blob": "1010" + h(74), "job_id": job_id, "target": target, "algo": "rx/0",
                "height": height, "seed_hash": seed_hash}

    def submit(i, job_id):
        return _dumps({"id": i, "jsonrpc": "2.0", "method": "submit",
                       "params": {"id": sid, "job_id": job_id, "nonce": h(4),
                                  "result": h(29) + "190000", "algo": "rx/0"}})

    def ok(i):
        return _dumps({"id": i, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})

    msgs = [
        (True, _dumps({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
            "login": login, "pass": "x", "agent": agent, "rigid": "rig-42",
            "algo": ["rx/0", "cn/r", "rx/wow", "cn-heavy/xhv", "argon2/chukwav2"]}})),
        (False, _dumps({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
            "id": sid, "job": job("q3vXf1", "b88d0600", 3312410),
            "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
            "status": "OK"}})),
        (True, submit(2, "q3vXf1")),
        (False, ok(2)),
        (True, submit(3, "q3vXf1")),
        (False, _dumps({"id": 3, "jsonrpc": "2.0", "result": None,
                        "error": {"code": -1, "message": "Low difficulty share"}})),
        # new target: 0x00034a2d -> D = 0xFFFFFFFF / 0x00034a2d
        (False, _dumps({"jsonrpc": "2.0", "method": "job",
                        "params": job("q3vXf2", "2d4a0300", 3312411)})),
        (True, submit(4, "q3vXf2")),
        (False, ok(4)),
        (True, _dumps({"id": 5, "jsonrpc": "2.0", "method": "keepalived",
                       "params": {"id": sid}})),
        (False, _dumps({"id": 5, "jsonrpc": "2.0", "error": None,
                        "result": {"status": "KEEPALIVED"}})),
    ]
    return Dialogue("xmrig", msgs, dict(
        variant="xmrig", worker=login, agent=agent, shares_submitted=3, shares_accepted=2,
        shares_rejected=1, difficulty=0xFFFFFFFF / 0x00034A2D, jobs=2))


# --- EthProxy (§5.1) -----------------------------------------------------------------------
ETH_WALLET = "0x3a0024394c7ccc5a1108875286a99a1f128e3660"


def ethproxy(seed=3):
    """eth_submitLogin (top-level worker), eth_getWork, a pushed job (id 0, result
    array), eth_submitHashrate, two eth_submitWork (one rejected)."""
    h = Hex(seed)
    boundary = "0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e"

    def work():
        return ["0x" + h(32), "0x" + h(32), boundary]

    def submit(i):
        return _dumps({"id": i, "jsonrpc": "2.0", "method": "eth_submitWork", "worker": "rig07",
                       "params": ["0x" + h(8), "0x" + h(32), "0x" + h(32)]})

    msgs = [
        (True, _dumps({"id": 1, "jsonrpc": "2.0", "method": "eth_submitLogin", "worker": "rig07",
                       "params": [ETH_WALLET, "x"]})),
        (False, _dumps({"id": 1, "jsonrpc": "2.0", "result": True})),
        (True, _dumps({"id": 5, "jsonrpc": "2.0", "method": "eth_getWork", "params": []})),
        (False, _dumps({"id": 5, "jsonrpc": "2.0", "result": work()})),
        (True, _dumps({"id": 9, "jsonrpc": "2.0", "method": "eth_submitHashrate",
                       "params": ["0x" + (60_000_000).to_bytes(32, "big").hex(), "0x" + h(32)]})),
        (False, _dumps({"id": 9, "jsonrpc": "2.0", "result": True})),
        (False, _dumps({"id": 0, "jsonrpc": "2.0", "result": work()})),
        (True, submit(40)),
        (False, _dumps({"id": 40, "jsonrpc": "2.0", "result": True})),
        (True, submit(41)),
        (False, _dumps({"id": 41, "jsonrpc": "2.0", "result": False})),
    ]
    return Dialogue("ethproxy", msgs, dict(
        variant="ethproxy", worker=ETH_WALLET, workers=[ETH_WALLET, "worker:rig07"], agent=None, shares_submitted=2, shares_accepted=1,
        shares_rejected=1, difficulty=2**256 / int(boundary, 16), jobs=2))


# --- EthereumStratum/1.0.0 (NiceHash, §5.2) -------------------------------------------------
def ethstratum1(seed=4):
    h = Hex(seed)
    worker = ETH_WALLET + ".rig1"

    def notify(job):
        return _dumps({"id": None, "method": "mining.notify", "params": [job, h(32), h(32), True]})

    msgs = [
        (True, _dumps({"id": 1, "method": "mining.subscribe",
                       "params": ["ethminer/0.19.0", "EthereumStratum/1.0.0"]})),
        (False, _dumps({"id": 1, "result": [["mining.notify", h(16), "EthereumStratum/1.0.0"],
                                            "af4c"], "error": None})),
        (True, _dumps({"id": 2, "method": "mining.extranonce.subscribe", "params": []})),
        (False, _dumps({"id": 2, "result": True, "error": None})),
        (True, _dumps({"id": 3, "method": "mining.authorize", "params": [worker, "x"]})),
        (False, _dumps({"id": 3, "result": True, "error": None})),
        (False, _dumps({"id": None, "method": "mining.set_difficulty", "params": [4.0]})),
        (False, notify("bf0488aa")),
        (False, notify("bf0488ab")),
        (True, _dumps({"id": 4, "method": "mining.submit", "params": [worker, "bf0488ab", h(6)]})),
        (False, _dumps({"id": 4, "result": True, "error": None})),
    ]
    return Dialogue("ethstratum1", msgs, dict(
        variant="ethereumstratum-1", worker=worker, agent="ethminer/0.19.0", shares_submitted=1,
        shares_accepted=1, shares_rejected=0, difficulty=4.0, jobs=2))


# --- EthereumStratum/2.0.0 (§5.4) -----------------------------------------------------------
def ethstratum2(seed=5):
    h = Hex(seed)
    worker = ETH_WALLET + ".rig2"
    msgs = [
        (True, _dumps({"id": 1, "method": "mining.hello", "params": {
            "agent": "ethminer-0.19.0", "host": "eu1.pool.example", "port": "d05",
            "proto": "EthereumStratum/2.0.0"}})),
        (False, _dumps({"id": 1, "result": {"proto": "EthereumStratum/2.0.0", "encoding": "plain",
                                            "resume": 1, "timeout": 30, "maxerrors": 5,
                                            "node": "Geth/v1.9.25"}})),
        (True, _dumps({"id": 2, "method": "mining.subscribe", "params": []})),
        (False, _dumps({"id": 2, "result": "s-" + h(6)})),
        (True, _dumps({"id": 3, "method": "mining.authorize", "params": [worker, "x"]})),
        (False, _dumps({"id": 3, "result": "w-" + h(2)})),
        (False, _dumps({"method": "mining.set", "params": {
            "epoch": "dc", "target": "0112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba",
            "algo": "ethash", "extranonce": "af4c"}})),
        (False, _dumps({"method": "mining.notify", "params": ["bf0488aa", "6a4ced", h(32), "0"]})),
        (True, _dumps({"id": 4, "method": "mining.submit", "params": ["bf0488aa", h(6), "w-01"]})),
        (False, _dumps({"id": 4, "result": True})),
        (True, _dumps({"id": 5, "method": "mining.hashrate", "params": ["b8f03e", "w-01"]})),
        (False, _dumps({"id": 5, "result": True})),
    ]
    target = int("0112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba", 16)  # left-padded
    return Dialogue("ethstratum2", msgs, dict(
        variant="ethereumstratum-2", worker=worker, agent="ethminer-0.19.0", shares_submitted=1,
        shares_accepted=1, shares_rejected=0, difficulty=2**256 / target, jobs=1))


# --- Zcash / Equihash (ZIP 301, §7.1) -------------------------------------------------------
def zcash(seed=6):
    h = Hex(seed)
    worker = "t1exampleZcashTransparentAddr00000.rig3"
    target = "0007ffff" + "f" * 56

    def notify(job):
        return _dumps({"id": None, "method": "mining.notify", "params": [
            job, "04000000", h(32), h(32), "0" * 64, "5b7a2c1d", "1d00ffff", True]})

    msgs = [
        (True, _dumps({"id": 1, "method": "mining.subscribe",
                       "params": ["nheqminer/0.5c", None, "zec.pool.example", 3357]})),
        (False, _dumps({"id": 1, "result": [None, h(4)], "error": None})),
        (True, _dumps({"id": 2, "method": "mining.authorize", "params": [worker, "x"]})),
        (False, _dumps({"id": 2, "result": True, "error": None})),
        (False, _dumps({"id": None, "method": "mining.set_target", "params": [target]})),
        (False, notify("1")),
        # 200,9 solution: fd4005 + 1344 bytes: the submit line spans two segments
        (True, _dumps({"id": 3, "method": "mining.submit",
                       "params": [worker, "1", "5b7a2c1d", h(28), "fd4005" + h(1344)]})),
        (False, _dumps({"id": 3, "result": True, "error": None})),
    ]
    return Dialogue("zcash", msgs, dict(
        variant="zcash", worker=worker, agent="nheqminer/0.5c", shares_submitted=1,
        shares_accepted=1, shares_rejected=0, difficulty=1.0, jobs=1))   # target = powLimit


# --- Stratum V2 plaintext (§10) -------------------------------------------------------------
def sv2_frame(msg_type, payload, channel_msg=False):
    ext = 0x8000 if channel_msg else 0
    return struct.pack("<HB", ext, msg_type) + len(payload).to_bytes(3, "little") + payload


def _str0_255(s):
    return bytes([len(s)]) + s.encode()


def stratum_v2(seed=7):
    """SetupConnection (+Success), OpenStandardMiningChannel (+Success), NewMiningJob,
    SetNewPrevHash, SetTarget, two SubmitSharesStandard, SubmitShares.Success (2)."""
    h = Hex(seed)
    worker = "account.worker1"
    setup = (bytes([0]) + struct.pack("<HHI", 2, 2, 0x04) + _str0_255("pool.example")
             + struct.pack("<H", 34254) + _str0_255("Bitmain") + _str0_255("S19")
             + _str0_255("braiins-os-2023") + _str0_255("dev-0001"))
    target = (1 << 224) - 1                     # U256 LE on the wire
    set_target = (1 << 220) - 1
    channel = 1
    msgs = [
        (True, sv2_frame(0x00, setup)),
        (False, sv2_frame(0x01, struct.pack("<HI", 2, 0))),
        (True, sv2_frame(0x10, struct.pack("<I", 1) + _str0_255(worker)
                         + struct.pack("<f", 1.1e14) + ((1 << 240) - 1).to_bytes(32, "little"))),
        (False, sv2_frame(0x11, struct.pack("<II", 1, channel) + target.to_bytes(32, "little")
                          + bytes([4]) + bytes.fromhex(h(4)) + struct.pack("<I", 0))),
        (False, sv2_frame(0x15, struct.pack("<II", channel, 7) + bytes([1]) + struct.pack("<I", 0)
                          + struct.pack("<I", 0x20000000) + bytes.fromhex(h(32)), True)),
        (False, sv2_frame(0x20, struct.pack("<II", channel, 7) + bytes.fromhex(h(32))
                          + struct.pack("<II", 0x66A1F0C2, 0x17034219), True)),
        (False, sv2_frame(0x21, struct.pack("<I", channel) + set_target.to_bytes(32, "little"),
                          True)),
        (True, sv2_frame(0x1A, struct.pack("<IIIIII", channel, 0, 7, 0xBA3CF26D, 0x66A1F0C2,
                                           0x20000000), True)),
        (True, sv2_frame(0x1A, struct.pack("<IIIIII", channel, 1, 7, 0x1234ABCD, 0x66A1F0C3,
                                           0x20000000), True)),
        (False, sv2_frame(0x1C, struct.pack("<IIIQ", channel, 1, 2, 2 * 4294967296), True)),
    ]
    return Dialogue("stratum_v2", msgs, dict(
        variant="stratum-v2", worker=worker, agent="Bitmain S19 braiins-os-2023",
        shares_submitted=2, shares_accepted=2, shares_rejected=0,
        difficulty=2**256 / set_target / (2**48 / 0xFFFF), jobs=1))


# --- HTTP getwork / getblocktemplate (§9) ---------------------------------------------------
def http_request(path, body, user=None, extra=(), host="pool.example:8332"):
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "User-Agent: cpuminer/2.5.1"]
    if user:
        token = base64.b64encode(f"{user}:x".encode()).decode()
        head.append(f"Authorization: Basic {token}")
    head += ["Content-Type: application/json", *extra, f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def http_response(body, extra=()):
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", *extra,
            f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def getwork(seed=8):
    """getwork (X-Mining-Extensions, Basic auth worker), work with X-Long-Polling,
    a long-poll request answered with new work, two submissions (one rejected)."""
    h = Hex(seed)
    worker = "miner1.rig5"
    ext = ("X-Mining-Extensions: midstate",)
    target = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000"

    def work(i):
        return _spaced({"result": {"midstate": h(32), "data": h(80) + "80" + "0" * 90 + "0280",
                                   "hash1": "0" * 64 + "8" + "0" * 63, "target": target},
                        "error": None, "id": i}).rstrip(b"\n")

    def submit(i):
        return _spaced({"method": "getwork", "params": [h(80) + "80" + "0" * 90 + "0280"],
                        "id": i}).rstrip(b"\n")

    lp = ("X-Long-Polling: /LP", "X-Roll-NTime: Y")
    msgs = [
        (True, http_request("/", _spaced({"method": "getwork", "params": [], "id": 0}).rstrip(),
                            worker, ext)),
        (False, http_response(work(0), lp)),
        (True, http_request("/", submit(1), worker, ext)),
        (False, http_response(_spaced({"result": True, "error": None, "id": 1}).rstrip())),
        (True, http_request("/LP", _spaced({"method": "getwork", "params": [], "id": 2}).rstrip(),
                            worker, ext)),
        (False, http_response(work(2), lp)),
        (True, http_request("/", submit(3), worker, ext)),
        (False, http_response(_spaced({"result": False, "error": None, "id": 3}).rstrip(),
                              ("X-Reject-Reason: stale",))),
    ]
    le_target = int.from_bytes(bytes.fromhex(target), "little")
    return Dialogue("getwork", msgs, dict(
        variant="getwork", worker=worker, agent="cpuminer/2.5.1", shares_submitted=2,
        shares_accepted=1, shares_rejected=1, difficulty=2**256 / le_target / (2**48 / 0xFFFF),
        jobs=2))


def getblocktemplate(seed=9):
    """GBT with capabilities (longpoll), a template, a long poll with longpollid, a
    second template, submitblock."""
    h = Hex(seed)
    worker = "solo.rig6"
    caps = {"capabilities": ["coinbasetxn", "coinbasevalue", "longpoll", "workid"],
            "rules": ["segwit"]}
    target = "00000000000000000003a30c0000000000000000000000000000000000000000"

    def template(i, lpid):
        return _spaced({"result": {
            "version": 536870912, "previousblockhash": h(32), "transactions": [],
            "coinbasevalue": 312500000, "target": target, "bits": "17034219",
            "curtime": 1718000000 + i, "mintime": 1717999000, "height": 850000 + i,
            "longpollid": lpid, "mutable": ["time", "transactions", "prevblock"],
            "noncerange": "00000000ffffffff"}, "error": None, "id": i}).rstrip(b"\n")

    ext = ("X-Mining-Extensions: longpoll",)
    lpid = h(32) + "12"
    msgs = [
        (True, http_request("/", _spaced({"method": "getblocktemplate", "params": [caps],
                                          "id": 0}).rstrip(), worker, ext)),
        (False, http_response(template(0, lpid), ("X-Long-Polling: /LP",))),
        (True, http_request("/LP", _spaced({"method": "getblocktemplate",
                                            "params": [dict(caps, longpollid=lpid)],
                                            "id": 1}).rstrip(), worker, ext)),
        (False, http_response(template(1, h(32) + "13"))),
        (True, http_request("/", _spaced({"method": "submitblock",
                                          "params": ["00000020" + h(600), {"workid": "1"}],
                                          "id": 2}).rstrip(), worker, ext)),
        (False, http_response(_spaced({"result": None, "error": None, "id": 2}).rstrip())),
    ]
    return Dialogue("getblocktemplate", msgs, dict(
        variant="getblocktemplate", worker=worker, agent="cpuminer/2.5.1", shares_submitted=1,
        shares_accepted=1, shares_rejected=0,          # BIP 22: submitblock null = accepted
        difficulty=2**256 / int(target, 16) / (2**48 / 0xFFFF), jobs=2))


MINING = {f.__name__: f for f in (stratum_v1, xmrig, ethproxy, ethstratum1, ethstratum2, zcash,
                                   stratum_v2, getwork, getblocktemplate)}


# --- mid-stream pickup ----------------------------------------------------------------------
def midstream_stratum(seed=10, pool_first=False):
    """The tail of a stratum session: no subscribe/authorize, only jobs and shares.
    pool_first: the capture starts with the pool's set_difficulty + notify (else
    with the miner's first submit; the job it works on was sent before)."""
    full = stratum_v1(seed=seed)
    msgs = full.messages[4:] if pool_first else full.messages[6:]
    return Dialogue("midstream_pool_first" if pool_first else "midstream", msgs, dict(
        variant="stratum-v1", worker=full.expect["worker"], agent=None, shares_submitted=4,
        shares_accepted=3, shares_rejected=1, difficulty=131072, jobs=2 if pool_first else 1))


# --- lookalikes (§13): no hit ---------------------------------------------------------------
def jsonrpc2_generic():
    return Dialogue("jsonrpc2", [
        (True, _dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                       "params": {"channel": "ticker", "symbols": ["BTC-USD"]}})),
        (False, _dumps({"jsonrpc": "2.0", "id": 1, "result": {"subscribed": True}})),
        (False, _dumps({"jsonrpc": "2.0", "method": "update",
                        "params": {"symbol": "BTC-USD", "price": "64000.5", "job": 3}})),
        (True, _dumps({"jsonrpc": "2.0", "id": 2, "method": "notify",
                       "params": ["user.event", {"target": "ffff", "nonce": "abcd"}]})),
        (False, _dumps({"jsonrpc": "2.0", "id": 2, "result": True})),
    ])


def electrum():
    h = Hex(11)
    return Dialogue("electrum", [
        (True, _dumps({"jsonrpc": "2.0", "id": 0, "method": "server.version",
                       "params": ["electrum/4.5.5", "1.4"]})),
        (False, _dumps({"jsonrpc": "2.0", "id": 0, "result": ["ElectrumX 1.16.0", "1.4"]})),
        (True, _dumps({"jsonrpc": "2.0", "id": 1, "method": "blockchain.headers.subscribe",
                       "params": []})),
        (False, _dumps({"jsonrpc": "2.0", "id": 1, "result": {"hex": h(80), "height": 850000}})),
        (True, _dumps({"jsonrpc": "2.0", "id": 2, "method": "blockchain.scripthash.subscribe",
                       "params": [h(32)]})),
        (False, _dumps({"jsonrpc": "2.0", "id": 2, "result": h(32)})),
        (True, _dumps({"jsonrpc": "2.0", "id": 3, "method": "blockchain.scripthash.get_history",
                       "params": [h(32)]})),
        (False, _dumps({"jsonrpc": "2.0", "id": 3, "result": [
            {"tx_hash": h(32), "height": 849990}]})),
        (False, _dumps({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe",
                        "params": [{"hex": h(80), "height": 850001}]})),
    ])


def chat_app():
    return Dialogue("chat", [
        (True, _dumps({"id": 1, "method": "login", "params": {"login": "bob", "pass": "x"}})),
        (False, _dumps({"id": 1, "result": {"status": "OK", "token": "abc123"}, "error": None})),
        (True, _dumps({"id": 2, "method": "submit",
                       "params": {"room": "general", "text": "hi all, job done?"}})),
        (False, _dumps({"id": 2, "result": {"status": "OK"}, "error": None})),
        (False, _dumps({"method": "message", "params": {"from": "alice", "text": "yes"}})),
        (True, _dumps({"id": 3, "method": "submit", "params": {"room": "general",
                                                               "text": "great"}})),
        (False, _dumps({"id": 3, "result": {"status": "OK"}, "error": None})),
    ])


def eth_node_rpc():
    body1 = _dumps({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": 1}).strip()
    body2 = _dumps({"jsonrpc": "2.0", "method": "eth_getBalance",
                    "params": [ETH_WALLET, "latest"], "id": 2}).strip()
    return Dialogue("eth_node", [
        (True, http_request("/", body1, host="node.example:8545")),
        (False, http_response(_dumps({"jsonrpc": "2.0", "id": 1, "result": "0x12a05f2"}).strip())),
        (True, http_request("/", body2, host="node.example:8545")),
        (False, http_response(_dumps({"jsonrpc": "2.0", "id": 2,
                                      "result": "0x1bc16d674ec80000"}).strip())),
    ])


def ticket_post():
    """A helpdesk ticket whose body quotes a miner's stratum log lines."""
    quoted = (b'{"id": 1, "method": "mining.subscribe", "params": ["bmminer/2.0.0"]}\n'
              b'{"id": 2, "method": "mining.authorize", "params": ["acct.rig07", "x"]}\n'
              b'{"id": 4, "method": "mining.submit", "params": ["acct.rig07", "1f3a", '
              b'"00000000a2f1", "66a1f0c2", "ba3cf26d"]}\n')
    body = json.dumps({"ticket": {"subject": "Miner keeps disconnecting",
                                  "comment": {"body": "Log excerpt:\n" + quoted.decode()},
                                  "priority": "normal"}}).encode()
    return Dialogue("ticket", [
        (True, http_request("/api/v2/tickets.json", body, host="helpdesk.example")),
        (False, http_response(b'{"ticket":{"id":35436,"status":"new"}}')),
    ])


def bitcoin_p2p_version():
    """Bitcoin P2P version message (magic f9beb4d9), verack both ways."""
    import hashlib

    def msg(cmd, payload):
        chk = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
        return (bytes.fromhex("f9beb4d9") + cmd.ljust(12, b"\0")
                + struct.pack("<I", len(payload)) + chk + payload)

    addr = struct.pack("<Q", 1) + b"\0" * 10 + b"\xff\xff" + bytes([198, 51, 100, 7]) + b"\x20\x8d"
    ua = b"/Satoshi:27.0.0/"
    version = (struct.pack("<iQq", 70016, 0x409, 1718000000) + addr + addr
               + struct.pack("<Q", 0x1234567890ABCDEF) + bytes([len(ua)]) + ua
               + struct.pack("<i?", 850000, True))
    return Dialogue("bitcoin_p2p", [
        (True, msg(b"version", version)),
        (False, msg(b"version", version)),
        (False, msg(b"verack", b"")),
        (True, msg(b"verack", b"")),
    ])


LOOKALIKES = {f.__name__: f for f in (jsonrpc2_generic, electrum, chat_app, eth_node_rpc,
                                       ticket_post, bitcoin_p2p_version)}


# --- TCP ------------------------------------------------------------------------------------
@dataclass
class Transport:
    """How a dialogue goes on the wire."""

    v: int = 4
    cport: int = 50123
    sport: int = 3333
    mss: int = MSS                 # segments are at most this long
    cut_mid: bool = False          # every message of 2+ bytes also cut in its middle
    retransmit: tuple = ()         # data segment indexes sent twice (the copy right after)
    reorder: int | None = None     # data segment index sent after the next one (same sender)
    handshake: bool = True         # False: picked up mid-stream (no SYN, no FIN)


def segments(dialogue, tr):
    """[(c2s, bytes)] data segments, in send order before reordering."""
    out = []
    for c2s, data in dialogue.messages:
        pieces = [data]
        if tr.cut_mid and len(data) > 1:
            pieces = [data[:len(data) // 2], data[len(data) // 2:]]
        for piece in pieces:
            for k in range(0, len(piece), tr.mss):
                out.append((c2s, piece[k:k + tr.mss]))
    return out


def reorderable(dialogue, tr):
    """Data segment indexes whose next segment has the same sender (`Transport.reorder`)."""
    segs = segments(dialogue, tr)
    return [i for i in range(len(segs) - 1) if segs[i][0] == segs[i + 1][0]]


def tcp_packets(dialogue, tr=None, client=None, server=None, t0_ns=T0_NS, step_ns=STEP_NS):
    """The dialogue as `Pkt`s: SYN/SYN-ACK/ACK, data segments (each answered by a
    pure ACK when the peer has nothing to say), FIN both ways, last ACK."""
    tr = tr or Transport()
    client = client or (V4_CLIENT if tr.v == 4 else V6_CLIENT)
    server = server or (V4_POOL if tr.v == 4 else V6_POOL)
    seq = {True: 1_000_000, False: 7_000_000}
    if not tr.handshake:
        seq = {True: 3_500_000_000, False: 4_294_966_000}   # wraps past 2^32 on the way
    out = []

    def pkt(c2s, flags, data=b"", at=None):
        src, dst = (client, server) if c2s else (server, client)
        sp, dp = (tr.cport, tr.sport) if c2s else (tr.sport, tr.cport)
        s = seq[c2s] if at is None else at
        ack = 0 if flags == "S" else seq[not c2s] & 0xFFFFFFFF
        ip = inner_ip(tr.v, src, dst)
        p = ip / TCP(sport=sp, dport=dp, seq=s & 0xFFFFFFFF, ack=ack, flags=flags, window=64240)
        if data:
            p = p / Raw(data)
        return Pkt(0, c2s, p, len(data), int(p[TCP].flags))

    def advance(c2s, n):
        seq[c2s] += n

    if tr.handshake:
        out.append(pkt(True, "S"))
        advance(True, 1)
        out.append(pkt(False, "SA"))
        advance(False, 1)
        out.append(pkt(True, "A"))
    data_pkts = []
    for c2s, data in segments(dialogue, tr):
        data_pkts.append(pkt(c2s, "PA", data))
        advance(c2s, len(data))
    seq_of = [int(p.ip[TCP].seq) for p in data_pkts]
    order = list(range(len(data_pkts)))
    if tr.reorder is not None:
        i = tr.reorder
        assert data_pkts[i + 1].c2s == data_pkts[i].c2s, "reorder within one burst"
        order[i], order[i + 1] = i + 1, i
    for i in order:
        out.append(data_pkts[i])
        if i in tr.retransmit:
            p = data_pkts[i]
            out.append(pkt(p.c2s, "PA", bytes(p.ip[Raw].load), at=seq_of[i]))
    if tr.handshake:
        out.append(pkt(True, "FA"))
        advance(True, 1)
        out.append(pkt(False, "FA"))
        advance(False, 1)
        out.append(pkt(True, "A"))
    for k, p in enumerate(out):
        p.ts_ns = t0_ns + k * step_ns
    return out


def write_capture(path, pkts, encap="ethernet"):
    """Wrap the Pkts with conversations.ENCAPS[encap] and write a µs pcap to `path`."""
    data, _ = pcap_bytes(wrap(pkts, ENCAPS[encap]))
    path.write_bytes(data)
    return path


def capture(path, dialogue, tr=None, encap="ethernet", **kw):
    """One dialogue, one TCP connection, one pcap file."""
    return write_capture(path, tcp_packets(dialogue, tr, **kw), encap)
