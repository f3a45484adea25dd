"""Live counters for people (one status line) and for Prometheus (--metrics-port).

The parent keeps the latest WorkerCounters of each worker (`LiveCounters`);
rates are the difference between a worker's last two snapshots. Prometheus
reads the same numbers through a collector at scrape time (prometheus-client).
"""

from dataclasses import dataclass, field

from ..errors import ConfigError
from .worker import WorkerCounters


def rate_text(rate):
    """'2.85M' / '404.7k' / '12' (per second, for people)."""
    if rate >= 1e6:
        return f"{rate / 1e6:.2f}M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f}k"
    return f"{rate:.0f}"


@dataclass
class LiveCounters:
    """Latest and previous snapshot per worker."""

    workers: int
    latest: dict = field(default_factory=dict)     # worker -> WorkerCounters
    previous: dict = field(default_factory=dict)

    def update(self, worker, counters: WorkerCounters):
        if worker in self.latest:
            self.previous[worker] = self.latest[worker]
        self.latest[worker] = counters

    def get(self, worker):
        return self.latest.get(worker, WorkerCounters())

    def total(self, name):
        return sum(getattr(self.get(w), name) for w in range(self.workers))

    def packet_rate(self, worker):
        """Packets/s between the worker's last two snapshots (0 before the second)."""
        now, before = self.latest.get(worker), self.previous.get(worker)
        if now is None or before is None or now.at <= before.at:
            return 0.0
        return (now.packets - before.packets) / (now.at - before.at)

    def status_line(self, interface):
        per_worker = ", ".join(f"w{w} {rate_text(self.packet_rate(w))}/s"
                               for w in range(self.workers))
        total_rate = sum(self.packet_rate(w) for w in range(self.workers))
        return (f"live {interface}: {self.total('packets')} packets "
                f"({rate_text(total_rate)}/s), {self.total('drops')} dropped, "
                f"{self.total('active_flows')} active flows, {self.total('hits')} hits "
                f"[{per_worker}]")

    def summary_line(self, interface, elapsed_s, reassembly_failures=None):
        """The stop line; `reassembly_failures`: IPv4 fragments the kernel could not
        reassemble meanwhile (reassembly.py), None when unknown."""
        per_worker = "; ".join(f"worker {w}: {self.get(w).packets} packets "
                               f"{self.get(w).drops} dropped" for w in range(self.workers))
        unreassembled = "" if reassembly_failures is None else \
            f", {reassembly_failures} IPv4 fragment reassembly failures in the kernel"
        return (f"{interface}: {self.total('packets')} packets, {self.total('drops')} dropped"
                f"{unreassembled}, {self.total('flows')} flows, {self.total('hits')} hits, "
                f"{elapsed_s:.1f} s ({per_worker})")


METRICS = (   # name, type, help, WorkerCounters field (None: computed)
    ("minewatch_packets", "counter", "Packets handed to the engine.", "packets"),
    ("minewatch_bytes", "counter", "Captured bytes handed to the engine.", "bytes"),
    ("minewatch_drops", "counter", "Packets the kernel dropped because the ring was full.",
     "drops"),
    ("minewatch_flows", "counter", "Flows ended.", "flows"),
    ("minewatch_hits", "counter", "Mining flows that ended (final hits).", "hits"),
    ("minewatch_active_flows", "gauge", "Flows in the worker's table.", "active_flows"),
    ("minewatch_packets_per_second", "gauge", "Packets/s over the last second.", None),
)


class LiveCollector:
    """prometheus-client collector: one sample per worker per metric, read at scrape."""

    def __init__(self, counters: LiveCounters):
        self.counters = counters

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        for name, kind, text, attr in METRICS:
            family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, text, labels=["worker"])
            for w in range(self.counters.workers):
                value = (getattr(self.counters.get(w), attr) if attr is not None
                         else self.counters.packet_rate(w))
                family.add_metric([str(w)], value)
            yield family


def serve_metrics(port, counters: LiveCounters):
    """Start the /metrics HTTP server in a thread (all addresses, like node_exporter)."""
    from prometheus_client import CollectorRegistry, start_http_server
    registry = CollectorRegistry()
    registry.register(LiveCollector(counters))
    try:
        start_http_server(port, registry=registry)
    except OSError as e:
        raise ConfigError(f"--metrics-port {port}: {e.strerror or e}") from None
