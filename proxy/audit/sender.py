"""JournalSender: a writer's journaled rows to Postgres, oldest first, retried while it is down."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from proxy.audit.checkpoint import CheckpointSchedule
from proxy.audit.journal import Journal
from proxy.audit.settings import AuditSettings
from proxy.audit.store import UNAVAILABLE, AuditStore

# The writer's logger: an outage and its end are reported under the one name the writer's
# other lines use.
log = logging.getLogger("proxy.audit.writer")

_FIRST_RETRY = 0.1


class JournalSender:
    """The Postgres side of an AuditWriter: the journal's unsent rows in batches, and the
    checkpoints over them, through the writer's AuditStore.

    After a failed attempt the next waits until `retry_at`, twice as long each time up to
    `retry_max_seconds`; `db_ok` says whether the last attempt worked.
    """

    def __init__(
        self, settings: AuditSettings, store: AuditStore, checkpoints: CheckpointSchedule | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.checkpoints = checkpoints
        self.db_ok = False
        self.retry_at = 0.0
        self.backoff = _FIRST_RETRY
        self.write_failures = 0

    async def try_connect(self) -> None:
        """One attempt, with no retry scheduled when it fails: `db_ok` says how it went."""
        with contextlib.suppress(*UNAVAILABLE):
            await self.store.connect()
            self.db_ok = True

    async def send_backlog(
        self, journal: Journal, writer_id: str, between_batches: Callable[[], Awaitable[None]]
    ) -> bool:
        """Send the journal's unsent rows, oldest first. False when Postgres failed.

        `between_batches` runs after every batch sent, for rows submitted meanwhile.
        """
        rejected = journal.directory / "rejected.jsonl"
        try:
            await self.store.connect()
            while journal.pending_rows:
                rows, position = journal.next_batch(self.settings.batch_size)
                schedule = self.checkpoints
                checkpoints = schedule.over(writer_id, rows) if schedule is not None else []
                if rows:
                    await self.store.write(rows, checkpoints, rejected)
                journal.advance(position, rows[-1].seq if rows else journal.head.seq)
                if schedule is not None and rows:
                    schedule.stored(rows[-1].seq, len(rows), checkpoints)
                await between_batches()
        except UNAVAILABLE as exc:
            if self.db_ok:
                log.warning("audit: postgres unavailable, rows wait in the journal: %r", exc)
            self.failed_attempt(journal)
            return False
        if not self.db_ok:
            log.info("audit: postgres is back; the journal is replayed")
        self.db_ok, self.backoff, self.retry_at = True, _FIRST_RETRY, 0.0
        return True

    async def sign_head(self, journal: Journal, writer_id: str, *, final: bool = False) -> None:
        """A checkpoint alone, over rows stored since the last one, once they waited long
        enough (or at shutdown). Postgres being down only postpones it."""
        schedule = self.checkpoints
        if schedule is None or journal.pending_rows or journal.head.seq == 0:
            return
        head = journal.head
        checkpoint = schedule.idle_head(writer_id, head.seq, head.row_hash, final=final)
        if checkpoint is None:
            return
        try:
            await self.store.write_checkpoint(checkpoint)
        except UNAVAILABLE as exc:
            log.warning("audit: cannot store a checkpoint now: %r", exc)
            if not final:
                self.failed_attempt(journal)
            return
        schedule.stored(head.seq, 0, [checkpoint])

    def failed_attempt(self, journal: Journal) -> None:
        self.write_failures += 1
        self.db_ok = False
        journal.forget_tail()
        self.store.disconnect()
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, self.settings.retry_max_seconds)
