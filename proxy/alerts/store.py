"""Alerts in Postgres: the evaluator's upserts and the admin API's list, acknowledge, resolve."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.alerts.rules import Firing
from proxy.apikeys import Executor

COLUMNS = (
    "id, type, subject, tenant, upstream, model, severity::text AS severity, message, value, "
    "threshold, count, first_seen, last_seen, status, resolved, acknowledged_at, "
    "acknowledged_by, resolved_at, resolved_by"
)

# The unique partial index alerts_open_once makes this safe from any number of replicas:
# an open alert for the condition grows; otherwise a new one opens. xmax = 0 tells which.
FIRE_SQL = f"""
INSERT INTO alerts (type, subject, tenant, upstream, model, severity, message, value,
                    threshold, first_seen, last_seen)
VALUES ($1, $2, $3, $4, $5, $6::warden_severity, $7, $8, $9, $10, $10)
ON CONFLICT (type, subject) WHERE status <> 'resolved' DO UPDATE SET
    last_seen = greatest(alerts.last_seen, EXCLUDED.last_seen),
    count = alerts.count + 1,
    severity = greatest(alerts.severity, EXCLUDED.severity),
    message = EXCLUDED.message,
    value = EXCLUDED.value,
    threshold = EXCLUDED.threshold
RETURNING {COLUMNS}, (xmax = 0) AS fired
"""

# Open alerts whose condition was not found for a while: the condition cleared. Types in $3
# were not looked at this round (their source was unavailable): unknown is not cleared.
RESOLVE_CLEARED_SQL = f"""
UPDATE alerts SET status = 'resolved', resolved_at = $1, resolved_by = 'auto'
WHERE status <> 'resolved' AND last_seen < $1::timestamptz - $2::interval
  AND type <> ALL($3::text[])
RETURNING {COLUMNS}
"""

FETCH_SQL = f"SELECT {COLUMNS} FROM alerts WHERE id = $1"

LIST_SQL = f"""
SELECT {COLUMNS} FROM alerts
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
  AND ($2::text[] IS NULL OR severity::text = ANY($2::text[]))
  AND ($3::text[] IS NULL OR type = ANY($3::text[]))
  AND ($4::text IS NULL OR tenant = $4)
  AND ($5::text IS NULL OR model = $5)
  AND ($6::timestamptz IS NULL OR last_seen >= $6)
  AND ($7::timestamptz IS NULL OR first_seen < $7)
  AND ($8::bigint IS NULL OR id < $8)
ORDER BY id DESC
LIMIT $9
"""

ACKNOWLEDGE_SQL = f"""
UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2
WHERE id = $1 AND status = 'open'
RETURNING {COLUMNS}
"""

RESOLVE_SQL = f"""
UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = $2
WHERE id = $1 AND status <> 'resolved'
RETURNING {COLUMNS}
"""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    statuses: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    types: Sequence[str] | None = None
    tenant: str | None = None
    model: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    """An alert as the admin API and the webhooks show it."""
    out = {name: row[name] for name in row.keys() if name != "fired"}
    for name in ("first_seen", "last_seen", "acknowledged_at", "resolved_at"):
        out[name] = row[name].isoformat() if row[name] is not None else None
    return out


async def fire(conn: Any, firing: Firing, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Open or grow the alert of this condition: (the alert, whether it is new)."""
    row = await conn.fetchrow(
        FIRE_SQL,
        firing.type,
        firing.subject,
        firing.tenant,
        firing.upstream,
        firing.model,
        firing.severity,
        firing.message,
        firing.value,
        firing.threshold,
        now,
    )
    return public(row), bool(row["fired"])


async def resolve_cleared(
    conn: Any, now: dt.datetime, after: dt.timedelta, *, unknown: Sequence[str] = ()
) -> list[dict[str, Any]]:
    rows = await conn.fetch(RESOLVE_CLEARED_SQL, now, after, list(unknown))
    return [public(r) for r in rows]


async def fetch_alert(db: Executor, alert_id: int) -> dict[str, Any] | None:
    row = await db.fetchrow(FETCH_SQL, alert_id)
    return public(row) if row is not None else None


async def list_alerts(
    db: Executor, where: AlertFilter, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    rows = await db.fetch(
        LIST_SQL,
        list(where.statuses) if where.statuses else None,
        list(where.severities) if where.severities else None,
        list(where.types) if where.types else None,
        where.tenant,
        where.model,
        where.since,
        where.until,
        before_id,
        limit,
    )
    return [public(r) for r in rows]


async def acknowledge(db: Executor, alert_id: int, by: str | None) -> dict[str, Any] | None:
    row = await db.fetchrow(ACKNOWLEDGE_SQL, alert_id, by)
    return public(row) if row is not None else None


async def resolve(db: Executor, alert_id: int, by: str) -> dict[str, Any] | None:
    row = await db.fetchrow(RESOLVE_SQL, alert_id, by)
    return public(row) if row is not None else None
