"""The proxy app's cleanup contexts: its shared resources and the background work it runs.

Each context builds its part (a pool, a client, a writer, background tasks), keeps what others
use under an AppKey and undoes it all at cleanup; create_app lists them in dependency order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from aiohttp import web

from proxy.alerts import AlertEvaluator, WebhookSender
from proxy.alerts.model_signals import ModelSignalSource, RegistrySignals, no_model_signals
from proxy.audit import AuditWriter
from proxy.auth import KeyStore
from proxy.config import Settings
from proxy.db import create_pool, migrate
from proxy.errors import StartupError
from proxy.events import EventFeed
from proxy.evidence.retention import prune_periodically
from proxy.incidents import BlockIncidents
from proxy.incidents.notices import IncidentNotices
from proxy.keys import (
    ALERT_EVALUATOR,
    AUDIT_WRITER,
    DB_POOL,
    EVENT_FEED,
    EVIDENCE_SIGNER,
    HTTP_SESSION,
    INCIDENT_NOTICES,
    KEY_STORE,
    METRICS,
    MODEL_OBSERVER,
    MODEL_REGISTRY,
    POLICIES,
    POLICY_SCAN,
    RATE_LIMITER,
    REDIS,
    REQUEST_LOG,
    SETTINGS,
    SETTLEMENTS,
    WEBHOOK_SENDER,
)
from proxy.logs import RequestLog
from proxy.ml.observer import ModelObserver
from proxy.ml.registry import ModelRegistry
from proxy.policy import PolicyDefaults, PolicyError
from proxy.policy_store import PolicyStore, ReloadResult
from proxy.ratelimit import RateLimiter
from proxy.ratelimit.lua import create_client as create_redis_client
from proxy.scan_offload import ScanOffload
from proxy.scanners import KNOWN_KINDS
from proxy.scanning import Scanning, compile_custom
from proxy.settlement import Settlements
from proxy.upstream import create_client_session

REQUEST_LOG_FLUSH_SECONDS = 0.5
METRICS_SAMPLE_SECONDS = 1.0
BACKGROUND_CANCEL_SECONDS = 0.5


@contextlib.asynccontextmanager
async def background(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """A task that lives exactly as long as the app: cancelled and awaited at cleanup.

    Cancelled again for as long as it runs: a library can swallow a cancellation (a Redis
    pipeline read that the cancel interrupts returned normally under redis-py 8.1, and the
    alert evaluator went on to its next round), and the app's stop must not wait on it.
    """
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=BACKGROUND_CANCEL_SECONDS)
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def metrics_sampling(app: web.Application) -> AsyncIterator[None]:
    """With several workers a scrape reads the shared files, not this worker's samplers."""
    metrics = app[METRICS]
    if not metrics.multiprocess:
        yield
        return

    async def refresh_periodically() -> None:
        while True:
            await asyncio.sleep(METRICS_SAMPLE_SECONDS)
            metrics.refresh()

    async with background(refresh_periodically(), "metrics-sample"):
        yield
    metrics.refresh()


def policy_directory(settings: Settings) -> Path:
    return Path(settings.base_dir) / settings.policies.dir


def policy_compile_options(settings: Settings) -> dict[str, Any]:
    config = settings.policies
    return {
        "defaults": PolicyDefaults(
            config.default_access, config.default_content, config.default_response
        ),
        "known_kinds": KNOWN_KINDS,
        "custom_compiler": compile_custom,
    }


async def policies(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]

    def count(result: ReloadResult) -> None:
        outcome = "error" if not result.ok else ("ok" if result.changed else "unchanged")
        metrics.policy_reloads.labels(outcome).inc()
        show_active(store)

    def show_active(store: PolicyStore) -> None:
        active = store.active
        metrics.policy_info.info({"version": active.version, "rules": str(active.rule_count)})
        metrics.policy_loaded.set(store.loaded_at)

    try:
        store = PolicyStore(
            policy_directory(settings), policy_compile_options(settings), on_reload=count
        )
    except PolicyError as exc:
        raise StartupError(str(exc)) from exc
    show_active(store)
    app[POLICIES] = store
    offload = ScanOffload(settings.scanning.offload_above_chars, settings.scanning.processes)
    app[POLICY_SCAN] = Scanning(timer=metrics.scanner_timer(), offload=offload)
    try:
        async with background(
            store.watch(settings.policies.reload_interval_seconds), "policy-watch"
        ):
            yield
    finally:
        offload.close()


async def postgres_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = await create_pool(settings.postgres)
    try:
        if settings.postgres.migrate_on_start:
            await migrate(pool)
        app[DB_POOL] = pool
        failures = app[METRICS].dependency_failures
        app[KEY_STORE] = KeyStore(
            pool,
            settings.keys.cache_ttl_seconds,
            settings.keys.cache_max_entries,
            on_failure=lambda mode: failures.labels("postgres", mode).inc(),
        )
        yield
    finally:
        await pool.close()


async def redis_client(app: web.Application) -> AsyncIterator[None]:
    config = app[SETTINGS].redis
    # Connections open lazily, so Warden starts even while Redis is down (limits fail open).
    client = create_redis_client(config.url, config.timeout)
    app[REDIS] = client
    yield
    await client.aclose()


async def rate_limiter(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]

    limiter = RateLimiter(
        app[REDIS], settings.rate_limit, on_event=metrics.ratelimit_event_counter()
    )
    # Opening connections takes round trips a request's short Redis timeout cannot afford.
    await limiter.warm_up()
    app[RATE_LIMITER] = limiter
    settlements = app[SETTLEMENTS] = Settlements(limiter)
    try:
        async with (
            background(settlements.run(), "ratelimit-settle"),
            background(limiter.run(), "ratelimit-upkeep"),
        ):
            yield
    finally:
        await settlements.drain()
        await limiter.aclose()


async def event_feed(app: web.Application) -> AsyncIterator[None]:
    # Its own connections: subscribers block on reads far longer than the limiter's timeout.
    client = redis.Redis.from_url(
        app[SETTINGS].redis.url, socket_connect_timeout=2.0, socket_timeout=10.0
    )
    feed = app[EVENT_FEED] = EventFeed(client)
    try:
        async with background(feed.run(), "event-feed"):
            yield
    finally:
        await client.aclose()


async def model_observer(app: web.Application) -> AsyncIterator[None]:
    settings, store = app[SETTINGS], app[POLICIES]
    app[MODEL_REGISTRY] = ModelRegistry(app[REDIS], settings.ml)
    if not settings.ml.enabled:
        yield
        return

    def feature_names(model: str) -> tuple[str, ...] | None:
        contract = store.active.contract_for(model)
        return contract.names if contract is not None else None

    observer = ModelObserver(app[REDIS], settings.ml, app[METRICS], feature_names)
    app[MODEL_OBSERVER] = observer
    try:
        async with background(observer.run(), "ml-statistics"):
            yield
    finally:
        await observer.flush()


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

    try:
        async with background(flush_periodically(), "request-log-flush"):
            yield
    finally:
        writer.flush()


async def audit_writer(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]
    if not settings.audit.enabled:
        yield
        return
    incidents, notices = settings.incidents, None
    if incidents.auto_open:
        # Announced on the live feed once the audit batch that changed them commits.
        notices = app[INCIDENT_NOTICES] = IncidentNotices(settings.postgres.url, app[EVENT_FEED])
    async with AuditWriter(
        settings.audit,
        settings.postgres.url,
        base_dir=settings.base_dir,
        # Incidents are derived from the blocks each batch stores, in its transaction.
        hook=BlockIncidents(incidents, metrics, notices) if incidents.auto_open else None,
        signer=app.get(EVIDENCE_SIGNER),
    ) as writer:
        app[AUDIT_WRITER] = writer
        metrics.watch_audit(writer)
        async with contextlib.AsyncExitStack() as tasks:
            if notices is not None:
                await tasks.enter_async_context(background(notices.run(), "incident-notices"))
            yield


async def alerts(app: web.Application) -> AsyncIterator[None]:
    """The alert evaluator and the webhook sender: background work on the request pool."""
    settings, metrics = app[SETTINGS].alerts, app[METRICS]
    if not settings.enabled:
        yield
        return
    sender = app[WEBHOOK_SENDER] = WebhookSender(app[DB_POOL], settings, metrics)
    models: ModelSignalSource = no_model_signals
    if app[SETTINGS].ml.enabled:
        failures = metrics.dependency_failures.labels("redis", "fallback")
        models = RegistrySignals(app[MODEL_REGISTRY], on_failure=failures.inc)
    evaluator = app[ALERT_EVALUATOR] = AlertEvaluator(
        app[DB_POOL],
        settings,
        metrics,
        models=models,
        events=app[EVENT_FEED],
        on_notify=sender.wake,
    )
    async with contextlib.AsyncExitStack() as tasks:
        await tasks.enter_async_context(background(evaluator.run(), "alert-evaluator"))
        if settings.webhooks:  # otherwise nothing is ever queued: no need to poll
            await tasks.enter_async_context(background(sender.run(), "alert-webhooks"))
        yield


async def audit_retention(app: web.Application) -> AsyncIterator[None]:
    """`audit.retention.older_than_days`: prune on a schedule, one replica at a time."""
    retention = app[SETTINGS].audit.retention
    if retention.older_than_days is None:
        yield
        return
    work = prune_periodically(app[DB_POOL], retention.older_than_days, retention.interval_hours)
    async with background(work, "audit-retention"):
        yield
