"""`minewatch live`: detection on a network interface (mirror/SPAN port, TAP).

    parent (supervisor.py)                         workers (worker.py), one per ring
    ---------------------------------------        -------------------------------------
    open N AF_PACKET rings in one fanout group ─┬─> ring -> RecordBatch -> CaptureScan
    fork the workers                            │   (the same engine and detection as
    write hits (one writer), status, metrics <──┘    files), hits and stats on a queue

The parent opens every socket (one clear error when the interface is missing
or CAP_NET_RAW is lacking), forks one worker per ring and then only gathers:
hits go to the output as they come, worker counters feed the status line and
the Prometheus metrics. Signals: SIGTERM/SIGINT end every flow and exit,
SIGHUP reopens the output file and reloads the signatures and pool lists (docs/live.md).
"""
