"""GET /admin/stats: what dashboards chart, from the audit rows of a window; drift and health."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from typing import Any

import asyncpg
from aiohttp import web

from proxy.admin.audit import AuditQuery
from proxy.admin.common import AdminInputError, json_response, proxy_app
from proxy.admin.query import parse_choice
from proxy.admin.stats_health import (
    HealthJudge,
    read_baselines,
    read_signals,
    window_counts,
)
from proxy.keys import DB_POOL, MODEL_REGISTRY, SETTINGS

DEFAULT_WINDOW = dt.timedelta(hours=24)
BUCKETS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
# Charts get at most this many points; a finer bucket over a long window is refused.
MAX_POINTS = 2000
RISK_BINS = 10

TOTALS_SQL = """
SELECT decision, status / 100 AS status_class, risk_label, count(*) AS n,
       GROUPING(decision) AS other_than_decision,
       GROUPING(status / 100) AS other_than_status,
       GROUPING(risk_label) AS other_than_risk
FROM audit_events {where}
GROUP BY GROUPING SETS ((decision), (status / 100), (risk_label), ())
"""
RULES_SQL = """
SELECT rule, count(*) AS n
FROM audit_events CROSS JOIN LATERAL unnest(rule_ids) AS rule {where}
GROUP BY rule ORDER BY n DESC, rule LIMIT 100
"""
FINDINGS_SQL = """
SELECT f.finding AS kind, sum(f.found::bigint)::bigint AS n
FROM audit_events CROSS JOIN LATERAL jsonb_each_text(finding_counts) AS f(finding, found) {where}
GROUP BY f.finding ORDER BY n DESC, f.finding
"""
# Scores of exactly 1.0 fall in the top bin rather than a bin of their own.
RISK_SQL = f"""
SELECT least(width_bucket(risk_score, 0, 1, {RISK_BINS}), {RISK_BINS}) AS bin, count(*) AS n
FROM audit_events {{where}} {{and_}} risk_score IS NOT NULL
GROUP BY bin ORDER BY bin
"""
MODELS_SQL = """
SELECT model,
       count(*) AS requests,
       avg(latency_ms) AS mean_latency_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,
       avg(upstream_ms) AS mean_upstream_ms,
       avg((status >= 500)::int)::float8 AS error_rate,
       coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
       count(upstream_ms) FILTER (WHERE upstream_status < 400) AS latency_samples,
       avg(upstream_ms) FILTER (WHERE upstream_status < 400) AS answer_ms
FROM audit_events {where} {and_} model IS NOT NULL
GROUP BY model ORDER BY requests DESC, model LIMIT 200
"""
TENANTS_SQL = """
SELECT tenant,
       count(*) AS requests,
       count(*) FILTER (WHERE decision = 'block') AS blocked,
       count(*) FILTER (WHERE status >= 500) AS errors,
       count(*) FILTER (WHERE risk_label = 'risky') AS risky,
       count(*) FILTER (WHERE status = 429) AS rate_limited,
       array_remove(array_agg(DISTINCT model), NULL) AS models
FROM audit_events {where} {and_} tenant IS NOT NULL
GROUP BY tenant ORDER BY requests DESC, tenant LIMIT 500
"""
SERIES_SQL = """
SELECT date_bin(${bucket}, event_time, ${origin}) AS bucket, decision, count(*) AS n
FROM audit_events {where}
GROUP BY bucket, decision ORDER BY bucket
"""


def _render(sql: str, audit: AuditQuery, **extra: str) -> str:
    where = audit.where()
    return sql.format(where=where, and_="AND" if where else "WHERE", **extra)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _totals(rows: list[asyncpg.Record]) -> dict[str, Any]:
    totals: dict[str, Any] = {
        "requests": 0,
        "by_decision": {},
        "by_status_class": {},
        "by_risk_label": {},
    }
    for row in rows:
        # One grouping set per row: GROUPING() is 0 for the column the row is grouped by.
        if not row["other_than_decision"]:
            totals["by_decision"][row["decision"]] = row["n"]
        elif not row["other_than_status"]:
            totals["by_status_class"][f"{row['status_class']}xx"] = row["n"]
        elif not row["other_than_risk"]:
            totals["by_risk_label"][row["risk_label"] or "unscored"] = row["n"]
        else:
            totals["requests"] = row["n"]
    return totals


def _series(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    buckets: dict[dt.datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        buckets[row["bucket"]][row["decision"]] = row["n"]
    return [
        {"time": when.isoformat(), "requests": sum(counts.values()), "by_decision": counts}
        for when, counts in sorted(buckets.items())
    ]


async def show_stats(request: web.Request) -> web.Response:
    query = request.query
    audit = AuditQuery(query, default_window=DEFAULT_WINDOW)
    # Evidence records (POST /v1/evidence) share the audit chain but are not requests.
    audit.conditions.append("kind = 'request'")
    since = audit.since
    until = audit.until or dt.datetime.now(dt.UTC)
    assert since is not None  # the default window guarantees one
    bucket_name = parse_choice(query, "bucket", BUCKETS, _bucket_for(until - since))
    assert bucket_name is not None
    bucket = dt.timedelta(seconds=BUCKETS[bucket_name])
    if (until - since) / bucket > MAX_POINTS:
        raise AdminInputError(
            f"'bucket' {bucket_name} gives more than {MAX_POINTS} points over this window",
            "bucket",
        )
    app = proxy_app(request)
    pool, args, settings = app[DB_POOL], audit.args, app[SETTINGS]
    n = len(args)
    series_sql = _render(SERIES_SQL, audit, bucket=str(n + 1), origin=str(n + 2))
    baseline_period = dt.timedelta(seconds=settings.alerts.baseline_seconds)
    (
        totals, rules, findings, risk, models, tenants, series, trailing, signals
    ) = await asyncio.gather(
        pool.fetch(_render(TOTALS_SQL, audit), *args),
        pool.fetch(_render(RULES_SQL, audit), *args),
        pool.fetch(_render(FINDINGS_SQL, audit), *args),
        pool.fetch(_render(RISK_SQL, audit), *args),
        pool.fetch(_render(MODELS_SQL, audit), *args),
        pool.fetch(_render(TENANTS_SQL, audit), *args),
        pool.fetch(series_sql, *args, bucket, since),
        read_baselines(pool, since, baseline_period),
        read_signals(app[MODEL_REGISTRY], now=audit.until is None),
    )  # fmt: skip
    judge = HealthJudge(
        window_counts(models),
        trailing,
        signals,
        settings.alerts.rules.latency_drift,
        settings.ml.drift_sigma,
    )
    body = _totals(totals)
    body["window"] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "bucket": bucket_name,
    }
    body["by_rule"] = {r["rule"]: r["n"] for r in rules}
    body["by_finding_kind"] = {r["kind"]: r["n"] for r in findings}
    counts = {r["bin"]: r["n"] for r in risk}
    body["risk_distribution"] = [
        {
            "low": round((i - 1) / RISK_BINS, 2),
            "high": round(i / RISK_BINS, 2),
            "requests": counts.get(i, 0),
        }
        for i in range(1, RISK_BINS + 1)
    ]
    body["models"] = [
        {
            "model": r["model"],
            "requests": r["requests"],
            "mean_latency_ms": round(r["mean_latency_ms"], 3),
            "p95_latency_ms": round(r["p95_latency_ms"], 3),
            "mean_upstream_ms": None
            if r["mean_upstream_ms"] is None
            else round(r["mean_upstream_ms"], 3),
            "error_rate": round(float(r["error_rate"]), 6),
            "prompt_tokens": r["prompt_tokens"],
            "completion_tokens": r["completion_tokens"],
            **judge.model(r["model"]),
        }
        for r in models
    ]
    body["tenants"] = [
        {
            "tenant": r["tenant"],
            "requests": r["requests"],
            "blocked": r["blocked"],
            "errors": r["errors"],
            "risky": r["risky"],
            "rate_limited": r["rate_limited"],
            "block_rate": _rate(r["blocked"], r["requests"]),
            "error_rate": _rate(r["errors"], r["requests"]),
            "risky_share": _rate(r["risky"], r["requests"]),
            **judge.tenant(r["models"], r["errors"] / r["requests"], r["risky"] / r["requests"]),
        }
        for r in tenants
    ]
    body["series"] = _series(series)
    return json_response(body)


def _bucket_for(window: dt.timedelta) -> str:
    """The finest bucket that keeps a chart under about 300 points."""
    for name, seconds in BUCKETS.items():
        if window.total_seconds() / seconds <= 300:
            return name
    return "1d"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/stats", show_stats)
