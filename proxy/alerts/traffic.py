"""Traffic: what the alert rules look at, aggregated from audit_events in one scan."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Counts:
    """One tenant's, upstream's or model's requests in a window, by what became of them."""

    requests: int = 0
    blocks: int = 0
    risky: int = 0
    rate_limited: int = 0
    errors: int = 0  # answered with status >= 500, whoever failed
    forwarded: int = 0  # sent upstream
    upstream_errors: int = 0  # sent upstream, and the upstream failed or was unreachable
    latency_samples: int = 0  # successful upstream answers, with their mean time
    latency_mean_ms: float | None = None

    def share(self, part: int) -> float:
        return part / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class TrafficWindow:
    tenants: Mapping[str, Counts] = field(default_factory=dict)
    upstreams: Mapping[str, Counts] = field(default_factory=dict)
    models: Mapping[str, Counts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Traffic:
    """The recent window, the trailing (baseline) window before it, and who used which model."""

    recent: TrafficWindow
    trailing: TrafficWindow
    tenant_models: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LatencyBaseline:
    mean_ms: float
    samples: int


class LatencyBaselines(Protocol):
    """Where a model's expected latency comes from: `{model: LatencyBaseline}`.

    The default reads the trailing window of audit_events; explicit per-model baselines
    (kept by the model monitoring) can replace it without touching the rules.
    """

    async def __call__(self, conn: Any, traffic: Traffic) -> Mapping[str, LatencyBaseline]: ...


async def trailing_latency_baselines(conn: Any, traffic: Traffic) -> Mapping[str, LatencyBaseline]:
    return {
        model: LatencyBaseline(counts.latency_mean_ms, counts.latency_samples)
        for model, counts in traffic.trailing.models.items()
        if counts.latency_mean_ms is not None
    }


# One pass over a time range, grouped by tenant, upstream, model and tenant+model. The range
# keeps the scan on the current partitions (BRIN on event_time).
WINDOW_SQL = """
SELECT
    CASE
        WHEN GROUPING(tenant) = 0 AND GROUPING(model) = 0 THEN 'tenant_model'
        WHEN GROUPING(tenant) = 0 THEN 'tenant'
        WHEN GROUPING(upstream) = 0 THEN 'upstream'
        ELSE 'model'
    END AS dimension,
    tenant, upstream, model,
    count(*) AS requests,
    count(*) FILTER (WHERE decision = 'block') AS blocks,
    count(*) FILTER (WHERE risk_label = 'risky') AS risky,
    count(*) FILTER (WHERE decision IN ('rate_limited', 'budget_exceeded')) AS rate_limited,
    count(*) FILTER (WHERE status >= 500) AS errors,
    count(*) FILTER (WHERE overhead_ms IS NOT NULL) AS forwarded,
    count(*) FILTER (
        WHERE overhead_ms IS NOT NULL
          AND (upstream_status >= 500 OR (upstream_status IS NULL AND decision = 'error'))
    ) AS upstream_errors,
    count(upstream_ms) FILTER (WHERE upstream_status < 400) AS latency_samples,
    avg(upstream_ms) FILTER (WHERE upstream_status < 400) AS latency_mean_ms
FROM audit_events
-- Evidence records (POST /v1/evidence) share the table and chain but are not traffic.
WHERE event_time >= $1 AND event_time < $2 AND kind = 'request'
GROUP BY GROUPING SETS ((tenant), (upstream), (model), (tenant, model))
"""
_COUNT_FIELDS = (
    "requests", "blocks", "risky", "rate_limited", "errors", "forwarded", "upstream_errors",
    "latency_samples", "latency_mean_ms",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class WindowReading:
    window: TrafficWindow
    tenant_models: Mapping[str, frozenset[str]]


async def read_window(conn: Any, start: datetime, end: datetime) -> WindowReading:
    """The traffic of [start, end)."""
    parts: dict[str, dict[str, Counts]] = defaultdict(dict)
    tenant_models: dict[str, set[str]] = defaultdict(set)
    for row in await conn.fetch(WINDOW_SQL, start, end):
        dimension = row["dimension"]
        if dimension == "tenant_model":
            if row["tenant"] and row["model"]:
                tenant_models[row["tenant"]].add(row["model"])
            continue
        subject = row[dimension]
        if subject is None:  # unauthenticated or unrouted requests have no such name
            continue
        values = {name: row[name] for name in _COUNT_FIELDS}
        if values["latency_mean_ms"] is not None:
            values["latency_mean_ms"] = float(values["latency_mean_ms"])
        parts[dimension + "s"][subject] = Counts(**values)
    return WindowReading(
        TrafficWindow(parts["tenants"], parts["upstreams"], parts["models"]),
        {tenant: frozenset(models) for tenant, models in tenant_models.items()},
    )
