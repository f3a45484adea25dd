"""The pure fold: merge rule, devices, pooled hashrate, power/energy, classes, hosting."""

import dataclasses
import itertools
import random

import pytest

from detector.ledger.config import load_ledger_config
from detector.ledger.fold import count_devices, merge_rows, summarize, union_length
from detector.ledger.power import algorithm_key, joules_per_hash, load_power_table
from tests.ledger.rows import NS, T0, row

CONFIG = load_ledger_config()


def by_sub(records):
    return {r["subscriber"]: r for r in records}


def test_merge_rows_is_a_total_order_choice():
    a = row(shares=10, rate_hps=1000.0)
    later = dict(a, last_ts_ns=a["last_ts_ns"] + NS, shares_submitted=12, shares_accepted=12)
    same_time_other_capture = dict(a, capture="copy.pcap")
    for x, y in itertools.permutations([a, later, same_time_other_capture], 2):
        assert merge_rows(x, y) is merge_rows(y, x)
    assert merge_rows(a, later) is later
    assert merge_rows(a, a) is a
    assert merge_rows(merge_rows(a, later), same_time_other_capture) is \
        merge_rows(a, merge_rows(later, same_time_other_capture))


def test_union_length():
    assert union_length([]) == 0
    assert union_length([(0, 10), (5, 20), (30, 40), (40, 45)]) == 35


def test_devices_reconnects_concurrent_rigs_backup_pools_and_dialects():
    reconnects = [row(client_port=40000 + i, start_s=i * 700, end_s=i * 700 + 600)
                  for i in range(3)]
    assert count_devices(reconnects) == 1                      # one miner, three sessions
    identical_rigs = [row(client_port=40000 + i, start_s=i, end_s=600) for i in range(3)]
    assert count_devices(identical_rigs) == 3                  # three at once behind one IP
    backup = [row(), row(client_port=40001, server_ip="198.51.100.7")]
    assert count_devices(backup) == 1                          # failover / backup pool
    named = [row(worker=f"w.rig{i}", client_port=40000 + i, start_s=i * 700,
                 end_s=i * 700 + 600) for i in range(4)]
    assert count_devices(named) == 4                           # differently named rigs
    bfg = [row(variant="getwork"), row(variant="getblocktemplate", client_port=40001)]
    assert count_devices(bfg) == 1                             # two dialects, one miner
    touching = [row(start_s=0, end_s=600), row(client_port=40001, start_s=600, end_s=900)]
    assert count_devices(touching) == 1                        # a reconnect, not overlap


def test_sequential_sessions_average_and_concurrent_sessions_add_up():
    seq = [row(client_port=40000 + i, start_s=i * 1000, end_s=i * 1000 + 900, shares=200,
               rate_hps=5000.0) for i in range(2)]
    rec = summarize(seq, CONFIG)[0]
    assert rec["hashrate_hps"] == pytest.approx(5000.0)
    assert rec["hashrate_low"] < 5000.0 < rec["hashrate_high"]
    conc = [row(client_port=40000 + i, start_s=0, end_s=900, shares=200, rate_hps=5000.0)
            for i in range(2)]
    rec = summarize(conc, CONFIG)[0]
    assert rec["devices"] == 2 and rec["hashrate_hps"] == pytest.approx(10000.0)


def test_power_energy_and_cost_from_the_table():
    r = row(start_s=0, end_s=3600, shares=400, rate_hps=10_000.0)
    rec = summarize([r], CONFIG, tariff=0.5, currency="EUR")[0]
    jph = joules_per_hash("randomx")
    assert jph == pytest.approx(0.01)                          # 100 H/s per W (§15 default)
    assert rec["power_w"] == pytest.approx(10_000.0 * jph, rel=1e-6)
    assert rec["energy_kwh"] == pytest.approx(100.0 * 1.0 / 1000, rel=1e-6)  # 100 W for 1 h
    assert rec["cost"] == pytest.approx(rec["energy_kwh"] * 0.5, rel=1e-6)
    assert rec["currency"] == "EUR" and rec["class"] == "single_device"


def test_power_table_rows_carry_source_and_year_and_aliases_resolve():
    table = load_power_table()
    assert set(table) >= {"sha256d", "scrypt", "ethash", "randomx", "kawpow", "kheavyhash",
                          "equihash"}
    for entry in table.values():
        assert all(d["source"] and d["year"] for d in entry["devices"])
    assert algorithm_key("rx/0") == "randomx"
    assert algorithm_key(None, "cryptonote") == "randomx"
    assert algorithm_key("Ethash") == "ethash" and algorithm_key(None, "ethereumstratum") == "ethash"
    assert algorithm_key("cn-heavy/xhv") == "cn-heavy/xhv" and joules_per_hash("cn-heavy/xhv") is None
    assert algorithm_key(None, None) is None


def test_classes_follow_the_configured_thresholds():
    rig = [row(worker=f"w.{i}", client_port=40000 + i, shares=100, rate_hps=1e4)
           for i in range(5)]
    assert summarize(rig, CONFIG)[0]["class"] == "small_rig"
    farm = [row(worker=f"w.{i}", client_port=40000 + i) for i in range(11)]
    assert summarize(farm, CONFIG)[0]["class"] == "mining_farm"
    big_asic = [row(algorithm="sha256d", variant="stratum-v1", shares=500, rate_hps=300e12)]
    # one device, but 300 TH/s at 25 J/TH = 7.5 kW: more than a single device's ceiling
    assert summarize(big_asic, CONFIG)[0]["class"] == "small_rig"
    strict = dataclasses.replace(CONFIG, classes=CONFIG.classes[-1:])
    assert summarize(rig, strict)[0]["class"] == "mining_farm"


def test_hosting_range_needs_devices_pools_duty_cycle_and_span():
    day = 86400
    rows = [row(client_ip=f"192.0.2.{i}", worker=f"w{i}", client_port=40000 + i,
                server_ip=f"203.0.113.{i % 4}", start_s=0, end_s=2 * day) for i in range(25)]
    recs = summarize(rows, CONFIG)
    assert all(r["hosting"] and r["ranges"] == ["192.0.2.0/24"] for r in recs)
    part_time = [dict(r, last_ts_ns=r["first_ts_ns"] + 3600 * NS) if i % 2 else r
                 for i, r in enumerate(rows)]
    assert all(r["hosting"] for r in summarize(part_time, CONFIG))   # the range is still 24/7
    household = rows[:3]
    assert not any(r["hosting"] for r in summarize(household, CONFIG))
    one_pool = [dict(r, server_ip="203.0.113.9") for r in rows]
    assert not any(r["hosting"] for r in summarize(one_pool, CONFIG))


def test_summary_does_not_depend_on_row_order_and_active_follows_the_clock():
    rows = [row(client_ip=f"10.0.0.{i % 3}", client_port=40000 + i, start_s=i * 100,
                end_s=i * 100 + 500, shares=50 + i, rate_hps=1000.0 + i, worker=f"w{i % 2}")
            for i in range(12)]
    rows.append(row(client_ip="10.0.0.9", start_s=-30 * 86400, end_s=-29 * 86400))
    expected = summarize(rows, CONFIG)
    rng = random.Random(3)
    for _ in range(5):
        rng.shuffle(rows)
        assert summarize(rows, CONFIG) == expected
    active = {r["subscriber"]: r["active"] for r in expected}
    assert active == {"10.0.0.0": True, "10.0.0.1": True, "10.0.0.2": True, "10.0.0.9": False}
    later = summarize(rows, CONFIG, now_ns=T0 + 30 * 86400 * NS)
    assert not any(r["active"] for r in later)
