"""create_app(): the proxy application; create_admin_app(): the admin one beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as redis
from aiohttp import web

from proxy import admin
from proxy.auth import Authenticate, KeyStore
from proxy.body import ReadBody
from proxy.config import Settings
from proxy.db import create_pool, migrate
from proxy.keys import (
    DB_POOL,
    HTTP_SESSION,
    KEY_STORE,
    METRICS,
    PROXY_HANDLER,
    REDIS,
    REQUEST_LOG,
    ROUTES,
    SETTINGS,
)
from proxy.logs import RequestLog
from proxy.metrics import Metrics
from proxy.pipeline import ProxyHandler, Stage
from proxy.record import Recorder
from proxy.routing import ResolveRoute, RouteTable
from proxy.upstream import Forwarder, create_client_session

log = logging.getLogger(__name__)

REQUEST_LOG_FLUSH_SECONDS = 0.5


def create_app(settings: Settings, *, metrics: Metrics | None = None) -> web.Application:
    routes = RouteTable.from_settings(settings)
    # The stage reads bodies itself against each route's limit; this only lifts aiohttp's
    # default 1 MiB cap so that the stage gets to answer.
    app = web.Application(client_max_size=routes.max_body_bytes + 1)
    app[SETTINGS] = settings
    app[ROUTES] = routes
    app[METRICS] = metrics or Metrics()
    # Dependency order: later contexts use what earlier ones made; teardown runs in reverse.
    app.cleanup_ctx.append(postgres_pool)
    app.cleanup_ctx.append(redis_client)
    app.cleanup_ctx.append(http_session)
    app.cleanup_ctx.append(request_log)
    app.cleanup_ctx.append(proxy_handler)
    app.router.add_route("*", "/{tail:.*}", handle_proxy_request)
    return app


def build_stages(app: web.Application) -> list[Stage]:
    """The request path, in order. This list is the only place the order is written."""
    return [
        Authenticate(app[KEY_STORE]),
        ResolveRoute(app[ROUTES]),
        ReadBody(),
    ]


async def handle_proxy_request(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY_HANDLER](request)


async def postgres_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = await create_pool(settings.postgres)
    try:
        if settings.postgres.migrate_on_start:
            await migrate(pool)
        app[DB_POOL] = pool
        app[KEY_STORE] = KeyStore(
            pool, settings.keys.cache_ttl_seconds, settings.keys.cache_max_entries
        )
        yield
    finally:
        await pool.close()


async def redis_client(app: web.Application) -> AsyncIterator[None]:
    config = app[SETTINGS].redis
    # Connections open lazily, so Warden starts even while Redis is down (limits fail open).
    client = redis.Redis.from_url(
        config.url, socket_timeout=config.timeout, socket_connect_timeout=config.timeout
    )
    app[REDIS] = client
    yield
    await client.aclose()


async def http_session(app: web.Application) -> AsyncIterator[None]:
    session = create_client_session()
    app[HTTP_SESSION] = session
    yield
    await session.close()


async def request_log(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].logging
    if not settings.requests or settings.level not in ("debug", "info"):
        yield
        return
    writer = RequestLog()
    app[REQUEST_LOG] = writer

    async def flush_periodically() -> None:
        while True:
            await asyncio.sleep(REQUEST_LOG_FLUSH_SECONDS)
            writer.flush()

    task = asyncio.create_task(flush_periodically(), name="request-log-flush")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        writer.flush()


async def proxy_handler(app: web.Application) -> AsyncIterator[None]:
    recorder = Recorder(app[METRICS], app.get(REQUEST_LOG))
    app[PROXY_HANDLER] = ProxyHandler(build_stages(app), Forwarder(app[HTTP_SESSION]), recorder)
    yield


def create_admin_app(proxy: web.Application) -> web.Application:
    return admin.create_admin_app(proxy)
