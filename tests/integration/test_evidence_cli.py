"""Evidence by hand: `warden keys evidence-init`, `warden audit export|verify|prune`."""

from __future__ import annotations

import asyncio
import hashlib
import stat
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proxy.audit import AuditRecord, AuditSettings, AuditWriter
from proxy.audit.checkpoint import CheckpointSigner, encode_public_key, trusted_keys
from proxy.audit.settings import EvidenceSettings
from proxy.evidence import verify_database
from proxy.evidence.keyfile import create_key_file, parse_private_key
from proxy.evidence.retention import month_start
from tests.conftest import RunningWarden, Services, base_config
from tests.integration.test_cli import run_warden, write_config

EVERY = 10


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "evidence.key"
    create_key_file(path)
    return path


@pytest.fixture
def signer(key_file: Path) -> CheckpointSigner:
    return CheckpointSigner(parse_private_key(key_file.read_bytes()))


@pytest.fixture
def config(services: Services, tmp_path: Path, key_file: Path) -> Path:
    raw = base_config("http://127.0.0.1:9", services.database_url, services.redis_url)
    raw["audit"] = {"evidence": {"signing_key_file": str(key_file)}}
    return write_config(tmp_path / "config.yaml", raw)


async def write_rows(
    url: str, tmp_path: Path, signer: CheckpointSigner, times: list[datetime]
) -> str:
    """Rows through a real AuditWriter, signed every EVERY rows and at shutdown."""
    settings = AuditSettings(
        spool_dir=str(tmp_path / "spool"),
        flush_interval_seconds=0.01,
        batch_size=5,
        evidence=EvidenceSettings(checkpoint_every_rows=EVERY),
    )
    async with AuditWriter(settings, url, signer=signer) as writer:
        for n, when in enumerate(times):
            writer.submit(AuditRecord(f"req-{n}", when, "allow", 200, 1.0, tenant="acme"))
            await asyncio.sleep(0.002)
    return writer.writer_id


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(run_warden, *args)


def recent(count: int) -> list[datetime]:
    start = datetime.now(UTC) - timedelta(minutes=10)
    return [start + timedelta(seconds=n) for n in range(count)]


async def test_evidence_init_writes_a_key_only_its_owner_reads(tmp_path: Path):
    path = tmp_path / "state" / "evidence.key"
    made = await cli("keys", "evidence-init", "--out", str(path))
    assert made.returncode == 0, made.stderr
    printed = orjson.loads(made.stdout)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signer = CheckpointSigner(parse_private_key(path.read_bytes()))
    assert printed["public_key"] == encode_public_key(signer.public_key)
    assert printed["key_id"] == signer.key_id and "signing_key_file" in made.stderr
    again = await cli("keys", "evidence-init", "--out", str(path))
    assert again.returncode == 1 and "never overwritten" in again.stderr
    nowhere = await cli("keys", "evidence-init", "--config", str(tmp_path / "absent.yaml"))
    assert nowhere.returncode == 2 and "--out" in nowhere.stderr


def rewrite_member(bundle: Path, name: str, edit: Callable[[bytes], bytes]) -> None:
    """A careful forger: change a member and put its new hash in the manifest."""
    with zipfile.ZipFile(bundle) as old:
        members = {info.filename: old.read(info) for info in old.infolist()}
    members[name] = edit(members[name])
    manifest = orjson.loads(members["manifest.json"])
    manifest["files"][name]["sha256"] = hashlib.sha256(members[name]).hexdigest()
    members["manifest.json"] = orjson.dumps(manifest)
    with zipfile.ZipFile(bundle, "w") as new:
        for member, data in members.items():
            new.writestr(member, data)


def edit_row(seq: int) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        lines = []
        for line in data.splitlines():
            row = orjson.loads(line)
            if row["seq"] == seq:
                row["status"] = 403
            lines.append(orjson.dumps(row, option=orjson.OPT_SORT_KEYS))
        return b"\n".join(lines) + b"\n"

    return edit


async def test_a_bundle_verifies_offline_and_tampering_shows(
    services: Services, db: asyncpg.Pool, tmp_path: Path, config: Path, signer: CheckpointSigner
):
    writer_id = await write_rows(services.database_url, tmp_path, signer, recent(25))
    bundle = tmp_path / "evidence.zip"
    exported = await cli("audit", "export", "--config", str(config), "-o", str(bundle))
    assert exported.returncode == 0, exported.stderr
    summary = orjson.loads(exported.stdout)
    assert (summary["writers"], summary["rows"]) == (1, 25)
    assert summary["checkpoints"] == 3  # rows 10 and 20, and the head at shutdown
    checkpoints = await db.fetch("SELECT seq FROM audit_checkpoints ORDER BY seq")
    assert [c["seq"] for c in checkpoints] == [10, 20, 25]
    public_key = encode_public_key(signer.public_key)

    verified = await cli("audit", "verify", str(bundle), "--public-key", public_key)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"writer {writer_id}: ok, seq 1..25" in verified.stdout
    assert "result: OK" in verified.stdout

    stranger = encode_public_key(CheckpointSigner(Ed25519PrivateKey.generate()).public_key)
    wrong_key = await cli("audit", "verify", str(bundle), "--public-key", stranger)
    assert wrong_key.returncode == 1 and "not a trusted key" in wrong_key.stdout

    rewrite_member(bundle, "rows.ndjson", edit_row(12))
    tampered = await cli("audit", "verify", str(bundle), "--public-key", public_key)
    assert tampered.returncode == 1
    assert f"writer {writer_id}: BROKEN at seq 12: row_hash does not match" in tampered.stdout
    assert "result: FAILED" in tampered.stdout

    bundle.write_bytes(b"not a zip")
    unreadable = await cli("audit", "verify", str(bundle))
    assert unreadable.returncode == 2 and "not a readable evidence bundle" in unreadable.stderr


async def test_a_window_is_exported_up_to_the_next_checkpoint(
    services: Services, db: asyncpg.Pool, tmp_path: Path, config: Path, signer: CheckpointSigner
):
    await write_rows(services.database_url, tmp_path, signer, recent(25))
    times = await db.fetch("SELECT seq, event_time FROM audit_events ORDER BY seq")
    since, until = times[4]["event_time"], times[13]["event_time"]  # seq 5..13
    bundle = tmp_path / "window.zip"
    exported = await cli(
        "audit", "export", "--config", str(config), "-o", str(bundle),
        "--since", since.isoformat(), "--until", until.isoformat(),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(bundle) as zf:
        (window,) = orjson.loads(zf.read("manifest.json"))["writers"]
        seqs = [orjson.loads(line)["seq"] for line in zf.read("rows.ndjson").splitlines()]
    assert (window["first_seq"], window["last_seq"], window["exported_last_seq"]) == (5, 13, 20)
    assert seqs == list(range(5, 21)), "the rows up to the checkpoint that signs them"
    verified = await cli(
        "audit", "verify", str(bundle), "--public-key", encode_public_key(signer.public_key)
    )
    assert verified.returncode == 0, verified.stdout
    assert "from window" in verified.stdout and "0 row(s) after the last one" in verified.stdout
    # Without the manifest's hash updated, an edit shows as a damaged member too.
    with zipfile.ZipFile(bundle) as old:
        members = {i.filename: old.read(i) for i in old.infolist()}
    members["rows.ndjson"] = edit_row(7)(members["rows.ndjson"])
    with zipfile.ZipFile(bundle, "w") as new:
        for name, data in members.items():
            new.writestr(name, data)
    report = await cli("audit", "verify", str(bundle), "--json")
    result = orjson.loads(report.stdout)
    assert report.returncode == 1 and result["keys_pinned"] is False
    assert result["problems"] == ["rows.ndjson: SHA-256 differs from the manifest"]
    assert [b["seq"] for b in result["broken"]] == [7]


def retention_timeline() -> tuple[datetime, list[datetime]]:
    """Rows in two months retention drops, rows after them, and one straggler: a request
    that arrived before the boundary but finished (was chained) after later ones."""
    boundary = month_start(datetime.now(UTC) - timedelta(days=90))
    old = [boundary - timedelta(days=40, minutes=n) for n in (3, 2, 1)]
    older = [boundary - timedelta(days=10, minutes=n) for n in (3, 2, 1)]
    kept = [boundary + timedelta(days=1, minutes=n) for n in range(3)]
    straggler = [boundary - timedelta(hours=1)]
    return boundary, old + older + kept + straggler + recent(3)


async def test_prune_drops_old_months_and_the_rest_still_verifies(
    services: Services, db: asyncpg.Pool, tmp_path: Path, config: Path, signer: CheckpointSigner
):
    boundary, times = retention_timeline()
    writer_id = await write_rows(services.database_url, tmp_path, signer, times)
    trusted = trusted_keys([Ed25519PublicKey.from_public_bytes(signer.public_key)])
    dry = await cli("audit", "prune", "--older-than", "90d", "--config", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert orjson.loads(dry.stdout)["rows_pruned"] == 7
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 13

    pruned = await cli("audit", "prune", "--older-than", "90d", "--config", str(config))
    assert pruned.returncode == 0, pruned.stderr
    result = orjson.loads(pruned.stdout)
    months = sorted({f"audit_events_{t:%Y_%m}" for t in times if t < boundary})
    assert result["partitions"] == months and result["rows_pruned"] == 7
    assert result["links_kept"] == 2  # seq 6 (the last dropped before the kept rows) and 10
    remaining = await db.fetch("SELECT seq FROM audit_events ORDER BY seq")
    assert [r["seq"] for r in remaining] == [7, 8, 9, 11, 12, 13]
    assert await db.fetchval("SELECT count(*) FROM audit_prunes") == 1
    assert await db.fetchval("SELECT min(seq) FROM audit_checkpoints") >= 6

    async with db.acquire() as conn:
        report = await verify_database(conn, trusted=trusted)
    (chain,) = report.chains
    assert report.ok, report.as_json()
    assert (chain.writer_id, chain.start, chain.first_seq, chain.rows) == (
        writer_id,
        "retention",
        6,
        6,
    )
    assert chain.last_signed_seq == 13

    bundle = tmp_path / "after-prune.zip"
    assert (
        await cli("audit", "export", "--config", str(config), "-o", str(bundle))
    ).returncode == 0
    verified = await cli(
        "audit", "verify", str(bundle), "--public-key", encode_public_key(signer.public_key)
    )
    assert verified.returncode == 0 and "from retention" in verified.stdout, verified.stdout

    # Deleting the oldest kept rows by hand is not retention: nothing explains the gap.
    await db.execute("DELETE FROM audit_events WHERE seq = 7")
    async with db.acquire() as conn:
        assert (await verify_database(conn, trusted=trusted)).broken[0].seq == 8


async def test_retention_runs_on_its_schedule(
    start_warden: Callable[..., Any], services: Services, db: asyncpg.Pool, tmp_path: Path,
    signer: CheckpointSigner, key_file: Path,
):  # fmt: skip
    _, times = retention_timeline()
    await write_rows(services.database_url, tmp_path, signer, times)

    def scheduled(raw: dict[str, Any]) -> None:
        raw["audit"]["retention"] = {"older_than_days": 90, "interval_hours": 0.001}
        raw["audit"]["evidence"] = {"signing_key_file": str(key_file)}

    warden: RunningWarden = await start_warden(scheduled)
    deadline = time.monotonic() + 30
    while not await db.fetchval("SELECT count(*) FROM audit_prunes"):
        assert time.monotonic() < deadline, "no prune within 30 s"
        await asyncio.sleep(0.2)
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 6
    async with warden.http.get(
        f"{warden.admin_url}/admin/audit/verify", headers=warden.admin_headers()
    ) as r:
        report = await r.json()
    assert report["ok"] and report["chains"][0]["start"] == "retention", report
