"""Columns added to audit rows after the first release keep older rows hashing the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson

from proxy.audit.chained_row import COLUMNS, GENESIS_HASH, chained_row, hash_row
from proxy.audit.read_back import canonical_row_from_db, copy_values
from proxy.audit.record import AuditRecord

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
    hashed = orjson.loads(row.line)
    assert "severity" not in hashed and "winning_rule" not in hashed
    # As a row journaled before the columns existed: it still loads, with NULLs there.
    values = dict(zip(COLUMNS, copy_values(hashed), strict=True))
    assert values["severity"] is None and values["winning_rule"] is None
    assert row.column("severity") is None and row.column("winning_rule") is None
    # Read back from Postgres (NULL in both), it hashes as it was hashed when written.
    assert hash_row(canonical_row_from_db(values)) == row.row_hash


def test_set_added_columns_are_hashed_clamped_and_in_the_copy_values():
    decided = replace(RECORD, winning_rule="secrets.block", severity="critical")
    row = chained_row(decided, "w-0", 1, GENESIS_HASH)
    hashed = orjson.loads(row.line)
    assert hashed["severity"] == "critical" and hashed["winning_rule"] == "secrets.block"
    assert hash_row(hashed) == row.row_hash  # the line is the canonical (sorted) JSON
    assert row.column("winning_rule") == "secrets.block" and row.column("severity") == "critical"
    assert row.row_hash != chained_row(RECORD, "w-0", 1, GENESIS_HASH).row_hash
    values = dict(zip(COLUMNS, row.values, strict=True))
    assert hash_row(canonical_row_from_db(values)) == row.row_hash
    edited = {**values, "severity": "low"}
    assert hash_row(canonical_row_from_db(edited)) != row.row_hash
    long = replace(decided, winning_rule="r" * 500, severity="s" * 99)
    long_row = chained_row(long, "w", 1, GENESIS_HASH)
    assert len(long_row.column("winning_rule")) == 200 and len(long_row.column("severity")) == 32
