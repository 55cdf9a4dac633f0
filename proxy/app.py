"""create_app(): the proxy application; create_admin_app(): the admin one beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from aiohttp import web

from proxy import admin
from proxy.alerts import AlertEvaluator, WebhookSender
from proxy.alerts.model_signals import ModelSignalSource, RegistrySignals, no_model_signals
from proxy.audit import AuditWriter
from proxy.audit_gate import RequireAudit
from proxy.auth import Authenticate, KeyStore
from proxy.body import ReadBody
from proxy.config import Settings
from proxy.db import create_pool, migrate
from proxy.decision_api import CHECK_PATH, AnswerCheck, ReadCheckRequest
from proxy.enforce import (
    EXCHANGE,
    CheckAccess,
    EnforceContent,
    EnforceResponse,
    add_decision_headers,
)
from proxy.errors import StartupError
from proxy.events import EventFeed
from proxy.evidence.keyfile import load_signer
from proxy.evidence.retention import prune_periodically
from proxy.evidence_api import EVIDENCE_PATH, AcceptEvidence
from proxy.incidents import BlockIncidents
from proxy.incidents.notices import IncidentNotices
from proxy.keys import (
    ALERT_EVALUATOR,
    AUDIT_WRITER,
    CHECK_HANDLER,
    DB_POOL,
    DRAINING,
    EVENT_FEED,
    EVIDENCE_HANDLER,
    EVIDENCE_SIGNER,
    HTTP_SESSION,
    INCIDENT_NOTICES,
    KEY_STORE,
    METRICS,
    MODEL_OBSERVER,
    MODEL_REGISTRY,
    POLICIES,
    POLICY_SCAN,
    PROXY_HANDLER,
    RATE_LIMITER,
    REDIS,
    REQUEST_LOG,
    ROUTES,
    SETTINGS,
    SETTLEMENTS,
    WEBHOOK_SENDER,
)
from proxy.logs import RequestLog
from proxy.metrics import Metrics
from proxy.ml.observer import ModelObserver
from proxy.ml.registry import ModelRegistry
from proxy.ml.scoring import PredictionScorer, ReadPrediction
from proxy.pipeline import ProxyHandler, Stage
from proxy.policy import PolicyDefaults, PolicyError
from proxy.policy_store import PolicyStore, ReloadResult
from proxy.ratelimit import RateLimit, RateLimiter, holds_reservation, ratelimit_headers
from proxy.ratelimit.lua import create_client as create_redis_client
from proxy.record import Recorder
from proxy.response_guard import StreamGuards
from proxy.routing import ResolveRoute, RouteTable
from proxy.scan_offload import ScanOffload
from proxy.scanners import KNOWN_KINDS
from proxy.scanning import Scanning, ScanPrompt, compile_custom
from proxy.settlement import Settlements
from proxy.stream_meter import StreamMeters
from proxy.upstream import Forwarder, create_client_session

log = logging.getLogger(__name__)

REQUEST_LOG_FLUSH_SECONDS = 0.5
METRICS_SAMPLE_SECONDS = 1.0
BACKGROUND_CANCEL_SECONDS = 0.5


def create_app(settings: Settings, *, metrics: Metrics | None = None) -> web.Application:
    routes = RouteTable.from_settings(settings)
    # The stage reads bodies itself against each route's limit; this only lifts aiohttp's
    # default 1 MiB cap so that the stage gets to answer.
    app = web.Application(client_max_size=routes.max_body_bytes + 1)
    app[SETTINGS] = settings
    app[ROUTES] = routes
    app[METRICS] = metrics or Metrics()
    app[DRAINING] = asyncio.Event()
    # Read before anything starts: a key that is configured but unusable stops the start.
    try:
        signer = load_signer(settings) if settings.audit.enabled else None
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
    if signer is not None:
        app[EVIDENCE_SIGNER] = signer
    # Dependency order: later contexts use what earlier ones made; teardown runs in reverse.
    app.cleanup_ctx.append(metrics_sampling)
    app.cleanup_ctx.append(policies)
    app.cleanup_ctx.append(postgres_pool)
    app.cleanup_ctx.append(redis_client)
    app.cleanup_ctx.append(rate_limiter)
    app.cleanup_ctx.append(event_feed)
    app.cleanup_ctx.append(model_observer)
    app.cleanup_ctx.append(http_session)
    app.cleanup_ctx.append(request_log)
    app.cleanup_ctx.append(audit_writer)
    app.cleanup_ctx.append(alerts)
    app.cleanup_ctx.append(audit_retention)
    app.cleanup_ctx.append(proxy_handler)
    # The decision and evidence APIs answer here themselves; every other path is proxied.
    app.router.add_post(CHECK_PATH, handle_check_request)
    app.router.add_post(EVIDENCE_PATH, handle_evidence_request)
    app.router.add_route("*", "/{tail:.*}", handle_proxy_request)
    app.on_response_prepare.append(add_response_headers)
    return app


async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """What was decided, and OpenAI's x-ratelimit-* from the limit that binds first.

    The exchange's last reader: taking it off the request breaks their reference cycle, so
    both are freed as soon as the response is done rather than by the cyclic GC (which
    otherwise ran every few requests and promoted every request's objects on the way).
    """
    exchange = request.pop(EXCHANGE, None)
    if exchange is not None:
        add_decision_headers(exchange, response.headers)
    limits = ratelimit_headers(request)
    if limits:
        response.headers.update(limits)


def audit_gate(app: web.Application) -> list[Stage]:
    """Stage 0 in fail_closed mode: no request is served that cannot be recorded."""
    settings = app[SETTINGS]
    if settings.audit.enabled and settings.audit.failure_mode == "fail_closed":
        return [RequireAudit(app[AUDIT_WRITER])]
    return []


def build_stages(app: web.Application) -> list[Stage]:
    """The request path, in order. This list is the only place the order is written."""
    return [
        *audit_gate(app),
        Authenticate(app[KEY_STORE]),
        ResolveRoute(app[ROUTES]),
        ReadBody(),
        ReadPrediction(),
        CheckAccess(app[POLICIES]),
        RateLimit(app[RATE_LIMITER]),
        ScanPrompt(app[POLICY_SCAN]),
        EnforceContent(),
    ]


async def handle_proxy_request(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY_HANDLER](request)


async def handle_check_request(request: web.Request) -> web.StreamResponse:
    return await request.app[CHECK_HANDLER](request)


async def handle_evidence_request(request: web.Request) -> web.StreamResponse:
    return await request.app[EVIDENCE_HANDLER](request)


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


async def proxy_handler(app: web.Application) -> AsyncIterator[None]:
    observer = app.get(MODEL_OBSERVER)
    recorder = Recorder(
        app[METRICS],
        app.get(REQUEST_LOG),
        app[SETTLEMENTS],
        app.get(AUDIT_WRITER),
        events=app[EVENT_FEED],
        models=observer,
    )
    scorer = PredictionScorer(observer) if observer is not None else None
    forwarder = Forwarder(
        app[HTTP_SESSION],
        EnforceResponse(app[POLICY_SCAN], scorer),
        StreamGuards(app[POLICY_SCAN]),
        StreamMeters(AUDIT_WRITER in app, holds_reservation),
    )
    app[PROXY_HANDLER] = ProxyHandler(build_stages(app), forwarder.forward, recorder)
    app[CHECK_HANDLER] = ProxyHandler(
        [Authenticate(app[KEY_STORE]), ReadCheckRequest()],
        AnswerCheck(app[POLICIES], app[POLICY_SCAN]),
        recorder,
    )
    app[EVIDENCE_HANDLER] = ProxyHandler(
        [*audit_gate(app), Authenticate(app[KEY_STORE])],
        AcceptEvidence(app.get(AUDIT_WRITER)),
        recorder,
    )
    yield


def create_admin_app(proxy: web.Application) -> web.Application:
    return admin.create_admin_app(proxy)
