"""ChainedRow: an AuditRecord clamped, in canonical JSON and hashed as row `seq` of a chain."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson

from proxy.audit.record import HASH_SIZE, AuditRecord

# Limits mirrored by the CHECK constraints in migrations/0002_audit.sql, 0003_incidents.sql
# and 0005_evidence.sql.
# chained_row() clamps to them, so a row can never be refused by Postgres, which would
# otherwise hold up its whole batch; the database checks stay as the backstop.
MAX_ID = 200
MAX_CODE = 32
MAX_POLICY_VERSION = 100
MAX_RULE_IDS = 256
MAX_DATA_SOURCES = 32
MAX_FINDING_KINDS = 256
MAX_FINDING_KIND = 100
MAX_OUTCOME = 64
MAX_REFERENCE = 128

# The chain of a new writer starts from this "previous hash".
GENESIS_HASH = bytes(HASH_SIZE)

RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))
# Column order for COPY; the chain fields come from the writer, not the record.
COLUMNS: tuple[str, ...] = ("writer_id", "seq", *RECORD_FIELDS, "prev_hash", "row_hash")
# Columns added after chains existed (0003, 0005), in COLUMNS order: left out of the
# canonical JSON while they hold their default, so every row hashed (and journaled) before
# they existed still verifies and still loads.
OPTIONAL_COLUMNS: Mapping[str, Any] = {
    "winning_rule": None,
    "severity": None,
    "kind": "request",
    "subject_request_id": None,
    "outcome": None,
    "reason": None,
    "reference": None,
    "occurred_at": None,
}
_COLUMN_INDEX: Mapping[str, int] = {name: i for i, name in enumerate(COLUMNS)}


# The clamps below run for every column of every row: each takes the common case first.


def _text(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]


def _ids(values: tuple[str, ...] | list[str], items: int) -> list[str]:
    if not values:
        return []
    return [str(v)[:MAX_ID] for v in values[:items]]


def _float(value: float | None, high: float = math.inf) -> float | None:
    if value is None:
        return None
    value = float(value)
    if 0.0 <= value <= high and value < math.inf:
        return value
    return None if math.isnan(value) or math.isinf(value) else min(max(value, 0.0), high)


def _count(value: int | None) -> int | None:
    if value is None:
        return None
    value = int(value)
    return value if value >= 0 else 0


def _status(value: int | None) -> int | None:
    if value is None:
        return None
    value = int(value)
    return value if 0 <= value <= 999 else min(max(value, 0), 999)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(slots=True)
class ChainedRow:
    """A record in a writer's chain: its journal line and its values for COPY, made once.

    Never changed once made (not frozen for the cost of frozen fields, as AuditRecord).
    """

    seq: int
    row_hash: bytes
    event_time: datetime  # which monthly partition the row goes to
    line: bytes  # the canonical JSON object plus row_hash, newline-terminated
    values: tuple[Any, ...]  # in COLUMNS order

    def column(self, name: str) -> Any:
        """One column's value as stored (native types), for readers such as InsertHooks."""
        return self.values[_COLUMN_INDEX[name]]


def chained_row(r: AuditRecord, writer_id: str, seq: int, prev_hash: bytes) -> ChainedRow:
    """Clamp, canonicalise, hash: the record as row `seq` of a chain, in one pass.

    The values are native (datetimes, bytes) for COPY; the hashed JSON holds the same
    values in canonical form (ISO-8601 UTC times, hex bytes). The journal line is that JSON
    with row_hash added at the end, so it is serialised once, not once more for the journal.
    This runs for every row: the dict is written in sorted key order so that orjson need
    not sort it (tests/unit/test_audit_record.py holds it to the sorted form).
    """
    event_time = r.event_time.astimezone(UTC)
    request_id = r.request_id[:MAX_ID] or "-"
    decision = r.decision[:MAX_CODE] or "-"
    status = _status(r.status)
    latency_ms = _float(r.latency_ms) or 0.0
    tenant = _text(r.tenant, MAX_ID)
    key_id = _text(r.key_id, MAX_ID)
    route = _text(r.route, MAX_ID)
    upstream = _text(r.upstream, MAX_ID)
    format_ = _text(r.format, MAX_CODE)
    model = _text(r.model, MAX_ID)
    monitor_action = _text(r.monitor_action, MAX_CODE)
    rule_ids = _ids(r.rule_ids, MAX_RULE_IDS)
    monitored_rule_ids = _ids(r.monitored_rule_ids, MAX_RULE_IDS)
    counts = _counts(r.finding_counts)
    risk_score = _float(r.risk_score, 1.0)
    risk_label = _text(r.risk_label, MAX_CODE)
    upstream_status = _status(r.upstream_status)
    streamed, stream_cut = bool(r.streamed), bool(r.stream_cut)
    request_bytes = _count(r.request_bytes) or 0
    response_bytes = _count(r.response_bytes) or 0
    prompt_tokens = _count(r.prompt_tokens)
    completion_tokens = _count(r.completion_tokens)
    upstream_ms = _float(r.upstream_ms)
    overhead_ms = _float(r.overhead_ms)
    request_sha256, response_sha256 = r.request_sha256, r.response_sha256
    policy_version = _text(r.policy_version, MAX_POLICY_VERSION)
    session_id = _text(r.session_id, MAX_ID)
    review = None if r.human_review_required is None else bool(r.human_review_required)
    human_reviewer = _text(r.human_reviewer, MAX_ID)
    data_sources = _ids(r.data_sources, MAX_DATA_SOURCES)
    model_version = _text(r.model_version, MAX_ID)
    optional = _optional_columns(r)
    row = {
        "completion_tokens": completion_tokens,
        "data_sources": data_sources,
        "decision": decision,
        "event_time": event_time.isoformat(timespec="microseconds"),
        "finding_counts": counts,
        "format": format_,
        "human_review_required": review,
        "human_reviewer": human_reviewer,
        "key_id": key_id,
        "latency_ms": latency_ms,
        "model": model,
        "model_version": model_version,
        "monitor_action": monitor_action,
        "monitored_rule_ids": monitored_rule_ids,
        "overhead_ms": overhead_ms,
        "policy_version": policy_version,
        "prev_hash": prev_hash.hex(),
        "prompt_tokens": prompt_tokens,
        "request_bytes": request_bytes,
        "request_id": request_id,
        "request_sha256": request_sha256.hex() if request_sha256 is not None else None,
        "response_bytes": response_bytes,
        "response_sha256": response_sha256.hex() if response_sha256 is not None else None,
        "risk_label": risk_label,
        "risk_score": risk_score,
        "route": route,
        "rule_ids": rule_ids,
        "seq": seq,
        "session_id": session_id,
        "status": status,
        "stream_cut": stream_cut,
        "streamed": streamed,
        "tenant": tenant,
        "upstream": upstream,
        "upstream_ms": upstream_ms,
        "upstream_status": upstream_status,
        "writer_id": writer_id,
    }
    if optional is None:
        body = orjson.dumps(row)
        optional = _NO_OPTIONAL
    else:
        row.update(_without_defaults(optional))
        body = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
    winning_rule, severity, kind, subject, outcome, reason, reference, occurred_at = optional
    row_hash = hashlib.sha256(body).digest()
    line = b'%s,"row_hash":"%s"}\n' % (body[:-1], row_hash.hex().encode())
    counts_json = orjson.dumps(counts).decode() if counts else "{}"  # jsonb goes in as text
    values = (
        writer_id, seq, request_id, event_time, decision, status, latency_ms, tenant, key_id,
        route, upstream, format_, model, monitor_action, rule_ids, monitored_rule_ids,
        counts_json, risk_score, risk_label, upstream_status, streamed, stream_cut,
        request_bytes, response_bytes, prompt_tokens, completion_tokens, upstream_ms,
        overhead_ms, request_sha256, response_sha256, policy_version, session_id, review,
        human_reviewer, data_sources, model_version, winning_rule, severity, kind, subject,
        outcome, reason, reference, occurred_at, prev_hash, row_hash,
    )  # fmt: skip
    return ChainedRow(seq, row_hash, event_time, line, values)


_NO_OPTIONAL: tuple[Any, ...] = tuple(OPTIONAL_COLUMNS.values())


def _counts(counts: Mapping[str, int]) -> dict[str, int]:
    if not counts:
        return {}
    items = list(counts.items())[:MAX_FINDING_KINDS]
    return {str(k)[:MAX_FINDING_KIND]: max(int(n), 0) for k, n in items if k}


def _optional_columns(r: AuditRecord) -> tuple[Any, ...] | None:
    """The OPTIONAL_COLUMNS in order, or None when all hold their default (the hot path)."""
    if r.kind == "request" and r.subject_request_id is None and r.outcome is None:
        if r.reason is None and r.reference is None and r.occurred_at is None:
            if r.winning_rule is None and r.severity is None:
                return None
    occurred_at = r.occurred_at.astimezone(UTC) if r.occurred_at is not None else None
    return (
        _text(r.winning_rule, MAX_ID),
        _text(r.severity, MAX_CODE),
        r.kind[:MAX_CODE] or "request",
        _text(r.subject_request_id, MAX_ID),
        _text(r.outcome, MAX_OUTCOME),
        _text(r.reason, MAX_OUTCOME),
        _text(r.reference, MAX_REFERENCE),
        occurred_at,
    )


def _without_defaults(optional: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(OPTIONAL_COLUMNS, optional, strict=True))
    drop_defaults(row)
    if "occurred_at" in row:
        row["occurred_at"] = _time(row["occurred_at"])
    return row


def drop_defaults(row: dict[str, Any]) -> None:
    """Leave out the OPTIONAL_COLUMNS that hold their default, as the canonical form does."""
    for name, default in OPTIONAL_COLUMNS.items():
        if row[name] == default:
            del row[name]


def canonical_json(row: Mapping[str, Any]) -> bytes:
    """Keys sorted, no whitespace, UTF-8: one byte string per row, whoever rebuilds it."""
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


def hash_row(row: Mapping[str, Any]) -> bytes:
    """row_hash: SHA-256 over the canonical JSON of every column but row_hash itself.

    prev_hash, writer_id and seq are among those columns, so a row cannot be edited, moved
    to another position or to another chain without breaking its own hash or the next link.
    """
    hashed = {name: value for name, value in row.items() if name != "row_hash"}
    return hashlib.sha256(canonical_json(hashed)).digest()
