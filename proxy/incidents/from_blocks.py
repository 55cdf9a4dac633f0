"""BlockIncidents: the audit writer's hook that opens and grows incidents from enforced blocks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from proxy.audit.chained_row import ChainedRow
from proxy.audit.store import BAD_DATA
from proxy.incidents.grouping import BlockRun, block_runs, is_incident_block
from proxy.incidents.notices import IncidentNotices
from proxy.incidents.settings import IncidentSettings
from proxy.metrics import Metrics
from proxy.triage import severity_rank

log = logging.getLogger(__name__)

# Concurrent writers (workers, replicas) serialise per tenant and rule, so two of them can
# never both find "no open incident" and open two. All of a batch's groups in one round trip,
# in (tenant, rule) order, the order unnest keeps: two writers cannot deadlock.
LOCK_GROUPS_SQL = """
SELECT pg_advisory_xact_lock(hashtext('warden.incidents'), hashtext(key))
FROM unnest($1::text[]) AS key
"""

# The unresolved automatic incident this run belongs to grows; without one, a new one opens.
GROW_OR_OPEN_SQL = """
WITH current AS (
    SELECT id FROM incidents
    WHERE source = 'auto' AND tenant = $1 AND rule_id = $2 AND status <> 'resolved'
      AND last_seen >= $3::timestamptz - $9::interval
      AND first_seen <= $4::timestamptz + $9::interval
    ORDER BY last_seen DESC
    LIMIT 1
), grown AS (
    UPDATE incidents AS i SET
        count = i.count + $5,
        first_seen = least(i.first_seen, $3),
        last_seen = greatest(i.last_seen, $4),
        severity = greatest(i.severity, $6::warden_severity),
        request_ids = CASE
            WHEN cardinality(i.request_ids) >= $8 THEN i.request_ids
            ELSE (i.request_ids || $7::text[])[1:$8]
        END,
        updated_at = now()
    FROM current
    WHERE i.id = current.id
    RETURNING i.id, false AS opened
), opened AS (
    INSERT INTO incidents (source, title, description, severity, tenant, rule_id, count,
                           request_ids, first_seen, last_seen)
    SELECT 'auto', $10, $11, $6::warden_severity, $1, $2, $5, $7::text[], $3, $4
    WHERE NOT EXISTS (SELECT 1 FROM current)
    RETURNING id, true AS opened
)
SELECT id, opened FROM grown UNION ALL SELECT id, opened FROM opened
"""


def incident_title(run: BlockRun) -> str:
    return f"Requests of {run.tenant} blocked by {run.rule_id}"[:200]


def incident_description(run: BlockRun, window: timedelta) -> str:
    minutes = max(round(window.total_seconds() / 60), 1)
    return (
        f"Rule {run.rule_id} (severity {run.severity}) blocked requests of tenant {run.tenant}. "
        f"Blocks that recur within {minutes} minute(s) of each other are counted here; "
        "request_ids lists the first ones, to look up in the audit log."
    )


class BlockIncidents:
    """InsertHook for the AuditWriter: every stored enforced block at or above the severity
    threshold counts once in the incident of its tenant and rule (see proxy.audit.store)."""

    def __init__(
        self,
        settings: IncidentSettings,
        metrics: Metrics | None = None,
        notices: IncidentNotices | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.notices = notices  # the live feed, told after the batch commits
        self._min_rank = severity_rank(settings.min_severity)
        self._window = timedelta(seconds=settings.group_window_seconds)

    def wants(self, row: ChainedRow) -> bool:
        return is_incident_block(row, self._min_rank)

    async def inserted(self, conn: Any, rows: list[ChainedRow]) -> None:
        runs = block_runs(rows, self._window, self.settings.max_request_ids)
        opened: list[BlockRun] = []
        changes: list[tuple[str, int]] = []
        try:
            # A savepoint: should an incident ever be refused, the audit rows still commit.
            async with conn.transaction():
                keys = dict.fromkeys(f"{run.tenant}\x1f{run.rule_id}" for run in runs)
                await conn.execute(LOCK_GROUPS_SQL, list(keys))
                for run in runs:
                    result = await conn.fetchrow(
                        GROW_OR_OPEN_SQL,
                        run.tenant,
                        run.rule_id,
                        run.first_seen,
                        run.last_seen,
                        run.count,
                        run.severity,
                        list(run.request_ids),
                        self.settings.max_request_ids,
                        self._window,
                        incident_title(run),
                        incident_description(run, self._window),
                    )
                    if result["opened"]:
                        opened.append(run)
                    changes.append(("opened" if result["opened"] else "grown", result["id"]))
                if self.notices is not None:
                    await self.notices.notify(conn, changes)
        except BAD_DATA as exc:
            log.error("incidents: %d block(s) could not be recorded: %r", len(rows), exc)
            if self.metrics is not None:
                self.metrics.incident_errors.inc()
            return
        if self.metrics is not None:
            for run in opened:
                self.metrics.incidents_opened.labels("auto", run.severity).inc()
