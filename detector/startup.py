"""How long the process took to get ready (imports, cached numba code)."""

import os
import time

_T_IMPORT = time.perf_counter()


def _process_age_s():
    """Seconds since this process started, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start_ticks = int(fields[19])       # field 22 of stat: starttime
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def startup_seconds():
    """Seconds from process start (or this module's import) until now."""
    age = _process_age_s()
    return age if age is not None else time.perf_counter() - _T_IMPORT
