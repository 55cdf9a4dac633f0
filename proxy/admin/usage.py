"""Admin API: a key's or a tenant's consumption against each rate limit and budget."""

from __future__ import annotations

from aiohttp import web

from proxy import apikeys
from proxy.admin.common import admin_error, json_response, proxy_app
from proxy.admin.keys import TENANT_PATTERN
from proxy.keys import DB_POOL, RATE_LIMITER
from proxy.ratelimit import RateLimiter
from proxy.ratelimit.report import LimitUsage, UsageUnavailable, key_usage, tenant_usage
from proxy.ratelimit.stage import key_limits_of


async def show_key_usage(request: web.Request) -> web.Response:
    app = proxy_app(request)
    key = await apikeys.fetch_key(app[DB_POOL], request.match_info["key_id"])
    if key is None:
        return admin_error(404, "no such key", "key_id")
    limiter = app[RATE_LIMITER]
    try:
        now, usage = await key_usage(limiter, key.tenant, key.id, key_limits_of(key.rate_limit))
    except UsageUnavailable as exc:
        return _unavailable(exc)
    return json_response({"key_id": key.id, "tenant": key.tenant, **_body(limiter, now, usage)})


async def show_tenant_usage(request: web.Request) -> web.Response:
    tenant = request.match_info["tenant"]
    if not TENANT_PATTERN.match(tenant):
        return admin_error(
            400, "tenant ids are letters, digits and _ . : - (at most 128)", "tenant"
        )
    limiter = proxy_app(request)[RATE_LIMITER]
    try:
        now, usage = await tenant_usage(limiter, tenant)
    except UsageUnavailable as exc:
        return _unavailable(exc)
    return json_response({"tenant": tenant, **_body(limiter, now, usage)})


def _body(limiter: RateLimiter, now: float, usage: list[LimitUsage]) -> dict[str, object]:
    # With limits off nothing is counted: say so, so that [] does not read as "no limits set".
    return {
        "rate_limits_enabled": limiter.settings.enabled,
        "limits": [u.to_json(now) for u in usage],
    }


def _unavailable(exc: UsageUnavailable) -> web.Response:
    return admin_error(503, f"rate-limit state cannot be read from Redis right now ({exc})")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/keys/{key_id}/usage", show_key_usage)
    app.router.add_get("/admin/tenants/{tenant}/usage", show_tenant_usage)
