"""chained_row: one pass gives the hashed canonical JSON, the journal line and the COPY values."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from proxy.audit.chained_row import (
    COLUMNS,
    GENESIS_HASH,
    MAX_ID,
    OPTIONAL_COLUMNS,
    canonical_json,
    chained_row,
    hash_row,
)
from proxy.audit.read_back import canonical_row_from_db, copy_values, row_from_journal
from proxy.audit.record import AuditRecord

WHEN = datetime(2025, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)


def request_record(**changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "request_id": "req-1",
        "event_time": WHEN,
        "decision": "redact",
        "status": 200,
        "latency_ms": 12.5,
        "tenant": "acme",
        "key_id": "k1",
        "route": "/v1",
        "model": "gpt-4o-mini",
        "rule_ids": ("pii.redact",),
        "finding_counts": {"pii.email": 2},
        "risk_score": 0.4,
        "request_sha256": bytes(range(32)),
        "session_id": "s-1",
        "human_review_required": True,
        "data_sources": ("crm", "wiki"),
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def as_read_back(values: tuple[object, ...]) -> dict[str, object]:
    """What asyncpg hands back for a row COPY stored from these values."""
    return dict(zip(COLUMNS, values, strict=True))


def test_the_line_is_the_hashed_json_plus_row_hash():
    row = chained_row(request_record(), "w-1", 1, GENESIS_HASH)
    data = orjson.loads(row.line)
    assert row.line.endswith(b"\n") and data["row_hash"] == row.row_hash.hex()
    without = {k: v for k, v in data.items() if k != "row_hash"}
    # The dict is built in sorted order, so the unsorted serialisation is the canonical one.
    assert hashlib.sha256(canonical_json(without)).digest() == row.row_hash
    assert row.line.startswith(canonical_json(without)[:-1])


def test_a_stored_row_hashes_back_to_its_row_hash():
    for record in (
        request_record(),
        request_record(risk_score=None, finding_counts={}, rule_ids=(), latency_ms=0),
        request_record(event_time=WHEN.replace(microsecond=0)),
        request_record(event_time=WHEN.astimezone(timezone(timedelta(hours=-5)))),
    ):
        row = chained_row(record, "w-1", 7, bytes([9]) * 32)
        assert hash_row(canonical_row_from_db(as_read_back(row.values))) == row.row_hash


def test_journal_rows_give_back_the_same_values():
    row = chained_row(request_record(), "w-1", 3, GENESIS_HASH)
    replayed = row_from_journal(orjson.loads(row.line), row.line)
    assert replayed.values == row.values and replayed.row_hash == row.row_hash
    assert replayed.event_time == WHEN


def test_evidence_columns_are_hashed_only_when_set():
    plain = orjson.loads(chained_row(request_record(), "w", 1, GENESIS_HASH).line)
    assert not set(OPTIONAL_COLUMNS) & set(plain)  # rows from before 0005 still verify
    review = request_record(
        kind="human_review",
        subject_request_id="req-0",
        outcome="approved",
        occurred_at=WHEN - timedelta(minutes=5),
    )
    row = chained_row(review, "w", 2, GENESIS_HASH)
    data = orjson.loads(row.line)
    assert data["kind"] == "human_review" and data["outcome"] == "approved"
    assert data["occurred_at"] == "2025-03-01T12:25:15.250000+00:00"
    assert "reason" not in data and "reference" not in data
    assert hash_row(canonical_row_from_db(as_read_back(row.values))) == row.row_hash
    assert copy_values(data) == row.values


def test_values_are_clamped_to_the_column_limits():
    long = "x" * 5000
    row = chained_row(
        request_record(
            model=long,
            rule_ids=(long,) * 300,
            finding_counts={long: -3},
            risk_score=7.0,
            latency_ms=math.nan,
            upstream_ms=math.inf,
            overhead_ms=-1.0,
            status=1200,
            prompt_tokens=-5,
        ),
        "w",
        1,
        GENESIS_HASH,
    )
    stored = as_read_back(row.values)
    assert len(stored["model"]) == MAX_ID  # type: ignore[arg-type]
    assert len(stored["rule_ids"]) == 256  # type: ignore[arg-type]
    assert orjson.loads(stored["finding_counts"]) == {"x" * 100: 0}  # type: ignore[arg-type]
    assert stored["risk_score"] == 1.0 and stored["latency_ms"] == 0.0
    assert stored["upstream_ms"] is None and stored["overhead_ms"] == 0.0
    assert stored["status"] == 999 and stored["prompt_tokens"] == 0


def test_the_record_refuses_what_no_clamp_can_repair():
    with pytest.raises(ValueError, match="timezone-aware"):
        request_record(event_time=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="SHA-256"):
        request_record(request_sha256=b"short")
