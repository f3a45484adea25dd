"""Joules per hash for each mining algorithm, from signatures/power.yaml (PROTOCOLS.md §15)."""

import functools
from pathlib import Path

import yaml

from ..bundled import signatures_dir
from ..errors import MinewatchError

POWER_TABLE = signatures_dir() / "power.yaml"


@functools.cache
def load_power_table(path=POWER_TABLE) -> dict:
    """algorithm -> {"joules_per_hash": default J/H, "aliases": [...], "devices": [...]}."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise MinewatchError(f"{path}: cannot read the power table: {e}") from None
    table = {}
    for name, entry in (doc or {}).get("algorithms", {}).items():
        defaults = [d for d in entry.get("devices", []) if d.get("default")]
        if len(defaults) != 1:
            raise MinewatchError(f"{path}: algorithm {name}: needs exactly one default device row")
        for d in entry["devices"]:
            if not (d.get("source") and d.get("year") and float(d["joules_per_hash"]) > 0):
                raise MinewatchError(f"{path}: algorithm {name}: device {d.get('device')!r} "
                                     "needs joules_per_hash > 0, source and year")
        table[name] = {"joules_per_hash": float(defaults[0]["joules_per_hash"]),
                       "aliases": [str(a).lower() for a in entry.get("aliases", [])],
                       "devices": entry["devices"]}
    return table


@functools.cache
def _aliases() -> dict:
    out = {}
    for name, entry in load_power_table().items():
        out[name] = name
        for alias in entry["aliases"]:
            out[alias] = name
    return out


def algorithm_key(algorithm: str | None, hash_family: str | None = None) -> str | None:
    """The power table's name for what a hit says (its algorithm, else its hash family)."""
    aliases = _aliases()
    for name in (algorithm, hash_family):
        if name and str(name).lower() in aliases:
            return aliases[str(name).lower()]
    if algorithm:
        return str(algorithm).lower()[:64]     # an algorithm the table does not know
    return None


def joules_per_hash(algorithm: str | None) -> float | None:
    """Default J/H of an algorithm key, None when the table has no row for it."""
    entry = load_power_table().get(algorithm or "")
    return entry["joules_per_hash"] if entry else None
