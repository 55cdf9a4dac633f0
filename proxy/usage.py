"""Token usage the upstream reported for one exchange."""

from __future__ import annotations

import orjson

from proxy.exchange import Exchange
from proxy.formats.segments import Usage
from proxy.formats.texts import TEXT_READERS


def reported_usage(exchange: Exchange) -> Usage | None:
    """Streamed usage events (merged), or the `usage` of the JSON answer; None when absent."""
    if exchange.stream_usage is not None:
        return exchange.stream_usage
    body, route, call = exchange.response_body, exchange.route, exchange.call
    if not body or route is None or call is None:
        return None
    payload = exchange.response_payload
    if payload is None:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    return TEXT_READERS[route.format].usage(call.operation, payload)
