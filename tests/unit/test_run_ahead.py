"""run_ahead: a generator computed in a second thread, one item ahead, in lockstep."""

import threading

import pytest

from detector.run_ahead import in_step, run_ahead

WAIT_S = 10


class Items:
    """A generator of 0..n-1 that records what it made and whether it was closed."""

    def __init__(self, n, fail_at=None, before=None):
        self.n, self.fail_at, self.before = n, fail_at, before
        self.made = []
        self.closed = False
        self.threads = set()

    def __iter__(self):
        try:
            for k in range(self.n):
                if self.before is not None:
                    self.before(k)
                if k == self.fail_at:
                    raise ValueError(f"item {k}")
                self.threads.add(threading.current_thread().name)
                self.made.append(k)
                yield k
        finally:
            self.closed = True


def test_items_in_order_and_the_thread_rests_while_at_rest_runs():
    items = Items(50)
    seen_at_rest = []
    got = []

    def at_rest():
        # the thread has made the item being handed over and nothing after it
        seen_at_rest.append(list(items.made))

    for k in run_ahead(iter(items), at_rest, "test-ahead"):
        got.append(k)
        assert len(items.made) <= k + 2          # at most one item ahead
    assert got == list(range(50))
    assert seen_at_rest == [list(range(k + 1)) for k in range(50)]
    assert items.threads == {"test-ahead"} and items.closed


def test_the_next_item_is_made_while_the_caller_works_on_this_one():
    """Item 1 waits for the caller to be busy with item 0: only a second thread gets past."""
    busy_with_0 = threading.Event()
    waited = []

    def before(k):
        if k == 1:
            waited.append(busy_with_0.wait(WAIT_S))

    for k in run_ahead(iter(Items(3, before=before)), lambda: None):
        if k == 0:
            busy_with_0.set()
    assert waited == [True]


def test_an_error_comes_after_the_items_before_it():
    items = Items(10, fail_at=4)
    got = []
    with pytest.raises(ValueError, match="item 4"):
        for k in run_ahead(iter(items), lambda: None):
            got.append(k)
    assert got == [0, 1, 2, 3]
    assert not [t for t in threading.enumerate() if t.name == "minewatch-run-ahead"]


def test_closing_early_stops_the_thread_and_closes_the_items():
    items = Items(1000)
    ahead = run_ahead(iter(items), lambda: None, "test-close")
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name == "test-close"]
    assert items.closed and len(items.made) <= 4


def test_an_error_in_the_caller_stops_the_thread():
    items = Items(1000)

    def at_rest():
        if len(items.made) == 5:
            raise KeyError("reader failed")

    with pytest.raises(KeyError):
        for _ in run_ahead(iter(items), at_rest, "test-caller-error"):
            pass
    assert not [t for t in threading.enumerate() if t.name == "test-caller-error"]
    assert items.closed and len(items.made) <= 6


def test_in_step_calls_at_rest_before_each_item():
    items = Items(5)
    seen = []
    got = [k for k in in_step(iter(items), lambda: seen.append(len(items.made)))]
    assert got == list(range(5)) and seen == [1, 2, 3, 4, 5]
