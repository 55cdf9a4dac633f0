"""AuditWriter: rows from the request path to Postgres through the journal, never dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self

from proxy.audit.chained_row import chained_row
from proxy.audit.checkpoint import CheckpointSchedule, CheckpointSigner
from proxy.audit.journal import Journal
from proxy.audit.record import AuditRecord
from proxy.audit.sender import JournalSender
from proxy.audit.settings import AuditSettings
from proxy.audit.slots import Slot, claim_slot
from proxy.audit.store import AuditStore, InsertHook

log = logging.getLogger(__name__)


class AuditWriter:
    """Takes AuditRecords on the request path and stores them in `audit_events`, in order.

    Flow: `submit()` appends to a bounded in-memory queue. Every `flush_interval_seconds`
    (or `batch_size` rows) the background task chains the queued rows (seq, prev_hash,
    row_hash) and appends them to the journal, then sends the journal's unsent rows to
    Postgres in batches (one COPY per batch; through a staging table and INSERT … ON
    CONFLICT DO NOTHING when some rows are stored already). While Postgres keeps up, a
    batch just journaled is sent from memory; only a backlog (an outage, a restart) is read
    back from the journal. When Postgres is down the rows simply stay in the journal and are
    sent, oldest first, when it returns; whatever submit() adds meanwhile is journaled
    behind them.

    With a signer, every `checkpoint_every_rows` rows or `checkpoint_interval_seconds` the
    chain head is signed and the checkpoint stored in the same transaction as its row.
    Use as `async with AuditWriter(...) as writer:` in a cleanup context.
    """

    def __init__(
        self,
        settings: AuditSettings,
        dsn: str,
        *,
        base_dir: str | Path = ".",
        hook: InsertHook | None = None,
        signer: CheckpointSigner | None = None,
    ) -> None:
        self.settings = settings
        evidence = settings.evidence
        self._checkpoints = (
            CheckpointSchedule(
                signer, evidence.checkpoint_every_rows, evidence.checkpoint_interval_seconds
            )
            if signer is not None
            else None
        )
        self._store = AuditStore(
            dsn,
            connect_timeout=settings.connect_timeout_seconds,
            write_timeout=settings.write_timeout_seconds,
            hook=hook,
        )
        self._sender = JournalSender(settings, self._store, self._checkpoints)
        self._spool_dir = Path(base_dir) / settings.spool_dir
        self._queue: deque[AuditRecord] = deque()
        self._first_queued_at = 0.0
        self._wake = asyncio.Event()
        self._slot: Slot | None = None
        self._journal: Journal | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = True
        self._last_sync = 0.0
        self._journal_failing = False
        # Read by the metrics exporter, with the properties below.
        self.journal_errors = 0
        self.rows_dropped = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._slot = claim_slot(self._spool_dir)
        self._journal = Journal(
            self._slot.directory, segment_bytes=self.settings.journal_segment_bytes
        )
        head = self._journal.open()
        log.info(
            "audit writer %s: chain at seq %d, %d row(s) to replay",
            self._slot.writer_id, head.seq, self._journal.pending_rows,
        )  # fmt: skip
        self._closed = False
        if self._checkpoints is not None:
            # Whatever a previous process left unsigned gets a checkpoint once it is stored.
            self._checkpoints.unsigned_rows = 1 if head.seq else 0
        else:
            log.warning(
                "audit writer %s: no evidence signing key (audit.evidence.signing_key_file or "
                "signing_key); rows are hash-chained but no checkpoints are signed. Create a "
                "key with `warden keys evidence-init`.",
                self._slot.writer_id,
            )
        # One attempt now, so `accepting` is right from the first request in fail_closed mode.
        await self._sender.try_connect()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self, *, flush: bool = True) -> None:
        """Journal what is in memory; with flush, send the backlog for up to shutdown_timeout.

        Whatever is not sent stays in the journal and goes first after the next start.
        """
        if self._closed or self._journal is None or self._slot is None:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._spool_queue()
        sender, journal, writer_id = self._sender, self._journal, self.writer_id
        if flush:
            deadline = time.monotonic() + self.settings.shutdown_timeout_seconds
            while journal.pending_rows and time.monotonic() < deadline:
                if not await sender.send_backlog(journal, writer_id, self._spool_a_full_batch):
                    await asyncio.sleep(min(sender.backoff, max(deadline - time.monotonic(), 0)))
            if not journal.pending_rows:
                await sender.sign_head(journal, writer_id, final=True)
        self._store.disconnect()
        self._journal.close(compact=flush)
        self._slot.release()
        if self._journal.pending_rows:
            log.warning("audit: %d row(s) left in the journal", self._journal.pending_rows)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- request path -----------------------------------------------------------------------

    def submit(self, record: AuditRecord) -> bool:
        """Hand over one row. Synchronous, never raises, never waits on I/O except one case.

        The row is kept whenever possible: queued, or, when the queue is full, journaled at
        once together with everything queued (a local append, no fsync), in order.
        Returns `accepting` as of now: True means audit is healthy for this failure mode.
        In fail_closed mode False means "Postgres is down or behind": the row is still kept,
        and the pipeline should refuse new requests (check `accepting` before admitting
        one) until this turns True again. False in spool mode means the row could not be
        kept at all (writer stopped, or queue full and the journal unwritable); it is
        counted in rows_dropped.
        """
        if self._closed:
            self.rows_dropped += 1
            return False
        if len(self._queue) >= self.settings.queue_size:
            self._spool_queue()
            if self._queue:
                self.rows_dropped += 1
                return False
        self._queue.append(record)
        if len(self._queue) == 1:
            self._first_queued_at = time.monotonic()
            self._wake.set()
        elif len(self._queue) >= self.settings.batch_size:
            self._wake.set()
        return self.accepting

    @property
    def accepting(self) -> bool:
        if self._closed:
            return False
        if self.settings.failure_mode == "spool":
            return True
        return self._sender.db_ok and len(self._queue) < self.settings.queue_size

    @property
    def writer_id(self) -> str:
        return self._slot.writer_id if self._slot is not None else ""

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def write_failures(self) -> int:
        return self._sender.write_failures

    @property
    def rows_written(self) -> int:
        return self._store.rows_written

    @property
    def duplicates_skipped(self) -> int:
        """Rows a replay found already stored: how exactly-once shows in the numbers."""
        return self._store.duplicates_skipped

    @property
    def rows_rejected(self) -> int:
        return self._store.rows_rejected

    @property
    def last_write_seconds(self) -> float:
        """How long the last successful batch took (COPY and INSERT, one transaction)."""
        return self._store.last_write_seconds

    @property
    def recent_writes(self) -> deque[float]:
        """Durations of batches written since the metrics sampler last emptied this."""
        return self._store.recent_writes

    @property
    def last_success_at(self) -> float | None:
        return self._store.last_success_at

    @property
    def spooled_rows(self) -> int:
        """Rows in the journal not yet confirmed in Postgres."""
        return self._journal.pending_rows if self._journal is not None else 0

    # -- background task --------------------------------------------------------------------

    async def _run(self) -> None:
        sender, journal, writer_id = self._sender, self._journal, self.writer_id
        assert journal is not None  # start() opens the journal before it starts this task
        while True:
            await self._wait_for_work()
            try:
                self._spool_queue()
                await self._sync_journal()
                if time.monotonic() >= sender.retry_at and await sender.send_backlog(
                    journal, writer_id, self._spool_a_full_batch
                ):
                    await sender.sign_head(journal, writer_id)
            except Exception:
                # Whatever went wrong, the writer must outlive it: the rows are journaled.
                log.exception("audit writer: unexpected error; retrying")
                sender.failed_attempt(journal)
            if self._journal_failing:  # do not spin on a full or broken disk
                await asyncio.sleep(self.settings.retry_max_seconds)

    async def _wait_for_work(self) -> None:
        """Until a batch is full, or the first queued row, a retry or a checkpoint is due.

        submit() wakes this only to start the first row's clock: that row then waits up to
        flush_interval_seconds for others. Flushing on the wake itself sent every row of a
        lone caller in a batch of its own (a journal append, an fsync and a COPY each).
        """
        while len(self._queue) < self.settings.batch_size:
            deadlines: list[float] = []
            if self._queue:
                deadlines.append(self._first_queued_at + self.settings.flush_interval_seconds)
            if self.spooled_rows or not self._sender.db_ok:
                deadlines.append(self._sender.retry_at)
            elif self._checkpoints is not None and (due := self._checkpoints.deadline()):
                deadlines.append(due)
            timeout = min(deadlines) - time.monotonic() if deadlines else None
            if timeout is not None and timeout <= 0:
                return
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return

    def _spool_queue(self) -> None:
        """Chain every queued row and append it to the journal. No await: order is kept."""
        journal = self._journal
        if not self._queue or journal is None or self._slot is None:
            return
        writer_id, batch_size = self._slot.writer_id, self.settings.batch_size
        seq, prev_hash = journal.head.seq, journal.head.row_hash
        queued = list(self._queue)
        for start in range(0, len(queued), batch_size):
            batch = []
            for record in queued[start : start + batch_size]:
                seq += 1
                row = chained_row(record, writer_id, seq, prev_hash)
                prev_hash = row.row_hash
                batch.append(row)
            try:
                # Kept in memory to be sent without a read-back, unless Postgres is down.
                journal.append(batch, keep=self.settings.queue_size if self._sender.db_ok else 0)
            except OSError:
                # The rest stay queued, unchained; submit() counts drops once the queue is full.
                self.journal_errors += 1
                self._journal_failing = True
                log.exception("audit: cannot append to the journal in %s", journal.directory)
                for _ in range(start):
                    self._queue.popleft()
                return
        self._journal_failing = False
        self._queue.clear()

    @property
    def checkpoints_written(self) -> int:
        return self._checkpoints.written if self._checkpoints is not None else 0

    async def _sync_journal(self) -> None:
        mode, now = self.settings.journal_fsync, time.monotonic()
        interval = self.settings.journal_fsync_interval_seconds
        if self._journal is None or not self._journal.unsynced or mode == "off":
            return
        if mode == "interval" and now < self._last_sync + interval:
            return
        await self._journal.sync()
        self._last_sync = now

    async def _spool_a_full_batch(self) -> None:
        """Between the batches of a replay: journal what was submitted meanwhile."""
        # A long replay must not leave a batch's worth of new rows waiting in memory.
        # Fewer wait for their flush interval: taken here, a steady trickle would
        # keep the replay sending one row at a time.
        if len(self._queue) >= self.settings.batch_size:
            self._spool_queue()
            await self._sync_journal()
