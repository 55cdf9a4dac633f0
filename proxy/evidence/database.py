"""The chains as stored in Postgres: which rows a time window covers, read in order, verified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.audit.chained_row import COLUMNS
from proxy.audit.checkpoint import Checkpoint
from proxy.evidence.chain import ChainVerifier, Link, VerifyReport

_COLUMN_LIST = ", ".join(COLUMNS)
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_END_OF_TIME = datetime.fromisoformat("9999-12-31T00:00:00+00:00")
_MAX_SEQ = 2**63 - 1
FETCH_ROWS = 1000

# Each writer's first and last seq among rows that arrived in the window. Rows are chained in
# the order requests finish, not arrive, so a chain's times are only roughly ordered: the
# window is turned into a seq range once, and rows are then read by seq.
WINDOW_SQL = (
    "SELECT writer_id, min(seq) AS first_seq, max(seq) AS last_seq FROM audit_events "
    "WHERE event_time >= $1 AND event_time < $2 GROUP BY writer_id ORDER BY writer_id"
)
LAST_SEQ_SQL = "SELECT max(seq) FROM audit_events WHERE writer_id = $1"
# The primary key (writer_id, seq, event_time) serves this on every partition.
CHAIN_SQL = (
    f"SELECT {_COLUMN_LIST} FROM audit_events "
    "WHERE writer_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"
)
CHECKPOINTS_SQL = (
    "SELECT writer_id, seq, row_hash, signed_at, key_id, signature FROM audit_checkpoints "
    "WHERE writer_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"
)
LINKS_SQL = (
    "SELECT seq, prev_hash, row_hash FROM audit_pruned_links "
    "WHERE writer_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"
)


@dataclass(frozen=True, slots=True)
class ChainWindow:
    """One writer's rows to check: seq first..last, and how the range was cut."""

    writer_id: str
    first_seq: int
    last_seq: int
    mid_chain: bool  # cut by `since`: the first row may have predecessors outside
    to_the_end: bool  # not cut by `until`: runs to the chain's current end

    def as_json(self) -> dict[str, Any]:
        return {
            "writer_id": self.writer_id,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "mid_chain": self.mid_chain,
            "to_the_end": self.to_the_end,
        }


async def chain_windows(
    conn: Any, since: datetime | None, until: datetime | None
) -> list[ChainWindow]:
    windows = []
    for record in await conn.fetch(WINDOW_SQL, since or _EPOCH, until or _END_OF_TIME):
        last = record["last_seq"]
        if until is None:  # a request that arrived early may have finished last
            last = max(last, await conn.fetchval(LAST_SEQ_SQL, record["writer_id"]))
        windows.append(
            ChainWindow(
                record["writer_id"], record["first_seq"], last, since is not None, until is None
            )
        )
    return windows


async def checkpoints_of(
    conn: Any, window: ChainWindow, last: int | None = None
) -> list[Checkpoint]:
    """Checkpoints from just before the window to `last` (default: its end, or the chain's
    end when the window runs to it, so that one past the last row shows a cut-off end)."""
    if window.to_the_end:
        last = _MAX_SEQ
    elif last is None:
        last = window.last_seq
    records = await conn.fetch(CHECKPOINTS_SQL, window.writer_id, window.first_seq - 1, last)
    return [Checkpoint.from_db(r) for r in records]


async def links_of(conn: Any, window: ChainWindow, last: int | None = None) -> list[Link]:
    """Retention links from just before the window to `last` (default: its end)."""
    last = window.last_seq if last is None else last
    records = await conn.fetch(LINKS_SQL, window.writer_id, window.first_seq - 1, last)
    return [Link(r["seq"], bytes(r["prev_hash"]), bytes(r["row_hash"])) for r in records]


async def chain_rows(conn: Any, writer_id: str, first: int, last: int) -> AsyncIterator[list[Any]]:
    """Rows first..last in seq order, FETCH_ROWS at a time, from a server-side cursor.

    Must run inside a transaction (cursors live in one); memory stays flat however long.
    """
    cursor = await conn.cursor(CHAIN_SQL, writer_id, first, last)
    while True:
        chunk = await cursor.fetch(FETCH_ROWS)
        if not chunk:
            return
        yield chunk


def _feed(verifier: ChainVerifier, chunk: list[Any]) -> bool:
    return all(verifier.feed_db_row(record) for record in chunk)


async def verify_database(
    conn: Any,
    since: datetime | None = None,
    until: datetime | None = None,
    trusted: Mapping[str, Ed25519PublicKey] | None = None,
) -> VerifyReport:
    """Verify every writer's chain over the window (all time by default) on one connection.

    Hashing is CPU work: each chunk is checked in a thread, so that a long verification
    on the admin listener does not hold up the requests served by the same event loop.
    """
    report = VerifyReport()
    for window in await chain_windows(conn, since, until):
        verifier = ChainVerifier(
            window.writer_id,
            checkpoints={c.seq: c for c in await checkpoints_of(conn, window)},
            links=await links_of(conn, window),
            trusted=trusted,
            mid_chain=window.mid_chain,
            to_the_end=window.to_the_end,
        )
        async with conn.transaction(readonly=True):
            async for chunk in chain_rows(
                conn, window.writer_id, window.first_seq, window.last_seq
            ):
                if not await asyncio.to_thread(_feed, verifier, chunk):
                    break
        report.chains.append(verifier.finish())
    return report
