"""Flow timing -> features -> a score, for flows whose content is encrypted (PROTOCOLS.md 11).

The engine keeps the raw sums in each flow row (FLOW_DTYPE t_* fields,
engine/flowtable.note_timing); `features(rows)` turns an array of ended
flows into named numpy feature columns, `TimingRules.score` weighs them with
signatures/timing.yaml. Everything is vectorised over the ended flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .bundled import signatures_dir
from .engine.dtypes import HANDSHAKE_WRITES
from .errors import MinewatchError

DEFAULT_TIMING = signatures_dir() / "timing.yaml"
FEATURES = ("lifetime_s", "sends", "pushes", "replies", "synced", "send_iat_mean_s",
            "send_iat_cv", "push_iat_mean_s", "push_iat_cv", "reply_ratio", "sync_ratio",
            "c2s_size_mean", "c2s_size_cv", "s2c_size_mean", "s2c_size_cv", "c2s_max_bytes",
            "s2c_max_bytes", "bytes_per_s", "bytes_ratio", "idle_max_s")


class TimingError(MinewatchError):
    """signatures/timing.yaml is unusable."""


def _mean_cv(total, squares, n):
    """Mean and coefficient of variation from sums (0 where n < 2 or mean 0)."""
    n = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), 0.0)
        var = np.maximum(np.where(n > 0, squares / np.maximum(n, 1), 0.0) - mean * mean, 0.0)
        cv = np.where((n > 1) & (mean > 0), np.sqrt(var) / np.where(mean > 0, mean, 1), 0.0)
    return mean, cv


def gate_features(rows):
    """The features `TimingRules.gate` reads, the first of `features`: a cheap first
    look at many flows, before the whole set is computed for the few that pass."""
    return {"lifetime_s": (rows["last_ts"] - rows["first_ts"]).astype(np.float64) * 1e-9,
            "sends": rows["t_sends"].astype(np.float64),
            "pushes": rows["t_pushes"].astype(np.float64)}


def features(rows):
    """Named feature columns (float64 arrays) of FLOW_DTYPE rows."""
    f = gate_features(rows)
    life = f["lifetime_s"]
    f["replies"] = rows["t_replies"].astype(np.float64)
    f["synced"] = rows["t_synced"].astype(np.float64)
    f["send_iat_mean_s"], f["send_iat_cv"] = _mean_cv(
        rows["t_send_iat"].astype(np.float64), rows["t_send_iat2"].astype(np.float64),
        np.maximum(rows["t_sends"].astype(np.int64) - 1, 0))
    f["push_iat_mean_s"], f["push_iat_cv"] = _mean_cv(
        rows["t_push_iat"].astype(np.float64), rows["t_push_iat2"].astype(np.float64),
        np.maximum(rows["t_pushes"].astype(np.int64) - 1, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        f["reply_ratio"] = np.where(f["sends"] > 0, f["replies"] / np.maximum(f["sends"], 1), 0)
        f["sync_ratio"] = np.where(f["pushes"] > 0, f["synced"] / np.maximum(f["pushes"], 1), 0)
    skip = HANDSHAKE_WRITES
    f["c2s_size_mean"], f["c2s_size_cv"] = _mean_cv(
        rows["t_c2s_size"].astype(np.float64), rows["t_c2s_size2"].astype(np.float64),
        np.maximum(rows["t_pl_c2s"].astype(np.int64) - skip, 0))
    f["s2c_size_mean"], f["s2c_size_cv"] = _mean_cv(
        rows["t_s2c_size"].astype(np.float64), rows["t_s2c_size2"].astype(np.float64),
        np.maximum(rows["t_pl_s2c"].astype(np.int64) - skip, 0))
    f["c2s_max_bytes"] = rows["t_c2s_max"].astype(np.float64)
    f["s2c_max_bytes"] = rows["t_s2c_max"].astype(np.float64)
    total = (rows["payload_c2s"] + rows["payload_s2c"]).astype(np.float64)
    f["bytes_per_s"] = np.where(life > 0, total / np.where(life > 0, life, 1), total)
    f["bytes_ratio"] = rows["payload_s2c"].astype(np.float64) / np.maximum(
        rows["payload_c2s"].astype(np.float64), 1)
    f["idle_max_s"] = rows["t_idle_max"].astype(np.float64) * 1e-9
    return f


@dataclass
class Range:
    lo: float | None
    hi: float | None
    weight: float

    def holds(self, values):
        ok = np.ones(len(values), bool)
        if self.lo is not None:
            ok &= values >= self.lo
        if self.hi is not None:
            ok &= values <= self.hi
        return ok


@dataclass
class TimingRules:
    windows_s: tuple
    min_lifetime_s: float
    min_sends: int
    min_pushes: int
    ranges: dict
    required: tuple
    threshold: float
    min_synced: int
    min_sync_ratio: float
    cross_threshold: float
    web_alpn: frozenset

    @classmethod
    def load(cls, path=DEFAULT_TIMING):
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise TimingError(f"{path}: cannot read: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise TimingError(f"{path}: not valid YAML: {e}") from None
        try:
            if doc.get("kind") != "timing":
                raise KeyError("kind")
            eng, gate, cross = doc["engine"], doc["gate"], doc["cross_flow"]
            ranges = {}
            for name, r in doc["features"].items():
                if name not in FEATURES:
                    raise TimingError(f"{path}: features.{name}: unknown feature "
                                      f"(known: {', '.join(FEATURES)})")
                ranges[name] = Range(r.get("min"), r.get("max"), float(r.get("weight", 1)))
            required = tuple(doc.get("required") or ())
            for name in required:
                if name not in ranges:
                    raise TimingError(f"{path}: required: {name} is not under features")
            return cls(windows_s=(float(eng["burst_s"]), float(eng["reply_s"]),
                                  float(eng["sync_s"])),
                       min_lifetime_s=float(gate["min_lifetime_s"]),
                       min_sends=int(gate["min_sends"]), min_pushes=int(gate["min_pushes"]),
                       ranges=ranges, required=required, threshold=float(doc["threshold"]),
                       min_synced=int(cross["min_synced"]),
                       min_sync_ratio=float(cross["min_sync_ratio"]),
                       cross_threshold=float(cross["threshold"]),
                       web_alpn=frozenset(doc.get("names", {}).get("web_alpn") or ()))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise TimingError(f"{path}: missing or bad field: {e}") from None

    def gate(self, feats):
        """Which flows are long and busy enough to be scored (reads `gate_features`)."""
        return ((feats["lifetime_s"] >= self.min_lifetime_s) & (feats["sends"] >= self.min_sends)
                & (feats["pushes"] >= self.min_pushes))

    def score(self, feats):
        """(gated, score, required_ok, synced, passed) arrays over the flows of `feats`:
        passed[name] says which features were in range."""
        n = len(feats["lifetime_s"])
        gated = self.gate(feats)
        passed = {name: r.holds(feats[name]) for name, r in self.ranges.items()}
        total = sum(r.weight for r in self.ranges.values()) or 1.0
        score = np.zeros(n)
        for name, r in self.ranges.items():
            score += r.weight * passed[name]
        score /= total
        required = np.ones(n, bool)
        for name in self.required:
            required &= passed[name]
        synced = (feats["synced"] >= self.min_synced) & (feats["sync_ratio"] >= self.min_sync_ratio)
        return gated, score, required, synced, passed
