"""Record: what happens after every request, whatever its outcome: metrics and the log line."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from proxy.audit import AuditWriter
from proxy.audit_row import audit_decision, audit_record, highest_risk
from proxy.events import EventFeed
from proxy.exchange import Exchange
from proxy.formats.segments import Usage
from proxy.logs import RequestLog, request_fields
from proxy.metrics import Metrics
from proxy.ml.observer import ModelObserver
from proxy.policy import Decision
from proxy.ratelimit import ADMISSION
from proxy.settlement import Settlements
from proxy.tally import Increments, Observes
from proxy.usage import reported_usage

_NO_ROUTE = "none"


@dataclass(frozen=True, slots=True)
class _RouteSeries:
    """A route's labelled children, looked up once: `.labels()` takes a lock on every call."""

    duration: Observes
    overhead: Observes
    upstream: Observes
    first_byte: Observes


class Recorder:
    def __init__(
        self,
        metrics: Metrics,
        request_log: RequestLog | None,
        settlements: Settlements | None = None,
        audit: AuditWriter | None = None,
        events: EventFeed | None = None,
        models: ModelObserver | None = None,
    ) -> None:
        self.metrics = metrics
        self.request_log = request_log
        self.settlements = settlements
        self.audit = audit
        self.events = events
        self.models = models
        # Children and tallies looked up once per label set: `.labels()` takes a lock. Keyed
        # by the labels themselves (models by their label), so each has one tally.
        self._routes: dict[str, _RouteSeries] = {}
        self._requests: dict[tuple[str, str, str, int], Increments] = {}
        self._decisions: dict[tuple[str, str, str, str], Increments] = {}
        self._findings: dict[tuple[str, str], Increments] = {}
        self._tokens: dict[str, tuple[Increments, Increments]] = {}

    def _series(self, route: str) -> _RouteSeries:
        series = self._routes.get(route)
        if series is None:
            m = self.metrics
            series = _RouteSeries(
                m.tally_histogram(m.request_duration.labels(route)),
                m.tally_histogram(m.overhead.labels(route)),
                m.tally_histogram(m.upstream_duration.labels(route)),
                m.tally_histogram(m.time_to_first_byte.labels(route)),
            )
            self._routes[route] = series
        return series

    def _requests_counter(
        self, route: str, model: str | None, decision: str, status: int
    ) -> Increments:
        key = (route, self.metrics.model_label(model), decision, status)
        counter = self._requests.get(key)
        if counter is None:
            child = self.metrics.requests.labels(route, key[1], decision, str(status))
            counter = self._requests[key] = self.metrics.tally(child)
        return counter

    def _decision_counter(self, phase: str, action: str, rule: str, mode: str) -> Increments:
        key = (phase, action, rule, mode)
        counter = self._decisions.get(key)
        if counter is None:
            counter = self.metrics.tally(self.metrics.decisions.labels(phase, action, rule, mode))
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

    def _count_findings(self, exchange: Exchange) -> None:
        tallies = self._findings
        for phase, scan in (("prompt", exchange.prompt_scan), ("response", exchange.response_scan)):
            if scan is not None:
                for finding in scan.all_findings:
                    tally = tallies.get((phase, finding.kind))
                    if tally is None:
                        child = self.metrics.findings.labels(phase, finding.kind)
                        tally = tallies[phase, finding.kind] = self.metrics.tally(child)
                    tally.inc()

    def _count_tokens(self, model: str | None, usage: Usage) -> None:
        label = self.metrics.model_label(model)
        counters = self._tokens.get(label)
        if counters is None:
            tokens, tally = self.metrics.tokens, self.metrics.tally
            prompt, completion = tokens.labels("prompt", label), tokens.labels("completion", label)
            counters = self._tokens[label] = (tally(prompt), tally(completion))
        if usage.input_tokens:
            counters[0].inc(usage.input_tokens)
        if usage.output_tokens:
            counters[1].inc(usage.output_tokens)

    def record(self, exchange: Exchange) -> None:
        """Runs in the handler's finally: must not raise and must not await."""
        now = time.perf_counter()
        route = exchange.route.prefix if exchange.route else _NO_ROUTE
        model = exchange.model
        series = self._series(route)
        decision = audit_decision(exchange)
        self._requests_counter(route, model, decision, exchange.status).inc()
        series.duration.observe(now - exchange.started)
        if exchange.upstream_started is not None:
            series.overhead.observe(exchange.upstream_started - exchange.started)
            if exchange.upstream_first_byte is not None:
                series.first_byte.observe(exchange.upstream_first_byte - exchange.started)
            if exchange.upstream_finished is not None:
                series.upstream.observe(exchange.upstream_finished - exchange.upstream_started)
            # Usage is read from the answer only when the upstream gave one.
            exchange.usage = reported_usage(exchange)
            if exchange.usage is not None:
                self._count_tokens(model, exchange.usage)
        if exchange.error is not None and exchange.error.startswith("upstream_"):
            kind = exchange.error.removeprefix("upstream_")
            self.metrics.upstream_errors.labels(route, kind).inc()
        for policy_decision in exchange.decisions:
            self._count_decision(policy_decision)
        if exchange.prompt_scan is not None or exchange.response_scan is not None:
            self._count_findings(exchange)
        if self.audit is not None and not exchange.audit_recorded:
            self.audit.submit(audit_record(exchange, now, decision))
        if self.settlements is not None:
            self.settlements.submit(exchange)
        if self.models is not None and exchange.prediction is not None:
            self.models.submit(exchange)
        if exchange.reply is not None and exchange.reply.status == 429:
            self._count_refusal(exchange)
        log, events = self.request_log, self.events
        if log is not None or (events is not None and events.listening):
            fields = request_fields(exchange, now)
            if log is not None:
                log.write(fields)
            if events is not None and events.listening:
                events.publish("decision", _decision_event(fields, decision, exchange))


def _decision_event(fields: dict[str, Any], decision: str, exchange: Exchange) -> dict[str, Any]:
    """The request line's metadata, with the audit decision and the risk the scans found."""
    risk = highest_risk(exchange)
    return {
        **fields,
        "decision": decision,
        "risk_score": risk.score if risk else None,
        "risk_label": risk.label if risk else None,
    }
