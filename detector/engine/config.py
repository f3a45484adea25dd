"""Compilation flags for every kernel, kept in one place (never written inline).

`cache=True` writes compiled code next to the module, or, when the installed
package is read-only, to NUMBA_CACHE_DIR; cli.py points that at a per-user
cache directory so a second run compiles nothing.

`inline_kernel` is for helpers called per packet or per segment from another
kernel. numba reference-counts every array a compiled function receives (an
atomic update on the way in and on the way out) unless its pruning pass can
pair them up; in the inspection loop those updates cost more than the helpers'
work. An inlined helper loses them when it has a single return, no helper
calls of its own, no array views, and uses each array on every path (branch on
scalars); several exits, a nested helper or an array touched in one branch
only bring them back (detector/engine/inspect.py shows each case). Even
where they stay, inlining removes the updates at the call itself: decode's
per-record chain (decode_record -> link -> IPv4 -> L4) runs in 55 ms per 2M
packets inlined, 99 ms as calls. Each inlined call site is compiled again, so
rare paths (tunnels, IPv6 extension headers, odd link types) stay calls.
"""

from numba import njit

JIT_OPTIONS = {"cache": True, "nogil": True, "boundscheck": False}


def kernel(fn):
    """Decorate a hot-path function: @njit with the project's flags."""
    return njit(**JIT_OPTIONS)(fn)


def inline_kernel(fn):
    """A kernel that numba inlines into the kernels calling it (no call, and no
    reference counting of its array arguments); callable on its own as well."""
    return njit(inline="always", **JIT_OPTIONS)(fn)
