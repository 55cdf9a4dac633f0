"""ModelSignals: what the alert rules learn from the ML model registry, read once per round.

ML models have explicit baselines, frozen from their first predictions or by an operator
(`POST /admin/models/{name}/baseline`). Their latency baseline is preferred to the trailing
window of audit_events, which drifts along with the model it is meant to judge. Their drift
score (feature and latency means against the baseline) feeds the model_drift alert.

The registry lives in Redis. When Redis does not answer, the round falls back to the trailing
window and says so (`available`), so that drift alerts are neither fired nor resolved on
knowledge the round does not have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError

from proxy.alerts.traffic import LatencyBaseline
from proxy.ml.registry import ModelHealth, ModelRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelDrift:
    score: float  # 0-1, see proxy/ml/stats.py
    cause: str | None  # the feature, or "latency", that moved most


@dataclass(frozen=True, slots=True)
class ModelSignals:
    available: bool = True  # False: the registry could not be read; nothing is known
    baselines: Mapping[str, LatencyBaseline] = field(default_factory=dict)
    drift: Mapping[str, ModelDrift] = field(default_factory=dict)


class ModelSignalSource(Protocol):
    """Reads the signals for one evaluation round; never raises for an unreachable store."""

    async def __call__(self) -> ModelSignals: ...


async def no_model_signals() -> ModelSignals:
    """Without ML statistics (ml.enabled false): every baseline is the trailing window."""
    return ModelSignals()


def signals_of(models: Iterable[ModelHealth]) -> ModelSignals:
    baselines, drift = {}, {}
    for model in models:
        mean = model.baseline_latency_mean_seconds
        if mean is not None:
            baselines[model.model] = LatencyBaseline(mean * 1000, model.baseline_latency_samples)
        if model.drift is not None:
            drift[model.model] = ModelDrift(model.drift, model.drift_cause)
    return ModelSignals(True, baselines, drift)


class RegistrySignals:
    def __init__(
        self, registry: ModelRegistry, on_failure: Callable[[], None] | None = None
    ) -> None:
        self.registry = registry
        self.on_failure = on_failure

    async def __call__(self) -> ModelSignals:
        try:
            # Means and drift only: the latency sample lists are for percentiles.
            health = await self.registry.health(latency_samples=False)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("alerts: model statistics unavailable (%r); trailing baselines", exc)
            if self.on_failure is not None:
                self.on_failure()
            return ModelSignals(available=False)
        return signals_of(health)


def prefer_frozen(
    trailing: Mapping[str, LatencyBaseline], signals: ModelSignals
) -> dict[str, LatencyBaseline]:
    """Latency baselines: a model's frozen one where it has one, else its trailing window."""
    return {**trailing, **signals.baselines}
