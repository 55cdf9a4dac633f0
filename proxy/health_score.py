"""A tenant's health, 0–100, from its error rate, its share of risky requests and model drift.

Pure, so the alert rules and the admin statistics score tenants the same way. The points a
tenant loses grow linearly with each signal up to its cap, and the score stops at 0:

    errors  up to 50 points, all of them at 25 % of requests failing (status >= 500)
    risky   up to 45 points, all of them at 25 % of requests labelled risky
    drift   up to 25 points, all of them when the models it uses run 3x slower than baseline

Errors or risky traffic alone can make a tenant unhealthy (below 60); drift alone degrades
it. So 10 % errors alone scores 80; 25 % errors 50; 15 % errors with 10 % risky 52.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ERROR_POINTS: Final = 50.0
RISKY_POINTS: Final = 45.0
DRIFT_POINTS: Final = 25.0
ERROR_RATE_AT_WORST: Final = 0.25
RISKY_SHARE_AT_WORST: Final = 0.25
DRIFT_RATIO_AT_WORST: Final = 3.0


@dataclass(frozen=True, slots=True)
class HealthInputs:
    error_rate: float  # 0–1: share of requests that failed
    risky_share: float  # 0–1: share of requests labelled risky
    drift_ratio: float | None = None  # recent / baseline latency of its models; None: unknown


def _part(value: float, worst: float) -> float:
    return min(max(value / worst, 0.0), 1.0)


def health_score(inputs: HealthInputs) -> int:
    """100 is healthy; below 60 is what the tenant_health alert calls unhealthy."""
    lost = ERROR_POINTS * _part(inputs.error_rate, ERROR_RATE_AT_WORST)
    lost += RISKY_POINTS * _part(inputs.risky_share, RISKY_SHARE_AT_WORST)
    if inputs.drift_ratio is not None:
        lost += DRIFT_POINTS * _part(inputs.drift_ratio - 1.0, DRIFT_RATIO_AT_WORST - 1.0)
    return max(round(100.0 - lost), 0)


def health_label(score: int) -> str:
    if score >= 80:
        return "healthy"
    return "degraded" if score >= 60 else "unhealthy"
