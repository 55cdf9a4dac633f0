"""The admin application: health, metrics and /admin/* on their own listener."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy.admin import audit, health, keys, policies
from proxy.admin.common import admin_error, input_errors
from proxy.keys import PROXY_APP, SETTINGS

# Open without a token: probes and Prometheus scrape these.
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def require_admin_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _OPEN_PATHS:
        return await handler(request)
    token = request.app[PROXY_APP][SETTINGS].admin.token
    if not token:
        return admin_error(503, "the admin API is disabled: set admin.token in the config")
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        return admin_error(
            401,
            "missing or wrong admin token (send Authorization: Bearer $WARDEN_ADMIN_TOKEN)",
            headers={"www-authenticate": 'Bearer realm="warden-admin"'},
        )
    return await handler(request)


def create_admin_app(proxy: web.Application) -> web.Application:
    app = web.Application(middlewares=[require_admin_token, input_errors])
    app[PROXY_APP] = proxy
    health.add_routes(app)
    keys.add_routes(app)
    policies.add_routes(app)
    audit.add_routes(app)
    return app
