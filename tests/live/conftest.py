"""Fixtures for the live-capture tests: a private network namespace with a veth pair.

Each test gets its own namespace (unique name per run and test), with IPv6
off so the kernel sends nothing of its own on the link: every frame on it is
one the test replayed. The namespace is deleted, and every process a test
started is ended, even when the test fails.
"""

import itertools
import os

import pytest

from tests.live.harness import Netns, live_unavailable

_names = itertools.count()


def require_live():
    reason = live_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live tests cannot run under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture
def netns(request):
    require_live()
    ns = Netns(f"mwtest-{os.getpid()}-{next(_names)}")
    request.addfinalizer(ns.delete)
    ns.create()
    return ns
