"""Structured JSON logs: one object per line; request lines carry metadata only."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson

from proxy.exchange import Exchange
from proxy.policy.model import most_severe

REQUEST_LOGGER = "warden.request"
# Writes of at most PIPE_BUF bytes to a pipe are atomic, so lines from several workers
# sharing one stderr never interleave mid-line.
_ATOMIC_WRITE = 4096
_FLUSH_AT = 64 * 1024
_LINE_START = b'{"ts":'
_LINE_END = b',"level":"info","logger":"%s","msg":"request"' % REQUEST_LOGGER.encode()
_LINE_MIDDLE = _LINE_END + b","


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


def _ms(seconds: float) -> float:
    """Milliseconds to the microsecond, as round(seconds * 1000, 3) gives them but at a
    fraction of its cost (round() to decimals goes through a decimal conversion)."""
    return int(seconds * 1_000_000 + 0.5) / 1000


def request_fields(exchange: Exchange, now: float | None = None) -> dict[str, Any]:
    """The request line's fields. Built from metadata only: no body, header or key text."""
    end = time.perf_counter() if now is None else now
    key, route, call, reply = exchange.api_key, exchange.route, exchange.call, exchange.reply
    started, upstream_started = exchange.started, exchange.upstream_started
    fields: dict[str, Any] = {
        "request_id": exchange.request_id,
        "method": exchange.request.method,
        "route": route.prefix if route else None,
        "upstream": route.upstream_name if route else None,
        "tenant": key.tenant if key else None,
        "key_id": key.id if key else None,
        "operation": call.operation if call else None,
        "model": call.model if call else None,
        "stream": call.stream if call else False,
        "status": exchange.status,
        "upstream_status": exchange.upstream_status,
        "reason": reply.code if reply else None,
        "error": exchange.error,
        "duration_ms": _ms(end - started),
        "request_bytes": len(exchange.body),
        "response_bytes": exchange.response_bytes,
    }
    if upstream_started is not None:
        fields["overhead_ms"] = _ms(upstream_started - started)
        if exchange.upstream_finished is not None:
            fields["upstream_ms"] = _ms(exchange.upstream_finished - upstream_started)
    if exchange.decisions:
        fields["decision"] = most_severe(d.action for d in exchange.decisions)
        fields["rules"] = [rule for d in exchange.decisions for rule in d.rules]
        monitored = [m.rule_id for d in exchange.decisions for m in d.monitored]
        if monitored:
            fields["monitored_rules"] = monitored
        fields["policy_version"] = exchange.decisions[0].version
    if exchange.ml_risk is not None:
        fields["ml_risk"] = exchange.ml_risk.score
        fields["ml_risk_label"] = exchange.ml_risk.label
    if exchange.stream_cut:
        fields["stream_cut"] = True
    if exchange.client_disconnected:
        fields["client_disconnected"] = True
    return fields


class RequestLog:
    """The per-request log line, written in batches instead of one syscall per request.

    Going through `logging` costs a LogRecord, handler locks and a write for every request;
    here a line is two orjson calls, a join and an append, and `flush()` (every half second,
    when the buffer is large, and at shutdown) writes whole lines. Same JSON shape as
    JsonFormatter.
    """

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stderr.fileno() if fd is None else fd
        self._lines: list[bytes] = []
        self._size = 0

    def write(self, fields: dict[str, Any]) -> None:
        # {"ts":…,"level":"info",…} then the fields: joined, not merged into a new dict first.
        ts = orjson.dumps(int(time.time() * 1000 + 0.5) / 1000)
        body = orjson.dumps(fields, default=str)
        if len(body) > 2:
            line = b"".join((_LINE_START, ts, _LINE_MIDDLE, body[1:], b"\n"))
        else:
            line = b"".join((_LINE_START, ts, _LINE_END, b"}\n"))
        self._lines.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        lines, self._lines, self._size = self._lines, [], 0
        chunk = bytearray()
        for line in lines:
            if chunk and len(chunk) + len(line) > _ATOMIC_WRITE:
                self._write_all(chunk)
                chunk = bytearray()
            chunk += line
        if chunk:
            self._write_all(chunk)

    def _write_all(self, data: bytearray) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # stderr gone (closed pipe): dropping log lines beats failing requests
            view = view[written:]
