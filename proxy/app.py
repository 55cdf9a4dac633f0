"""create_app(): the proxy application; create_admin_app(): the admin one beside it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from proxy import admin, resources
from proxy.audit_gate import RequireAudit
from proxy.auth import Authenticate
from proxy.body import ReadBody
from proxy.config import Settings
from proxy.decision_api import CHECK_PATH, AnswerCheck, ReadCheckRequest
from proxy.enforce import (
    EXCHANGE,
    CheckAccess,
    EnforceContent,
    EnforceResponse,
    add_decision_headers,
)
from proxy.errors import StartupError
from proxy.evidence.keyfile import load_signer
from proxy.evidence_api import EVIDENCE_PATH, AcceptEvidence
from proxy.keys import (
    AUDIT_WRITER,
    CHECK_HANDLER,
    DRAINING,
    EVENT_FEED,
    EVIDENCE_HANDLER,
    EVIDENCE_SIGNER,
    HTTP_SESSION,
    KEY_STORE,
    METRICS,
    MODEL_OBSERVER,
    POLICIES,
    POLICY_SCAN,
    PROXY_HANDLER,
    RATE_LIMITER,
    REQUEST_LOG,
    ROUTES,
    SETTINGS,
    SETTLEMENTS,
)
from proxy.metrics import Metrics
from proxy.ml.scoring import PredictionScorer, ReadPrediction
from proxy.pipeline import ProxyHandler, Stage
from proxy.ratelimit import RateLimit, holds_reservation, ratelimit_headers
from proxy.record import Recorder
from proxy.response_guard import StreamGuards
from proxy.routing import ResolveRoute, RouteTable
from proxy.scanning import ScanPrompt
from proxy.stream_meter import StreamMeters
from proxy.upstream import Forwarder


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
    app.cleanup_ctx.append(resources.metrics_sampling)
    app.cleanup_ctx.append(resources.policies)
    app.cleanup_ctx.append(resources.postgres_pool)
    app.cleanup_ctx.append(resources.redis_client)
    app.cleanup_ctx.append(resources.rate_limiter)
    app.cleanup_ctx.append(resources.event_feed)
    app.cleanup_ctx.append(resources.model_observer)
    app.cleanup_ctx.append(resources.http_session)
    app.cleanup_ctx.append(resources.request_log)
    app.cleanup_ctx.append(resources.audit_writer)
    app.cleanup_ctx.append(resources.alerts)
    app.cleanup_ctx.append(resources.audit_retention)
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


async def proxy_handler(app: web.Application) -> AsyncIterator[None]:
    """The last context: the three handlers, from what the resources before it built."""
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
