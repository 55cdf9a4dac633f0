"""Liveness, readiness (Redis and Postgres answer) and the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable

from aiohttp import web

from proxy.admin.common import json_response, proxy_app
from proxy.keys import DB_POOL, DRAINING, METRICS, REDIS
from proxy.metrics import CONTENT_TYPE

_PROBE_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "pid": os.getpid()})


async def _probe(name: str, check: Awaitable[object]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            await check
    except Exception as exc:  # a probe reports any failure instead of raising it
        return {"name": name, "ok": False, "error": type(exc).__name__}
    return {"name": name, "ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


async def readyz(request: web.Request) -> web.Response:
    app = proxy_app(request)
    if app[DRAINING].is_set():
        return json_response({"status": "draining", "checks": []}, status=503)
    checks = await asyncio.gather(
        _probe("postgres", app[DB_POOL].fetchval("SELECT 1")),
        _probe("redis", app[REDIS].ping()),
    )
    ready = all(c["ok"] for c in checks)
    return json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = proxy_app(request)[METRICS].exposition()
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
