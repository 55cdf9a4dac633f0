"""Incidents in Postgres for the admin API: create, list (keyset pages), show, update, delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.apikeys import Executor
from proxy.triage import Status, allowed_from


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    statuses: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    source: str | None = None
    tenant: str | None = None
    rule_id: str | None = None
    since: dt.datetime | None = None  # incidents still seen at or after this time
    until: dt.datetime | None = None  # incidents first seen before this time


_COLUMNS = (
    "id, source, title, description, severity::text AS severity, status, tenant, rule_id, "
    "count, request_ids, first_seen, last_seen, assignee, notes, created_at, updated_at, "
    "acknowledged_at, resolved_at"
)
# Fields an administrator may set; the column names in UPDATE come only from this set.
EDITABLE = ("title", "description", "severity", "assignee", "notes")

CREATE_SQL = f"""
INSERT INTO incidents (source, title, description, severity, tenant, rule_id, assignee,
                       request_ids, first_seen, last_seen)
VALUES ('manual', $1, $2, $3::warden_severity, $4, $5, $6, $7::text[], now(), now())
RETURNING {_COLUMNS}
"""

FETCH_SQL = f"SELECT {_COLUMNS} FROM incidents WHERE id = $1"
FETCH_MANY_SQL = f"SELECT {_COLUMNS} FROM incidents WHERE id = ANY($1::bigint[]) ORDER BY id"

# Newest first; the cursor is the last id of the previous page (ids only grow).
LIST_SQL = f"""
SELECT {_COLUMNS} FROM incidents
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text[] IS NULL OR severity::text = ANY($2::text[]))
  AND ($3::text IS NULL OR source = $3)
  AND ($4::text IS NULL OR tenant = $4)
  AND ($5::text IS NULL OR rule_id = $5)
  AND ($6::timestamptz IS NULL OR last_seen >= $6)
  AND ($7::timestamptz IS NULL OR first_seen < $7)
  AND ($8::bigint IS NULL OR id < $8)
ORDER BY id DESC
LIMIT $9
"""

DELETE_SQL = f"DELETE FROM incidents WHERE id = $1 RETURNING {_COLUMNS}"


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    """An incident as the admin API shows it."""
    out = dict(row)
    out["request_ids"] = list(row["request_ids"])
    for name in ("first_seen", "last_seen", "created_at", "updated_at"):
        out[name] = row[name].isoformat()
    for name in ("acknowledged_at", "resolved_at"):
        out[name] = row[name].isoformat() if row[name] is not None else None
    return out


async def create_incident(
    db: Executor,
    *,
    title: str,
    severity: str,
    description: str | None = None,
    tenant: str | None = None,
    rule_id: str | None = None,
    assignee: str | None = None,
    request_ids: Sequence[str] = (),
) -> dict[str, Any]:
    row = await db.fetchrow(
        CREATE_SQL, title, description, severity, tenant, rule_id, assignee, list(request_ids)
    )
    return public(row)


async def fetch_incident(db: Executor, incident_id: int) -> dict[str, Any] | None:
    row = await db.fetchrow(FETCH_SQL, incident_id)
    return public(row) if row is not None else None


async def fetch_incidents(db: Executor, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The incidents of `ids` that exist, by id."""
    return [public(r) for r in await db.fetch(FETCH_MANY_SQL, list(ids))]


async def list_incidents(
    db: Executor, where: IncidentFilter, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    rows = await db.fetch(
        LIST_SQL,
        list(where.statuses) if where.statuses else None,
        list(where.severities) if where.severities else None,
        where.source,
        where.tenant,
        where.rule_id,
        where.since,
        where.until,
        before_id,
        limit,
    )
    return [public(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Updated:
    incident: dict[str, Any]
    previous_status: str


async def update_incident(
    db: Executor, incident_id: int, changes: Mapping[str, Any], status: Status | None
) -> Updated | None:
    """Apply `changes` (EDITABLE fields) and move to `status` in one statement.

    The transition is checked in the WHERE clause, so two administrators racing cannot
    move an incident backwards. None when the incident is absent or the move not allowed.
    """
    params: list[Any] = [incident_id, status, list(allowed_from(status)) if status else None]
    sets = ["updated_at = now()"]
    for name, value in changes.items():
        if name not in EDITABLE:
            raise ValueError(f"not an editable incident field: {name}")
        params.append(value)
        cast = "::warden_severity" if name == "severity" else ""
        sets.append(f"{name} = ${len(params)}{cast}")
    # The status before: locked first, so a concurrent change is waited for and seen.
    sql = f"""
        WITH before AS (
            SELECT id AS before_id, status AS previous_status FROM incidents
            WHERE id = $1 FOR UPDATE
        )
        UPDATE incidents SET {", ".join(sets)},
            status = coalesce($2::text, status),
            acknowledged_at = CASE
                WHEN $2::text = 'acknowledged' AND acknowledged_at IS NULL THEN now()
                ELSE acknowledged_at END,
            resolved_at = CASE
                WHEN $2::text = 'resolved' AND resolved_at IS NULL THEN now()
                ELSE resolved_at END
        FROM before
        WHERE id = before_id AND ($3::text[] IS NULL OR status = ANY($3::text[]))
        RETURNING {_COLUMNS}, previous_status
    """
    row = await db.fetchrow(sql, *params)
    if row is None:
        return None
    incident = public(row)
    return Updated(incident, incident.pop("previous_status"))


async def delete_incident(db: Executor, incident_id: int) -> dict[str, Any] | None:
    """The incident as it was, or None when there was none."""
    row = await db.fetchrow(DELETE_SQL, incident_id)
    return public(row) if row is not None else None
