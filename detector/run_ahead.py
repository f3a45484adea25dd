"""Run a generator one item ahead of its reader, in a second thread, in lockstep.

A scan's flow table (numba kernels that release the GIL) folds the next batch
while detection inspects the one before. Both halves share the flow table, so
the thread never runs free: after each item it waits until the reader has had
its look (`at_rest`), which keeps the output the same as in one thread.
What `at_rest` returns, when callable, runs right after the thread is let go:
work that needs what the rest showed but not the rest itself (formatting
what it copied out) then overlaps with the next item.
"""

import queue
import threading

_DONE = object()


class _Failed:
    """An exception raised by the items, to be raised again in the reader's thread."""

    def __init__(self, exc):
        self.exc = exc


def run_ahead(items, at_rest, name="minewatch-run-ahead"):
    """Yield what the generator `items` yields, computed in a second thread one item ahead.

    For every item, `at_rest()` runs in the caller's thread once the item is
    computed and before the thread starts on the next one: the one moment the
    caller may read what `items` writes. If it returns a callable, that runs
    (in the caller's thread) once the thread is let go, before the item is
    yielded. The caller then works on the item while the thread computes the
    next. An exception from `items` is raised here after the items before it.
    Closing this generator (or an exception in the caller) stops the thread
    before its next item and waits for it.
    """
    ready = queue.SimpleQueue()
    go = threading.Semaphore(0)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                ready.put(item)
                go.acquire()
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as exc:       # noqa: BLE001 - handed to the reader
            ready.put(_Failed(exc))
        finally:
            items.close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            after = at_rest()
            go.release()
            if after is not None:
                after()
            yield item
    finally:
        stop.set()
        go.release()
        thread.join()


def in_step(items, at_rest):
    """`run_ahead` without the thread: `at_rest()`, then what it returns, before each
    item is yielded."""
    for item in items:
        after = at_rest()
        if after is not None:
            after()
        yield item
