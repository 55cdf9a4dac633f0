"""Columns added to audit rows after the first release keep older rows hashing the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from proxy.audit.record import (
    COLUMNS,
    GENESIS_HASH,
    AuditRecord,
    canonical_row_from_db,
    chained_row,
    copy_values,
    hash_row,
)

RECORD = AuditRecord(
    request_id="req-1",
    event_time=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    decision="block",
    status=403,
    latency_ms=2.0,
    tenant="acme",
)


def test_unset_added_columns_are_left_out_of_the_hashed_row():
    row = chained_row(RECORD, "w-0", 1, GENESIS_HASH)
    assert "severity" not in row and "winning_rule" not in row
    # As a row journaled before the columns existed: it still loads, with NULLs there.
    values = dict(zip(COLUMNS, copy_values(row), strict=True))
    assert values["severity"] is None and values["winning_rule"] is None
    # Read back from Postgres (NULL in both), it hashes as it was hashed when written.
    from_db = {name: values[name] for name in COLUMNS}
    assert hash_row(canonical_row_from_db(from_db)).hex() == row["row_hash"]


def test_set_added_columns_are_hashed():
    decided = replace(RECORD, winning_rule="secrets.block", severity="critical")
    row = chained_row(decided, "w-0", 1, GENESIS_HASH)
    assert row["severity"] == "critical" and row["winning_rule"] == "secrets.block"
    assert row["row_hash"] != chained_row(RECORD, "w-0", 1, GENESIS_HASH)["row_hash"]
    edited = {**dict(zip(COLUMNS, copy_values(row), strict=True)), "severity": "low"}
    assert hash_row(canonical_row_from_db(edited)).hex() != row["row_hash"]
