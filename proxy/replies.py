"""LocalReply and the one error body every response Warden makes itself uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A response Warden sends itself instead of forwarding; returning one ends the stages.

    `kind` is the error type clients switch on (OpenAI's `error.type`), `param` names the
    request field at fault, `code` is a stable machine-readable reason.
    """

    status: int
    message: str
    kind: str
    code: str | None = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> bytes:
    # OpenAI's shape ({"error": {message, type, param, code}}) plus Anthropic's top-level
    # "type": "error", so both SDKs read the same body and raise their typed exceptions.
    return orjson.dumps(
        {
            "type": "error",
            "error": {"message": message, "type": kind, "param": param, "code": code},
        }
    )


def render_reply(reply: LocalReply, request_id: str) -> web.Response:
    headers = {"x-request-id": request_id, **reply.headers}
    return web.Response(
        status=reply.status,
        body=error_body(reply.message, reply.kind, reply.code, reply.param),
        content_type="application/json",
        headers=headers,
    )


def unauthorized(message: str, code: str = "invalid_api_key") -> LocalReply:
    return LocalReply(401, message, "authentication_error", code=code)


def forbidden(message: str, code: str, param: str | None = None) -> LocalReply:
    return LocalReply(403, message, "permission_error", code=code, param=param)


def bad_request(
    message: str, param: str | None = None, code: str = "invalid_request"
) -> LocalReply:
    return LocalReply(400, message, "invalid_request_error", code=code, param=param)


def not_found(message: str, code: str = "not_found") -> LocalReply:
    return LocalReply(404, message, "not_found_error", code=code)


def bad_gateway(message: str, code: str = "upstream_unreachable") -> LocalReply:
    return LocalReply(502, message, "api_error", code=code)


def gateway_timeout(message: str, code: str = "upstream_timeout") -> LocalReply:
    return LocalReply(504, message, "timeout_error", code=code)


def internal_error(message: str = "Warden failed to handle this request") -> LocalReply:
    return LocalReply(500, message, "api_error", code="internal_error")
