"""Stratum V1 and KawPow parsers on raw lines (invented values, real shapes)."""

import pytest

from detector.protocols import kawpow, stratum_v1
from detector.protocols.message import CONCLUSIVE, STRONG

NOTIFY = (b'{"id":null,"method":"mining.notify","params":["1f3a",'
          b'"d2bf671a8ce89b0a16b512d0aebb0f54aaba9e54504912a70000000000000000",'
          b'"01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2c03a1d80d",'
          b'"ffffffff0240be40",["38e005dd68e97742378435d310b2ea1f98de0aacef2e99b81692b3d636e7ab2b"],'
          b'"20000000","17034219","66a1f0c2",true]}')


def test_client_messages():
    msg = stratum_v1.parse(b'{"id":1,"method":"mining.subscribe","params":["bmminer/2.0.0"]}', "toserver")
    assert (msg.kind, msg.strength, msg.agent) == ("login", CONCLUSIVE, "bmminer/2.0.0")
    msg = stratum_v1.parse({"id": 2, "method": "mining.authorize", "params": ["acct.rig07", "x"]}, "toserver")
    assert msg.worker == "acct.rig07" and not hasattr(msg, "password")
    msg = stratum_v1.parse({"id": 3, "method": "mining.configure",
                            "params": [["version-rolling"], {"version-rolling.mask": "1fffe000"}]}, "toserver")
    assert msg.strength == CONCLUSIVE
    msg = stratum_v1.parse({"id": 4, "method": "mining.submit",
                            "params": ["acct.rig07", "1f3a", "00000000a2f1", "66a1f0c2", "ba3cf26d"]}, "toserver")
    assert (msg.kind, msg.job_id) == ("share", "1f3a")
    assert stratum_v1.parse({"id": 5, "method": "mining.extranonce.subscribe", "params": []},
                            "toserver").strength == STRONG


def test_server_messages():
    msg = stratum_v1.parse(NOTIFY, "toclient")
    assert (msg.kind, msg.strength, msg.job_id, msg.height) == ("job", CONCLUSIVE, "1f3a", 0x0dd8a1)
    msg = stratum_v1.parse(b'{"id":null,"method":"mining.set_difficulty","params":[65536]}', "toclient")
    assert (msg.kind, msg.difficulty, msg.strength) == ("difficulty", 65536.0, STRONG)
    msg = stratum_v1.parse({"id": 1, "result": [[["mining.notify", "ae68"]], "08000002", 4],
                            "error": None}, "toclient")
    assert msg.is_reply and msg.extranonce == "08000002"
    assert stratum_v1.parse({"method": "mining.set_extranonce", "params": ["af4c", 4]},
                            "toclient").extranonce == "af4c"


def test_direction_is_required():
    assert stratum_v1.parse(NOTIFY, "toserver") is None
    assert stratum_v1.parse({"id": 1, "method": "mining.subscribe", "params": []}, "toclient") is None


def test_notify_shape_checked():
    bad = [
        {"method": "mining.notify", "params": ["1", "zz", "", "", [], "20000000", "17034219", "66a1f0c2", True]},
        {"method": "mining.set_difficulty", "params": [-1]},
        {"method": "mining.set_difficulty", "params": ["65536"]},
        {"method": "mining.set_target", "params": ["abc"]},
    ]
    for obj in bad:
        msg = stratum_v1.parse(obj, "toclient")
        assert msg is None or msg.strength != CONCLUSIVE


@pytest.mark.parametrize("raw", [b"", b"{", b'{"method": 5}', b"\xff" * 50, b'{"method":"mining.submit"}',
                                 b'{"method":"mining.submit","params":"x"}', b'{"method":"server.version"}',
                                 NOTIFY[:-10]])
def test_garbage_and_truncated(raw):
    for direction in ("toserver", "toclient"):
        msg = stratum_v1.parse(raw, direction)
        assert msg is None or msg.strength != CONCLUSIVE or raw == b'{"method":"mining.submit"}'


def test_kawpow_notify_and_submit():
    h = "ab" * 32
    msg = kawpow.parse({"id": None, "method": "mining.notify",
                        "params": ["6d1", h, h, "00000001fe" + "0" * 54, True, 3000000, "1b00f3c2"]}, "toclient")
    assert (msg.algo, msg.height, msg.target_format, msg.variant) == ("kawpow", 3000000, "be256", "stratum-v1")
    msg = kawpow.parse({"id": 9, "method": "mining.submit",
                        "params": ["R.w", "6d1", "0x" + "1" * 16, "0x" + h, "0x" + h]}, "toserver")
    assert msg.kind == "share" and msg.worker == "R.w"
