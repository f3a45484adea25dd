"""steady.read gives what decode_json + dispatch.parse_json give, or leaves the line alone.

The reference is the Python path itself, run on the same line: every line of
the corpus' mining transcripts and of its lookalikes, then variations of the
shapes steady claims (types, lengths, hex digits, key order and repetition,
whitespace, stray bytes, ids), built from seeds hypothesis draws. A claimed
line must give an equal MiningMessage, or None where the Python parsers give
none (a difficulty that is not positive); anything else stays unclaimed.
Whole sessions on the corpus' mining flows must end the same with and
without steady.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.protocols import dispatch, steady
from detector.protocols.jsonrpc import decode_json, split_lines
from detector.protocols.message import TOCLIENT, TOSERVER
from detector.protocols.session import MiningSession
from tests.corpus import corpus_dir

from .test_corpus_transcripts import NEGATIVE_FILES, TRUTH_FILES
from .transcripts import transcripts

SOLUTION = "fd4005" + "0123456789abcdef" * 168
HASH = "a1" * 32
SHARE_ACCEPTED = {"id": 8, "result": True, "error": None}
# one line of each shape steady claims, as real miners and pools send them
TEMPLATES = (
    (TOSERVER, {"id": 131, "method": "mining.submit",
                "params": ["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4", "70e1d2", "d2cf405a",
                           "beb0010000000000", SOLUTION]}),
    (TOCLIENT, {"id": None, "method": "mining.notify",
                "params": ["5f3", "04000000", HASH, HASH, "00" * 32, "5a3c1f00", "1d00ffff",
                           True]}),
    (TOCLIENT, {"id": 3, "jsonrpc": "2.0", "result": ["0x" + HASH, "0x" + HASH, "0x0112e0be8"]}),
    (TOCLIENT, {"id": 0, "result": ["0x" + HASH, "0x" + HASH, "0x" + "00" * 30, "0x8ca1e5"]}),
    (TOSERVER, {"id": 5, "jsonrpc": "2.0", "method": "eth_getWork", "params": []}),
    (TOSERVER, {"id": 6, "jsonrpc": "2.0", "method": "eth_submitHashrate",
                "params": ["0x1d0a5f3", "0x" + HASH]}),
    (TOSERVER, {"id": 4, "jsonrpc": "2.0", "method": "eth_submitWork",
                "params": ["0x07a05fa4133e5126", "0x" + HASH, "0x" + "b2" * 32]}),
    (TOSERVER, {"id": 4, "jsonrpc": "2.0", "method": "submit",
                "params": {"id": "9d8c", "job_id": "1227", "nonce": "2e000080",
                           "result": HASH, "algo": "rx/0"}}),
    (TOCLIENT, {"jsonrpc": "2.0", "method": "job",
                "params": {"blob": "0e0e" * 38, "job_id": "26", "target": "b88d0600",
                           "algo": "rx/0", "height": 2987654, "seed_hash": HASH}}),
    (TOSERVER, {"id": 9, "method": "mining.submit",
                "params": ["slush.worker1", "bf", "00000001", "504e86ed", "b2957c02"]}),
    (TOSERVER, {"id": 10, "method": "mining.submit",
                "params": ["bc1q.rig", "5f2", "0000a1", "65a1f0c3", "8e1a2b3c", "20000000"]}),
    (TOCLIENT, {"id": None, "method": "mining.notify",
                "params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000",
                           "01000000010000000000000000000000000000000000000000000000000000000000"
                           "000000ffffffff20020862062f503253482f04b8864e5008",
                           "072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64"
                           "a7a9688ef9903327048ed988ac00000000", [HASH, "b2" * 32],
                           "00000002", "1c2ac4af", "504e86b9", False]}),
    (TOCLIENT, {"id": None, "method": "mining.set_difficulty", "params": [2048]}),
    (TOCLIENT, {"id": None, "method": "mining.set_difficulty", "params": [0.5]}),
    (TOCLIENT, {"id": 7, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}),
    (TOCLIENT, SHARE_ACCEPTED),
    (TOCLIENT, {"id": 113, "result": None, "error": [21, "Stale job!"]}),
    (TOCLIENT, {"id": "s1", "result": False, "error": {"code": 23, "message": "low diff"}}),
    (TOCLIENT, {"id": 999, "result": False, "error": "Invalid JSON request"}),
    (TOCLIENT, {"id": 691, "error": {"code": -1, "message": "invalid method"}}),
)
CLASSES_IN_TEMPLATES = {"zcash.submit", "zcash.notify", "ethproxy.work", "ethproxy.get_work",
                        "ethproxy.submit_work",
                        "ethproxy.submit_hashrate", "xmrig.submit", "xmrig.job", "jsonrpc.reply",
                        "stratum-v1.submit", "stratum-v1.notify", "stratum-v1.set_difficulty"}


def python_parse(line: bytes, direction: str):
    obj = decode_json(line)
    return dispatch.parse_json(obj, direction) if obj is not None else None


def check(line: bytes, direction: str):
    """steady.read(line) against the Python path; returns the claimed message or None."""
    got = steady.read(line, direction)
    if got is steady.UNCLAIMED:
        return None
    assert got == python_parse(line, direction), line[:300]
    return got


def test_every_template_is_claimed_with_the_python_parse():
    claimed = {check(json.dumps(obj).encode(), d).signature for d, obj in TEMPLATES}
    assert claimed == CLASSES_IN_TEMPLATES


def test_a_claimed_share_carries_its_fields():
    msg = check(json.dumps(TEMPLATES[0][1], separators=(",", ":")).encode(), TOSERVER)
    assert (msg.signature, msg.msg_id, msg.worker, msg.job_id, msg.algo) == (
        "zcash.submit", 131, "t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4", "70e1d2", "equihash")


@pytest.mark.parametrize("line, direction", [
    (b'{"id":1,"id":2,"result":true,"error":null}', TOCLIENT),        # repeated key
    (b'{"id":1,"result":true,"error":null,"error":{"a":1}}', TOCLIENT),
    (b'{"id":"a\\u0041","result":true}', TOCLIENT),                     # escape
    (b'{"id":"\xc3\xa9","result":true}', TOCLIENT),                     # non-ASCII
    (b'{"id":1234567890123456789,"result":true}', TOCLIENT),           # id past int64
    (b'{"id":1,"result":NaN}', TOCLIENT),
    (b'{"id":1,"result":true,}', TOCLIENT),
    (b'{"id":01,"result":true}', TOCLIENT),
    (b'{"id":1,"result":"ok"}', TOCLIENT),                             # left to reply_ok
    (b'{"id":1,"result":true,"error":{}}', TOCLIENT),                  # empty error
    (b'{"id":1,"result":true,"error":0}', TOCLIENT),                   # 0 == False: no error
    (b'{"id":1,"jsonrpc":"2.0"}', TOCLIENT),                           # no result, no error
    (b'{"id":1,"result":true}', TOSERVER),                             # replies come from pools
    (b'{"id":1,"method":"eth_getWork","params":[]}', TOCLIENT),
    (b'{"id":1,"method":null,"result":true}', TOCLIENT),
    (b'{"id":1,"result":{"status":"OK","job":{}}}', TOCLIENT),
    (b'{"id":1,"result":true,"error":"x[y"}', TOCLIENT),               # bracket in a string
    (b'{"id":4,"method":"eth_submitWork","worker":"rig1","params":["0x07a05fa4133e5126",'
     b'"0x' + b"a1" * 32 + b'","0x' + b"b2" * 32 + b'"]}', TOSERVER),  # a worker to add
    (b'{"id":4,"method":"eth_submitWork","params":["0x07a0","0x' + b"a1" * 32 + b'","0x'
     + b"b2" * 32 + b'"]}', TOSERVER),                                # short nonce: STRONG
])
def test_lines_left_to_python(line, direction):
    assert steady.read(line, direction) is steady.UNCLAIMED


@pytest.mark.parametrize("value", [b"0", b"-3", b"0.0", b'"8"', b"null", b"1e-400"])
def test_a_difficulty_that_is_not_positive_is_read_as_no_message(value):
    line = b'{"id":null,"method":"mining.set_difficulty","params":[' + value + b"]}"
    assert steady.read(line, TOCLIENT) is None
    assert python_parse(line, TOCLIENT) is None


def test_claims_follow_decode_json_blanks():
    line = json.dumps(SHARE_ACCEPTED).encode()
    for padded in (b" \t" + line + b"\r\x00", b"\x00" + line, line + b"\n"):
        assert check(padded, TOCLIENT) is not None
    assert steady.read(line[:-1] + b"\x00}", TOCLIENT) is steady.UNCLAIMED


# ------------------------------------------------------------- variations

def _mutate_value(rng, value):
    """A value of another type or shape, or a near miss of the same one."""
    choices = [None, True, False, 0, -1, 1.5, 10 ** 20, "", "x", "0x", "ABCDEF12", "abcdefg1",
               "0X" + HASH, HASH.upper(), HASH[:-1], HASH + "0", [], {}, [1], {"status": "OK"},
               "04000000", "x{y", "tab\there", "é"]
    if isinstance(value, str) and value:
        choices += [value[:-1], value + "0", value.upper(), value[:2] + "g" + value[3:],
                    "0x" + value, value.removeprefix("0x")]
    if isinstance(value, list):
        choices += [value[:-1], value + [True], value + [None, None], list(reversed(value))]
    return rng.choice(choices)


def _mutate(rng, obj):
    obj = json.loads(json.dumps(obj))
    for _ in range(rng.randint(1, 3)):
        where = rng.choice(["top", "param", "drop", "add", "params"])
        params = obj.get("params", obj.get("result"))
        if where == "top":
            key = rng.choice(list(obj) + ["id"])
            obj[key] = _mutate_value(rng, obj.get(key))
        elif where == "param" and isinstance(params, list) and params:
            k = rng.randrange(len(params))
            params[k] = _mutate_value(rng, params[k])
        elif where == "param" and isinstance(params, dict) and params:
            key = rng.choice(list(params))
            params[key] = _mutate_value(rng, params[key])
        elif where == "drop" and len(obj) > 1:
            del obj[rng.choice(list(obj))]
        elif where == "add":
            obj[rng.choice(["worker", "jsonrpc", "method", "error", "result", "params"])] = \
                _mutate_value(rng, None)
        elif where == "params" and isinstance(params, dict):
            params[rng.choice(["algo", "nonce", "job_id", "result", "x", "blob", "target",
                               "height"])] = \
                _mutate_value(rng, "")
    return obj


def _render(rng, obj) -> bytes:
    """obj as JSON text, compact or spaced, keys shuffled, sometimes a key repeated or
    bytes edited (the checks must hold for any text, valid JSON or not)."""
    items = list(obj.items())
    rng.shuffle(items)
    if items and rng.random() < 0.1:
        items.append(rng.choice(items))
    sep = rng.choice([(",", ":"), (", ", ": "), (" ,", " : "), (",\t", ":\r")])
    text = "{" + sep[0].join(json.dumps(k) + sep[1] + json.dumps(v, separators=sep)
                             for k, v in items) + "}"
    data = text.encode("utf-8")
    if rng.random() < 0.15:
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice([b"", b" ", b"\\", b"]", b"}", b",", b'"', b"\x00",
                                       b"\xff", b"1"]) + data[at + rng.randint(0, 2):]
    return data


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 2 ** 32))
def test_variations_of_claimed_shapes_match_python(seed):
    rng = random.Random(seed)
    direction, obj = rng.choice(TEMPLATES)
    line = _render(rng, _mutate(rng, obj) if rng.random() < 0.9 else obj)
    check(line, direction if rng.random() < 0.9 else
          (TOSERVER if direction == TOCLIENT else TOCLIENT))


# ------------------------------------------------------------- the corpus

def _lines(transcript):
    """Each direction's lines, as MiningSession frames them (LF, one CR dropped)."""
    for direction in (TOSERVER, TOCLIENT):
        data = b"".join(c[1] for c in transcript.chunks if c[0] == direction)
        lines, _, _ = split_lines(data)
        yield from ((direction, line) for line in lines)


def test_corpus_lines_match_python():
    claimed, python, seen = {}, {}, 0
    for name in TRUTH_FILES + NEGATIVE_FILES:
        for transcript in transcripts(corpus_dir() / name):
            for direction, line in _lines(transcript):
                seen += 1
                msg = check(line, direction)
                if msg is not None:
                    claimed[msg.signature] = claimed.get(msg.signature, 0) + 1
                ref = python_parse(line, direction)
                if ref is not None and ref.signature in CLASSES_IN_TEMPLATES:
                    python[ref.signature] = python.get(ref.signature, 0) + 1
    assert seen > 5000
    # the shapes steady reads, where real traffic has them, are read there: nearly
    # every line the Python parsers read as one of them
    assert set(claimed) == set(python), (claimed, python)
    assert sum(claimed.values()) >= 0.95 * sum(python.values()), (claimed, python)


@pytest.mark.parametrize("name", TRUTH_FILES)
def test_sessions_are_the_same_without_steady(name, monkeypatch):
    """Whole sessions on real mining flows: the same summary with and without steady."""
    streams = transcripts(corpus_dir() / name)
    with_steady = [tr.session().to_dict() for tr in streams]
    monkeypatch.setattr(steady, "read", lambda line, direction: steady.UNCLAIMED)
    assert with_steady == [tr.session().to_dict() for tr in streams]
    assert any(s["is_mining"] for s in with_steady)


def test_session_reads_claimed_lines_through_steady(monkeypatch):
    calls = []
    real = steady.read
    monkeypatch.setattr(steady, "read", lambda line, d: calls.append(line) or real(line, d))
    session = MiningSession()
    session.feed(TOSERVER, json.dumps(TEMPLATES[0][1]).encode() + b"\n", 1, 10)
    assert calls and session.is_mining and session.shares_submitted == 1
