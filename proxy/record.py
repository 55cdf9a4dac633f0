"""Record: what happens after every request, whatever its outcome: metrics and the log line."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from proxy.audit import AuditWriter
from proxy.audit_row import audit_record
from proxy.exchange import Exchange
from proxy.logs import RequestLog, request_fields
from proxy.metrics import Metrics
from proxy.policy import Decision
from proxy.ratelimit import ADMISSION
from proxy.settlement import Settlements
from proxy.usage import reported_usage

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


@dataclass(frozen=True, slots=True)
class _RouteSeries:
    """A route's labelled children, looked up once: `.labels()` takes a lock on every call."""

    duration: Histogram
    overhead: Histogram
    upstream: Histogram


class Recorder:
    def __init__(
        self,
        metrics: Metrics,
        request_log: RequestLog | None,
        settlements: Settlements | None = None,
        audit: AuditWriter | None = None,
    ) -> None:
        self.metrics = metrics
        self.request_log = request_log
        self.settlements = settlements
        self.audit = audit
        self._routes: dict[str, _RouteSeries] = {}
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._decisions: dict[tuple[str, str, str, str], Counter] = {}

    def _series(self, route: str) -> _RouteSeries:
        series = self._routes.get(route)
        if series is None:
            m = self.metrics
            series = _RouteSeries(
                m.request_duration.labels(route),
                m.overhead.labels(route),
                m.upstream_duration.labels(route),
            )
            self._routes[route] = series
        return series

    def _requests_counter(self, route: str, outcome: str, status: int) -> Counter:
        key = (route, outcome, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self.metrics.requests.labels(route, outcome, str(status))
            self._requests[key] = counter
        return counter

    def _decision_counter(self, phase: str, action: str, rule: str, mode: str) -> Counter:
        key = (phase, action, rule, mode)
        counter = self._decisions.get(key)
        if counter is None:
            counter = self.metrics.decisions.labels(phase, action, rule, mode)
            self._decisions[key] = counter
        return counter

    def _count_decision(self, decision: Decision) -> None:
        count = self._decision_counter
        if decision.rule_id is None:
            count(decision.phase, decision.action, "default", "enforce").inc()
        for rule in decision.rules:
            # Every enforced match counts under the decision's action, the winner's included.
            count(decision.phase, decision.action, rule, "enforce").inc()
        for match in decision.monitored:
            count(decision.phase, match.action, match.rule_id, "monitor").inc()

    def _count_refusal(self, exchange: Exchange) -> None:
        admission = exchange.request.get(ADMISSION)
        denial = admission.denial if admission is not None else None
        if denial is not None:
            self.metrics.ratelimited.labels(denial.type, denial.scope, denial.name).inc()

    def record(self, exchange: Exchange) -> None:
        """Runs in the handler's finally: must not raise and must not await."""
        now = time.perf_counter()
        route = exchange.route.prefix if exchange.route else _NO_ROUTE
        series = self._series(route)
        self._requests_counter(route, outcome_of(exchange), exchange.status).inc()
        series.duration.observe(now - exchange.started)
        if exchange.upstream_started is not None:
            series.overhead.observe(exchange.upstream_started - exchange.started)
            if exchange.upstream_finished is not None:
                series.upstream.observe(exchange.upstream_finished - exchange.upstream_started)
        if exchange.error is not None and exchange.error.startswith("upstream_"):
            kind = exchange.error.removeprefix("upstream_")
            self.metrics.upstream_errors.labels(route, kind).inc()
        for decision in exchange.decisions:
            self._count_decision(decision)
        admission = exchange.request.get(ADMISSION)
        if self.audit is not None or (admission is not None and admission.reservation is not None):
            exchange.usage = reported_usage(exchange)
        if self.audit is not None and not exchange.audit_recorded:
            self.audit.submit(audit_record(exchange, now))
        if self.settlements is not None:
            self.settlements.submit(exchange)
        if exchange.reply is not None and exchange.reply.status == 429:
            self._count_refusal(exchange)
        if self.request_log is not None:
            self.request_log.write(request_fields(exchange, now))
