"""MiningSession: framing, pairing, counting, decision and lookalikes."""

import json
import struct

import pytest

from detector.protocols.session import FIRST_BYTES_KEPT, MiningSession

H64 = "ab" * 32
NOTIFY = {"id": None, "method": "mining.notify",
          "params": ["j1", H64, "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2c03a1d80d",
                     "ffff", [H64], "20000000", "17034219", "66a1f0c2", True]}


def line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def feed_all(sess, items):
    for n, (direction, data) in enumerate(items, 1):
        sess.feed(direction, data, frame_no=n, ts_ns=n * 10_000_000_000)
    return sess


def submit(i, job="j1"):
    return line({"id": i, "method": "mining.submit", "params": ["acct.rig", job, "0000", "66a1f0c2", "ba3cf26d"]})


def test_stratum_session_pairs_shares_by_id():
    sess = feed_all(MiningSession(), [
        ("toserver", line({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10"]})
         + line({"id": 2, "method": "mining.authorize", "params": ["acct.rig", "x"]})),
        ("toclient", line({"id": 1, "result": [[["mining.notify", "a"]], "08000002", 4], "error": None})
         + line({"id": 2, "result": True, "error": None})
         + line({"id": None, "method": "mining.set_difficulty", "params": [1024]}) + line(NOTIFY)),
        ("toserver", submit(3) + submit(4)),
        ("toclient", line({"id": 3, "result": True, "error": None})),
        ("toclient", line({"id": 4, "result": None, "error": [23, "Low difficulty share", None]})),
        ("toclient", line({"id": None, "method": "mining.set_difficulty", "params": [2048]})),
        ("toserver", submit(5)),
        ("toclient", line({"id": 5, "result": True, "error": None})),
    ])
    d = sess.to_dict()
    assert d["is_mining"] and d["confidence"] == "dpi" and d["variant"] == "stratum-v1"
    assert (d["worker"], d["agent"]) == ("acct.rig", "cgminer/4.10")
    assert (d["shares_submitted"], d["shares_accepted"], d["shares_rejected"]) == (3, 2, 1)
    assert (d["difficulty"], d["difficulty_changes"], d["jobs"]) == (2048, 1, 1)
    assert set(d) >= {"variant", "coin", "algorithm", "worker", "agent", "pool", "shares_submitted",
                      "shares_accepted", "shares_rejected", "difficulty", "difficulty_changes", "jobs",
                      "confidence", "score", "evidence", "events"}
    assert 0.9 < d["score"] <= 1.0 and all("first_frame" in e for e in d["evidence"])
    # job j1 was issued at difficulty 1024: both accepted shares count at 1024
    assert sess.tally.accepted == 2
    assert sess.tally.hashes == pytest.approx(2 * 1024 * 2 ** 48 / 0xFFFF)
    est = sess.hashrate()   # the first accepted share opens the window, the second is counted
    assert est.shares == 1 and est.low_hs < est.hashrate_hs < est.high_hs
    assert est.hashes == pytest.approx(1024 * 2 ** 48 / 0xFFFF)


def test_same_id_for_every_submit_is_paired_fifo():
    job = {"blob": "07" * 40, "job_id": "J", "target": "711b0d00"}
    items = [("toserver", line({"id": 1, "method": "login", "params": {"login": "4abc", "pass": "x",
                                                                        "agent": "xmr-stak-cpu/1.3.0"}})),
             ("toclient", line({"id": 1, "jsonrpc": "2.0", "error": None,
                                "result": {"id": "s", "job": job, "status": "OK"}}))]
    for _ in range(3):
        items.append(("toserver", line({"id": 1, "method": "submit", "params": {
            "id": "s", "job_id": "J", "nonce": "98024001", "result": "c9" * 32}})))
    items += [("toclient", line({"id": 1, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}))] * 2
    items += [("toclient", line({"id": 1, "jsonrpc": "2.0", "error": {"code": -1, "message": "Duplicate"}}))]
    d = feed_all(MiningSession(), items).to_dict()
    assert (d["variant"], d["shares_submitted"], d["shares_accepted"], d["shares_rejected"]) == ("xmrig", 3, 2, 1)
    assert d["difficulty"] == pytest.approx(0xFFFFFFFF / 0x000D1B71)


def test_mid_stream_pickup_is_found():
    tail = line(NOTIFY)
    sess = feed_all(MiningSession(), [("toclient", b'7", true]}\n' + tail[:40]), ("toclient", tail[40:]),
                                      ("toserver", b'ab"]}\n' + submit(77))])
    d = sess.to_dict()
    assert d["is_mining"] and d["jobs"] == 1 and d["shares_submitted"] == 1


def test_message_split_over_many_segments():
    data = line(NOTIFY)
    sess = MiningSession()
    for i in range(0, len(data), 7):
        sess.feed("toclient", data[i:i + 7])
    assert sess.is_mining and sess.jobs == 1


def test_line_too_long_event_and_recovery():
    sess = MiningSession(max_line_bytes=200)
    sess.feed("toclient", b'{"junk":"' + b"x" * 500)
    sess.feed("toclient", b"x" * 500)
    sess.feed("toclient", b'"}\n' + line(NOTIFY)[:150])
    assert "line_too_long" in sess.to_dict()["events"]
    small = MiningSession(max_line_bytes=4096)
    small.feed("toclient", b"{" + b"x" * 5000 + b"\n" + line(NOTIFY))
    assert small.is_mining and "line_too_long" in small.to_dict()["events"]


@pytest.mark.parametrize("items", [
    # Electrum
    [("toserver", line({"id": 0, "method": "server.version", "params": ["electrum/4.5", "1.4"]})
      + line({"id": 1, "method": "blockchain.headers.subscribe", "params": []})),
     ("toclient", line({"id": 0, "result": ["ElectrumX 1.16", "1.4"]}))],
    # LSP with Content-Length framing
    [("toserver", b'Content-Length: 52\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}'),
     ("toclient", b'Content-Length: 38\r\n\r\n{"jsonrpc":"2.0","id":1,"result":{}}')],
    # chat app login + reply true
    [("toserver", line({"method": "login", "params": {"login": "bob", "pass": "x"}, "id": 1})),
     ("toclient", line({"id": 1, "result": True, "error": None}))],
    # generic submit / job names
    [("toserver", line({"method": "submit", "id": 2, "params": {"form": "contact", "text": "hi"}})),
     ("toclient", line({"id": 2, "result": {"status": "OK"}})
      + line({"method": "job", "params": {"title": "miner", "id": 3}}))],
    # quoted stratum in the wrong direction (a chat server relaying a pasted log)
    [("toclient", line({"id": 1, "method": "mining.subscribe", "params": ["x"]})
      + line({"id": 4, "method": "mining.submit", "params": ["w", "j", "00", "00", "00"]}))],
    # set_difficulty alone is strong but not enough
    [("toclient", line({"id": None, "method": "mining.set_difficulty", "params": [16]}))],
    # Ethereum node RPC over HTTP
    [("toserver", b'POST / HTTP/1.1\r\nHost: localhost:8545\r\nContent-Type: application/json\r\n'
                  b'Content-Length: 64\r\n\r\n{"jsonrpc":"2.0","method":"web3_clientVersion","params":[],"id":67}'),
     ("toclient", b'HTTP/1.1 200 OK\r\nContent-Length: 56\r\n\r\n{"jsonrpc":"2.0","id":67,"result":"Geth/v1.8.2-stable"}')],
    # TLS and binary noise
    [("toserver", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(200))),
     ("toclient", b"\x16\x03\x03\x00\x5a\x02" + bytes(range(100)))],
])
def test_lookalikes_are_not_mining(items):
    d = feed_all(MiningSession(), items).to_dict()
    assert d["is_mining"] is False and d["confidence"] is None


def test_untrusted_strings_are_bounded_and_replaced():
    worker = "w" * 10_000
    raw = b'{"id":2,"method":"mining.authorize","params":["' + worker.encode() + b'\xff\xfe","x"]}\n'
    raw2 = b'{"id":1,"method":"mining.subscribe","params":["agent\xc3\x28"]}\n'
    sess = MiningSession(max_line_bytes=1 << 20)
    sess.feed("toserver", raw2 + raw)
    d = sess.to_dict()
    assert len(d["worker"]) == 256 and "\ufffd" in d["agent"]
    assert "x" not in json.dumps(d["evidence"])   # the password is not kept anywhere


def test_http_getwork_session_across_segments():
    body = b'{"method": "getwork", "params": [], "id":0}\n'
    req = (b"POST / HTTP/1.1\r\nHost: p:8332\r\nAuthorization: Basic Qml0Y29pbjp4\r\n"
           b"X-Mining-Extensions: midstate\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    sess = MiningSession()
    sess.feed("toserver", req)
    sess.feed("toserver", body)
    sess.feed("toclient", b"HTTP/1.1 200 OK\r\nX-Long-Polling: /LP\r\n\r\n{\"result\":null,\"error\":null,\"id\":0}")
    sess.finish()
    d = sess.to_dict()
    assert (d["is_mining"], d["variant"], d["worker"], d["confidence"]) == (True, "getwork", "Bitcoin", "dpi")


def test_stratum_v2_plaintext_session():
    def s(x):
        return bytes([len(x)]) + x
    payload = bytes([0]) + struct.pack("<HHI", 2, 2, 0) + s(b"pool") + struct.pack("<H", 3336) + s(b"v") + s(b"h") + s(b"f") + s(b"d")
    frame = b"\x00\x00\x00" + len(payload).to_bytes(3, "little") + payload
    sess = MiningSession()
    sess.feed("toserver", frame[:5])
    sess.feed("toserver", frame[5:])
    assert sess.is_mining and sess.variant == "stratum-v2" and sess.pool == "pool"
    sess2 = MiningSession()
    sess2.feed("toserver", frame)
    assert sess2.is_mining and sess2.variant == "stratum-v2" and sess2.pool == "pool"


def test_bad_direction_is_an_event():
    sess = MiningSession()
    assert sess.feed("sideways", line(NOTIFY)) == []
    assert sess.to_dict()["events"] == ["bad_direction"] and not sess.is_mining


# --- Stratum V2: split opening frame, jobs, initial channel target ------------------------------
def _sv2(msg_type, payload, channel_msg=False):
    return (struct.pack("<HB", 0x8000 if channel_msg else 0, msg_type)
            + len(payload).to_bytes(3, "little") + payload)


def _s(x: bytes) -> bytes:
    return bytes([len(x)]) + x


SV2_SETUP = _sv2(0x00, bytes([0]) + struct.pack("<HHI", 2, 2, 4) + _s(b"pool.example")
                 + struct.pack("<H", 34254) + _s(b"Bitmain") + _s(b"S19") + _s(b"bos") + _s(b"dev-1"))
SV2_SETUP_OK = _sv2(0x01, struct.pack("<HI", 2, 0))
SV2_OPEN = _sv2(0x10, struct.pack("<I", 1) + _s(b"acct.w1") + struct.pack("<f", 1.1e14) + b"\xff" * 32)
SV2_CHANNEL_TARGET = (1 << 224) - 1
SV2_OPEN_OK = _sv2(0x11, struct.pack("<II", 1, 1) + SV2_CHANNEL_TARGET.to_bytes(32, "little")
                   + _s(b"\x01\x02\x03\x04") + struct.pack("<I", 0))
SV2_JOB = _sv2(0x15, struct.pack("<II", 1, 7) + bytes([1]) + struct.pack("<II", 0, 0x20000000)
               + b"\x11" * 32, True)
SV2_PREV = _sv2(0x20, struct.pack("<II", 1, 7) + b"\x22" * 32 + struct.pack("<II", 0x66A1F0C2, 0x17034219), True)
SV2_SET_TARGET_VALUE = (1 << 220) - 1
SV2_SET_TARGET = _sv2(0x21, struct.pack("<I", 1) + SV2_SET_TARGET_VALUE.to_bytes(32, "little"), True)
BTC_DIFF1_HASHES = 2 ** 48 / 0xFFFF


@pytest.mark.parametrize("cut", [1, 3, 5, 6, 7, 11, 20, len(SV2_SETUP) - 1])
def test_sv2_setup_connection_split_across_segments_is_found(cut):
    sess = MiningSession()
    assert sess.feed("toserver", SV2_SETUP[:cut]) == []
    msgs = sess.feed("toserver", SV2_SETUP[cut:] + SV2_OPEN)
    assert [m.signature for m in msgs] == ["stratum-v2.setup_connection", "stratum-v2.open_channel"]
    sess.feed("toclient", SV2_SETUP_OK[:4])
    sess.feed("toclient", SV2_SETUP_OK[4:] + SV2_OPEN_OK)
    d = sess.to_dict()
    assert (d["is_mining"], d["variant"], d["pool"], d["worker"], d["confidence"]) == (
        True, "stratum-v2", "pool.example", "acct.w1", "dpi")


def test_sv2_split_wait_is_bounded_to_a_plausible_opening():
    # not an SV2 opening (random bytes, other frame types): decided at once, no waiting
    sess = MiningSession()
    sess.feed("toserver", b"\x00\x00\x10\xff\xff\x00")          # frame type 0x10, 64 KiB: not an opening
    assert sess._dirs["toserver"].mode == "other" and not sess._dirs["toserver"].buffer
    # a waiting opening that turns out wrong is given up once the frame is complete
    sess = MiningSession()
    junk = SV2_SETUP[:7] + b"\x09" + SV2_SETUP[8:]              # min_version 9 at byte 7
    sess.feed("toserver", junk[:7])
    sess.feed("toserver", junk[7:])
    assert sess._dirs["toserver"].mode == "other" and not sess.is_mining
    assert len(sess._dirs["toserver"].buffer) == 0


def test_sv2_set_new_prev_hash_is_not_a_second_job():
    sess = feed_all(MiningSession(), [("toserver", SV2_SETUP + SV2_OPEN),
                                      ("toclient", SV2_SETUP_OK + SV2_OPEN_OK + SV2_JOB + SV2_PREV)])
    d = sess.to_dict()
    assert d["jobs"] == 1
    assert "stratum-v2.set_new_prev_hash" in [e["signature"] for e in d["evidence"]]


def test_sv2_open_channel_success_target_until_set_target():
    sess = feed_all(MiningSession(), [("toserver", SV2_SETUP + SV2_OPEN),
                                      ("toclient", SV2_SETUP_OK + SV2_OPEN_OK + SV2_JOB + SV2_PREV)])
    d = sess.to_dict()
    assert d["difficulty"] == pytest.approx(2 ** 256 / SV2_CHANNEL_TARGET / BTC_DIFF1_HASHES, rel=1e-12)
    assert d["difficulty_changes"] == 0
    sess.feed("toclient", SV2_SET_TARGET)
    d = sess.to_dict()
    assert d["difficulty"] == pytest.approx(2 ** 256 / SV2_SET_TARGET_VALUE / BTC_DIFF1_HASHES, rel=1e-12)
    assert d["difficulty_changes"] == 1


# --- Zcash: set_target before the notify that names the family ---------------------------------
ZEC_POW_LIMIT = "0007ffff" + "f" * 56
ZEC_NOTIFY = {"id": None, "method": "mining.notify",
              "params": ["1", "04000000", "22" * 32, "43" * 32, "00" * 32, "5b7a2c1d", "1d00ffff", True]}


def zec_submit(i, job="1"):
    return line({"id": i, "method": "mining.submit",
                 "params": ["t1addr.rig", job, "5b7a2c1d", "00" * 28, "fd4005" + "ab" * 1344]})


def test_zcash_set_target_before_notify_is_relative_to_powlimit():
    half = "0003ffff" + "f" * 56                                 # twice as hard as powLimit
    sess = feed_all(MiningSession(), [
        ("toserver", line({"id": 1, "method": "mining.subscribe",
                           "params": ["nheqminer/0.5c", None, "zec.pool.example", 3357]})
         + line({"id": 2, "method": "mining.authorize", "params": ["t1addr.rig", "x"]})),
        ("toclient", line({"id": 1, "result": [None, "c208ec77"], "error": None})
         + line({"id": 2, "result": True, "error": None})
         + line({"id": None, "method": "mining.set_target", "params": [ZEC_POW_LIMIT]})),
    ])
    # before the notify the family is unknown: read as SHA-256d (2^-19 of powLimit's hashes)
    assert sess.difficulty == pytest.approx(2 ** 256 / int(ZEC_POW_LIMIT, 16) / BTC_DIFF1_HASHES)
    feed_all(sess, [("toclient", line(ZEC_NOTIFY)), ("toserver", zec_submit(3)),
                    ("toclient", line({"id": 3, "result": True, "error": None})
                     + line({"id": None, "method": "mining.set_target", "params": [half]})
                     + line({**ZEC_NOTIFY, "params": ["2"] + ZEC_NOTIFY["params"][1:]})),
                    ("toserver", zec_submit(4, "2")),
                    ("toclient", line({"id": 4, "result": True, "error": None}))])
    d = sess.to_dict()
    assert (d["variant"], d["algorithm"]) == ("zcash", "equihash")
    assert d["difficulty"] == pytest.approx(2.0, rel=1e-6)
    assert sess.difficulty_history == [pytest.approx(1.0, rel=1e-6), pytest.approx(2.0, rel=1e-6)]
    assert d["difficulty_changes"] == 1
    # H(share) = 2^256 / T solutions, per job's target: 8192 and 16384 (§7.1)
    assert sess.tally.hashes == pytest.approx(8192 + 16384, rel=1e-6)
    # submits at 20 s (opens the window) and 40 s (counted); the miner works job 1
    # (8192 Sol/share) until job 2 arrives at 30 s (16384): exposure 10/8192 + 10/16384
    est = sess.hashrate()
    assert est.hashrate_hs == pytest.approx(1 / (10 / 8192 + 10 / 16384), rel=1e-6)


def _ethproxy_items(rounds):
    """A miner asking for work with one fixed id (ethminer uses 5) and the pool answering
    the same work until a new block: the same lines again and again, as on the wire."""
    work = ["0x" + "1a" * 32, "0x" + "2b" * 32, "0x" + "00000000ffff" + "0" * 52]
    items = [("toserver", line({"id": 1, "jsonrpc": "2.0", "method": "eth_submitLogin",
                                "params": ["0xabc.rig"]})),
             ("toclient", line({"id": 1, "jsonrpc": "2.0", "result": True}))]
    for k in range(rounds):
        items += [("toserver", line({"id": 5, "jsonrpc": "2.0", "method": "eth_getWork", "params": []})),
                  ("toclient", line({"id": 5, "jsonrpc": "2.0", "result": work}))]
        if k % 3 == 2:
            items += [("toserver", line({"id": 4, "jsonrpc": "2.0", "method": "eth_submitWork",
                                         "params": ["0x" + "%016x" % k, work[0], "0x" + "3c" * 32]})),
                      ("toclient", line({"id": 4, "jsonrpc": "2.0", "result": k % 2 == 0}))]
    return items


def test_repeated_lines_are_parsed_once_and_counted_every_time(monkeypatch):
    from detector.protocols import session as session_module
    items = _ethproxy_items(12)
    short = {data for _, data in items if len(data) - 1 <= session_module.MEMO_LINE_BYTES}
    long = [data for _, data in items if len(data) - 1 > session_module.MEMO_LINE_BYTES]
    real = session_module.steady.read      # every line not remembered is read here first

    def counted(calls):
        monkeypatch.setattr(session_module.steady, "read",
                            lambda data, direction: calls.append(data) or real(data, direction))
        return calls

    remembered_calls = counted([])
    remembered = feed_all(MiningSession(), items)
    parsed_calls = counted([])
    monkeypatch.setattr(session_module, "MEMO_LINE_BYTES", 0)     # nothing remembered
    parsed = feed_all(MiningSession(), items)
    d = remembered.to_dict()
    assert d == parsed.to_dict() and remembered.methods == parsed.methods
    assert (d["jobs"], d["shares_submitted"], d["shares_accepted"], d["shares_rejected"]) == (12, 4, 2, 2)
    assert remembered.methods["eth_getWork"] == 12 and d["confidence"] == "dpi"
    assert remembered.tally.accepted == parsed.tally.accepted == 2
    assert len(parsed_calls) == len(items) == 34
    assert len(remembered_calls) == len(short) + len(long) == 21    # 6 short lines, 15 long


def test_line_memory_is_bounded_and_skips_long_lines():
    from detector.protocols.session import MEMO_LINE_BYTES, MEMO_LINES
    sess = MiningSession()
    for i in range(3 * MEMO_LINES):
        sess.feed("toserver", line({"id": i, "method": "mining.submit",
                                    "params": ["w", "j", "00", "00", "%08x" % i]}))
    sess.feed("toclient", line(NOTIFY))
    memo = {d: state.parsed for d, state in sess._dirs.items()}
    assert len(memo["toserver"]) == MEMO_LINES
    assert all(len(k) <= MEMO_LINE_BYTES for k in memo["toserver"])
    assert len(line(NOTIFY)) > MEMO_LINE_BYTES and not memo["toclient"]
    assert sess.shares_submitted == 3 * MEMO_LINES and sess.jobs == 1


@pytest.mark.parametrize("cut", [1, 2, 5, 17, 64])
def test_whole_line_segments_and_cut_segments_give_the_same_session(cut):
    """One line per segment takes a shorter path than lines cut across segments,
    CRLF endings, blank lines and over-long lines: both must read the same."""
    stream = (line({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10"]}).replace(b"\n", b"\r\n")
              + b"\n" + b"   \r\n" + b'{"x":"' + b"y" * 300 + b'"}\n'
              + line({"id": 2, "method": "mining.authorize", "params": ["acct.rig", "x"]})
              + submit(3) + submit(3) + submit(4))
    whole = MiningSession(max_line_bytes=200)
    for part in stream.splitlines(keepends=True):
        whole.feed("toserver", part)
    pieces = MiningSession(max_line_bytes=200)
    for i in range(0, len(stream), cut):
        pieces.feed("toserver", stream[i:i + cut])
    assert whole.to_dict() == pieces.to_dict()
    assert whole.shares_submitted == 3 and whole.worker == "acct.rig"
    assert whole.to_dict()["events"] == ["line_too_long"]


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"\r\n\r\n \t"])
def test_a_side_that_opens_with_blank_segments_waits_for_its_framing(blank):
    """A pool that sends a line end (a keepalive) on its own before its first line: the
    side's framing is decided by the first bytes that are not blank."""
    sess = MiningSession()
    assert sess.feed("toclient", blank) == []
    assert sess._dirs["toclient"].mode is None
    msgs = sess.feed("toclient", line(NOTIFY))
    assert [m.signature for m in msgs] == ["stratum-v1.notify"]
    assert sess._dirs["toclient"].mode == "json"


def test_a_blank_opening_is_decided_once_first_bytes_are_full():
    sess = MiningSession()
    sess.feed("toclient", b"\n" * (FIRST_BYTES_KEPT - 1))
    assert sess._dirs["toclient"].mode is None
    sess.feed("toclient", b"\n")
    assert sess._dirs["toclient"].mode == "other" and not sess._dirs["toclient"].buffer
