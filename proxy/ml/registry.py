"""ModelRegistry: every model's statistics as Redis holds them, for the admin API and alerts.

Reads go to Redis, not to a replica's snapshot, so every replica answers the same. `health()`
is what alert rules poll: per model its drift and how it answers (latency, errors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as redis

from proxy.ml.lua import FREEZE, MODELS_KEY, RESET, model_keys
from proxy.ml.risk import label_for
from proxy.ml.settings import MlSettings
from proxy.ml.stats import Drift, ModelStats, drift_of, parse_stats


def percentile(samples: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100); None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class ModelReport:
    stats: ModelStats
    drift: Drift
    latency_samples: tuple[float, ...]  # seconds, newest first

    @property
    def latency_p95(self) -> float | None:
        return percentile(self.latency_samples, 95)


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """What alerts need of one model; drift_label uses the risk thresholds."""

    model: str
    drift: float | None
    drift_label: str | None
    # What moved most from the baseline: a feature name, or "latency".
    drift_cause: str | None
    latency_mean_seconds: float | None
    latency_p95_seconds: float | None
    error_rate_recent: float | None
    requests: int
    last_seen_ms: int | None
    # The frozen baseline's mean upstream latency and how many predictions it rests on.
    baseline_latency_mean_seconds: float | None = None
    baseline_latency_samples: int = 0


FreezeResult = ModelReport | Literal["unknown", "empty"]


class ModelRegistry:
    def __init__(self, client: redis.Redis, settings: MlSettings) -> None:
        self.client = client
        self.settings = settings

    async def names(self) -> list[str]:
        members = await self.client.smembers(MODELS_KEY)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def reports(
        self, names: Sequence[str], *, latency_samples: bool = True
    ) -> list[ModelReport]:
        """Reports of the named models that still have statistics (expired ones are forgotten).

        Without `latency_samples` the sample lists (up to `ml.latency_samples` per model) are
        not read, and reports have no p95: for callers that only need means and drift.
        """
        if not names:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                stats_key, baseline_key, latency_key = model_keys(name)
                pipe.hgetall(stats_key)
                pipe.hgetall(baseline_key)
                if latency_samples:
                    pipe.lrange(latency_key, 0, -1)
            replies = await pipe.execute()
        per_model = 3 if latency_samples else 2
        reports: list[ModelReport] = []
        gone: list[str] = []
        for index, name in enumerate(names):
            stats, baseline, *rest = replies[index * per_model : (index + 1) * per_model]
            if not stats:
                gone.append(name)
                continue
            samples = rest[0] if rest else []
            reports.append(self._report(name, _flat(stats), _flat(baseline), samples))
        if gone:
            await self.client.srem(MODELS_KEY, *gone)
        return reports

    async def report(self, name: str) -> ModelReport | None:
        found = await self.reports([name])
        return found[0] if found else None

    def _report(
        self, name: str, stats: list[Any], baseline: list[Any], samples: list[Any]
    ) -> ModelReport:
        parsed = parse_stats(name, stats, baseline)
        return ModelReport(
            parsed, drift_of(parsed, self.settings.drift_sigma), tuple(float(s) for s in samples)
        )

    async def freeze(self, name: str) -> FreezeResult:
        """The current statistics become the baseline now ("empty": nothing observed yet)."""
        stats, baseline, _ = model_keys(name)
        if not await self.client.exists(stats):
            return "unknown"
        now_ms = int(time.time() * 1000)
        reply = await FREEZE.run(self.client, [stats, baseline], [now_ms, "admin"])
        if not reply or int(reply[0]) == 0:
            return "empty"
        report = await self.report(name)
        return report if report is not None else "unknown"

    async def reset(self, name: str) -> ModelReport | None:
        """Baseline and moments dropped: the next `baseline_requests` predictions make anew."""
        stats, baseline, _ = model_keys(name)
        reply = await RESET.run(self.client, [stats, baseline], [])
        if not reply or int(reply[0]) == 0:
            return None
        return await self.report(name)

    async def health(self, *, latency_samples: bool = True) -> list[ModelHealth]:
        """Per model: drift, baseline and how it answers. For alert rules and statistics."""
        names = await self.names()
        reports = await self.reports(names, latency_samples=latency_samples)
        return [health_of(report) for report in reports]


def health_of(report: ModelReport) -> ModelHealth:
    stats, drift, baseline = report.stats, report.drift, report.stats.baseline
    baseline_latency = baseline.latency if baseline is not None else None
    return ModelHealth(
        model=stats.model,
        drift=drift.score,
        drift_label=label_for(drift.score) if drift.score is not None else None,
        drift_cause=drift_cause(drift),
        latency_mean_seconds=stats.latency.mean if stats.latency.count else None,
        latency_p95_seconds=report.latency_p95,
        error_rate_recent=stats.error_rate_recent,
        requests=stats.requests,
        last_seen_ms=stats.last_seen_ms,
        baseline_latency_mean_seconds=(
            baseline_latency.mean if baseline_latency and baseline_latency.count else None
        ),
        baseline_latency_samples=int(baseline_latency.count) if baseline_latency else 0,
    )


def drift_cause(drift: Drift) -> str | None:
    """The feature (or "latency") whose shift makes the drift score; None without drift.

    On a tie a feature wins: moved inputs explain more than slower answers, which the
    latency_drift alert reports on its own."""
    parts = sorted(drift.features.items())
    if drift.latency is not None:
        parts.append(("latency", drift.latency))
    if not drift.score or not parts:
        return None
    return max(parts, key=lambda part: part[1])[0]


def _flat(mapping: dict[Any, Any]) -> list[Any]:
    return [item for pair in mapping.items() for item in pair]
