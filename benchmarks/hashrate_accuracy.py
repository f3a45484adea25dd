"""Hashrate accuracy figures on simulated miners (the numbers README and docs/ledger.md quote).

Same trials as tests/ledger/test_hashrate_accuracy.py: python benchmarks/hashrate_accuracy.py
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.pipeline import EngineOptions  # noqa: E402
from detector.scan_command import load_matcher, scan_capture  # noqa: E402
from tests.gen.miner_sim import random_specs, write_miners  # noqa: E402
from tests.ledger.test_hashrate_accuracy import MINERS_PER_CAPTURE, SEEDS  # noqa: E402


def main():
    matcher = load_matcher()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            specs = random_specs(MINERS_PER_CAPTURE, seed)
            path = write_miners(Path(tmp) / f"m{seed}.pcap", specs)
            hits = {h["client_port"]: h for h in scan_capture(path, matcher, EngineOptions()).hits}
            rows += [(s, hits[s.client_port]) for s in specs]
    est = [(s, h) for s, h in rows if h["hashrate_hps"] is not None]
    covered = sum(h["hashrate_low"] <= s.hashrate_hps <= h["hashrate_high"] for s, h in est)
    long = [abs(h["hashrate_hps"] / s.hashrate_hps - 1) for s, h in est
            if h["shares_accepted"] >= 100]
    within = sum(e <= 0.15 for e in long)
    print(f"miners {len(rows)}, with an estimate {len(est)}")
    print(f"90% interval holds the truth: {covered}/{len(est)} = {covered / len(est):.1%}")
    print(f">=100 shares: {len(long)} flows, within ±15%: {within}/{len(long)} = "
          f"{within / len(long):.1%}, largest error {max(long):.1%}")


if __name__ == "__main__":
    main()
