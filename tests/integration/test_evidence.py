"""Signed checkpoints and GET /admin/audit/verify against rows Warden wrote itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.audit.chained_row import hash_row
from proxy.audit.checkpoint import CheckpointSigner
from proxy.audit.read_back import canonical_row_from_db
from proxy.errors import StartupError
from proxy.evidence.keyfile import create_key_file
from proxy.server import WardenServer
from tests.conftest import RunningWarden

CHECKPOINT_EVERY = 5


def with_key(key_file: Path, **evidence: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["audit"]["evidence"] = {
            "signing_key_file": str(key_file),
            "checkpoint_every_rows": CHECKPOINT_EVERY,
            "checkpoint_interval_seconds": 0.3,
            **evidence,
        }

    return edit


async def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


async def serve_requests(warden: RunningWarden, count: int) -> list[str]:
    key = await warden.create_key("acme")
    ids = []
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        for n in range(count):
            reply = await client.chat.completions.with_raw_response.create(
                model="echo-1", messages=[{"role": "user", "content": f"hello {n}"}]
            )
            ids.append(reply.headers["x-request-id"])
    return ids


async def signed_up_to(db: asyncpg.Pool, seq: int) -> bool:
    return bool(await db.fetchval("SELECT max(seq) >= $1 FROM audit_checkpoints", seq))


async def verify(warden: RunningWarden, **query: str) -> tuple[int, dict[str, Any]]:
    async with warden.http.get(
        f"{warden.admin_url}/admin/audit/verify", params=query, headers=warden.admin_headers()
    ) as r:
        return r.status, await r.json()


@pytest.fixture
async def signed(start_warden: Callable[..., Any], tmp_path: Path, db: asyncpg.Pool):
    """Warden with a signing key, after 12 requests, every row stored and signed."""
    create_key_file(tmp_path / "evidence.key")
    warden: RunningWarden = await start_warden(with_key(tmp_path / "evidence.key"))
    ids = await serve_requests(warden, 12)
    await wait_for(lambda: signed_up_to(db, 12))
    return warden, ids


async def test_checkpoints_are_signed_and_the_chain_verifies(signed, db: asyncpg.Pool):
    warden, ids = signed
    checkpoints = await db.fetch("SELECT * FROM audit_checkpoints ORDER BY seq")
    assert len(checkpoints) >= 12 // CHECKPOINT_EVERY
    assert all(
        len(c["signature"]) == 64 and c["key_id"].startswith("ed25519:") for c in checkpoints
    )
    status, report = await verify(warden)
    assert status == 200 and report["ok"] is True, report
    (chain,) = report["chains"]
    assert chain["rows"] == 12 and chain["start"] == "genesis"
    assert chain["last_signed_seq"] == 12 and chain["unsigned_rows"] == 0
    assert report["trusted_keys"] == [checkpoints[0]["key_id"]]
    async with warden.http.get(f"{warden.admin_url}/metrics") as r:
        metrics = await r.text()
    written = next(line for line in metrics.splitlines() if line.startswith("warden_audit_check"))
    assert float(written.split()[-1]) == len(checkpoints)


async def test_verification_finds_a_row_edited_in_sql(signed, db: asyncpg.Pool):
    warden, _ = signed
    await db.execute("UPDATE audit_events SET model = 'gpt-5' WHERE seq = 4")
    status, report = await verify(warden)
    assert status == 200 and report["ok"] is False
    (broken,) = report["broken"]
    assert broken["seq"] == 4 and "row_hash" in broken["reason"]


async def test_verification_finds_a_deleted_row(signed, db: asyncpg.Pool):
    warden, _ = signed
    await db.execute("DELETE FROM audit_events WHERE seq = 7")
    _, report = await verify(warden)
    (broken,) = report["broken"]
    assert broken["seq"] == 8 and "rows 7..7 are missing" in broken["reason"]


async def test_verification_finds_a_rewritten_chain(signed, db: asyncpg.Pool):
    """Whoever edits a row and recomputes every later hash still cannot sign."""
    warden, _ = signed
    rows = await db.fetch("SELECT * FROM audit_events ORDER BY seq")
    prev: bytes | None = None
    async with db.acquire() as conn, conn.transaction():
        for record in rows:
            row = canonical_row_from_db(record)
            if record["seq"] == 3:
                row["decision"] = "block"
            if prev is not None:
                row["prev_hash"] = prev.hex()
            prev = hash_row(row)
            await conn.execute(
                "UPDATE audit_events SET decision = $1, prev_hash = $2, row_hash = $3 "
                "WHERE writer_id = $4 AND seq = $5",
                row["decision"],
                bytes.fromhex(row["prev_hash"]),
                prev,
                record["writer_id"],
                record["seq"],
            )
    _, report = await verify(warden)
    (broken,) = report["broken"]
    assert "checkpoint does not match" in broken["reason"]
    first_checkpoint = await db.fetchval("SELECT min(seq) FROM audit_checkpoints WHERE seq >= 3")
    assert broken["seq"] == first_checkpoint


async def test_verification_finds_a_forged_checkpoint(signed, db: asyncpg.Pool):
    warden, _ = signed
    seq = await db.fetchval("SELECT max(seq) FROM audit_checkpoints")
    await db.execute(
        "UPDATE audit_checkpoints SET signed_at = signed_at + interval '1 second' WHERE seq = $1",
        seq,
    )
    _, report = await verify(warden)
    (broken,) = report["broken"]
    assert (broken["seq"], broken["reason"]) == (seq, "checkpoint signature does not verify")
    # A checkpoint signed with a key of the forger's own is refused by its key id.
    await db.execute("DELETE FROM audit_checkpoints WHERE seq = $1", seq)
    row = await db.fetchrow("SELECT writer_id, row_hash FROM audit_events WHERE seq = $1", seq)
    forged = CheckpointSigner(Ed25519PrivateKey.generate()).sign(
        row["writer_id"], seq, bytes(row["row_hash"]), (await db.fetchval("SELECT now()"))
    )
    await db.execute(
        "INSERT INTO audit_checkpoints VALUES ($1, $2, $3, $4, $5, $6)",
        forged.writer_id,
        forged.seq,
        forged.row_hash,
        forged.signed_at,
        forged.key_id,
        forged.signature,
    )
    _, report = await verify(warden)
    (broken,) = report["broken"]
    assert broken["seq"] == seq and "not a trusted key" in broken["reason"]


async def test_a_window_is_verified_by_seq_range(signed, db: asyncpg.Pool):
    warden, _ = signed
    times = await db.fetch("SELECT seq, event_time FROM audit_events ORDER BY seq")
    since, until = times[3]["event_time"], times[9]["event_time"]
    _, report = await verify(warden, since=since.isoformat(), until=until.isoformat())
    (chain,) = report["chains"]
    assert report["ok"] and (chain["first_seq"], chain["last_seq"]) == (4, 9)
    assert chain["start"] == "window"
    # Editing a row outside the window does not concern it; inside, it does.
    await db.execute("UPDATE audit_events SET status = 500 WHERE seq IN (2, 6)")
    _, report = await verify(warden, since=since.isoformat(), until=until.isoformat())
    assert [b["seq"] for b in report["broken"]] == [6]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-01-01T00:00:00"}, "until"),
        ({"since": "1h", "until": "2h"}, "until"),
    ],
)
async def test_bad_windows_name_the_parameter(warden: RunningWarden, query, field):
    status, body = await verify(warden, **query)
    assert status == 400 and body["error"]["param"] == field


async def test_without_a_key_rows_are_chained_and_no_checkpoint_is_signed(
    warden: RunningWarden, db: asyncpg.Pool, caplog: pytest.LogCaptureFixture
):
    await serve_requests(warden, 3)
    await wait_for(lambda: db.fetchval("SELECT count(*) = 3 FROM audit_events"))
    status, report = await verify(warden)
    assert status == 200 and report["ok"] and report["checkpoints"] == 0
    assert report["chains"][0]["unsigned_rows"] == 3
    assert await db.fetchval("SELECT count(*) FROM audit_checkpoints") == 0
    await warden.server.stop()
    logged = caplog.get_records("setup") + caplog.records  # the writer started in setup
    messages = [r.getMessage() for r in logged if "no evidence signing key" in r.getMessage()]
    assert len(messages) == 1, "said once, when the writer started"


async def test_a_missing_key_file_stops_the_start(make_settings: Callable[..., Any], tmp_path):
    with pytest.raises(StartupError, match="evidence-init"):
        WardenServer(make_settings(with_key(tmp_path / "absent.key")))
    (tmp_path / "garbage.key").write_text("not a key")
    with pytest.raises(StartupError, match="signing_key_file"):
        WardenServer(make_settings(with_key(tmp_path / "garbage.key")))
