"""AuditWriter against real Postgres: order, exactly once, outages, crashes, tamper evidence."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from proxy.audit import AuditRecord, AuditSettings, AuditWriter
from proxy.audit.chained_row import MAX_ID, chained_row, hash_row
from proxy.devstack import EmbeddedPostgres
from proxy.evidence import verify, verify_database
from tests.conftest import Services

# The proof stops Postgres for 30 s; the default run keeps the suite fast.
OUTAGE_SECONDS = float(os.environ.get("WARDEN_AUDIT_OUTAGE_SECONDS", "3"))
ROWS_PER_SECOND = 50
CHAIN_SQL = "SELECT * FROM audit_events WHERE writer_id = $1 ORDER BY seq"


def record(n: int, **changes: Any) -> AuditRecord:
    base = AuditRecord(
        request_id=f"req-{n:06d}",
        event_time=datetime.now(UTC),
        decision="allow",
        status=200,
        latency_ms=12.5,
        tenant="acme",
        key_id="k1",
        route="/v1",
        upstream="openai",
        format="openai",
        model="gpt-4o-mini",
        rule_ids=("pii.block",),
        finding_counts={"pii.email": 2, "secret.aws": 1},
        risk_score=0.42,
        risk_label="suspicious",
        upstream_status=200,
        request_bytes=321,
        response_bytes=654,
        prompt_tokens=10,
        completion_tokens=20,
        upstream_ms=10.0,
        overhead_ms=0.5,
        request_sha256=bytes(range(32)),
        policy_version="ab" * 32,
        session_id="s-1",
        data_sources=("crm",),
    )
    return replace(base, **changes)


async def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await _call(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def _call(check: Callable[[], Any]) -> Any:
    result = check()
    return await result if asyncio.iscoroutine(result) else result


def audit_settings(tmp_path: Path, **changes: Any) -> AuditSettings:
    base = AuditSettings(
        spool_dir=str(tmp_path / "spool"),
        batch_size=50,
        flush_interval_seconds=0.02,
        connect_timeout_seconds=1.0,
        retry_max_seconds=0.3,
    )
    return replace(base, **changes)


async def stored_chain(pool: asyncpg.Pool, writer_id: str) -> list[asyncpg.Record]:
    return list(await pool.fetch(CHAIN_SQL, writer_id))


def assert_exactly_once_in_order(rows: list[asyncpg.Record], submitted: list[str]) -> None:
    assert [r["request_id"] for r in rows] == submitted  # every row once, in submit order
    assert [r["seq"] for r in rows] == list(range(1, len(submitted) + 1))
    assert verify(rows) is None


@pytest.fixture
async def audit_db(services: Services) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
    await pool.execute("TRUNCATE audit_events")
    try:
        yield pool
    finally:
        await pool.close()


async def test_rows_arrive_once_in_chain_order(services: Services, audit_db, tmp_path):
    submitted = [f"req-{n:06d}" for n in range(120)]
    async with AuditWriter(audit_settings(tmp_path), services.database_url) as writer:
        for n in range(120):
            assert writer.submit(record(n)) is True
        await wait_until(lambda: writer.rows_written == 120)
        assert writer.spooled_rows == 0 and writer.queue_depth == 0
        assert writer.last_write_seconds > 0
    rows = await stored_chain(audit_db, writer.writer_id)
    assert_exactly_once_in_order(rows, submitted)
    first = rows[0]
    assert first["finding_counts"] == '{"pii.email": 2, "secret.aws": 1}'
    assert first["rule_ids"] == ["pii.block"] and first["prev_hash"] == bytes(32)


async def test_shutdown_flushes_what_is_queued(services: Services, audit_db, tmp_path):
    settings = audit_settings(tmp_path, flush_interval_seconds=60, batch_size=1000)
    async with AuditWriter(settings, services.database_url) as writer:
        for n in range(25):
            writer.submit(record(n))
        assert writer.queue_depth == 25
    assert await audit_db.fetchval("SELECT count(*) FROM audit_events") == 25


async def test_a_steady_trickle_goes_out_in_batches(services: Services, audit_db, tmp_path):
    # One caller: a row every 5 ms, each arriving while the last batch is still being written.
    # Every row must wait for its batch's flush interval, not go out alone.
    settings = audit_settings(tmp_path, flush_interval_seconds=0.25, batch_size=1000)
    submitted = [f"req-{n:06d}" for n in range(100)]
    async with AuditWriter(settings, services.database_url) as writer:
        for n in range(100):
            writer.submit(record(n))
            await asyncio.sleep(0.005)
        await wait_until(lambda: writer.rows_written == 100)
        batches = len(writer.recent_writes)
    # 100 rows over >= 0.5 s at a 0.25 s interval: a few batches (scheduling may add one).
    assert 2 <= batches <= 6, batches
    assert_exactly_once_in_order(await stored_chain(audit_db, writer.writer_id), submitted)


async def test_chain_continues_across_restarts(services: Services, audit_db, tmp_path):
    settings = audit_settings(tmp_path)
    async with AuditWriter(settings, services.database_url) as first:
        for n in range(10):
            first.submit(record(n))
    async with AuditWriter(settings, services.database_url) as second:
        assert second.writer_id == first.writer_id  # persisted in the spool slot
        for n in range(10, 20):
            second.submit(record(n))
    # A clean shutdown leaves nothing to replay: the journal was compacted to its head.
    assert second.duplicates_skipped == 0
    rows = await stored_chain(audit_db, first.writer_id)
    assert_exactly_once_in_order(rows, [f"req-{n:06d}" for n in range(20)])


async def test_two_writers_on_one_spool_dir_get_their_own_chains(
    services: Services, audit_db, tmp_path
):
    settings = audit_settings(tmp_path)
    async with (
        AuditWriter(settings, services.database_url) as one,
        AuditWriter(settings, services.database_url) as two,
    ):
        assert one.writer_id != two.writer_id
        for n in range(10):
            one.submit(record(n))
            two.submit(record(100 + n))
    for writer in (one, two):
        assert verify(await stored_chain(audit_db, writer.writer_id)) is None


async def test_replay_after_crash_between_commit_and_journal_cleanup(
    services: Services, audit_db, tmp_path
):
    """The journal still holds rows Postgres committed: a restart must not store them twice."""
    settings = audit_settings(tmp_path)
    crashed = AuditWriter(settings, services.database_url)
    await crashed.start()
    for n in range(30):
        crashed.submit(record(n))
    await wait_until(lambda: crashed.rows_written == 30)
    await crashed.stop(flush=False)  # like a kill: the task is cancelled, nothing more sent
    async with AuditWriter(settings, services.database_url) as restarted:
        await wait_until(lambda: restarted.duplicates_skipped == 30)
        restarted.submit(record(30))
    rows = await stored_chain(audit_db, crashed.writer_id)
    assert_exactly_once_in_order(rows, [f"req-{n:06d}" for n in range(31)])


async def _locked_audit_table(pool: asyncpg.Pool) -> tuple[Any, Any]:
    """Hold a lock that stalls every write to audit_events: Postgres "slow" on demand."""
    conn = await pool.acquire()
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
    return conn, tx


async def _insert_waiting(pool: asyncpg.Pool) -> bool:
    # The writer's COPY into audit_events (or INSERT from its staging table), stalled.
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND query LIKE '%audit_events%'"
    )
    return bool(waiting)


async def test_writer_cancelled_mid_batch_loses_and_duplicates_nothing(
    services: Services, audit_db, tmp_path
):
    settings = audit_settings(tmp_path, write_timeout_seconds=60)
    crashed = AuditWriter(settings, services.database_url)
    await crashed.start()
    conn, tx = await _locked_audit_table(audit_db)
    try:
        for n in range(40):
            crashed.submit(record(n))
        await wait_until(lambda: _insert_waiting(audit_db))
        await crashed.stop(flush=False)  # cancelled inside the batch's transaction
    finally:
        await tx.rollback()
        await audit_db.release(conn)
    assert await audit_db.fetchval("SELECT count(*) FROM audit_events") == 0
    async with AuditWriter(settings, services.database_url) as restarted:
        await wait_until(lambda: restarted.spooled_rows == 0)
    rows = await stored_chain(audit_db, crashed.writer_id)
    assert_exactly_once_in_order(rows, [f"req-{n:06d}" for n in range(40)])


async def test_full_queue_spools_to_the_journal_in_order(services: Services, audit_db, tmp_path):
    settings = audit_settings(tmp_path, queue_size=5, write_timeout_seconds=60)
    async with AuditWriter(settings, services.database_url) as writer:
        conn, tx = await _locked_audit_table(audit_db)
        try:
            writer.submit(record(0))
            await wait_until(lambda: _insert_waiting(audit_db))
            for n in range(1, 100):  # no await: the writer task cannot run meanwhile
                assert writer.submit(record(n)) is True
                assert writer.queue_depth <= 5
            assert writer.spooled_rows >= 95
        finally:
            await tx.rollback()
            await audit_db.release(conn)
        await wait_until(lambda: writer.spooled_rows == 0 and writer.queue_depth == 0)
    rows = await stored_chain(audit_db, writer.writer_id)
    assert_exactly_once_in_order(rows, [f"req-{n:06d}" for n in range(100)])


async def test_backlog_spans_rotated_segments(services: Services, audit_db, tmp_path):
    settings = audit_settings(
        tmp_path, journal_segment_bytes=4096, queue_size=10, write_timeout_seconds=60
    )
    slot = tmp_path / "spool" / "writer-0"
    async with AuditWriter(settings, services.database_url) as writer:
        conn, tx = await _locked_audit_table(audit_db)
        try:
            for n in range(200):  # the first batch waits on the lock; the rest overflow
                writer.submit(record(n))
            assert len(list(slot.glob("*.jsonl"))) > 3
        finally:
            await tx.rollback()
            await audit_db.release(conn)
        await wait_until(lambda: writer.spooled_rows == 0 and writer.queue_depth == 0)
    assert len(list(slot.glob("*.jsonl"))) == 1  # sent segments are deleted
    rows = await stored_chain(audit_db, writer.writer_id)
    assert_exactly_once_in_order(rows, [f"req-{n:06d}" for n in range(200)])


async def test_postgres_outage_under_steady_load(own_db: EmbeddedPostgres, tmp_path):
    """The issue's proof: Postgres stops under load; afterwards every request has one row."""
    submitted: list[str] = []
    settings = audit_settings(tmp_path)
    async with AuditWriter(settings, own_db.url) as writer:

        async def load(seconds: float) -> None:
            for _ in range(int(seconds * ROWS_PER_SECOND)):
                submitted.append(f"req-{len(submitted):06d}")
                assert writer.submit(record(len(submitted) - 1)) is True
                await asyncio.sleep(1 / ROWS_PER_SECOND)

        await load(1.0)
        outage = asyncio.create_task(load(OUTAGE_SECONDS + 2.0))
        await asyncio.to_thread(own_db.stop)
        await wait_until(lambda: writer.spooled_rows > 0)
        await asyncio.sleep(OUTAGE_SECONDS)
        assert writer.write_failures > 0
        await asyncio.to_thread(own_db.start)
        await outage
        await wait_until(lambda: writer.spooled_rows == 0 and writer.queue_depth == 0)
    conn = await asyncpg.connect(own_db.url)
    try:
        rows = list(await conn.fetch(CHAIN_SQL, writer.writer_id))
    finally:
        await conn.close()
    assert_exactly_once_in_order(rows, submitted)


async def test_fail_closed_reports_audit_down_and_keeps_rows(own_db: EmbeddedPostgres, tmp_path):
    settings = audit_settings(tmp_path, failure_mode="fail_closed")
    async with AuditWriter(settings, own_db.url) as writer:
        assert writer.accepting and writer.submit(record(0)) is True
        await wait_until(lambda: writer.rows_written == 1)
        await asyncio.to_thread(own_db.stop)
        n = 1

        def submit_next() -> bool:
            nonlocal n
            n += 1
            return writer.submit(record(n - 1)) is False

        # The pipeline checks `accepting` before admitting a request: it turns False.
        await wait_until(submit_next)
        assert not writer.accepting
        await asyncio.to_thread(own_db.start)
        await wait_until(lambda: writer.accepting and writer.spooled_rows == 0)
    conn = await asyncpg.connect(own_db.url)
    try:
        rows = list(await conn.fetch(CHAIN_SQL, writer.writer_id))
    finally:
        await conn.close()
    # Rows submitted while audit was down were refused work, yet still recorded.
    assert_exactly_once_in_order(rows, [f"req-{i:06d}" for i in range(n)])


async def test_verification_finds_an_edited_row(services: Services, audit_db, tmp_path):
    async with AuditWriter(audit_settings(tmp_path), services.database_url) as writer:
        for n in range(20):
            writer.submit(record(n))
    await audit_db.execute(
        "UPDATE audit_events SET decision = 'block' WHERE writer_id = $1 AND seq = 7",
        writer.writer_id,
    )
    link = verify(await stored_chain(audit_db, writer.writer_id))
    assert link is not None and link.seq == 7 and "row_hash" in link.reason
    async with audit_db.acquire() as conn:
        report = await verify_database(conn)
    assert [(b.writer_id, b.seq) for b in report.broken] == [(writer.writer_id, 7)]


async def test_verification_finds_a_deleted_row(services: Services, audit_db, tmp_path):
    async with AuditWriter(audit_settings(tmp_path), services.database_url) as writer:
        for n in range(10):
            writer.submit(record(n))
    await audit_db.execute("DELETE FROM audit_events WHERE seq = 4")
    link = verify(await stored_chain(audit_db, writer.writer_id))
    assert link is not None and link.seq == 5 and "missing" in link.reason


async def test_torn_journal_line_is_dropped_on_restart(services: Services, audit_db, tmp_path):
    settings = audit_settings(tmp_path)
    async with AuditWriter(settings, services.database_url) as writer:
        for n in range(5):
            writer.submit(record(n))
    (segment,) = (tmp_path / "spool" / "writer-0").glob("*.jsonl")
    with segment.open("ab") as out:
        out.write(b'{"seq": 6, "writer_id": "half a li')  # a crash in the middle of a write
    async with AuditWriter(settings, services.database_url) as restarted:
        restarted.submit(record(5))
    rows = await stored_chain(audit_db, writer.writer_id)
    assert_exactly_once_in_order(rows, [f"req-{n:06d}" for n in range(6)])


async def test_long_identifiers_are_clamped_not_refused(services: Services, audit_db, tmp_path):
    long = "x" * 10_000
    async with AuditWriter(audit_settings(tmp_path), services.database_url) as writer:
        writer.submit(record(0, model=long, rule_ids=(long,), finding_counts={long: 1}))
    row = await audit_db.fetchrow("SELECT model, rule_ids FROM audit_events")
    assert len(row["model"]) == MAX_ID and len(row["rule_ids"][0]) == MAX_ID
    with pytest.raises(asyncpg.CheckViolationError):
        await audit_db.execute("UPDATE audit_events SET model = $1", long)


# Columns that hold bounded identifiers, each with a CHECK naming it; nothing else is text.
TEXT_TYPES = ("text", "character varying", "character", "ARRAY", "jsonb", "json")


async def test_no_column_can_hold_free_text(audit_db):
    columns = await audit_db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'audit_events' ORDER BY ordinal_position"
    )
    checks = await audit_db.fetch(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = 'audit_events'::regclass AND contype = 'c'"
    )
    textual = [c["column_name"] for c in columns if c["data_type"] in TEXT_TYPES]
    assert {"request_id", "model", "rule_ids", "finding_counts", "data_sources"} <= set(textual)
    for column in textual:
        bounded = [
            c["def"]
            for c in checks
            if re.search(rf"\b{column}\b", c["def"])
            and ("length(" in c["def"] or "_bounded(" in c["def"])
        ]
        assert bounded, f"audit_events.{column} has no length bound"


async def test_a_row_postgres_refuses_is_set_aside_not_blocking(
    services: Services, audit_db, tmp_path
):
    """Defence in depth: were a row to slip past the clamps, the rest still flow.

    The bad row is one a previous process left in its journal (say, an older version
    without a clamp): the replay stores the rows around it and sets it aside.
    """
    settings = audit_settings(tmp_path)
    async with AuditWriter(settings, services.database_url) as writer:
        writer.submit(record(0))
    (segment,) = (tmp_path / "spool" / "writer-0").glob("*.jsonl")
    head = orjson.loads(segment.read_bytes().splitlines()[-1])
    bad = orjson.loads(chained_row(record(1), writer.writer_id, 2, bytes(32)).line)
    bad["prev_hash"], bad["model"] = head["head_hash"], "x" * 1000  # what a bug might do
    bad["row_hash"] = hash_row(bad).hex()
    with segment.open("ab") as out:
        out.write(orjson.dumps(bad) + b"\n")
    async with AuditWriter(settings, services.database_url) as restarted:
        restarted.submit(record(2))
        await wait_until(lambda: restarted.rows_rejected == 1)
    rows = await stored_chain(audit_db, writer.writer_id)
    assert [r["seq"] for r in rows] == [1, 3]
    link = verify(rows)
    assert link is not None and link.seq == 3 and "missing" in link.reason
    rejected = (tmp_path / "spool" / "writer-0" / "rejected.jsonl").read_bytes()
    assert b'"seq":2' in rejected
