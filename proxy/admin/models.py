"""Admin API for ML models: statistics, drift and risk per model; freeze or reset baselines."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from proxy.admin.common import (
    AdminInputError,
    admin_error,
    json_response,
    proxy_app,
    read_json_object,
    reject_unknown_fields,
)
from proxy.admin.query import page_limit
from proxy.keys import MODEL_OBSERVER, MODEL_REGISTRY, SETTINGS
from proxy.ml.registry import ModelReport
from proxy.ml.risk import Moments, label_for

_MAX_PAGE = 1000
_BASELINE_ACTIONS = ("freeze", "reset")


def _iso(ms: int | None) -> str | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _moments(m: Moments) -> dict[str, Any]:
    return {"count": int(m.count), "mean": m.mean, "std": m.std}


def report_json(report: ModelReport, baseline_requests: int) -> dict[str, Any]:
    stats, drift, baseline = report.stats, report.drift, report.stats.baseline
    latency = stats.latency
    if baseline is not None:
        status, pending = "frozen", None
    elif baseline_requests > 0:
        status, pending = "collecting", max(0, baseline_requests - stats.stat_requests)
    else:
        status, pending = "manual", None
    features = {}
    for name, moments in sorted(stats.features.items()):
        entry = {**_moments(moments), "recent_mean": stats.recent.get(name)}
        if baseline is not None and name in baseline.features:
            entry["baseline_mean"] = baseline.features[name].mean
            entry["drift"] = drift.features.get(name)
        features[name] = entry
    return {
        "model": stats.model,
        "requests": stats.requests,
        "instances": stats.rows,
        "errors": stats.errors,
        "error_rate_recent": stats.error_rate_recent,
        "first_seen": _iso(stats.first_seen_ms),
        "last_seen": _iso(stats.last_seen_ms),
        "latency_ms": {
            "mean": _ms(latency.mean) if latency.count else None,
            "std": _ms(latency.std) if latency.count else None,
            "p95": _ms(report.latency_p95),
            "recent_mean": _ms(stats.latency_recent),
            "samples": len(report.latency_samples),
        },
        "risk": dict(stats.risk),
        "drift": {
            "score": drift.score,
            "label": label_for(drift.score) if drift.score is not None else None,
            "latency": drift.latency,
            "features": dict(sorted(drift.features.items())),
        },
        "baseline_status": status,
        "baseline_pending_requests": pending,
        "baseline": None
        if baseline is None
        else {
            "frozen_at": _iso(baseline.frozen_at_ms),
            "source": baseline.source,
            "requests": baseline.requests,
            "latency_ms": {
                "mean": _ms(baseline.latency.mean),
                "std": _ms(baseline.latency.std),
                "count": int(baseline.latency.count),
            },
            "features": {n: _moments(m) for n, m in sorted(baseline.features.items())},
        },
        "features": features,
    }


Handler = Callable[[web.Request], Awaitable[web.Response]]


def needs_redis(handler: Handler) -> Handler:
    """Model statistics live in Redis: when it does not answer, say so with a 503."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (RedisError, OSError, TimeoutError) as exc:
            return admin_error(
                503,
                f"model statistics are unavailable: Redis did not answer ({type(exc).__name__})",
            )

    return wrapped


def _baseline_requests(request: web.Request) -> int:
    return proxy_app(request)[SETTINGS].ml.baseline_requests


@needs_redis
async def list_models(request: web.Request) -> web.Response:
    limit = page_limit(request.query, most=_MAX_PAGE)
    registry = proxy_app(request)[MODEL_REGISTRY]
    cursor = request.query.get("cursor")
    names = [n for n in await registry.names() if cursor is None or n > cursor]
    reports = await registry.reports(names[:limit])
    next_cursor = names[limit - 1] if len(names) > limit else None
    n = _baseline_requests(request)
    return json_response({"data": [report_json(r, n) for r in reports], "next_cursor": next_cursor})


@needs_redis
async def show_model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    report = await proxy_app(request)[MODEL_REGISTRY].report(name)
    if report is None:
        return admin_error(404, f"no statistics for model '{name}'", "name")
    return json_response(report_json(report, _baseline_requests(request)))


@needs_redis
async def set_baseline(request: web.Request) -> web.Response:
    """{"action": "freeze"} (the default): now; {"action": "reset"}: from the next N."""
    name = request.match_info["name"]
    data = await read_json_object(request)
    reject_unknown_fields(data, ("action",))
    action = data.get("action", "freeze")
    if action not in _BASELINE_ACTIONS:
        raise AdminInputError("'action' must be 'freeze' or 'reset'", "action")
    app = proxy_app(request)
    registry = app[MODEL_REGISTRY]
    report: ModelReport | None
    if action == "freeze":
        result = await registry.freeze(name)
        if result == "empty":
            return admin_error(409, f"model '{name}' has no statistics to freeze yet", "name")
        report = result if isinstance(result, ModelReport) else None
    else:
        report = await registry.reset(name)
    if report is None:
        return admin_error(404, f"no statistics for model '{name}'", "name")
    observer = app.get(MODEL_OBSERVER)
    if observer is not None:
        observer.remember(report.stats)
    return json_response(report_json(report, _baseline_requests(request)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/models", list_models)
    # Names of plain JSON endpoints are their paths, so a name may hold slashes.
    app.router.add_post("/admin/models/{name:.+}/baseline", set_baseline)
    # ...except the baseline sub-resource, so GET on it is a 405 rather than a model lookup.
    app.router.add_get("/admin/models/{name:.+(?<!/baseline)}", show_model)
