"""AuditStore: the writer's one Postgres session; a batch of journal rows in one transaction."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from proxy.audit.chained_row import COLUMNS, ChainedRow
from proxy.audit.checkpoint import Checkpoint

log = logging.getLogger(__name__)

# One staging table per session: a batch that holds stored rows (a replay after a crash
# left them both in Postgres and in the journal), or whose transaction does more (the hook,
# checkpoints), is copied in, then inserted with ON CONFLICT so duplicates are skipped.
CREATE_STAGING_SQL = (
    "CREATE TEMP TABLE audit_staging (LIKE audit_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COLUMN_LIST = ", ".join(COLUMNS)
INSERT_FROM_STAGING_SQL = (
    f"INSERT INTO audit_events ({_COLUMN_LIST}) "
    f"SELECT {_COLUMN_LIST} FROM audit_staging ORDER BY seq ON CONFLICT DO NOTHING"
)
# Only when the batch holds rows an InsertHook wants: which of them this transaction stored.
INSERT_RETURNING_SEQ_SQL = INSERT_FROM_STAGING_SQL + " RETURNING seq"
ENSURE_PARTITION_SQL = "SELECT audit_ensure_partition($1)"
# A replay may sign a head that was signed before the crash: the first signature stays.
INSERT_CHECKPOINT_SQL = (
    "INSERT INTO audit_checkpoints (writer_id, seq, row_hash, signed_at, key_id, signature) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)

# Errors a row's content causes: retrying the same batch cannot succeed.
BAD_DATA = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
# Errors meaning Postgres is unreachable, restarting, overloaded or too slow: retry later.
UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class InsertHook(Protocol):
    """Derives state from audit rows in the transaction that stores them: exactly once.

    `wants` is a cheap filter over a chained row (no I/O; read columns with
    ChainedRow.column); batches with no wanted row cost nothing extra. `inserted` runs
    inside the batch's transaction, after the insert, with the wanted rows that this
    transaction stored: never a replayed duplicate. If it raises, the batch rolls back and
    is retried, so it must guard its own data errors.
    """

    def wants(self, row: ChainedRow) -> bool: ...

    async def inserted(self, conn: Any, rows: list[ChainedRow]) -> None: ...


class AuditStore:
    """A dedicated connection rather than the request pool: the staging table lives in the
    session, and audit writes neither wait for nor starve request-path queries."""

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout: float,
        write_timeout: float,
        hook: InsertHook | None = None,
    ) -> None:
        self._dsn = dsn
        self._hook = hook
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._conn: Any = None
        self._months: set[tuple[int, int]] = set()  # (year, month) known to have a partition
        self.writing = False
        self.rows_written = 0
        self.duplicates_skipped = 0
        self.rows_rejected = 0
        self.last_write_seconds = 0.0
        # Batch durations not yet observed by the metrics sampler, which empties it.
        self.recent_writes: deque[float] = deque(maxlen=1024)
        self.last_success_at: float | None = None

    async def connect(self) -> None:
        if self.writing:
            # A write was interrupted (cancelled, timed out, failed): the session's state is
            # unknown, perhaps mid-transaction, so it is replaced rather than reused.
            self.disconnect()
        if self._conn is not None and not self._conn.is_closed():
            return
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            await conn.execute(CREATE_STAGING_SQL)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn

    def disconnect(self) -> None:
        """Immediate, no goodbye: used when the session's state is unknown."""
        self.writing = False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def write(
        self, rows: list[ChainedRow], checkpoints: list[Checkpoint], rejected: Path
    ) -> None:
        """Store chained rows, and the checkpoints over them in the same transaction; raise
        one of UNAVAILABLE when Postgres cannot take them.

        A row Postgres refuses on content is not an outage: the others are stored one by
        one and the refused row goes to `rejected` for an operator (the chain shows the gap).
        """
        await self.connect()
        self.writing = True  # stays True if this is interrupted: see connect()
        try:
            await self._write_batch(rows, checkpoints)
        except BAD_DATA as exc:
            log.error("audit: a batch was refused (%r); retrying row by row", exc)
            self._months.clear()  # "no partition of relation found for row" is one of these
            refused: set[int] = set()
            for row in rows:
                try:
                    await self._write_batch([row], [])
                except BAD_DATA as row_exc:
                    self._reject(row, row_exc, rejected)
                    refused.add(row.seq)
            signed = [c for c in checkpoints if c.seq not in refused]
            if signed:
                await self._write_batch([], signed)
        self.writing = False

    async def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """A checkpoint alone, over rows stored earlier (the writer was idle)."""
        await self.write([], [checkpoint], Path())

    async def _write_batch(self, rows: list[ChainedRow], checkpoints: list[Checkpoint]) -> None:
        conn, started = self._conn, time.monotonic()
        async with asyncio.timeout(self._write_timeout):
            for year, month in {(r.event_time.year, r.event_time.month) for r in rows}:
                if (year, month) not in self._months:
                    mid_month = datetime(year, month, 15, tzinfo=UTC)
                    await conn.execute(ENSURE_PARTITION_SQL, mid_month)
                    self._months.add((year, month))
            hook = self._hook
            wanted = [r for r in rows if hook.wants(r)] if hook is not None else []
            if rows and not wanted and not checkpoints and await self._copy_directly(rows):
                inserted = len(rows)
            else:
                inserted = await self._write_in_transaction(rows, wanted, checkpoints)
        if rows:
            self.rows_written += inserted
            self.duplicates_skipped += len(rows) - inserted
        self.last_write_seconds = time.monotonic() - started
        self.recent_writes.append(self.last_write_seconds)
        self.last_success_at = time.time()

    async def _copy_directly(self, rows: list[ChainedRow]) -> bool:
        """The common batch, rows alone: one COPY into audit_events, a transaction of its own.

        Three round trips fewer than staging them (BEGIN, INSERT … SELECT, COMMIT), and
        Postgres writes each row once. False when some row is stored already (a replay after
        a crash, or a retry of a batch whose commit went unseen): then the COPY stored none
        of them, and the staging path skips the duplicates.
        """
        try:
            await self._conn.copy_records_to_table(
                "audit_events", records=[r.values for r in rows], columns=COLUMNS
            )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def _write_in_transaction(
        self, rows: list[ChainedRow], wanted: list[ChainedRow], checkpoints: list[Checkpoint]
    ) -> int:
        """Rows through the staging table, the hook and the checkpoints in one transaction;
        how many rows were stored (duplicates are skipped)."""
        conn, hook, inserted = self._conn, self._hook, 0
        async with conn.transaction():
            if rows:
                await conn.copy_records_to_table(
                    "audit_staging", records=[r.values for r in rows], columns=COLUMNS
                )
            if hook is not None and wanted:
                stored = {r["seq"] for r in await conn.fetch(INSERT_RETURNING_SEQ_SQL)}
                inserted = len(stored)
                await hook.inserted(conn, [r for r in wanted if r.seq in stored])
            elif rows:
                status = await conn.execute(INSERT_FROM_STAGING_SQL)
                inserted = int(status.rsplit(" ", 1)[-1])
            if checkpoints:
                await conn.executemany(
                    INSERT_CHECKPOINT_SQL,
                    [
                        (c.writer_id, c.seq, c.row_hash, c.signed_at, c.key_id, c.signature)
                        for c in checkpoints
                    ],
                )
        return inserted

    def _reject(self, row: ChainedRow, exc: Exception, rejected: Path) -> None:
        self.rows_rejected += 1
        log.error("audit: row seq %s refused by postgres: %r", row.seq, exc)
        with rejected.open("ab") as out:
            out.write(row.line)
