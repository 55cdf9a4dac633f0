"""The demo app: routes, the error middleware and the generic JSON echo for other paths."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from proxy.demo_upstream.anthropic_api import anthropic_messages
from proxy.demo_upstream.bodies import loads
from proxy.demo_upstream.errors import DemoRequestError, error_response
from proxy.demo_upstream.kserve import (
    kserve_v1_predict,
    kserve_v2_health,
    kserve_v2_infer,
    kserve_v2_metadata,
)
from proxy.demo_upstream.openai_api import (
    chat_completions,
    completions,
    embeddings,
    get_model,
    list_models,
)
from proxy.demo_upstream.responses_api import responses
from proxy.demo_upstream.wire import json_response


def create_demo_upstream_app(*, middlewares: Iterable[Middleware] = ()) -> web.Application:
    """Build the demo app; extra ``middlewares`` wrap the demo's own error handling."""
    # Warden decides how big a request may be (limits.max_body_bytes); the model takes any.
    app = web.Application(middlewares=[*middlewares, _demo_errors], client_max_size=64 << 20)
    router = app.router
    router.add_get("/v1/models", list_models)
    router.add_get("/v1/models/{model_id}", get_model)
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/completions", completions)
    router.add_post("/v1/embeddings", embeddings)
    router.add_post("/v1/responses", responses)
    router.add_post("/v1/messages", anthropic_messages)
    router.add_post("/v1/models/{name}:predict", kserve_v1_predict)
    router.add_post("/v2/models/{name}/infer", kserve_v2_infer)
    router.add_get("/v2/models/{name}", kserve_v2_metadata)
    router.add_get("/v2/health/ready", kserve_v2_health)
    router.add_get("/v2/health/live", kserve_v2_health)
    # Last, so it only gets what no real route claims.
    router.add_route("*", "/{tail:.*}", _generic_echo)
    return app


@web.middleware
async def _demo_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DemoRequestError as exc:
        return error_response(request.path, exc.status, exc.message, exc.param)


async def _generic_echo(request: web.Request) -> web.Response:
    raw = await request.read()
    return json_response({"echo": loads(raw) if raw else None})
