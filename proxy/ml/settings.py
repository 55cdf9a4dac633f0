"""MlSettings: the `ml:` section of config.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.ml.risk import Weights


@dataclass(frozen=True, slots=True)
class MlSettings:
    # Off: no statistics and no ML risk; input contracts (policy) still apply.
    enabled: bool = True
    # The baseline is frozen from the first N predictions of a model (0: only through the
    # admin API). Drift compares recent means against it.
    baseline_requests: int = 200
    # How many recent instances the recent means weigh (an exponential moving average).
    recent_window: int = 100
    # A feature gives no outlier score before it has this many values.
    min_samples: int = 30
    # |z| at which the outlier score reaches 1.
    outlier_sigma: float = 3.0
    # How far a recent mean may move from the baseline mean, in baseline standard deviations,
    # before the drift score reaches 1. Latency drift counts only slower, at least 10% slower.
    drift_sigma: float = 3.0
    weights: Weights = Weights()
    # Observations are merged into Redis in batches this often, off the request path.
    flush_interval_seconds: float = 0.5
    queue_size: int = 10_000
    # Bounds on what clients can make Warden track: models (a model appears once the upstream
    # answered it), numeric features per model, instances read per request (a bigger batch is
    # read from its start), latency samples kept per model for percentiles.
    max_models: int = 1000
    max_features: int = 256
    max_rows: int = 1000
    latency_samples: int = 1000
    # Statistics of a model that gets no traffic for this long are dropped.
    retention_days: float = 30.0


def ml_problems(settings: MlSettings) -> list[tuple[str, str]]:
    """Checks across fields: (key path, message)."""
    problems: list[tuple[str, str]] = []
    weights = settings.weights
    if weights.confidence + weights.drift + weights.outlier <= 0:
        problems.append(("ml.weights", "at least one weight must be above 0"))
    for name in ("outlier_sigma", "drift_sigma", "flush_interval_seconds", "retention_days"):
        if getattr(settings, name) <= 0:
            problems.append((f"ml.{name}", "must be above 0"))
    for name in ("recent_window", "max_models", "max_features", "max_rows", "queue_size"):
        if getattr(settings, name) < 1:
            problems.append((f"ml.{name}", "must be at least 1"))
    return problems
