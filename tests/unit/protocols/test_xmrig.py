"""xmrig / CryptoNote parser."""

from detector.protocols import xmrig
from detector.protocols.message import CONCLUSIVE, STRONG, WEAK

BLOB = "0606e89883d205a65d8ee78991838a1cf3ec2ebbc5fb1fa43dec5fa1cd2bee4069212a549cd731000000005a88"
JOB = {"blob": BLOB, "job_id": "q3vXf1", "target": "b88d0600", "algo": "rx/0", "height": 3312410,
       "seed_hash": "74" * 32}


def test_login_strength_depends_on_mining_fields():
    base = {"id": 1, "jsonrpc": "2.0", "method": "login"}
    full = xmrig.parse({**base, "params": {"login": "48abc", "pass": "x", "rigid": "rig1",
                                           "agent": "XMRig/6.26.0 (Linux x86_64)", "algo": ["rx/0", "cn/r"]}},
                       "toserver")
    assert (full.strength, full.worker, full.algo, full.workers_extra) == (CONCLUSIVE, "48abc", "rx/0", ("rigid:rig1",))
    assert xmrig.parse({**base, "params": {"login": "w", "pass": "x", "agent": "foo/1"}}, "toserver").strength == STRONG
    assert xmrig.parse({**base, "params": {"login": "bob", "pass": "x"}}, "toserver").strength == WEAK
    assert xmrig.parse({**base, "params": ["bob", "x"]}, "toserver") is None


def test_job_login_result_submit_keepalive():
    job = xmrig.parse({"jsonrpc": "2.0", "method": "job", "params": JOB}, "toclient")
    assert (job.kind, job.strength, job.target_format, job.height) == ("job", CONCLUSIVE, "cryptonote", 3312410)
    res = xmrig.parse({"id": 1, "result": {"id": "7c", "job": JOB, "status": "OK"}, "error": None}, "toclient")
    assert res.is_reply and res.kind == "job"
    sub = xmrig.parse({"id": 5, "method": "submit", "params": {"id": "7c", "job_id": "q3vXf1",
                                                              "nonce": "6a4f0d21", "result": "fc" * 32}}, "toserver")
    assert sub.kind == "share" and sub.job_id == "q3vXf1"
    assert xmrig.parse({"id": 6, "method": "keepalived", "params": {"id": "7c"}}, "toserver").strength == WEAK


def test_generic_shapes_rejected():
    assert xmrig.parse({"id": 5, "method": "submit", "params": {"form": "contact"}}, "toserver") is None
    assert xmrig.parse({"method": "job", "params": {"title": "engineer"}}, "toclient") is None
    assert xmrig.parse({"method": "job", "params": {**JOB, "target": "zz"}}, "toclient") is None
    assert xmrig.parse({"method": "job", "params": JOB}, "toserver") is None
    assert xmrig.parse(b'{"method":"job","params":{"blob":', "toclient") is None
