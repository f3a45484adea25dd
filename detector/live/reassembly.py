"""IPv4 fragments the kernel could not reassemble for live capture.

The fanout group asks the kernel to reassemble IPv4 fragments before it
chooses a worker (PACKET_FANOUT_FLAG_DEFRAG), so every fragment of a datagram
reaches the worker that holds its flow. Live therefore counts a datagram once,
not once per fragment, and fragments the kernel cannot put together
(incomplete, overlapping, expired) never reach a ring. They are not ring
drops (PACKET_STATISTICS does not see them); the kernel counts them as
ReasmFails in the network namespace's /proc/net/snmp, which live reads at
start and at stop. The figure covers every socket of the namespace: on a
sensor whose only traffic is the mirror port, that is the mirror traffic.
"""

SNMP = "/proc/net/snmp"


def reassembly_failures(path=SNMP):
    """The namespace's Ip ReasmFails counter, or None when it cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("Ip:")]
    except OSError:
        return None
    if len(lines) < 2 or "ReasmFails" not in lines[0]:
        return None
    try:
        return int(lines[1][lines[0].index("ReasmFails")])
    except (IndexError, ValueError):
        return None
