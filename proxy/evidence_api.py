"""POST /v1/evidence: what happened after a model call, appended to the audit chain.

A human review and its outcome, a final business decision, a session's end: an auditor then
sees the AI decision and its human oversight together (EU AI Act Art. 14). The record is a
row of audit_events like a request's (kind != 'request'), linked to the earlier request by
its id, written through the same queue and journal, so it is chained, signed by the next
checkpoint and survives a Postgres outage. Metadata only: every field is a bounded
identifier or code, never free text; notes belong in the caller's own case system, whose
id goes in `reference`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from proxy.audit import AuditRecord, AuditWriter
from proxy.exchange import Exchange
from proxy.replies import LocalReply, bad_request, render_reply

EVIDENCE_PATH = "/v1/evidence"
_MAX_BODY = 16 * 1024
# A request id as Warden hands it out or accepts it (x-request-id), without spaces: ids, not
# sentences.
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_ACTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/#-]{0,127}$")
REVIEW_DECISIONS = ("approved", "rejected", "modified", "escalated")
# Clocks drift; a time further ahead than this is a mistake, not a skew.
_MAX_FUTURE = dt.timedelta(minutes=5)


class _Invalid(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.reply = bad_request(message, param=field)


def _identifier(
    body: dict[str, Any], field: str, pattern: re.Pattern[str], what: str, required: bool
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise _Invalid(f"'{field}' is required here: {what}", field)
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise _Invalid(f"'{field}' must be {what}", field)
    return value


def _occurred_at(body: dict[str, Any], now: dt.datetime) -> dt.datetime | None:
    value = body.get("occurred_at")
    if value is None:
        return None
    message = "'occurred_at' must be an ISO 8601 time with a time zone, e.g. 2025-01-31T12:00:00Z"
    if not isinstance(value, str) or len(value) > 64:
        raise _Invalid(message, "occurred_at")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(message, "occurred_at") from None
    if when.tzinfo is None:
        raise _Invalid(message, "occurred_at")
    if when > now + _MAX_FUTURE:
        raise _Invalid("'occurred_at' is in the future", "occurred_at")
    return when


@dataclass(frozen=True, slots=True)
class _Needs:
    """Which fields a kind of record requires."""

    request_id: bool = False
    session_id: bool = False
    reviewer: bool = False
    decision: bool = False


_REQUIRED = {
    "human_review": _Needs(request_id=True, reviewer=True, decision=True),
    "business_decision": _Needs(request_id=True, decision=True),
    "session_end": _Needs(session_id=True),
}
_FIELDS = frozenset(
    {"kind", "request_id", "session_id", "reviewer", "decision", "reason", "reference"}
    | {"occurred_at"}
)


def evidence_record(body: Any, exchange: Exchange, now: dt.datetime) -> AuditRecord:
    """The request body as an audit row; _Invalid naming the first field at fault."""
    if not isinstance(body, dict):
        raise _Invalid("the request body must be a JSON object", "body")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise _Invalid(f"unknown field '{unknown[0]}'", unknown[0])
    kind = body.get("kind")
    if kind not in _REQUIRED:
        raise _Invalid(f"'kind' must be one of: {', '.join(_REQUIRED)}", "kind")
    needs = _REQUIRED[kind]
    subject = _identifier(
        body, "request_id", _REQUEST_ID, "the x-request-id of the earlier request", needs.request_id
    )
    session = _identifier(
        body, "session_id", _REQUEST_ID, "a session id (1-128 visible ASCII)", needs.session_id
    )
    reviewer = _identifier(
        body, "reviewer", _ACTOR, "who decided: an id, letters, digits and _.@:+-", needs.reviewer
    )
    codes = "a code: lowercase letters, digits and _.:- (at most 64)"
    if kind == "human_review":
        decision = body.get("decision")
        if decision not in REVIEW_DECISIONS:
            raise _Invalid(f"'decision' must be one of: {', '.join(REVIEW_DECISIONS)}", "decision")
    else:
        decision = _identifier(body, "decision", _CODE, codes, needs.decision)
    key = exchange.api_key
    assert key is not None
    return AuditRecord(
        request_id=exchange.request_id,
        event_time=dt.datetime.fromtimestamp(exchange.received_at, dt.UTC),
        decision="evidence",
        status=202,
        latency_ms=(time.perf_counter() - exchange.started) * 1000,
        tenant=key.tenant,
        key_id=key.id,
        request_bytes=len(exchange.body),
        session_id=session,
        human_reviewer=reviewer,
        kind=kind,
        subject_request_id=subject,
        outcome=decision,
        reason=_identifier(body, "reason", _CODE, codes, False),
        reference=_identifier(
            body, "reference", _REFERENCE, "a ticket or case id (letters, digits, _.:/#-)", False
        ),
        occurred_at=_occurred_at(body, now),
    )


class AcceptEvidence:
    """The terminal of POST /v1/evidence: validate, queue the row, answer 202."""

    def __init__(self, writer: AuditWriter | None) -> None:
        self.writer = writer

    def _refuse(self, exchange: Exchange, reply: LocalReply) -> web.Response:
        exchange.reply = reply
        return render_reply(reply, exchange.request_id)

    async def __call__(self, exchange: Exchange) -> web.StreamResponse:
        request = exchange.request
        if self.writer is None:
            return self._refuse(
                exchange,
                LocalReply(503, "the audit is disabled here (audit.enabled: false)", "api_error"),
            )
        too_large = LocalReply(413, "the evidence body is too large", "invalid_request_error")
        if request.content_length is not None and request.content_length > _MAX_BODY:
            return self._refuse(exchange, too_large)
        exchange.body = await request.read()
        if len(exchange.body) > _MAX_BODY:  # a chunked body announces no length
            return self._refuse(exchange, too_large)
        try:
            body = orjson.loads(exchange.body)
        except orjson.JSONDecodeError as exc:
            return self._refuse(
                exchange, bad_request(f"malformed JSON body: {exc}", code="invalid_json")
            )
        try:
            record = evidence_record(body, exchange, dt.datetime.now(dt.UTC))
        except _Invalid as exc:
            return self._refuse(exchange, exc.reply)
        dropped = self.writer.rows_dropped
        self.writer.submit(record)
        exchange.audit_recorded = True  # this row is the exchange's audit row
        if self.writer.rows_dropped > dropped:
            return self._refuse(
                exchange,
                LocalReply(
                    503,
                    "the audit log cannot take the record right now; try again shortly",
                    "api_error",
                    code="audit_unavailable",
                    headers={"retry-after": "5"},
                ),
            )
        answer = {
            "id": record.request_id,
            "object": "evidence",
            "kind": record.kind,
            "request_id": record.subject_request_id,
            "status": "accepted",
        }
        return web.Response(
            status=202,
            body=orjson.dumps(answer),
            content_type="application/json",
            headers={"x-request-id": exchange.request_id},
        )
