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


def test_what_at_rest_returns_runs_after_the_thread_is_let_go_before_the_item():
    """at_rest's callable for item k runs while the thread makes item k+1 (which waits
    for that callable to start): it would time out if the thread were still held."""
    n = 4
    log = []
    after_started = [threading.Event() for _ in range(n)]
    made = [threading.Event() for _ in range(n)]
    rests = iter(range(n))

    def before(k):
        if k:
            assert after_started[k - 1].wait(WAIT_S)
        log.append(("made", k))
        made[k].set()

    def at_rest():
        k = next(rests)
        log.append(("rest", k))

        def after():
            after_started[k].set()
            if k + 1 < n:
                assert made[k + 1].wait(WAIT_S)    # the thread got on with the next item
            log.append(("after", k))
        return after

    got = []
    for k in run_ahead(iter(Items(n, before=before)), at_rest, "test-after"):
        assert log[-1] == ("after", k)            # the callable ran before the item came
        got.append(k)
    assert got == list(range(n))
    for k in range(n - 1):
        assert log.index(("rest", k)) < log.index(("made", k + 1)) < log.index(("after", k))


def test_in_step_runs_what_at_rest_returns_before_the_item():
    items = Items(3)
    log = []

    def at_rest():
        log.append(("rest", len(items.made)))
        return lambda: log.append(("after", len(items.made)))

    for k in in_step(iter(items), at_rest):
        log.append(("item", k))
    assert log == [("rest", 1), ("after", 1), ("item", 0), ("rest", 2), ("after", 2),
                   ("item", 1), ("rest", 3), ("after", 3), ("item", 2)]
