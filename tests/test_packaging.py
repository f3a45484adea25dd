"""An installed wheel works without the source tree: it carries the bundled data
(signatures/: signatures, pool list, timing rules, power table, ledger thresholds),
installed under <prefix>/share/minewatch/signatures, and finds it there."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what a build reads: the package, the CLI module, the data and the metadata files
SOURCES = ("detector", "signatures", "cli.py", "setup.cfg", "pyproject.toml", "README.md")

# run by the installed copy, from a folder with no source tree in it
LOAD_BUNDLED = """
import detector.bundled, detector.scan_command
from detector.ledger import config, power
print(detector.bundled.signatures_dir())
print(detector.scan_command.DEFAULT_SIGNATURES,
      len(detector.scan_command.load_detectors().matcher.signature_ids) > 0)
print(config.load_ledger_config().__class__.__name__, len(power.load_power_table()) > 0)
import cli, sys
sys.argv = ["minewatch", "signatures", "check"]
cli.main()
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built once from a copy of the files a build reads (no build/ or
    egg-info in the repo)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"),
                    str(src)], check=True, capture_output=True, timeout=300)
    return next((tmp / "dist").glob("minewatch-*.whl"))


def test_a_wheel_carries_every_bundled_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if "/share/minewatch/signatures/" in n}
    assert shipped == {p.name for p in (REPO / "signatures").iterdir() if p.is_file()}


def test_an_installed_wheel_finds_its_bundled_data(wheel, tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", "--prefix", str(prefix), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    r = subprocess.run([sys.executable, "-c", LOAD_BUNDLED], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    data = (prefix / "share" / "minewatch" / "signatures").resolve()
    lines = r.stdout.splitlines()
    assert lines[0] == str(data)
    assert lines[1] == f"{data} True"
    assert lines[2] == "LedgerConfig True"
    assert lines[3] == f"{data}: signatures ok (example captures not installed: not checked)"
