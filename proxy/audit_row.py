"""The audit row of one exchange: its metadata, read off the Exchange; never a body's text."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

from proxy.audit import AuditRecord
from proxy.exchange import Exchange
from proxy.ml.risk import MlRisk
from proxy.policy.model import most_severe
from proxy.policy.model import outcome_of as decisive
from proxy.risk import Risk

# Compliance context callers may send (EU AI Act Art. 12/14 record-keeping); never forwarded,
# as every x-warden-* header.
SESSION_HEADER = "x-warden-session-id"
REVIEW_HEADER = "x-warden-human-review"
REVIEWER_HEADER = "x-warden-reviewer"
DATA_SOURCES_HEADER = "x-warden-data-sources"
MODEL_VERSION_HEADER = "x-warden-model-version"
_TRUE = frozenset({"1", "true", "yes", "required"})


def audit_decision(exchange: Exchange) -> str:
    """The decision column: a policy action, or what Warden answered by itself."""
    reply = exchange.reply
    if reply is not None and reply.kind != "policy_violation":
        if reply.status == 401:
            return "unauthenticated"
        if reply.status == 429:
            return "rate_limited" if reply.kind != "budget_exceeded" else "budget_exceeded"
        return "error" if reply.status >= 500 else "rejected"
    if exchange.error is not None or exchange.client_disconnected:
        return "error" if exchange.error is not None else "client_closed"
    return most_severe(d.action for d in exchange.decisions)


def highest_risk(exchange: Exchange) -> Risk | MlRisk | None:
    """The highest risk found: the prompt's or the answer's scan, or an ML prediction's."""
    risks: list[Risk | MlRisk] = [
        s.risk for s in (exchange.prompt_scan, exchange.response_scan) if s is not None
    ]
    if exchange.ml_risk is not None:
        risks.append(exchange.ml_risk)
    return max(risks, key=lambda r: r.score) if risks else None


def _finding_counts(exchange: Exchange) -> dict[str, int]:
    counts: dict[str, int] = {}
    for scan in (exchange.prompt_scan, exchange.response_scan):
        if scan is not None:
            for finding in scan.all_findings:
                counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return counts


def _response_sha256(exchange: Exchange) -> bytes | None:
    if exchange.response_hash is not None:  # streamed: hashed as it was sent
        return exchange.response_hash.digest()
    return hashlib.sha256(exchange.response_body).digest() if exchange.response_body else None


def audit_record(
    exchange: Exchange, now: float | None = None, decision: str | None = None
) -> AuditRecord:
    """The exchange's row; `decision` is audit_decision(exchange) when the caller has it."""
    end = time.perf_counter() if now is None else now
    key, route, call, headers = (
        exchange.api_key,
        exchange.route,
        exchange.call,
        exchange.request.headers,
    )
    monitored = [m for d in exchange.decisions for m in d.monitored]
    risk = highest_risk(exchange)
    usage = exchange.usage
    upstream_ms = overhead_ms = None
    if exchange.upstream_started is not None:
        overhead_ms = (exchange.upstream_started - exchange.started) * 1000
        if exchange.upstream_finished is not None:
            upstream_ms = (exchange.upstream_finished - exchange.upstream_started) * 1000
    review = headers.get(REVIEW_HEADER)
    settled = decisive(exchange.decisions) if exchange.decisions else None
    sources = headers.get(DATA_SOURCES_HEADER)
    return AuditRecord(
        request_id=exchange.request_id,
        event_time=dt.datetime.fromtimestamp(exchange.received_at, dt.UTC),
        decision=audit_decision(exchange) if decision is None else decision,
        status=exchange.status,
        latency_ms=(end - exchange.started) * 1000,
        tenant=key.tenant if key else None,
        key_id=key.id if key else None,
        route=route.prefix if route else None,
        upstream=route.upstream_name if route else None,
        format=route.format if route else None,
        model=call.model if call else None,
        monitor_action=most_severe(m.action for m in monitored) if monitored else None,
        rule_ids=tuple(dict.fromkeys(r for d in exchange.decisions for r in d.rules)),
        monitored_rule_ids=tuple(dict.fromkeys(m.rule_id for m in monitored)),
        finding_counts=_finding_counts(exchange),
        risk_score=risk.score if risk else None,
        risk_label=risk.label if risk else None,
        upstream_status=exchange.upstream_status,
        streamed=exchange.streamed,
        stream_cut=exchange.stream_cut,
        request_bytes=len(exchange.body),
        response_bytes=exchange.response_bytes,
        prompt_tokens=usage.input_tokens if usage else None,
        completion_tokens=usage.output_tokens if usage else None,
        upstream_ms=upstream_ms,
        overhead_ms=overhead_ms,
        request_sha256=hashlib.sha256(exchange.body).digest() if exchange.body else None,
        response_sha256=_response_sha256(exchange),
        policy_version=exchange.policy.version if exchange.policy else None,
        session_id=headers.get(SESSION_HEADER),
        human_review_required=(review.strip().lower() in _TRUE) if review else None,
        human_reviewer=headers.get(REVIEWER_HEADER),
        data_sources=tuple(s.strip() for s in sources.split(",") if s.strip()) if sources else (),
        model_version=headers.get(MODEL_VERSION_HEADER),
        winning_rule=settled.rule_id if settled else None,
        severity=settled.severity if settled else None,
    )
