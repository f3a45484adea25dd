"""Ledger thresholds from YAML (signatures/ledger.yaml, or --ledger-config FILE)."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..bundled import signatures_dir
from ..errors import MinewatchError

DEFAULT_CONFIG = signatures_dir() / "ledger.yaml"


@dataclass(frozen=True)
class SizeClass:
    name: str
    max_devices: int | None = None
    max_power_w: float | None = None

    def fits(self, devices: int, power_w: float | None) -> bool:
        if self.max_devices is not None and devices > self.max_devices:
            return False
        return self.max_power_w is None or (power_w or 0.0) <= self.max_power_w


@dataclass(frozen=True)
class LedgerConfig:
    active_window_s: float
    classes: tuple
    ipv4_prefix: int
    ipv6_prefix: int
    hosting_min_devices: int
    hosting_min_pools: int
    hosting_min_duty_cycle: float
    hosting_min_span_s: float

    def size_class(self, devices: int, power_w: float | None) -> str:
        for c in self.classes:
            if c.fits(devices, power_w):
                return c.name
        return self.classes[-1].name


def load_ledger_config(path=None) -> LedgerConfig:
    path = Path(path or DEFAULT_CONFIG)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        hosting = doc["hosting"]
        classes = tuple(SizeClass(c["name"], c.get("max_devices"), c.get("max_power_w"))
                        for c in doc["classes"])
        if not classes or classes[-1].max_devices is not None or classes[-1].max_power_w is not None:
            raise ValueError("the last class must have no limits (it takes everything larger)")
        return LedgerConfig(
            active_window_s=float(doc["active_window_s"]), classes=classes,
            ipv4_prefix=int(hosting["ipv4_prefix"]), ipv6_prefix=int(hosting["ipv6_prefix"]),
            hosting_min_devices=int(hosting["min_devices"]),
            hosting_min_pools=int(hosting["min_pools"]),
            hosting_min_duty_cycle=float(hosting["min_duty_cycle"]),
            hosting_min_span_s=float(hosting["min_span_s"]))
    except OSError as e:
        raise MinewatchError(f"{path}: cannot read the ledger configuration: {e.strerror}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise MinewatchError(f"{path}: bad ledger configuration: {what}") from None
