"""Retention: drop whole months of audit rows, keeping the links the remaining chains need.

audit_events is partitioned by month, so pruning drops tables instead of deleting rows.
A chain crosses month boundaries, though: the first row kept points at the last row
dropped, and a request that arrived before midnight on the 1st but finished after it sits
in the older month with a later seq than rows of the newer one. For each writer, pruning
keeps those dropped rows' links (seq, prev_hash, row_hash; never their content) in
audit_pruned_links, so verification starts from them instead of the genesis hash, and the
checkpoints over the kept rows still tie everything after them to a signature.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# Any constant; every Warden replica must agree on it. One prune at a time.
RETENTION_LOCK_ID = 0x57415244_0005
_MAX_SEQ = 2**63 - 1

# Writes wait while a prune decides which links to keep and drops the months; the writers
# retry (their rows wait in the journal), so nothing is lost and no link is missed.
LOCK_SQL = "LOCK TABLE audit_events IN SHARE MODE"
TRY_LOCK_SQL = "SELECT pg_try_advisory_xact_lock($1)"
PARTITIONS_SQL = """
SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_events'::regclass AND c.relkind = 'r'
  AND c.relname ~ '^audit_events_\\d{4}_\\d{2}$'
  AND (to_date(substr(c.relname, 14), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
      + interval '1 month' <= $1
ORDER BY c.relname
"""
WRITERS_SQL = "SELECT DISTINCT writer_id FROM audit_events WHERE event_time < $1"
COUNT_SQL = "SELECT count(*) FROM audit_events WHERE event_time < $1"
FIRST_KEPT_SQL = "SELECT min(seq) FROM audit_events WHERE writer_id = $1 AND event_time >= $2"
# The last dropped row before the first kept one: where the kept chain starts from.
ANCHOR_SQL = (
    "SELECT max(seq) FROM audit_events WHERE writer_id = $1 AND event_time < $2 AND seq < $3"
)
KEEP_LINKS_SQL = """
INSERT INTO audit_pruned_links (writer_id, seq, event_time, prev_hash, row_hash)
SELECT writer_id, seq, event_time, prev_hash, row_hash FROM audit_events
WHERE writer_id = $1 AND event_time < $2 AND seq >= $3
ON CONFLICT DO NOTHING
"""
# Links and checkpoints before the new anchor point at rows no longer anywhere.
FORGET_LINKS_SQL = "DELETE FROM audit_pruned_links WHERE writer_id = $1 AND seq < $2"
FORGET_CHECKPOINTS_SQL = "DELETE FROM audit_checkpoints WHERE writer_id = $1 AND seq < $2"
DROP_SQL = "SELECT audit_drop_partitions_before($1)"
RECORD_SQL = "INSERT INTO audit_prunes (cutoff, partitions, rows_pruned) VALUES ($1, $2, $3)"


@dataclass(frozen=True, slots=True)
class PruneResult:
    cutoff: datetime  # rows older than this were eligible
    boundary: datetime  # whole months before this were dropped
    partitions: list[str]
    rows_pruned: int
    links_kept: int
    skipped: bool = False  # another prune held the lock
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "boundary": self.boundary.isoformat(),
            "partitions": self.partitions,
            "rows_pruned": self.rows_pruned,
            "links_kept": self.links_kept,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
        }


def month_start(when: datetime) -> datetime:
    """The UTC month `when` falls in: partitions before it end at or before `when`."""
    utc = when.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


async def prune(conn: Any, cutoff: datetime, *, dry_run: bool = False) -> PruneResult:
    """Drop every month that ended before `cutoff`, in one transaction."""
    boundary = month_start(cutoff)
    async with conn.transaction():
        if not await conn.fetchval(TRY_LOCK_SQL, RETENTION_LOCK_ID):
            return PruneResult(cutoff, boundary, [], 0, 0, skipped=True, dry_run=dry_run)
        partitions = [r["name"] for r in await conn.fetch(PARTITIONS_SQL, boundary)]
        if not partitions:
            return PruneResult(cutoff, boundary, [], 0, 0, dry_run=dry_run)
        if not dry_run:
            await conn.execute(LOCK_SQL)
        rows = await conn.fetchval(COUNT_SQL, boundary)
        links = 0
        for record in await conn.fetch(WRITERS_SQL, boundary):
            writer_id = record["writer_id"]
            first_kept = await conn.fetchval(FIRST_KEPT_SQL, writer_id, boundary)
            anchor = await conn.fetchval(ANCHOR_SQL, writer_id, boundary, first_kept or _MAX_SEQ)
            # None: every dropped row of this chain came after its first kept row; keep them all.
            anchor = anchor or 0
            if dry_run:
                continue
            status = await conn.execute(KEEP_LINKS_SQL, writer_id, boundary, anchor)
            links += int(status.rsplit(" ", 1)[-1])
            await conn.execute(FORGET_LINKS_SQL, writer_id, anchor)
            await conn.execute(FORGET_CHECKPOINTS_SQL, writer_id, anchor)
        if dry_run:
            return PruneResult(cutoff, boundary, partitions, rows, 0, dry_run=True)
        dropped = [r[0] for r in await conn.fetch(DROP_SQL, boundary)]
        await conn.execute(RECORD_SQL, cutoff, dropped, rows)
    return PruneResult(cutoff, boundary, dropped, rows, links)


async def prune_periodically(
    pool: asyncpg.Pool, older_than_days: int, interval_hours: float
) -> None:
    """`audit.retention`: every interval (from a random point, so replicas spread out)."""
    await asyncio.sleep(random.uniform(0, min(interval_hours * 3600, 600)))
    while True:
        cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
        try:
            async with pool.acquire() as conn:
                result = await prune(conn, cutoff)
            if result.partitions:
                log.info("audit retention: pruned", extra={"fields": result.as_json()})
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("audit retention: prune failed, retrying next interval: %r", exc)
        await asyncio.sleep(interval_hours * 3600)
