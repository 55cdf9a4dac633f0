"""ML risk of one prediction: confidence, outlier and drift combined into 0-1 and a label. Pure.

- confidence: 1 - the top class probability (the worst instance of a batch), when the answer
  carries probabilities;
- outlier: the largest |z| of a numeric feature against the model's running statistics,
  `outlier_sigma` (3) standard deviations and beyond scoring 1;
- drift: the model's drift score (recent means against the baseline, see stats.py).

The score is the weighted mean of the components that are known (default weights 0.4, 0.3,
0.3): a model without probabilities, or before its statistics exist, is judged on the rest
instead of looking safer than it is. The label uses the LLM risk thresholds (proxy.risk).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from proxy.risk import NORMAL, RISKY, SUSPICIOUS, RiskThresholds

DEFAULT_THRESHOLDS = RiskThresholds()


@dataclass(frozen=True, slots=True)
class Weights:
    confidence: float = 0.4
    drift: float = 0.3
    outlier: float = 0.3


@dataclass(frozen=True, slots=True)
class MlRisk:
    score: float
    label: str
    confidence: float | None = None
    outlier: float | None = None
    drift: float | None = None


@dataclass(frozen=True, slots=True)
class Moments:
    """Welford's running state: count, mean and the sum of squared deviations (M2)."""

    count: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def variance(self) -> float:
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    @property
    def std(self) -> float:
        return math.sqrt(max(self.variance, 0.0))


def label_for(score: float, thresholds: RiskThresholds = DEFAULT_THRESHOLDS) -> str:
    if score >= thresholds.risky:
        return RISKY
    if score >= thresholds.suspicious:
        return SUSPICIOUS
    return NORMAL


def confidence_score(top_probabilities: Iterable[float]) -> float | None:
    """1 - the lowest top-class probability over the batch; None without probabilities."""
    lowest = min(top_probabilities, default=None)
    if lowest is None:
        return None
    return min(1.0, max(0.0, 1.0 - lowest))


def z_score(value: float, moments: Moments) -> float:
    """|z| against the moments; a feature that never varied makes any other value infinite."""
    std = moments.std
    if std > 0:
        return abs(value - moments.mean) / std
    return 0.0 if math.isclose(value, moments.mean, rel_tol=1e-9, abs_tol=1e-12) else math.inf


def outlier_score(
    rows: Iterable[Mapping[str, float]],
    stats: Mapping[str, Moments],
    *,
    min_samples: int,
    sigma: float,
) -> float | None:
    """max |z| / sigma, capped at 1, over the features with at least `min_samples` values."""
    # (mean, std) per usable feature, worked out once per batch rather than per value.
    usable = {name: (m.mean, m.std) for name, m in stats.items() if m.count >= min_samples}
    worst: float | None = None
    for row in rows:
        for name, value in row.items():
            found = usable.get(name)
            if found is None:
                continue
            mean, std = found
            if std > 0:
                z = abs(value - mean) / std
            else:
                z = z_score(value, stats[name])
            if worst is None or z > worst:
                worst = z
    if worst is None:
        return None
    return min(1.0, worst / sigma)


def combine(
    confidence: float | None,
    outlier: float | None,
    drift: float | None,
    weights: Weights = Weights(),  # noqa: B008 - frozen, so sharing is safe
    thresholds: RiskThresholds = DEFAULT_THRESHOLDS,
) -> MlRisk:
    parts = [
        (weights.confidence, confidence),
        (weights.outlier, outlier),
        (weights.drift, drift),
    ]
    known = [(w, v) for w, v in parts if v is not None and w > 0]
    total = sum(w for w, _ in known)
    score = round(sum(w * v for w, v in known) / total, 6) if total > 0 else 0.0
    return MlRisk(score, label_for(score, thresholds), confidence, outlier, drift)
