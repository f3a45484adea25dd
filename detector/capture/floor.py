"""record_walk_count: the cheapest full pass over a capture, the floor a reader is timed against."""

from detector.capture.source import open_capture


def record_walk_count(path):
    """(records, caplen_bytes) of the capture at `path`, touching only record headers
    (see CaptureSource.count). Raises CaptureError as `open_capture` does."""
    with open_capture(path) as source:
        return source.count()
