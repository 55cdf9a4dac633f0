"""AuditRecord: one request's metadata, and its canonical form for the hash chain and COPY."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson

# Limits mirrored by the CHECK constraints in migrations/0002_audit.sql. Clamping here means
# a row built through AuditRecord can never be refused by Postgres, which would otherwise
# hold up its whole batch; the database checks stay as the backstop against a code change.
MAX_ID = 200
MAX_CODE = 32
MAX_POLICY_VERSION = 100
MAX_RULE_IDS = 256
MAX_DATA_SOURCES = 32
MAX_FINDING_KINDS = 256
MAX_FINDING_KIND = 100

HASH_SIZE = 32
# The chain of a new writer starts from this "previous hash".
GENESIS_HASH = bytes(HASH_SIZE)


def _clamp(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def _clamp_ids(values: tuple[str, ...] | list[str], items: int) -> tuple[str, ...]:
    return tuple(str(v)[:MAX_ID] for v in values[:items])


def _finite(value: float | None, low: float = 0.0, high: float = math.inf) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return min(max(float(value), low), high)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What Warden decided for one request. Metadata only: no field can carry prompt text.

    Strings are identifiers and are clamped to the database limits; numbers are coerced to
    the column types so the canonical JSON hashed now equals the one rebuilt from the row.
    """

    request_id: str
    event_time: datetime  # timezone-aware; when the request arrived
    decision: str  # allow | redact | flag | block, or a local outcome (rate_limited, error, …)
    status: int
    latency_ms: float
    tenant: str | None = None
    key_id: str | None = None
    route: str | None = None
    upstream: str | None = None
    format: str | None = None
    model: str | None = None
    monitor_action: str | None = None  # what monitor-mode rules would have done
    rule_ids: tuple[str, ...] = ()
    monitored_rule_ids: tuple[str, ...] = ()
    finding_counts: Mapping[str, int] = field(default_factory=dict)
    risk_score: float | None = None
    risk_label: str | None = None
    upstream_status: int | None = None
    streamed: bool = False
    stream_cut: bool = False
    request_bytes: int = 0
    response_bytes: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    upstream_ms: float | None = None
    overhead_ms: float | None = None
    request_sha256: bytes | None = None
    response_sha256: bytes | None = None
    policy_version: str | None = None
    session_id: str | None = None
    human_review_required: bool | None = None
    human_reviewer: str | None = None
    data_sources: tuple[str, ...] = ()
    model_version: str | None = None
    # The decision that settled the outcome: its rule and that rule's severity.
    winning_rule: str | None = None
    severity: str | None = None

    def __post_init__(self) -> None:
        if self.event_time.tzinfo is None:
            raise ValueError("AuditRecord.event_time must be timezone-aware")
        put = object.__setattr__
        put(self, "event_time", self.event_time.astimezone(UTC))
        put(self, "request_id", self.request_id[:MAX_ID] or "-")
        put(self, "decision", self.decision[:MAX_CODE] or "-")
        for name in ("tenant", "key_id", "route", "upstream", "model", "session_id"):
            put(self, name, _clamp(getattr(self, name), MAX_ID))
        for name in ("human_reviewer", "model_version", "winning_rule"):
            put(self, name, _clamp(getattr(self, name), MAX_ID))
        for name in ("format", "monitor_action", "risk_label", "severity"):
            put(self, name, _clamp(getattr(self, name), MAX_CODE))
        put(self, "policy_version", _clamp(self.policy_version, MAX_POLICY_VERSION))
        put(self, "rule_ids", _clamp_ids(self.rule_ids, MAX_RULE_IDS))
        put(self, "monitored_rule_ids", _clamp_ids(self.monitored_rule_ids, MAX_RULE_IDS))
        put(self, "data_sources", _clamp_ids(self.data_sources, MAX_DATA_SOURCES))
        counts = list(self.finding_counts.items())[:MAX_FINDING_KINDS]
        put(self, "finding_counts", {k[:MAX_FINDING_KIND]: max(int(n), 0) for k, n in counts if k})
        put(self, "risk_score", _finite(self.risk_score, 0.0, 1.0))
        put(self, "latency_ms", _finite(self.latency_ms) or 0.0)
        put(self, "upstream_ms", _finite(self.upstream_ms))
        put(self, "overhead_ms", _finite(self.overhead_ms))
        put(self, "status", min(max(int(self.status), 0), 999))
        if self.upstream_status is not None:
            put(self, "upstream_status", min(max(int(self.upstream_status), 0), 999))
        for name in ("request_bytes", "response_bytes"):
            put(self, name, max(int(getattr(self, name)), 0))
        for name in ("prompt_tokens", "completion_tokens"):
            value = getattr(self, name)
            put(self, name, None if value is None else max(int(value), 0))
        for name in ("request_sha256", "response_sha256"):
            digest = getattr(self, name)
            if digest is not None and len(digest) != HASH_SIZE:
                raise ValueError(f"AuditRecord.{name} must be a SHA-256 digest (32 bytes)")


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))
# Column order for COPY; the chain fields come from the writer, not the record.
COLUMNS: tuple[str, ...] = ("writer_id", "seq", *RECORD_FIELDS, "prev_hash", "row_hash")
_TIME_COLUMNS = frozenset({"event_time"})
_BYTES_COLUMNS = frozenset({"request_sha256", "response_sha256", "prev_hash", "row_hash"})
_ARRAY_COLUMNS = frozenset({"rule_ids", "monitored_rule_ids", "data_sources"})
# Nullable columns added after the first release: in the canonical form only when set, so
# rows hashed (and journaled) before a column existed keep their hash and still load.
_ADDED_COLUMNS = frozenset({"winning_rule", "severity"})


def canonical_value(column: str, value: Any) -> Any:
    """A column's value as JSON: timestamps ISO-8601 UTC with microseconds, bytes as hex."""
    if value is None:
        return None
    if column in _TIME_COLUMNS:
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if column in _BYTES_COLUMNS:
        return bytes(value).hex()
    if column in _ARRAY_COLUMNS:
        return list(value)
    if column == "finding_counts":
        # asyncpg hands jsonb back as text; a record holds a mapping.
        return orjson.loads(value) if isinstance(value, str) else dict(value)
    return value


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


def chained_row(record: AuditRecord, writer_id: str, seq: int, prev_hash: bytes) -> dict[str, Any]:
    """The record as a canonical row in a writer's chain, row_hash included."""
    row: dict[str, Any] = {"writer_id": writer_id, "seq": seq}
    for name in RECORD_FIELDS:
        value = getattr(record, name)
        if value is not None or name not in _ADDED_COLUMNS:
            row[name] = canonical_value(name, value)
    row["prev_hash"] = prev_hash.hex()
    row["row_hash"] = hash_row(row).hex()
    return row


def canonical_row_from_db(record: Mapping[str, Any]) -> dict[str, Any]:
    """A row read back from audit_events in the canonical form it was hashed in."""
    return {
        name: canonical_value(name, record[name])
        for name in COLUMNS
        if record[name] is not None or name not in _ADDED_COLUMNS
    }


def copy_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A canonical row (from the journal) as the Python values asyncpg's COPY expects."""
    values: list[Any] = []
    for name in COLUMNS:
        value = row.get(name)
        if value is None:
            values.append(None)
        elif name in _TIME_COLUMNS:
            values.append(datetime.fromisoformat(value))
        elif name in _BYTES_COLUMNS:
            values.append(bytes.fromhex(value))
        elif name == "finding_counts":
            values.append(orjson.dumps(value).decode())
        else:
            values.append(value)
    return tuple(values)
