"""pcaps/*/*.pcap -> tests/golden/<folder>/<name>.hits.jsonl, compared exactly.

The goldens are written by the code (MINEWATCH_UPDATE_GOLDEN=1 pytest
tests/golden) and reviewed in the diff, never typed in.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
CAPTURES = sorted(p.relative_to(REPO) for p in (REPO / "pcaps").glob("*/*.pcap"))


def scan_jsonl(rel):
    r = subprocess.run([sys.executable, "cli.py", "scan", "-q", "--format", "jsonl", str(rel)],
                       cwd=REPO, capture_output=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr.decode()
    return r.returncode, r.stdout.decode()


@pytest.mark.parametrize("rel", CAPTURES, ids=[str(c.relative_to("pcaps")) for c in CAPTURES])
def test_scan_matches_golden(rel):
    code, out = scan_jsonl(rel)
    golden = GOLDEN / rel.relative_to("pcaps").with_suffix(".hits.jsonl")
    if os.environ.get("MINEWATCH_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out)
    assert golden.exists(), f"no golden for {rel}: run MINEWATCH_UPDATE_GOLDEN=1 pytest {__file__}"
    assert out == golden.read_text()
    assert code == (1 if out else 0)
