"""Where the bundled data files are: signatures, pool list, timing rules, power table
and ledger thresholds, all in the repository's top-level `signatures/`.

A source checkout or an editable install reads them there. A wheel has no
top-level folder to carry them in: setup.cfg installs them as data files under
<prefix>/share/minewatch/signatures, found through the distribution's file list
(so an install with --prefix finds them too).
"""

from functools import cache
from importlib import metadata
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parent.parent / "signatures"
INSTALLED = "share/minewatch/signatures"   # setup.cfg [options.data_files]
MARKER = "pools.yaml"                      # a file every copy of the folder holds


@cache
def signatures_dir() -> Path:
    """The bundled signatures folder (the source tree's when it is not installed: the
    error then names the folder that is missing)."""
    if (SOURCE_TREE / MARKER).is_file():
        return SOURCE_TREE
    try:
        files = metadata.distribution("minewatch").files or []
    except metadata.PackageNotFoundError:
        return SOURCE_TREE
    for f in files:
        if f.name == MARKER and f.parent.as_posix().endswith(INSTALLED):
            return Path(f.locate()).resolve().parent
    return SOURCE_TREE
