"""IncidentNotices: incidents the audit writer opens or grows reach the live feed after commit.

The audit writer's hook changes incidents inside the batch's transaction, which may still roll
back and be retried: an event sent from there could announce an incident that never was, or
the same growth twice. Postgres NOTIFY is transactional (delivered on commit, dropped on
rollback), so the hook notifies a channel that only this process listens on, and the listener
publishes what committed, read back as the admin API shows it.

The listening connection exists only while someone watches the feed; without one the hook
sends nothing, and a batch costs nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg

from proxy.events import EventFeed
from proxy.incidents import store

log = logging.getLogger(__name__)

# Each change is its own notification: Postgres folds duplicates within a transaction, and a
# payload stays far under its 8000-byte limit however large the batch.
NOTIFY_SQL = "SELECT pg_notify($1, change) FROM unnest($2::text[]) AS change"
CHECK_SECONDS = 0.2  # how soon a new feed listener gets a listening connection
RETRY_SECONDS = 2.0  # after a failed connection
CONNECT_TIMEOUT = 5.0
_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class IncidentNotices:
    def __init__(self, dsn: str, feed: EventFeed) -> None:
        self.dsn = dsn
        self.feed = feed
        # Unique per process: every replica listens on a channel of its own, so each change
        # is published once, by the process whose audit writer made it.
        self.channel = f"warden_incidents_{secrets.token_hex(8)}"
        self._conn: Any = None
        self._changes: list[tuple[str, int]] = []  # (action, incident id), committed
        self._wake = asyncio.Event()

    @property
    def ready(self) -> bool:
        """True while the feed has listeners and this process's LISTEN connection is up."""
        conn = self._conn
        return self.feed.listening and conn is not None and not conn.is_closed()

    async def notify(self, conn: Any, changes: Sequence[tuple[str, int]]) -> None:
        """From the hook, in its transaction: `changes` reach the feed once it commits.

        A savepoint of its own: should Postgres refuse the notifications (its queue full),
        the incidents and the audit rows still commit, only unannounced.
        """
        if not changes or not self.ready:
            return
        payloads = [f"{action}:{incident_id}" for action, incident_id in changes]
        try:
            async with conn.transaction():
                await conn.execute(NOTIFY_SQL, self.channel, payloads)
        except asyncpg.PostgresError as exc:
            log.warning("incidents: %d change(s) not announced on the feed: %r", len(changes), exc)

    def _received(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        action, _, incident_id = payload.partition(":")
        self._changes.append((action, int(incident_id)))
        self._wake.set()

    async def run(self) -> None:
        """Listen while the feed has listeners; publish what arrives."""
        try:
            while True:
                if not self.feed.listening:
                    await self._close()
                    await asyncio.sleep(CHECK_SECONDS)
                    continue
                if self._conn is None or self._conn.is_closed():
                    if not await self._connect():
                        await asyncio.sleep(RETRY_SECONDS)
                        continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CHECK_SECONDS):
                        await self._wake.wait()
                self._wake.clear()
                await self._publish()
        finally:
            await self._close()

    async def _connect(self) -> bool:
        try:
            conn = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT)
        except _FAILURES as exc:
            log.warning("incidents: no connection for feed notices: %r", exc)
            return False
        try:
            await conn.add_listener(self.channel, self._received)
        except _FAILURES as exc:
            log.warning("incidents: cannot listen for feed notices: %r", exc)
            conn.terminate()
            return False
        self._conn = conn
        return True

    async def _publish(self) -> None:
        if not self._changes:
            return
        changes, self._changes = self._changes, []
        try:
            found = await store.fetch_incidents(self._conn, [i for _, i in changes])
        except _FAILURES as exc:
            log.warning("incidents: %d change(s) lost for the feed: %r", len(changes), exc)
            await self._close()
            return
        by_id = {incident["id"]: incident for incident in found}
        for action, incident_id in changes:
            incident = by_id.get(incident_id)
            if incident is not None:  # deleted meanwhile: its deletion is announced itself
                self.feed.publish_change("incident", action, incident)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await conn.close()
            except _FAILURES:
                conn.terminate()
