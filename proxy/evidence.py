"""Evidence: recompute the audit hash chains and report the first broken link."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxy.audit.record import COLUMNS, GENESIS_HASH, canonical_row_from_db, hash_row

_COLUMN_LIST = ", ".join(COLUMNS)
# The writers with rows in the window; the time bound keeps the scan on a few partitions.
WRITERS_SQL = "SELECT DISTINCT writer_id FROM audit_events WHERE event_time >= $1 ORDER BY 1"
# One writer's chain in order. seq increases with event_time per writer, so the time bound
# only decides where verification starts; the primary key index serves the order.
CHAIN_SQL = (
    f"SELECT {_COLUMN_LIST} FROM audit_events "
    "WHERE writer_id = $1 AND event_time >= $2 ORDER BY seq"
)
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Where a chain stops verifying, and why."""

    writer_id: str
    seq: int
    reason: str


def verify(
    rows: Iterable[Mapping[str, Any]],
    *,
    start_seq: int | None = 0,
    start_hash: bytes | None = GENESIS_HASH,
) -> BrokenLink | None:
    """Check one writer's rows, in seq order, as read from audit_events.

    With the defaults the chain must start at its genesis (seq 1, prev_hash zero); pass
    `start_seq=None, start_hash=None` to trust the first row's link (a window that starts
    mid-chain, before signed checkpoints anchor it). Returns None when every link holds.
    """
    expected_seq, expected_prev = start_seq, start_hash
    for db_row in rows:
        row = canonical_row_from_db(db_row)
        writer_id, seq = row["writer_id"], row["seq"]
        if expected_seq is not None and seq != expected_seq + 1:
            missing = f"rows {expected_seq + 1}..{seq - 1} are missing"
            return BrokenLink(writer_id, seq, missing if seq > expected_seq + 1 else "seq repeats")
        if expected_prev is not None and row["prev_hash"] != expected_prev.hex():
            return BrokenLink(writer_id, seq, "prev_hash does not match the previous row")
        if hash_row(row).hex() != row["row_hash"]:
            return BrokenLink(writer_id, seq, "row_hash does not match the row's fields")
        expected_seq, expected_prev = seq, bytes.fromhex(row["row_hash"])
    return None


async def verify_database(conn: Any, since: datetime | None = None) -> list[BrokenLink]:
    """Verify every writer's chain from `since` (all time by default) on one connection.

    Rows are streamed with a server-side cursor, so memory stays flat on large windows.
    """
    start = since or _EPOCH
    broken: list[BrokenLink] = []
    for record in await conn.fetch(WRITERS_SQL, start):
        async with conn.transaction():
            rows = conn.cursor(CHAIN_SQL, record["writer_id"], start, prefetch=1000)
            anchored = since is None
            link = await _verify_stream(rows, anchored)
        if link is not None:
            broken.append(link)
    return broken


async def _verify_stream(rows: Any, anchored: bool) -> BrokenLink | None:
    # verify() is synchronous; feed it in chunks so a chain never sits whole in memory.
    chunk: list[Mapping[str, Any]] = []
    state: tuple[int | None, bytes | None] = (0, GENESIS_HASH) if anchored else (None, None)
    async for row in rows:
        chunk.append(row)
        if len(chunk) >= 1000:
            link = verify(chunk, start_seq=state[0], start_hash=state[1])
            if link is not None:
                return link
            state = (chunk[-1]["seq"], bytes(chunk[-1]["row_hash"]))
            chunk = []
    return verify(chunk, start_seq=state[0], start_hash=state[1])
