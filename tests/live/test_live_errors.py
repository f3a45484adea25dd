"""`minewatch live` refuses to start with one error line and exit status 2."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.live.harness import CLI


def live(*args, prefix=()):
    return subprocess.run([*prefix, *CLI, "live", *map(str, args)], capture_output=True,
                          timeout=300)


@pytest.mark.skipif(sys.platform != "linux", reason="live capture is Linux only")
def test_missing_interface():
    r = live("-i", "mw-missing0")
    assert r.returncode == 2
    assert r.stderr.decode() == "error: mw-missing0: no such network interface\n"
    assert r.stdout == b""


def without_cap_net_raw():
    """A command prefix that runs without CAP_NET_RAW: as root, setpriv drops it
    from the bounding set (root keeps every other capability); others lack it."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        reason = "setpriv (util-linux) not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return ("setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--")


@pytest.mark.skipif(sys.platform != "linux", reason="live capture is Linux only")
def test_without_cap_net_raw():
    r = live("-i", "lo", prefix=without_cap_net_raw())
    assert r.returncode == 2
    assert r.stderr.decode() == ("error: lo: permission denied opening a packet socket: live "
                                 "capture needs CAP_NET_RAW (run as root, or see "
                                 "docs/live.md)\n")


@pytest.mark.parametrize("args, message", [
    (("--workers", "0"), "Invalid value for '--workers': must be a positive integer, got 0"),
    (("--ring-block-size", "1000"),
     "error: --ring-block-size: must be a multiple of the page size (4096 bytes), got 1000"),
])
@pytest.mark.skipif(sys.platform != "linux", reason="live capture is Linux only")
def test_bad_options(args, message):
    r = live("-i", "lo", *args)
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines()[-1].endswith(message)
