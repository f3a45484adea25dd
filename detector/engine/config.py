"""Compilation flags for every kernel, kept in one place (never written inline).

`cache=True` writes compiled code next to the module, or, when the installed
package is read-only, to NUMBA_CACHE_DIR; cli.py points that at a per-user
cache directory so a second run compiles nothing.
"""

from numba import njit

JIT_OPTIONS = {"cache": True, "nogil": True, "boundscheck": False}


def kernel(fn):
    """Decorate a hot-path function: @njit with the project's flags."""
    return njit(**JIT_OPTIONS)(fn)


def small_kernel(fn):
    """A kernel helper called many times per record: inlined into its callers (numba IR),
    since a call that passes array arguments costs more than a short body."""
    return njit(inline="always", **JIT_OPTIONS)(fn)
