"""What every admin handler shares: the error shape, JSON in and out, shared state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import orjson
from aiohttp import web

from proxy.keys import DB_POOL, PROXY_APP
from proxy.replies import error_body

_KIND_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
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


async def read_json_object(request: web.Request, *, required: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as {} unless one is required."""
    raw = await request.read()
    # Only no bytes at all is no body: whitespace alone ("\t", "\n") is a JSON document
    # without a value, malformed like any other (schemathesis sends them as invalid syntax).
    if not raw:
        if required:
            raise AdminInputError("a JSON object body is required")
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AdminInputError(f"malformed JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise AdminInputError("the request body must be a JSON object")
    where = _nul_in(data, "")
    if where is not None:
        raise AdminInputError("text may not contain NUL (\\u0000) characters", where or None)
    return data


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding a NUL: Postgres text cannot store one."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        inner = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return inner
        found = _nul_in(item, inner)
        if found is not None:
            return found
    return None


def optional_string(data: Mapping[str, Any], field: str, max_length: int = 200) -> str | None:
    """A string field of a JSON body, absent or null as None; too long or not a string: 400."""
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise AdminInputError(
            f"'{field}' must be a string of at most {max_length} characters", field
        )
    return value


def reject_unknown_fields(data: Mapping[str, Any], known: Collection[str]) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise AdminInputError(f"unknown field '{unknown[0]}'", unknown[0], status=422)


def id_page(rows: list[dict[str, Any]], limit: int) -> web.Response:
    """`{"data", "next_cursor"}` from up to `limit + 1` rows fetched by descending id."""
    page = rows[:limit]
    next_cursor = str(page[-1]["id"]) if len(rows) > limit else None
    return json_response({"data": page, "next_cursor": next_cursor})


def path_id(request: web.Request, name: str) -> int | None:
    """A numeric id from the path; None for anything else (which is then simply not found)."""
    text = request.match_info[name]
    # isdigit() alone admits "³" and other digits int() refuses; 18 digits fit a bigint.
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


async def fetch_by_path_id(
    request: web.Request,
    name: str,
    fetch: Callable[[Any, int], Awaitable[dict[str, Any] | None]],
) -> dict[str, Any] | None:
    """`fetch(pool, id)` for the numeric id in path segment `name`; None when absent."""
    item_id = path_id(request, name)
    return None if item_id is None else await fetch(proxy_app(request)[DB_POOL], item_id)


def proxy_app(request: web.Request) -> web.Application:
    return request.app[PROXY_APP]


@web.middleware
async def input_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    for name, value in (*request.query.items(), *request.match_info.items()):
        if "\x00" in value or "\x00" in name:
            return admin_error(400, f"'{name}' may not contain NUL characters", name)
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except AdminInputError as exc:
        return admin_error(exc.status, exc.message, exc.field)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return admin_error(
            405,
            f"{request.method} is not allowed here (allowed: {allowed})",
            headers={"allow": exc.headers["allow"]},
        )
    except web.HTTPNotFound:
        # No such path: the same JSON error shape as every other admin answer.
        return admin_error(404, f"no admin endpoint at {request.path}")
