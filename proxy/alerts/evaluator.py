"""AlertEvaluator: every interval, rules over recent traffic and ML drift; alerts open, resolve."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from proxy.alerts import store
from proxy.alerts.model_signals import ModelSignalSource, no_model_signals, prefer_frozen
from proxy.alerts.rules import MODEL_DRIFT, evaluate_rules
from proxy.alerts.settings import AlertSettings
from proxy.alerts.traffic import (
    LatencyBaselines,
    Traffic,
    TrafficWindow,
    read_window,
    trailing_latency_baselines,
)
from proxy.alerts.webhooks import enqueue, prune_finished
from proxy.events import EventFeed
from proxy.metrics import Metrics

log = logging.getLogger(__name__)

# Held for the round's transaction: a replica that finds it taken skips instead of waiting.
TRY_LOCK_SQL = "SELECT pg_try_advisory_xact_lock(hashtext('warden.alerts.evaluate'))"
# The round is this replica's only if nobody evaluated within the last `$1`: N replicas
# together evaluate about once per interval. Returns the round's time (the database clock).
CLAIM_ROUND_SQL = """
INSERT INTO alert_rounds AS r (id, evaluated_at) VALUES (1, now())
ON CONFLICT (id) DO UPDATE SET evaluated_at = now()
    WHERE r.evaluated_at <= now() - $1::interval
RETURNING evaluated_at
"""


@dataclass(slots=True)
class Round:
    """What one evaluation round did."""

    evaluated: bool = False
    fired: list[dict[str, Any]] = field(default_factory=list)
    ongoing: int = 0
    resolved: list[dict[str, Any]] = field(default_factory=list)
    notifications: int = 0


class AlertEvaluator:
    def __init__(
        self,
        pool: Any,
        settings: AlertSettings,
        metrics: Metrics,
        *,
        baselines: LatencyBaselines = trailing_latency_baselines,
        models: ModelSignalSource = no_model_signals,
        events: EventFeed | None = None,
        on_notify: Callable[[], None] | None = None,
    ) -> None:
        """`baselines` gives every model's trailing latency baseline; `models` the ML models'
        frozen baselines (preferred) and drift; `events` the live feed for fired/resolved."""
        self.pool = pool
        self.settings = settings
        self.metrics = metrics
        self.baselines = baselines
        self.models = models
        self.events = events
        self.on_notify = on_notify
        # The trailing window moves slowly next to the recent one and holds most of the rows:
        # it is read again every baseline_refresh_seconds, not every round.
        self._trailing: TrafficWindow | None = None
        self._trailing_read_at: datetime | None = None

    async def run(self) -> None:
        interval = self.settings.interval_seconds
        while True:
            started = time.monotonic()
            try:
                await self.evaluate()
            except Exception:
                # Postgres away or a bug: counted and logged, the next round tries again.
                self.metrics.alert_evaluations.labels("error").inc()
                log.exception("alerts: evaluation round failed")
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0.0))

    async def evaluate(self) -> Round:
        """One round, in one transaction: the alerts and their notifications commit together."""
        settings, result = self.settings, Round()
        started = time.perf_counter()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(TRY_LOCK_SQL):
                self.metrics.alert_evaluations.labels("skipped").inc()
                return result
            # Rounds that drift a little early still count: 80% of the interval apart.
            gap = timedelta(seconds=settings.interval_seconds * 0.8)
            now: datetime | None = await conn.fetchval(CLAIM_ROUND_SQL, gap)
            if now is None:
                self.metrics.alert_evaluations.labels("skipped").inc()
                return result
            result.evaluated = True
            await self._evaluate_at(conn, now, result)
        self.metrics.alert_evaluations.labels("ok").inc()
        self.metrics.alert_evaluation_duration.observe(time.perf_counter() - started)
        for alert in result.fired:
            self.metrics.alerts_fired.labels(alert["type"]).inc()
        for alert in result.resolved:
            self.metrics.alerts_resolved.labels(alert["type"], "auto").inc()
        if result.notifications and self.on_notify is not None:
            self.on_notify()
        if self.events is not None:  # committed: what the feed shows is what others read
            for alert in result.fired:
                self.events.publish_change("alert", "fired", alert)
            for alert in result.resolved:
                self.events.publish_change("alert", "resolved", alert)
        return result

    async def _evaluate_at(self, conn: Any, now: datetime, result: Round) -> None:
        settings = self.settings
        window_start = now - timedelta(seconds=settings.window_seconds)
        recent = await read_window(conn, window_start, now)
        traffic = Traffic(
            recent.window, await self._trailing_window(conn, now), recent.tenant_models
        )
        models = await self.models()
        baselines = prefer_frozen(await self.baselines(conn, traffic), models)
        firings = evaluate_rules(
            traffic, baselines, settings.rules, settings.window_seconds, models.drift
        )
        for firing in firings:
            alert, new = await store.fire(conn, firing, now)
            if new:
                result.fired.append(alert)
                result.notifications += await enqueue(conn, settings.webhooks, "fired", alert)
            else:
                result.ongoing += 1
        if settings.auto_resolve:
            after = timedelta(seconds=settings.resolve_after_seconds)
            # Without the registry, drift went unseen this round rather than away.
            unknown = () if models.available else (MODEL_DRIFT,)
            result.resolved = await store.resolve_cleared(conn, now, after, unknown=unknown)
            for alert in result.resolved:
                result.notifications += await enqueue(conn, settings.webhooks, "resolved", alert)
        await prune_finished(conn)

    async def _trailing_window(self, conn: Any, now: datetime) -> TrafficWindow:
        refresh = timedelta(seconds=self.settings.baseline_refresh_seconds)
        read_at = self._trailing_read_at
        if self._trailing is None or read_at is None or not read_at <= now < read_at + refresh:
            window_start = now - timedelta(seconds=self.settings.window_seconds)
            start = window_start - timedelta(seconds=self.settings.baseline_seconds)
            self._trailing = (await read_window(conn, start, window_start)).window
            self._trailing_read_at = now
        return self._trailing
