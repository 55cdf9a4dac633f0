"""What every admin handler shares: the error shape, JSON in and out, shared state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from proxy.keys import PROXY_APP
from proxy.replies import error_body

_KIND_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    503: "api_error",
}


class AdminInputError(Exception):
    """A request field the admin API cannot accept; handlers turn it into a 400/422."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def admin_error(
    status: int,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    kind = _KIND_BY_STATUS.get(status, "api_error")
    return web.Response(
        status=status,
        body=error_body(message, kind, code=None, param=field),
        content_type="application/json",
        headers=headers,
    )


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as {}."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AdminInputError(f"malformed JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise AdminInputError("the request body must be a JSON object")
    return data


def page_limit(request: web.Request, maximum: int, default: int = 100) -> int:
    """The `limit` query parameter of a list call, checked."""
    try:
        limit = int(request.query.get("limit", str(default)))
    except ValueError:
        raise AdminInputError("'limit' must be an integer", "limit") from None
    if not 1 <= limit <= maximum:
        raise AdminInputError(f"'limit' must be between 1 and {maximum}", "limit")
    return limit


def proxy_app(request: web.Request) -> web.Application:
    return request.app[PROXY_APP]


@web.middleware
async def input_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except AdminInputError as exc:
        return admin_error(exc.status, exc.message, exc.field)
