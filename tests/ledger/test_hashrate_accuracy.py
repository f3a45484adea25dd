"""Hashrate accuracy on simulated miners of known hashrate, through the real scan.

tests/gen/miner_sim.py drives Stratum V1 and xmrig sessions with shares as a
Poisson process at the pool's difficulty, job pushes every 10-60 s and a
vardiff that moves the difficulty every 90 s. The captures go through
`scan_capture` like any other; the hits' estimates are compared with the
hashrate the simulation was driven with. The seed set is fixed (chosen once,
not searched) so the test is deterministic; the figures are statistical
properties, so they are asserted over many trials, not per flow.
"""

import pytest

from detector.pipeline import EngineOptions
from detector.scan_command import load_matcher, scan_capture
from tests.gen.miner_sim import random_specs, write_miners

SEEDS = (101, 102, 103, 104)
MINERS_PER_CAPTURE = 60


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    out = []
    matcher = load_matcher()
    for seed in SEEDS:
        specs = random_specs(MINERS_PER_CAPTURE, seed)
        path = write_miners(tmp_path_factory.mktemp("sim") / f"miners-{seed}.pcap", specs)
        hits = {h["client_port"]: h for h in scan_capture(path, matcher, EngineOptions()).hits}
        out.extend((spec, hits.get(spec.client_port)) for spec in specs)
    return out


def test_every_simulated_miner_is_found_with_its_fields(trials):
    for spec, hit in trials:
        assert hit is not None, spec
        assert (hit["variant"], hit["worker"], hit["agent"]) == (spec.dialect, spec.worker,
                                                                 spec.agent)
        assert hit["shares_accepted"] == hit["shares_submitted"] > 0
        if hit["shares_accepted"] >= 2:     # one share spans no window
            assert hit["hashrate_shares"] == hit["shares_accepted"] - 1
        else:
            assert hit["hashrate_hps"] is None


def test_interval_covers_the_true_hashrate_in_90_percent_of_trials(trials):
    covered = [hit["hashrate_low"] <= spec.hashrate_hps <= hit["hashrate_high"]
               for spec, hit in trials if hit["hashrate_hps"] is not None]
    assert len(covered) >= 0.95 * len(trials)
    assert sum(covered) / len(covered) >= 0.90, f"coverage {sum(covered)}/{len(covered)}"


def test_point_estimate_within_15_percent_from_100_shares(trials):
    errors = [abs(hit["hashrate_hps"] / spec.hashrate_hps - 1) for spec, hit in trials
              if hit["shares_accepted"] >= 100]
    assert len(errors) >= 40        # enough long sessions for the figure to mean something
    within = sum(e <= 0.15 for e in errors) / len(errors)
    assert within >= 0.90, f"{within:.3f} within ±15 %"
    assert max(errors) <= 0.30


def test_ledger_counts_rigs_behind_one_address_and_adds_their_hashrate(tmp_path):
    """Three identical rigs behind one NAT address, mining at once: 3 devices, one
    subscriber whose hashrate is the sum of the true rates (coverage of the interval is
    a property of many trials, asserted above, not of one)."""
    import dataclasses

    from detector.ledger.config import load_ledger_config
    from detector.ledger.fold import summarize
    from detector.ledger.store import open_ledger
    from detector.ledger_command import fold_hits

    base = [s for s in random_specs(12, 7) if s.dialect == "xmrig"][:3]
    rigs = [dataclasses.replace(s, client_ip="192.0.2.77", worker="wallet.farm",
                                agent="XMRig/6.21.0", duration_s=3600.0,
                                start_ts_ns=base[0].start_ts_ns + i * 5_000_000_000)
            for i, s in enumerate(base)]
    path = write_miners(tmp_path / "rigs.pcap", rigs)
    hits = scan_capture(path, load_matcher(), EngineOptions()).hits
    assert len(hits) == 3
    with open_ledger(tmp_path / "l.db") as store:
        fold_hits(store, hits)
        (rec,) = summarize(store.flow_rows(), load_ledger_config())
    truth = sum(s.hashrate_hps for s in rigs)
    assert (rec["subscriber"], rec["devices"], rec["flows"]) == ("192.0.2.77", 3, 3)
    assert rec["hashrate_low"] < rec["hashrate_hps"] < rec["hashrate_high"]
    assert rec["hashrate_hps"] == pytest.approx(truth, rel=0.15)
    assert rec["power_w"] == pytest.approx(rec["hashrate_hps"] * 0.01, rel=1e-3)   # RandomX
