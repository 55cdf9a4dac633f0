"""Drift per model and health per tenant for /admin/stats, judged as the alert rules judge.

A model's latency is compared with its baseline as the latency_drift and tenant_health alerts
compare it: an ML model's frozen baseline where it has one (proxy/alerts/model_signals.py),
else the `alerts.baseline_seconds` of audit rows before the window. `drift` is 0-1 on the ML
scale: an ML model's drift score from its statistics (features and latency, as they are now),
else how much slower the window's answers were than the baseline's, in its standard
deviations (proxy/ml/stats.py). A tenant's health score takes the window's error rate and
risky share and the latency ratio of the models it used (proxy/health_score.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
from redis.exceptions import RedisError

from proxy.alerts.model_signals import ModelSignals, prefer_frozen, signals_of
from proxy.alerts.rules import drift_ratio, tenant_drift
from proxy.alerts.settings import LatencyDriftRule
from proxy.alerts.traffic import Counts, LatencyBaseline
from proxy.health_score import HealthInputs, health_label, health_score
from proxy.ml.registry import ModelRegistry
from proxy.ml.risk import Moments
from proxy.ml.stats import latency_shift

log = logging.getLogger(__name__)

# Successful upstream answers per model in the baseline period before the window.
BASELINE_SQL = """
SELECT model, count(*) AS samples, avg(upstream_ms) AS mean_ms,
       coalesce(var_samp(upstream_ms), 0) AS variance
FROM audit_events
WHERE event_time >= $1 AND event_time < $2 AND model IS NOT NULL
  AND upstream_ms IS NOT NULL AND upstream_status < 400
GROUP BY model
"""


async def read_baselines(
    pool: asyncpg.Pool, since: dt.datetime, period: dt.timedelta
) -> dict[str, Moments]:
    """Per model, the latency moments (ms) of the `period` before `since`."""
    rows = await pool.fetch(BASELINE_SQL, since - period, since)
    return {
        r["model"]: Moments(
            r["samples"], float(r["mean_ms"]), float(r["variance"]) * max(r["samples"] - 1, 0)
        )
        for r in rows
    }


async def read_signals(registry: ModelRegistry, *, now: bool) -> ModelSignals:
    """The ML models' frozen baselines, and their drift if the window ends now."""
    try:
        health = await registry.health(latency_samples=False)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("stats: model statistics unavailable (%r); latency drift only", exc)
        return ModelSignals(available=False)
    signals = signals_of(health)
    # Statistics hold the drift of now only: a window that ended earlier has its latency.
    return signals if now else ModelSignals(True, signals.baselines, {})


class HealthJudge:
    """The window's models and tenants, against baselines read once per request."""

    def __init__(
        self,
        recent: Mapping[str, Counts],
        trailing: Mapping[str, Moments],
        signals: ModelSignals,
        rule: LatencyDriftRule,
        sigma: float,
    ) -> None:
        self.recent = recent
        self.trailing = trailing
        self.signals = signals
        self.rule = rule
        self.sigma = sigma
        baselines = {model: LatencyBaseline(m.mean, int(m.count)) for model, m in trailing.items()}
        self.baselines = prefer_frozen(baselines, signals)

    def model(self, model: str) -> dict[str, Any]:
        """`drift` 0-1 and its source ("ml": statistics, "latency": audit rows), and
        `latency_ratio`, the window's mean answer time over the baseline's; None: unknown."""
        now, rule = self.recent.get(model), self.rule
        ratio = _round(drift_ratio(now, self.baselines.get(model), rule))
        ml = self.signals.drift.get(model)
        if ml is not None:
            return {"drift": ml.score, "drift_source": "ml", "latency_ratio": ratio}
        base, shift = self.trailing.get(model), None
        if (
            now is not None
            and now.latency_mean_ms is not None
            and base is not None
            and now.latency_samples >= rule.min_samples
            and base.count >= rule.min_baseline_samples
        ):
            shift = latency_shift(now.latency_mean_ms, base, self.sigma)
        source = "latency" if shift is not None else None
        return {"drift": shift, "drift_source": source, "latency_ratio": ratio}

    def tenant(
        self, models: Iterable[str], error_rate: float, risky_share: float
    ) -> dict[str, Any]:
        ratio = tenant_drift(models, self.recent, self.baselines, self.rule)
        score = health_score(HealthInputs(error_rate, risky_share, ratio))
        return {
            "health_score": score,
            "health_label": health_label(score),
            "drift_ratio": _round(ratio),
        }


def window_counts(rows: Sequence[asyncpg.Record]) -> dict[str, Counts]:
    """The model rows of the stats query, as the alert rules count them."""
    return {
        r["model"]: Counts(
            requests=r["requests"],
            latency_samples=r["latency_samples"],
            latency_mean_ms=None if r["answer_ms"] is None else float(r["answer_ms"]),
        )
        for r in rows
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
