"""Where records go (stdout or a file, as bytes) and the progress bar for people."""

import contextlib

import os
import sys

import click

PROGRESS_MIN_BYTES = 64 << 20   # smaller captures finish before a bar helps


@contextlib.contextmanager
def open_output(path):
    """Binary stream for records: '-' is stdout; a file is created or truncated."""
    if path in (None, "-"):
        yield sys.stdout.buffer
        return
    try:
        stream = open(path, "wb")
    except OSError as e:
        raise click.FileError(path, hint=e.strerror) from None
    with stream:
        yield stream


def progress_reporter(path):
    """A callback(source) that draws a bar on a terminal for long files, else None."""
    if not sys.stderr.isatty() or path == "-":
        return None
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if size < PROGRESS_MIN_BYTES:
        return None
    bar = click.progressbar(length=size, label=os.path.basename(path), file=sys.stderr)
    state = {"done": 0}

    def update(source):
        done = min(source.bytes_done, size)
        bar.update(done - state["done"])
        state["done"] = done
        if done >= size:
            bar.render_finish()
    return update



