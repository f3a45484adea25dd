"""Minewatch: find cryptocurrency-mining traffic in packet captures."""

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def _numba_cache_dir():
    """A per-user numba cache directory keyed by a hash of this package's sources.

    numba's own cache check looks only at the file of the function it loads,
    so a kernel whose callee changed in another module would load stale code;
    keying the directory by every source file rules that out. The directory is
    always writable, also when the package is installed read-only. An explicit
    NUMBA_CACHE_DIR wins.
    """
    digest = hashlib.sha1(__version__.encode())
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minewatch", "numba-" + digest.hexdigest()[:16])


if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = _numba_cache_dir()
