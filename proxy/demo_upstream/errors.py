"""Client errors, reported in the wire format of the endpoint that was called."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from proxy.demo_upstream.wire import Json, json_response


class DemoRequestError(Exception):
    """A client error, reported in the wire format of the endpoint that was called."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param


_ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_response(path: str, status: int, message: str, param: str | None = None) -> web.Response:
    """Build an error body shaped for the SDK that calls ``path`` (Anthropic or OpenAI)."""
    body: Json
    if path.startswith("/v1/messages"):
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return json_response(body, status=status)
