"""The ReadBody stage: bounded read, JSON parse, and the route format's reading of the call."""

from __future__ import annotations

import orjson

from proxy.exchange import Exchange
from proxy.formats import Call, Invalid
from proxy.replies import LocalReply, bad_request

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


def _too_large(limit: int) -> LocalReply:
    return LocalReply(
        413,
        f"request body exceeds this route's limit of {limit} bytes",
        "invalid_request_error",
        code="request_too_large",
    )


class ReadBody:
    """Stage 3: read at most the route's byte limit, parse JSON, describe the call."""

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        route = exchange.route
        assert route is not None, "ResolveRoute runs before ReadBody"
        request = exchange.request
        limit = route.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        if request.content_length is not None:
            exchange.body = await request.read()
        else:
            # Chunked upload: no length up front, so count while reading.
            body = bytearray()
            async for chunk in request.content.iter_chunked(65536):
                body += chunk
                if len(body) > limit:
                    return _too_large(limit)
            exchange.body = bytes(body)

        if not exchange.body and request.method in _BODYLESS_METHODS:
            payload = None
        else:
            if not exchange.body:
                return bad_request("the request body is empty; expected JSON")
            if request.content_type not in ("application/json", "") and route.reject_unparsable:
                return bad_request(
                    f"expected Content-Type application/json, got {request.content_type}",
                    code="unsupported_content_type",
                )
            try:
                payload = orjson.loads(exchange.body)
            except orjson.JSONDecodeError as exc:
                if route.reject_unparsable:
                    return bad_request(f"malformed JSON body: {exc}", code="invalid_json")
                exchange.call = Call("opaque")
                return None
        call = route.describe(request.method, exchange.upstream_path, payload)
        if isinstance(call, Invalid):
            return bad_request(call.message, param=call.param)
        exchange.call = call
        return None
