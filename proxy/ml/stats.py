"""A model's statistics as Redis holds them, and its drift against the baseline. Pure.

Drift per numeric feature is how far the recent mean moved from the baseline mean, in baseline
standard deviations, over `drift_sigma` (capped at 1). Latency drift is the same for the
recent mean upstream latency, counting only slower, and never less than 10% of the baseline
mean per standard deviation (a model that always answered in 2.0 ms is not drifting at 2.2).
The model's drift score is the largest of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proxy.ml.risk import Moments

LATENCY_FLOOR: Final = 0.1  # relative to the baseline mean, the smallest σ latency drift uses
_RISK_LABELS: Final = ("normal", "suspicious", "risky")


@dataclass(frozen=True, slots=True)
class Baseline:
    frozen_at_ms: int
    source: str  # auto | admin
    requests: int
    latency: Moments
    features: Mapping[str, Moments]


@dataclass(frozen=True, slots=True)
class Drift:
    score: float | None  # None until there is a baseline
    latency: float | None = None
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    requests: int = 0
    rows: int = 0
    errors: int = 0
    error_rate_recent: float | None = None
    stat_requests: int = 0  # predictions in the moments since the last reset
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    latency: Moments = Moments()  # seconds
    latency_recent: float | None = None
    features: Mapping[str, Moments] = field(default_factory=dict)
    recent: Mapping[str, float] = field(default_factory=dict)
    risk: Mapping[str, int] = field(default_factory=dict)
    baseline: Baseline | None = None


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _moments(fields: Mapping[str, str], prefix: str) -> Moments:
    return Moments(
        float(fields.get(prefix + "n", 0)),
        float(fields.get(prefix + "mean", 0)),
        float(fields.get(prefix + "m2", 0)),
    )


def _feature_fields(fields: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`f:<name>:<kind>` fields grouped by feature name (names may hold colons)."""
    grouped: dict[str, dict[str, str]] = {}
    for key, value in fields.items():
        if key.startswith("f:"):
            name, _, kind = key[2:].rpartition(":")
            grouped.setdefault(name, {})[kind] = value
    return grouped


def _int(fields: Mapping[str, str], key: str) -> int:
    return int(float(fields.get(key, 0)))


def parse_stats(model: str, stats: Sequence[Any], baseline: Sequence[Any]) -> ModelStats:
    """ModelStats from the HGETALL replies of the stats and baseline hashes."""
    fields = _pairs(stats)
    grouped = _feature_fields(fields)
    features = {name: _moments(kinds, "") for name, kinds in grouped.items() if "n" in kinds}
    recent = {name: float(kinds["recent"]) for name, kinds in grouped.items() if "recent" in kinds}
    frozen = _pairs(baseline)
    base = None
    if "frozen_at" in frozen:
        base = Baseline(
            frozen_at_ms=_int(frozen, "frozen_at"),
            source=frozen.get("source", "auto"),
            requests=_int(frozen, "requests"),
            latency=_moments(frozen, "lat:"),
            features={name: _moments(k, "") for name, k in _feature_fields(frozen).items()},
        )
    return ModelStats(
        model=model,
        requests=_int(fields, "requests"),
        rows=_int(fields, "rows"),
        errors=_int(fields, "errors"),
        error_rate_recent=float(fields["err_recent"]) if "err_recent" in fields else None,
        stat_requests=_int(fields, "stat_requests"),
        first_seen_ms=_int(fields, "first_seen") if "first_seen" in fields else None,
        last_seen_ms=_int(fields, "last_seen") if "last_seen" in fields else None,
        latency=_moments(fields, "lat:"),
        latency_recent=float(fields["lat:recent"]) if "lat:recent" in fields else None,
        features=features,
        recent=recent,
        risk={label: _int(fields, f"risk:{label}") for label in _RISK_LABELS},
        baseline=base,
    )


def _shift(recent: float, baseline: Moments, sigma: float) -> float:
    """|recent - baseline mean| in baseline σ, over `sigma`, capped at 1."""
    std = baseline.std
    if std > 0:
        return min(1.0, abs(recent - baseline.mean) / std / sigma)
    return 0.0 if math.isclose(recent, baseline.mean, rel_tol=1e-9, abs_tol=1e-12) else 1.0


def latency_shift(recent: float, baseline: Moments, sigma: float) -> float | None:
    """How much slower `recent` is than the baseline mean, 0-1; None without a baseline."""
    if baseline.count <= 1:
        return None
    scale = max(baseline.std, LATENCY_FLOOR * baseline.mean)
    if scale <= 0:
        return None
    slower = max(0.0, recent - baseline.mean)
    return round(min(1.0, slower / scale / sigma), 6)


def drift_of(stats: ModelStats, sigma: float) -> Drift:
    base = stats.baseline
    if base is None:
        return Drift(None)
    features = {
        name: round(_shift(stats.recent[name], moments, sigma), 6)
        for name, moments in base.features.items()
        if name in stats.recent and moments.count > 1
    }
    latency = None
    if stats.latency_recent is not None:
        latency = latency_shift(stats.latency_recent, base.latency, sigma)
    parts = [*features.values(), *([latency] if latency is not None else [])]
    return Drift(max(parts, default=0.0), latency, features)
