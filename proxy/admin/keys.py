"""Admin API for Warden keys: create (the key is shown once), list, show, revoke, rotate."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web

from proxy import apikeys
from proxy.admin.common import (
    AdminInputError,
    admin_error,
    json_response,
    page_limit,
    proxy_app,
    read_json_object,
)
from proxy.keys import DB_POOL, KEY_STORE
from proxy.ratelimit import parse_key_limits

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_CREATE_FIELDS = frozenset({"tenant", "name", "expires_at", "rate_limit", "metadata"})
_MAX_PAGE = 500


def _optional_string(data: dict[str, Any], field: str, max_length: int = 200) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise AdminInputError(
            f"'{field}' must be a string of at most {max_length} characters", field
        )
    return value


def _optional_object(data: dict[str, Any], field: str) -> dict[str, Any] | None:
    value = data.get(field)
    if value is not None and not isinstance(value, dict):
        raise AdminInputError(f"'{field}' must be an object", field)
    return value


def _parse_expiry(data: dict[str, Any]) -> dt.datetime | None:
    text = _optional_string(data, "expires_at", 64)
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise AdminInputError("'expires_at' must be an ISO 8601 time", "expires_at") from exc
    if when.tzinfo is None:
        raise AdminInputError("'expires_at' needs a time zone (e.g. ...Z)", "expires_at")
    return when


async def create_key(request: web.Request) -> web.Response:
    data = await read_json_object(request)
    unknown = sorted(set(data) - _CREATE_FIELDS)
    if unknown:
        raise AdminInputError(f"unknown field '{unknown[0]}'", unknown[0], status=422)
    tenant = data.get("tenant")
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise AdminInputError(
            "'tenant' is required: letters, digits and _ . : - (at most 128)", "tenant"
        )
    rate_limit = _optional_object(data, "rate_limit")
    if rate_limit is not None:
        parsed = parse_key_limits(rate_limit)
        if isinstance(parsed, list):
            field, _, message = parsed[0].partition(": ")
            raise AdminInputError(message or parsed[0], field or "rate_limit")
    key, secret = await apikeys.create_key(
        proxy_app(request)[DB_POOL],
        tenant,
        _optional_string(data, "name"),
        expires_at=_parse_expiry(data),
        rate_limit=rate_limit,
        metadata=_optional_object(data, "metadata"),
    )
    return json_response(
        {**key.public(), "key": secret},
        status=201,
        headers={"location": f"/admin/keys/{key.id}"},
    )


async def list_keys(request: web.Request) -> web.Response:
    query = request.query
    limit = page_limit(request, _MAX_PAGE)
    include_revoked = query.get("include_revoked", "false").lower() in ("1", "true", "yes")
    keys = await apikeys.list_keys(
        proxy_app(request)[DB_POOL],
        query.get("tenant"),
        include_revoked=include_revoked,
        after=query.get("cursor"),
        limit=limit + 1,
    )
    page = keys[:limit]
    next_cursor = page[-1].id if len(keys) > limit else None
    return json_response({"data": [k.public() for k in page], "next_cursor": next_cursor})


async def show_key(request: web.Request) -> web.Response:
    key = await apikeys.fetch_key(proxy_app(request)[DB_POOL], request.match_info["key_id"])
    if key is None:
        return admin_error(404, "no such key", "key_id")
    return json_response(key.public())


async def revoke_key(request: web.Request) -> web.Response:
    app = proxy_app(request)
    key_id = request.match_info["key_id"]
    key = await apikeys.revoke_key(app[DB_POOL], key_id)
    if key is None:
        return admin_error(404, "no such key", "key_id")
    app[KEY_STORE].forget(key_id)
    return json_response(key.public())


async def rotate_key(request: web.Request) -> web.Response:
    app = proxy_app(request)
    key_id = request.match_info["key_id"]
    data = await read_json_object(request)
    grace = data.get("grace_seconds", 0)
    if (
        isinstance(grace, bool)
        or not isinstance(grace, int | float)
        or not 0 <= grace <= 86400 * 30
    ):
        raise AdminInputError("'grace_seconds' must be a number from 0 to 2592000", "grace_seconds")
    rotated = await apikeys.rotate_key(app[DB_POOL], key_id, float(grace))
    if rotated is None:
        if await apikeys.fetch_key(app[DB_POOL], key_id) is None:
            return admin_error(404, "no such key", "key_id")
        return admin_error(409, "the key is revoked and cannot be rotated", "key_id")
    key, secret = rotated
    app[KEY_STORE].forget(key_id)
    return json_response({**key.public(), "key": secret})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/keys", create_key)
    app.router.add_get("/admin/keys", list_keys)
    app.router.add_get("/admin/keys/{key_id}", show_key)
    app.router.add_delete("/admin/keys/{key_id}", revoke_key)
    app.router.add_post("/admin/keys/{key_id}/rotate", rotate_key)
