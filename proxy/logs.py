"""Structured JSON logs: one object per line; request lines carry metadata only."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from proxy.exchange import Exchange

REQUEST_LOGGER = "warden.request"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            # The exception type and where it happened, never its message: messages of
            # parsing errors can quote request content.
            exc_type, _, tb = record.exc_info
            entry["exc_type"] = exc_type.__name__ if exc_type else None
            entry["exc_where"] = _last_frame(tb)
        return orjson.dumps(entry, default=str).decode()


def _last_frame(tb: Any) -> str | None:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would repeat our request line without the decision fields.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def request_fields(exchange: Exchange, now: float | None = None) -> dict[str, Any]:
    """The request line's fields. Built from metadata only: no body, header or key text."""
    end = time.perf_counter() if now is None else now
    key = exchange.api_key
    route = exchange.route
    fields: dict[str, Any] = {
        "request_id": exchange.request_id,
        "method": exchange.request.method,
        "route": route.prefix if route else None,
        "upstream": route.upstream_name if route else None,
        "tenant": key.tenant if key else None,
        "key_id": key.id if key else None,
        "operation": exchange.call.operation if exchange.call else None,
        "model": exchange.model,
        "stream": exchange.call.stream if exchange.call else False,
        "status": exchange.status,
        "upstream_status": exchange.upstream_status,
        "reason": exchange.reply.code if exchange.reply else None,
        "error": exchange.error,
        "duration_ms": round((end - exchange.started) * 1000, 3),
        "request_bytes": len(exchange.body),
        "response_bytes": exchange.response_bytes,
    }
    if exchange.upstream_started is not None:
        fields["overhead_ms"] = round((exchange.upstream_started - exchange.started) * 1000, 3)
    if exchange.upstream_started is not None and exchange.upstream_finished is not None:
        upstream_ms = (exchange.upstream_finished - exchange.upstream_started) * 1000
        fields["upstream_ms"] = round(upstream_ms, 3)
    if exchange.stream_cut:
        fields["stream_cut"] = True
    if exchange.client_disconnected:
        fields["client_disconnected"] = True
    return fields
