"""Hashes per share and the share-based estimator (PROTOCOLS.md §12)."""

import math
import random

import pytest

from detector import hashrate as hr


def test_hashes_per_share_formulas():
    assert hr.hashes_per_share("sha256d", difficulty=1) == pytest.approx(4295032833.0)
    assert hr.hashes_per_share("scrypt", difficulty=2) == 131072
    assert hr.cryptonote_difficulty("b88d0600") == pytest.approx(10000, rel=1e-3)
    assert hr.cryptonote_difficulty("edb5a0f7c6100000") == pytest.approx(1_000_000, rel=1e-3)
    assert hr.cryptonote_difficulty("00000000") is None and hr.cryptonote_difficulty("zz") is None
    boundary = "0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e"
    assert hr.hashes_per_share("ethash", target=boundary, target_format="boundary") == pytest.approx(5.0e9, rel=1e-3)
    assert hr.target_hashes("ffff", "boundary") == pytest.approx(2 ** 256 / 0xFFFF)
    be = "00000000ffff" + "0" * 52
    assert hr.target_hashes(be, "be256") == pytest.approx(hr.sha256d_hashes(1))
    le = bytes.fromhex(be)[::-1].hex()
    assert hr.target_hashes(le, "le256") == pytest.approx(hr.sha256d_hashes(1))
    assert hr.difficulty_from_target(be, "be256", "sha256d") == pytest.approx(1.0)
    assert hr.difficulty_from_target("0007" + "f" * 60, "be256", "equihash") == pytest.approx(1.0, rel=1e-3)
    assert hr.hashes_per_share("sha256d") is None


@pytest.mark.parametrize("p,dof,expected", [(0.95, 2, 5.991465), (0.05, 2, 0.102587), (0.95, 10, 18.307038),
                                            (0.05, 20, 10.850811), (0.95, 3, 7.814728)])
def test_chi2_quantile_against_tables(p, dof, expected):
    rel = 1e-2 if dof % 2 else 1e-4      # odd dof: Wilson-Hilferty approximation
    assert hr.chi2_quantile(p, dof) == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("dof,tol", [(2, 1e-9), (8, 1e-9), (202, 1e-9), (2000, 1e-9), (2002, 1e-5)])
def test_chi2_quantile_inverts_exact_cdf(dof, tol):
    """Exact up to 2000 dof; beyond, Wilson-Hilferty is checked against the exact CDF."""
    for p in (0.05, 0.5, 0.95):
        assert hr._chi2_cdf_even(hr.chi2_quantile(p, dof), dof) == pytest.approx(p, abs=tol)


def test_chi2_quantile_rejects_bad_input():
    for p, dof in ((0.0, 2), (1.0, 2), (0.5, 0)):
        with pytest.raises(ValueError):
            hr.chi2_quantile(p, dof)


def test_estimate_and_interval():
    est = hr.estimate_hashrate([hr.sha256d_hashes(1000)] * 100, interval_s=100.0)
    assert est.hashrate_hs == pytest.approx(hr.sha256d_hashes(1000))
    assert est.low_hs < est.hashrate_hs < est.high_hs
    assert est.high_hs / est.hashrate_hs == pytest.approx(1.18, abs=0.02)   # ~ ±1.645/sqrt(100)
    none = hr.estimate_hashrate([], interval_s=60.0, fallback_hashes_per_share=1e6)
    assert none.hashrate_hs == 0 and none.high_hs == pytest.approx(2.9957 * 1e6 / 60, rel=1e-3)
    assert hr.estimate_hashrate([], 60.0) is None and hr.estimate_hashrate([1.0], 0) is None


def test_interval_coverage_by_simulation():
    """About 90 % of simulated Poisson windows contain the true rate (seeded, no timing)."""
    rng = random.Random(7)
    true_rate, h, window = 0.3, 1e9, 120.0
    hits = 0
    for _ in range(400):
        t, n = 0.0, 0
        while True:
            t += rng.expovariate(true_rate)
            if t > window:
                break
            n += 1
        est = hr.estimate_hashrate([h] * n, window, fallback_hashes_per_share=h)
        hits += est.low_hs <= true_rate * h <= est.high_hs
    assert 0.86 <= hits / 400 <= 0.97
    assert math.isfinite(hr.chi2_quantile(0.999, 400))


def test_share_tally_window_excludes_its_opener():
    tally = hr.ShareTally()
    assert tally.estimate() is None
    tally.add(10_000_000_000, 4.0)
    assert tally.estimate() is None            # one share spans no window
    tally.add(30_000_000_000, 8.0)
    tally.add(20_000_000_000, 2.0)             # replies may come out of order
    tally.add(40_000_000_000, None)            # no H: not counted
    est = tally.estimate()
    assert (tally.accepted, est.shares, est.interval_s) == (3, 2, 20.0)
    assert est.hashes == 10.0 and est.hashrate_hs == 0.5
    tally.add(5_000_000_000, 1.0)              # an earlier share becomes the opener
    est = tally.estimate()
    assert (est.shares, est.interval_s, est.hashes) == (3, 25.0, 14.0)


def test_share_tally_mean_matches_the_gamma_expectation():
    """Over seeded Poisson runs of 10 shares the mean estimate is rate*(N-1)/(N-2), not N/(N-2)."""
    rng = random.Random(11)
    true_rate, h = 0.2, 1e6
    estimates = []
    for _ in range(3000):
        tally, t = hr.ShareTally(), 0.0
        for _ in range(10):
            t += rng.expovariate(true_rate)
            tally.add(int(t * 1e9), h)
        estimates.append(tally.estimate().hashrate_hs)
    # E[(N-1)/T] over N-1 gaps is rate*(N-1)/(N-2): 9/8 for N=10; counting the opener gives 10/8
    assert sum(estimates) / len(estimates) == pytest.approx(true_rate * h * 9 / 8, rel=0.03)
