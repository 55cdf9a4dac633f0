"""Admin API for the audit evidence: recompute the chains and check their signatures."""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from proxy.admin.common import AdminInputError, admin_error, json_response, proxy_app
from proxy.evidence import verify_database
from proxy.evidence.keyfile import trusted_public_keys
from proxy.evidence.timespec import parse_instant
from proxy.keys import AUDIT_VERIFY_LOCK, DB_POOL, SETTINGS


def _instant(request: web.Request, field: str) -> datetime | None:
    text = request.query.get(field)
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise AdminInputError(f"'{field}': {exc}", field) from None


async def verify_audit(request: web.Request) -> web.Response:
    """GET /admin/audit/verify?since=&until=: ok, or each broken chain's first bad link.

    One verification at a time per process: it reads and hashes every row of the window.
    """
    since, until = _instant(request, "since"), _instant(request, "until")
    if since is not None and until is not None and until <= since:
        raise AdminInputError("'until' must be later than 'since'", "until")
    app = proxy_app(request)
    try:
        trusted = trusted_public_keys(app[SETTINGS])
    except ValueError as exc:
        return admin_error(503, f"cannot load the evidence keys: {exc}")
    lock = request.app[AUDIT_VERIFY_LOCK]
    if lock.locked():
        return admin_error(409, "a verification is already running; try again when it ends")
    async with lock, app[DB_POOL].acquire() as conn:
        report = await verify_database(conn, since, until, trusted)
    return json_response(
        {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "trusted_keys": sorted(trusted),
            **report.as_json(),
        }
    )


def add_routes(app: web.Application) -> None:
    app[AUDIT_VERIFY_LOCK] = asyncio.Lock()
    app.router.add_get("/admin/audit/verify", verify_audit)
