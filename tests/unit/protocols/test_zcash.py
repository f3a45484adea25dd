"""ZIP 301 parser."""

from detector.protocols import zcash
from detector.protocols.message import CONCLUSIVE

NOTIFY = {"id": None, "method": "mining.notify",
          "params": ["39f2", "04000000", "22" * 32, "43" * 32, "00" * 32, "16ee7c58", "83837b1c", True]}


def test_subscribe_notify_submit():
    sub = zcash.parse({"id": 1, "method": "mining.subscribe",
                       "params": ["MinerName/1.0.0", None, "zec.pool.example", 3357]}, "toserver")
    assert (sub.variant, sub.pool_host, sub.pool_port, sub.agent) == (
        "stratum-v1", "zec.pool.example", 3357, "MinerName/1.0.0")
    job = zcash.parse(NOTIFY, "toclient")
    assert (job.variant, job.strength, job.algo) == ("zcash", CONCLUSIVE, "equihash")
    share = zcash.parse({"id": 4, "method": "mining.submit",
                         "params": ["t1w.rig", "39f2", "16ee7c58", "4304" + "0" * 28, "fd4005" + "ab" * 1344]},
                        "toserver")
    assert share.kind == "share" and share.worker == "t1w.rig"
    res = zcash.parse({"id": 1, "result": [None, "c208ec77000000000000000077ec08c1"], "error": None}, "toclient")
    assert res.extranonce.startswith("c208")


def test_not_zcash():
    assert zcash.parse({**NOTIFY, "params": NOTIFY["params"][:7]}, "toclient") is None
    assert zcash.parse({**NOTIFY, "params": ["39f2", "01000000"] + NOTIFY["params"][2:]}, "toclient") is None
    assert zcash.parse({"id": 4, "method": "mining.submit", "params": ["w", "j", "16ee7c58", "00", "ab"]},
                       "toserver") is None
    assert zcash.parse(NOTIFY, "toserver") is None
