"""Incidents opened from enforced blocks: grouped, exactly once with the audit row, durable."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.audit import AuditRecord, AuditWriter
from proxy.audit.checkpoint import CheckpointSigner, trusted_keys
from proxy.audit.settings import EvidenceSettings
from proxy.evidence import verify_database
from proxy.incidents import BlockIncidents, IncidentSettings
from proxy.metrics import Metrics
from tests.conftest import RunningWarden, Services, eventually
from tests.integration.test_audit_writer import audit_settings

RULES = """
rules:
  - id: models.allowlist
    description: echo models only
    phase: access
    when: {model_not_in: ["echo-*", "shadow-*"]}
    action: block
    severity: high
  - id: params.n
    description: at most two completions
    phase: access
    when: {n: {gt: 2}}
    action: block
    severity: low
  - id: models.shadow
    description: what a stricter list would block
    phase: access
    when: {model_in: ["shadow-*"]}
    action: block
    severity: critical
    mode: monitor
"""
INCIDENTS_SQL = "SELECT * FROM incidents ORDER BY id"


async def audit_rows(db: asyncpg.Pool, count: int) -> list[asyncpg.Record]:
    async def enough() -> list[asyncpg.Record] | None:
        rows = await db.fetch("SELECT * FROM audit_events")
        return list(rows) if len(rows) >= count else None

    rows: list[asyncpg.Record] = await eventually(enough)
    return rows


@pytest.fixture
async def governed(start_warden: Callable[..., Any], policy_dir: Path) -> RunningWarden:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))
    warden: RunningWarden = await start_warden()
    return warden


async def chat(warden: RunningWarden, key: str, model: str, **extra: Any) -> tuple[int, str]:
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], **extra},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        return r.status, r.headers["x-request-id"]


async def test_blocks_open_one_incident_per_tenant_and_rule(governed: RunningWarden, db):
    acme, globex = await governed.create_key("acme"), await governed.create_key("globex")
    blocked: list[str] = []
    async with openai.AsyncOpenAI(
        base_url=f"{governed.proxy_url}/v1", api_key=acme, max_retries=0
    ) as client:
        for _ in range(3):
            with pytest.raises(openai.PermissionDeniedError) as denied:
                await client.chat.completions.create(
                    model="gpt-5", messages=[{"role": "user", "content": "hi"}]
                )
            blocked.append(denied.value.response.headers["x-request-id"])
    status, globex_block = await chat(governed, globex, "gpt-5")
    assert status == 403
    # Not incidents: a block below the severity threshold, a monitor-mode match, an allow.
    assert (await chat(governed, acme, "echo-1", n=3))[0] == 403
    assert (await chat(governed, acme, "shadow-1"))[0] == 200
    assert (await chat(governed, acme, "echo-1"))[0] == 200

    rows = await audit_rows(db, 7)
    by_id = {r["request_id"]: r for r in rows}
    assert by_id[blocked[0]]["winning_rule"] == "models.allowlist"
    assert by_id[blocked[0]]["severity"] == "high"
    incidents = await db.fetch(INCIDENTS_SQL)
    assert sorted((i["tenant"], i["rule_id"], i["count"]) for i in incidents) == [
        ("acme", "models.allowlist", 3),
        ("globex", "models.allowlist", 1),
    ]
    acme_incident = next(i for i in incidents if i["tenant"] == "acme")
    assert sorted(acme_incident["request_ids"]) == sorted(blocked)
    assert acme_incident["source"] == "auto" and acme_incident["status"] == "open"
    assert acme_incident["severity"] == "high"
    assert acme_incident["first_seen"] == min(by_id[r]["event_time"] for r in blocked)
    assert acme_incident["last_seen"] == max(by_id[r]["event_time"] for r in blocked)
    globex_incident = next(i for i in incidents if i["tenant"] == "globex")
    assert list(globex_incident["request_ids"]) == [globex_block]

    async with governed.http.get(f"{governed.admin_url}/metrics") as r:
        metrics = await r.text()
    assert 'warden_incidents_opened_total{severity="high",source="auto"} 2.0' in metrics


async def test_a_resolved_incident_is_not_reopened_by_new_blocks(governed: RunningWarden, db):
    key = await governed.create_key("acme")
    assert (await chat(governed, key, "gpt-5"))[0] == 403
    first = await eventually(lambda: db.fetchrow(INCIDENTS_SQL))
    async with governed.http.patch(
        f"{governed.admin_url}/admin/incidents/{first['id']}",
        json={"status": "resolved"},
        headers=governed.admin_headers(),
    ) as r:
        assert r.status == 200
    assert (await chat(governed, key, "gpt-5"))[0] == 403
    incidents = await eventually(lambda: _if_count(db.fetch(INCIDENTS_SQL), 2), timeout=10.0)
    assert [i["status"] for i in incidents] == ["resolved", "open"]
    assert [i["count"] for i in incidents] == [1, 1]


async def _if_count(rows: Awaitable[list[asyncpg.Record]], n: int) -> list[asyncpg.Record] | None:
    found = await rows
    return list(found) if len(found) >= n else None


def block(n: int, at: datetime, **changes: Any) -> AuditRecord:
    base = AuditRecord(
        request_id=f"req-{n:06d}",
        event_time=at,
        decision="block",
        status=403,
        latency_ms=1.0,
        tenant="acme",
        route="/v1",
        model="gpt-5",
        rule_ids=("secrets.block",),
        winning_rule="secrets.block",
        severity="critical",
    )
    return replace(base, **changes)


HOOK = BlockIncidents(
    IncidentSettings(min_severity="high", group_window_seconds=600, max_request_ids=5)
)


async def test_replayed_rows_do_not_count_twice(services: Services, db, tmp_path):
    """A crash after commit leaves the rows in the journal too: the replay skips them, and
    the incident, grown in the same transaction, is not grown again."""
    settings = audit_settings(tmp_path)
    now = datetime.now(UTC)
    crashed = AuditWriter(settings, services.database_url, hook=HOOK)
    await crashed.start()
    for n in range(8):
        crashed.submit(block(n, now + timedelta(milliseconds=n)))
    await eventually(lambda: crashed.rows_written == 8)
    await crashed.stop(flush=False)
    async with AuditWriter(settings, services.database_url, hook=HOOK) as restarted:
        await eventually(lambda: restarted.duplicates_skipped == 8)
        restarted.submit(block(8, now + timedelta(milliseconds=8)))
        await eventually(lambda: restarted.rows_written == 1)
    (incident,) = await db.fetch(INCIDENTS_SQL)
    assert incident["count"] == 9
    assert list(incident["request_ids"]) == [f"req-{n:06d}" for n in range(5)], "bounded"


async def test_concurrent_writers_share_one_incident(services: Services, db, tmp_path):
    now = datetime.now(UTC)
    settings = audit_settings(tmp_path)
    async with (
        AuditWriter(settings, services.database_url, hook=HOOK) as one,
        AuditWriter(settings, services.database_url, hook=HOOK) as two,
    ):
        for n in range(200):
            (one, two)[n % 2].submit(block(n, now + timedelta(milliseconds=n)))
            if n % 20 == 0:
                await asyncio.sleep(0.01)
        await eventually(lambda: one.rows_written + two.rows_written == 200)
    (incident,) = await db.fetch(INCIDENTS_SQL)
    assert incident["count"] == 200


async def test_a_quiet_spell_longer_than_the_window_opens_a_new_incident(
    services: Services, db, tmp_path
):
    start = datetime.now(UTC) - timedelta(hours=3)
    times = [start, start + timedelta(minutes=5), start + timedelta(minutes=30)]
    async with AuditWriter(audit_settings(tmp_path), services.database_url, hook=HOOK) as w:
        # One batch spanning the gap, as a journal replayed after an outage would be.
        for n, at in enumerate(times):
            w.submit(block(n, at))
        w.submit(block(3, start + timedelta(minutes=31), severity="high", tenant="globex"))
        await eventually(lambda: w.rows_written == 4)
        # A later batch joins the incident whose window it falls in.
        w.submit(block(4, start + timedelta(minutes=38)))
        await eventually(lambda: w.rows_written == 5)
    incidents = await db.fetch(INCIDENTS_SQL)
    summary = sorted((i["tenant"], i["first_seen"], i["last_seen"], i["count"]) for i in incidents)
    assert summary == [
        ("acme", times[0], times[1], 2),
        ("acme", times[2], start + timedelta(minutes=38), 2),
        ("globex", start + timedelta(minutes=31), start + timedelta(minutes=31), 1),
    ]


async def test_blocks_below_the_threshold_or_without_a_rule_open_nothing(
    services: Services, db, tmp_path
):
    now = datetime.now(UTC)
    async with AuditWriter(audit_settings(tmp_path), services.database_url, hook=HOOK) as w:
        w.submit(block(0, now, severity="medium"))
        w.submit(block(1, now, winning_rule=None, severity=None, rule_ids=()))
        w.submit(block(2, now, decision="allow", status=200))
        await eventually(lambda: w.rows_written == 3)
    assert await db.fetch(INCIDENTS_SQL) == []


async def test_an_incident_postgres_refuses_costs_no_audit_row(services: Services, db, tmp_path):
    """The hook runs in a savepoint: if its insert is refused, the batch still commits."""
    metrics = Metrics()
    hook = BlockIncidents(IncidentSettings(), metrics)
    now = datetime.now(UTC)
    await db.execute(
        "ALTER TABLE incidents ADD CONSTRAINT test_refuses_tenant CHECK (tenant <> 'refused')"
    )
    try:
        async with AuditWriter(audit_settings(tmp_path), services.database_url, hook=hook) as w:
            w.submit(block(0, now, tenant="refused"))
            w.submit(block(1, now))
            await eventually(lambda: w.rows_written == 2)
            assert w.rows_rejected == 0 and w.write_failures == 0
    finally:
        await db.execute("ALTER TABLE incidents DROP CONSTRAINT test_refuses_tenant")
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 2
    assert await db.fetch(INCIDENTS_SQL) == [], "the batch's incidents roll back together"
    assert metrics.registry.get_sample_value("warden_incident_errors_total") == 1


async def test_signed_chains_with_blocks_verify_and_open_incidents(
    services: Services, db, tmp_path
):
    """The hook and the checkpoints share the batch's transaction; the rows that carry a
    winning rule and severity hash and verify like any other, signatures included."""
    key = Ed25519PrivateKey.generate()
    evidence = EvidenceSettings(checkpoint_every_rows=5, checkpoint_interval_seconds=0.05)
    settings = audit_settings(tmp_path, evidence=evidence)
    now = datetime.now(UTC)
    signer = CheckpointSigner(key)
    async with AuditWriter(settings, services.database_url, hook=HOOK, signer=signer) as w:
        for n in range(12):
            w.submit(block(n, now + timedelta(milliseconds=n)) if n % 3 else allowed(n, now))
        await eventually(lambda: w.rows_written == 12 and w.checkpoints_written >= 2)
    (incident,) = await db.fetch(INCIDENTS_SQL)
    assert incident["count"] == 8 and incident["severity"] == "critical"
    stored = await db.fetch("SELECT winning_rule, severity FROM audit_events ORDER BY seq")
    assert [(r["winning_rule"], r["severity"]) for r in stored][:2] == [
        (None, None), ("secrets.block", "critical"),
    ]  # fmt: skip
    async with db.acquire() as conn:
        report = await verify_database(conn, trusted=trusted_keys([key.public_key()]))
    assert report.ok, report.as_json()
    (chain,) = report.chains
    assert chain.rows == 12 and chain.checkpoints >= 2 and chain.last_signed_seq == 12


def allowed(n: int, at: datetime) -> AuditRecord:
    return replace(
        block(n, at + timedelta(milliseconds=n)),
        decision="allow",
        status=200,
        rule_ids=(),
        winning_rule=None,
        severity=None,
    )
