"""What `minewatch live` was asked to do, in one object handed to every worker."""

from dataclasses import dataclass

from ..pipeline import EngineOptions


@dataclass(frozen=True)
class LiveSettings:
    interface: str
    workers: int = 1
    bpf: str | None = None
    output: str = "-"
    fmt: str = "jsonl"
    status_interval_s: float = 10.0     # 0 = no status line
    metrics_port: int | None = None
    ring_block_size: int = 1 << 20      # bytes per ring block
    ring_blocks: int = 64               # blocks per worker ring
    ring_block_timeout_ms: int = 100    # a partly filled block is handed over after this
    signatures_dir: str | None = None
    k_bytes: int = 4096
    engine: EngineOptions = EngineOptions()
    quiet: bool = False

    @property
    def ring_bytes(self):
        return self.ring_block_size * self.ring_blocks


# live flow ids: worker index in the bits from 48 up, so ids from different workers
# never collide in one output (and stay below 2^53, exact in JSON readers)
FLOW_ID_WORKER_SHIFT = 48


def first_flow_id(worker):
    return (worker << FLOW_ID_WORKER_SHIFT) + 1
