"""Rows read back from audit_events, a journal line or a bundle: canonical JSON, COPY values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from proxy.audit.chained_row import COLUMNS, OPTIONAL_COLUMNS, ChainedRow, drop_defaults

_EVENT_TIME = COLUMNS.index("event_time")
_TIME_COLUMNS = frozenset({"event_time", "occurred_at"})
_BYTES_COLUMNS = frozenset({"request_sha256", "response_sha256", "prev_hash", "row_hash"})
_ARRAY_COLUMNS = frozenset({"rule_ids", "monitored_rule_ids", "data_sources"})


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


def canonical_row_from_db(record: Mapping[str, Any]) -> dict[str, Any]:
    """A row read back from audit_events in the canonical form it was hashed in."""
    row = {name: canonical_value(name, record[name]) for name in COLUMNS}
    drop_defaults(row)
    return row


def row_from_journal(row: Mapping[str, Any], line: bytes) -> ChainedRow:
    """A row read back from a journal line (a replay): its values rebuilt from the JSON."""
    values = copy_values(row)
    return ChainedRow(row["seq"], values[-1], values[_EVENT_TIME], line, values)


def copy_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A canonical row (from the journal or a bundle) as the Python values COPY expects."""
    values: list[Any] = []
    for name in COLUMNS:
        value = row.get(name, OPTIONAL_COLUMNS.get(name))
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
