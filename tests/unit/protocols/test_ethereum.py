"""eth-proxy, EthereumStratum/1.0.0 and 2.0.0 parsers."""

from detector.protocols import ethproxy, ethstratum
from detector.protocols.message import CONCLUSIVE, WEAK

H = "0x" + "41" * 32


def test_ethproxy_messages():
    login = ethproxy.parse({"id": 1, "method": "eth_submitLogin", "worker": "rig07",
                            "params": ["0x3a0024394c7ccc5a1108875286a99a1f128e3660", "x"]}, "toserver")
    assert login.worker.startswith("0x3a00") and login.workers_extra == ("worker:rig07",)
    work = ethproxy.parse({"id": 0, "result": [H, H, "0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e"]},
                          "toclient")
    assert work.kind == "job" and work.target_format == "boundary"
    share = ethproxy.parse({"id": 4, "method": "eth_submitWork", "params": ["0x07a05fa4133e5126", H, H]}, "toserver")
    assert (share.kind, share.strength) == ("share", CONCLUSIVE)
    rate = ethproxy.parse({"id": 6, "method": "eth_submitHashrate", "params": ["0x1d08a61", H]}, "toserver")
    assert rate.reported_hashrate_hs == 0x1d08a61
    assert ethproxy.parse({"id": 3, "method": "eth_getWork", "params": []}, "toserver").strength == WEAK


def test_ethereum_node_rpc_is_not_mining():
    for method in ("eth_blockNumber", "web3_clientVersion", "eth_call", "eth_sendRawTransaction"):
        assert ethproxy.parse({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, "toserver") is None
    assert ethproxy.parse({"jsonrpc": "2.0", "id": 1, "result": "Geth/v1.8.2"}, "toclient") is None


def test_ethereumstratum_1_and_2():
    sub = ethstratum.parse({"id": 1, "method": "mining.subscribe",
                            "params": ["ExampleMiner/1.2.3", "EthereumStratum/1.0.0"]}, "toserver")
    assert (sub.variant, sub.agent) == ("ethereumstratum-1", "ExampleMiner/1.2.3")
    res = ethstratum.parse({"id": 1, "result": [["mining.notify", "ae", "EthereumStratum/1.0.0"], "080c"],
                            "error": None}, "toclient")
    assert res.extranonce == "080c" and res.is_reply
    job = ethstratum.parse({"method": "mining.notify", "params": ["bf0488", "ab" * 32, "cd" * 32, True]},
                           "toclient")
    assert job.kind == "job" and job.variant == "ethereumstratum-1"
    hello = ethstratum.parse({"id": 0, "method": "mining.hello",
                              "params": {"agent": "ethminer", "host": "pool.example", "port": "d80",
                                         "proto": "EthereumStratum/2.0.0"}}, "toserver")
    assert (hello.variant, hello.pool_host) == ("ethereumstratum-2", "pool.example")
    plain = ethstratum.parse({"method": "mining.notify", "params": ["j", "0x" + "1" * 64, "0x" + "2" * 64,
                                                                   "0x" + "0" * 8 + "f" * 56]}, "toclient")
    assert plain.variant == "stratum-v1" and plain.algo == "ethash"
    assert ethstratum.parse({"id": 1, "method": "mining.subscribe", "params": ["x", "Other/1"]}, "toserver") is None
