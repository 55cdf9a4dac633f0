"""Record: what happens after every request, whatever its outcome: metrics and the log line."""

from __future__ import annotations

import logging
import time

from proxy.exchange import Exchange
from proxy.logs import REQUEST_LOGGER, request_fields
from proxy.metrics import Metrics

_NO_ROUTE = "none"


def outcome_of(exchange: Exchange) -> str:
    """A small closed set, so it can be a metric label."""
    if exchange.client_disconnected:
        return "client_closed"
    if exchange.error is not None:
        return "error"
    if exchange.reply is not None:
        return "rejected"
    return "forwarded"


class Recorder:
    def __init__(self, metrics: Metrics, log_requests: bool = True) -> None:
        self.metrics = metrics
        self.log_requests = log_requests
        self.log = logging.getLogger(REQUEST_LOGGER)

    def record(self, exchange: Exchange) -> None:
        """Runs in the handler's finally: must not raise and must not await."""
        now = time.perf_counter()
        route = exchange.route.prefix if exchange.route else _NO_ROUTE
        m = self.metrics
        m.requests.labels(route, outcome_of(exchange), str(exchange.status)).inc()
        m.request_duration.labels(route).observe(now - exchange.started)
        if exchange.upstream_started is not None:
            m.overhead.labels(route).observe(exchange.upstream_started - exchange.started)
            if exchange.upstream_finished is not None:
                m.upstream_duration.labels(route).observe(
                    exchange.upstream_finished - exchange.upstream_started
                )
        if exchange.error is not None and exchange.error.startswith("upstream_"):
            m.upstream_errors.labels(route, exchange.error.removeprefix("upstream_")).inc()
        if self.log_requests:
            self.log.info("request", extra={"fields": request_fields(exchange, now)})
