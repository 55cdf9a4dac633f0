"""Alerts through the real proxy: traffic patterns fire once, grow, resolve; webhooks signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web

from proxy.alerts import store as alert_store
from proxy.alerts.rules import Firing
from proxy.audit import AuditRecord, AuditWriter
from tests.conftest import WEBHOOK_SECRET, RunningWarden, Services, eventually
from tests.integration.test_audit_writer import audit_settings

ALERTS_SQL = "SELECT *, severity::text AS severity FROM alerts ORDER BY id"


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it gets and fails when told to."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    status_when_failing: int = 500
    attempts: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        if self.attempts <= self.fail_first:
            return web.Response(status=self.status_when_failing, text="not now")
        self.received.append(({k.lower(): v for k, v in request.headers.items()}, body))
        return web.Response(status=204)

    def events(self) -> list[tuple[str, str, str]]:
        out = []
        for _, body in self.received:
            payload = orjson.loads(body)
            out.append((payload["event"], payload["alert"]["type"], payload["alert"]["subject"]))
        return out


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


def verify_signature(headers: dict[str, str], body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in headers["x-warden-signature"].split(","))
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) < 60
    return fresh and hmac.compare_digest(parts["v1"], expected)


def alerting(
    receiver: Receiver | None, **rules: dict[str, Any]
) -> Callable[[dict[str, Any]], None]:
    """Config edit: fast rounds over a short window, low thresholds, the test's webhook."""

    def edit(raw: dict[str, Any]) -> None:
        raw["alerts"] = {
            "interval_seconds": 0.2,
            "window_seconds": 4,
            "baseline_seconds": 60,
            "resolve_after_seconds": 0.5,
            "rules": rules,
            "webhooks": (
                [{"url": receiver.url, "secret": "${WEBHOOK_SECRET}"}] if receiver else []
            ),
            "delivery": {
                "initial_backoff_seconds": 0.05,
                "max_backoff_seconds": 0.2,
                "poll_interval_seconds": 0.1,
                "max_attempts": 4,
                "timeout_seconds": 2,
            },
        }

    return edit


async def alerts_where(db: asyncpg.Pool, **match: Any) -> list[asyncpg.Record]:
    rows = await db.fetch(ALERTS_SQL)
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


async def send(
    warden: RunningWarden, key: str, n: int, *, model: str = "echo-1", **headers: str
) -> list[int]:
    async def one() -> int:
        async with warden.http.post(
            f"{warden.proxy_url}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}", **headers},
        ) as r:
            await r.read()
            return r.status

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_upstream_errors_fire_once_grow_and_resolve(
    start_warden: Callable[..., Any], db: asyncpg.Pool, receiver: Receiver
):
    warden: RunningWarden = await start_warden(
        alerting(
            receiver,
            upstream_errors={"min_requests": 5, "min_rate": 0.5},
            tenant_health={"min_requests": 5},
        )
    )
    key = await warden.create_key("acme")
    assert await send(warden, key, 6, **{"x-sim-status": "503"}) == [503] * 6

    async def grown() -> list[asyncpg.Record]:
        rows = await alerts_where(db, type="upstream_errors")
        return rows if rows and rows[0]["count"] >= 3 else []

    (alert,) = await eventually(grown)
    assert alert["subject"] == "openai" and alert["upstream"] == "openai"
    assert alert["severity"] == "high" and alert["status"] == "open"
    assert alert["value"] == 1.0 and "6 of 6" in alert["message"]
    (health,) = await alerts_where(db, type="tenant_health")
    assert health["tenant"] == "acme" and health["value"] == 50  # all errors: 100 - 50

    # The errors leave the window; the conditions clear, and the alerts resolve by themselves.
    resolved = await eventually(
        lambda: alerts_where(db, type="upstream_errors", status="resolved"), timeout=20
    )
    assert len(resolved) == 1 and resolved[0]["resolved_by"] == "auto"
    assert len(await alerts_where(db, type="upstream_errors")) == 1, "never a second alert"
    await eventually(lambda: len(receiver.received) >= 4)
    assert sorted(receiver.events()) == [
        ("alert.fired", "tenant_health", "acme"),
        ("alert.fired", "upstream_errors", "openai"),
        ("alert.resolved", "tenant_health", "acme"),
        ("alert.resolved", "upstream_errors", "openai"),
    ]
    for headers, body in receiver.received:
        assert verify_signature(headers, body)
        assert headers["x-warden-event"] == orjson.loads(body)["event"]
    metrics = await metrics_showing(
        warden, 'warden_alert_webhook_deliveries_total{result="delivered"} 4.0'
    )
    assert 'warden_alerts_fired_total{type="upstream_errors"} 1.0' in metrics
    assert 'warden_alerts_resolved_total{by="auto",type="upstream_errors"} 1.0' in metrics


async def metrics_showing(warden: RunningWarden, line: str) -> str:
    """/metrics once it shows `line`: a delivery is counted after Warden has read the
    receiver's answer and recorded it, a moment after the receiver and the table have it."""

    async def scrape() -> str | None:
        async with warden.http.get(f"{warden.admin_url}/metrics") as r:
            text = await r.text()
        return text if line in text else None

    return str(await eventually(scrape))


RISK_RULES = """
rules:
  - id: secrets.flag
    description: credentials are flagged
    phase: content
    when: {findings: {kinds: ["secret.*"]}}
    action: flag
    severity: high
  - id: models.allowlist
    description: echo models only
    phase: access
    when: {model_not_in: ["echo-*"]}
    action: block
    severity: high
"""
# A credential-shaped string, assembled so that no whole fake secret sits in the source.
AWS_KEY = "AKIA" + "IOSFODNN7QWERTYZ"


async def test_tenant_patterns_risky_storm_and_block_spike(
    start_warden: Callable[..., Any], policy_dir: Path, db: asyncpg.Pool
):
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RISK_RULES))
    warden: RunningWarden = await start_warden(
        alerting(
            None,
            risky_events={"min_count": 3},
            ratelimit_storm={"min_count": 5, "min_share": 0.5},
            block_rate_spike={"min_requests": 5, "min_rate": 0.5},
        )
    )
    risky_key = await warden.create_key("risky-co")
    for _ in range(3):
        async with warden.http.post(
            f"{warden.proxy_url}/v1/chat/completions",
            json={"model": "echo-1", "messages": [{"role": "user", "content": f"key {AWS_KEY}"}]},
            headers={"authorization": f"Bearer {risky_key}"},
        ) as r:
            assert r.status == 200 and r.headers["x-warden-decision"] == "flag"
    async with warden.http.post(
        f"{warden.admin_url}/admin/keys",
        json={"tenant": "noisy-co", "rate_limit": {"requests_per_minute": 2}},
        headers=warden.admin_headers(),
    ) as r:
        noisy_key = (await r.json())["key"]
    assert sorted(await send(warden, noisy_key, 10)) == [200] * 2 + [429] * 8
    blocked_key = await warden.create_key("blocked-co")
    assert await send(warden, blocked_key, 6, model="gpt-5") == [403] * 6

    async def three_types() -> dict[str, asyncpg.Record]:
        rows = {r["type"]: r for r in await db.fetch(ALERTS_SQL)}
        wanted = {"risky_events", "ratelimit_storm", "block_rate_spike"}
        return rows if wanted <= set(rows) else {}

    alerts = await eventually(three_types)
    assert alerts["risky_events"]["subject"] == "risky-co"
    assert alerts["risky_events"]["value"] == 3
    assert alerts["ratelimit_storm"]["subject"] == "noisy-co"
    assert alerts["ratelimit_storm"]["value"] == 8
    assert alerts["block_rate_spike"]["subject"] == "blocked-co"
    assert "100% of requests" in alerts["block_rate_spike"]["message"]
    # Metadata only: the credential that made requests risky is in no alert.
    dump = await db.fetchval("SELECT string_agg(a::text, ' ') FROM alerts a")
    assert AWS_KEY not in dump


async def write_history(
    services: Services, tmp_path: Path, seconds_ago: float, model: str = "echo-1"
) -> None:
    """60 answers of `model` in 5 ms, `seconds_ago`, written by a real audit writer."""
    past = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    async with AuditWriter(audit_settings(tmp_path), services.database_url) as writer:
        for n in range(60):
            writer.submit(
                AuditRecord(
                    request_id=f"history-{n}", event_time=past + timedelta(milliseconds=n),
                    decision="allow", status=200, latency_ms=6.0, tenant="acme", model=model,
                    upstream="openai", upstream_status=200, upstream_ms=5.0,
                    overhead_ms=0.5,
                )
            )  # fmt: skip
        await eventually(lambda: writer.rows_written == 60)


async def test_latency_drift_against_the_trailing_baseline(
    start_warden: Callable[..., Any], services: Services, db: asyncpg.Pool, tmp_path: Path
):
    await write_history(services, tmp_path, seconds_ago=40)  # echo-1 answered in 5 ms
    warden: RunningWarden = await start_warden(
        alerting(None, latency_drift={"min_samples": 5, "min_baseline_samples": 50})
    )
    key = await warden.create_key("acme")
    assert await send(warden, key, 5, **{"x-sim-delay": "0.3"}) == [200] * 5
    (alert,) = await eventually(lambda: alerts_where(db, type="latency_drift"))
    assert alert["subject"] == "echo-1" and alert["model"] == "echo-1"
    assert alert["value"] > 20 and "baseline of 5 ms" in alert["message"]


async def test_two_replicas_raise_each_alert_once(
    start_warden: Callable[..., Any], db: asyncpg.Pool, receiver: Receiver
):
    edit = alerting(receiver, upstream_errors={"min_requests": 4, "min_rate": 0.5})
    replicas: list[RunningWarden] = [await start_warden(edit), await start_warden(edit)]
    key = await replicas[0].create_key("acme")
    for replica in replicas:
        assert await send(replica, key, 3, **{"x-sim-status": "500"}) == [500] * 3

    async def rounds_counted() -> list[asyncpg.Record]:
        rows = await alerts_where(db, type="upstream_errors")
        return rows if rows and rows[0]["count"] >= 5 else []

    await eventually(rounds_counted)
    assert len(await alerts_where(db, type="upstream_errors")) == 1
    await eventually(lambda: len(receiver.received) >= 1)
    await asyncio.sleep(0.5)  # a second notification would have arrived by now
    assert receiver.events().count(("alert.fired", "upstream_errors", "openai")) == 1
    (alert,) = await alerts_where(db, type="upstream_errors")
    # Two replicas at 0.2 s each still evaluate about once per interval between them.
    span = (alert["last_seen"] - alert["first_seen"]).total_seconds()
    assert alert["count"] <= span / (0.2 * 0.8) + 1


async def test_webhook_retries_with_backoff_then_delivers(
    start_warden: Callable[..., Any], db: asyncpg.Pool, receiver: Receiver
):
    receiver.fail_first = 2
    warden: RunningWarden = await start_warden(
        alerting(receiver, upstream_errors={"min_requests": 3, "min_rate": 0.5})
    )
    key = await warden.create_key("acme")
    await send(warden, key, 3, **{"x-sim-status": "500"})
    delivered = await eventually(
        lambda: db.fetch("SELECT * FROM alert_deliveries WHERE state = 'delivered'")
    )
    assert delivered[0]["attempts"] == 3 and delivered[0]["last_status"] == 204
    assert receiver.attempts == 3 and len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert verify_signature(headers, body)
    assert headers["x-warden-delivery"] == str(delivered[0]["id"])
    metrics = await metrics_showing(
        warden, 'warden_alert_webhook_deliveries_total{result="delivered"} 1.0'
    )
    assert 'warden_alert_webhook_deliveries_total{result="retry"} 2.0' in metrics


@pytest.mark.parametrize(("status", "attempts"), [(500, 4), (400, 1)])
async def test_webhook_gives_up(
    start_warden: Callable[..., Any],
    db: asyncpg.Pool,
    receiver: Receiver,
    status: int,
    attempts: int,
):
    """Server errors are retried up to max_attempts; a client error will not get better."""
    receiver.fail_first, receiver.status_when_failing = 100, status
    warden: RunningWarden = await start_warden(
        alerting(receiver, upstream_errors={"min_requests": 3, "min_rate": 0.5})
    )
    key = await warden.create_key("acme")
    await send(warden, key, 3, **{"x-sim-status": "500"})
    (failed,) = await eventually(
        lambda: db.fetch("SELECT * FROM alert_deliveries WHERE state = 'failed'")
    )
    assert failed["attempts"] == attempts and failed["last_status"] == status
    await asyncio.sleep(0.3)
    assert receiver.attempts == attempts, "no attempt after giving up"


async def test_admin_lists_acknowledges_and_resolves(
    start_warden: Callable[..., Any], db: asyncpg.Pool, receiver: Receiver
):
    warden: RunningWarden = await start_warden(alerting(receiver))
    now = datetime.now(UTC)
    made = []
    async with db.acquire() as conn:
        for n, (kind, subject) in enumerate(
            [("risky_events", "acme"), ("upstream_errors", "openai"), ("risky_events", "globex")]
        ):
            firing = Firing(kind, subject, "high" if n else "medium", f"m{n}", 1.0, 1.0,
                            tenant=subject if kind == "risky_events" else None)  # fmt: skip
            made.append((await alert_store.fire(conn, firing, now))[0])
    admin = warden.admin_headers()
    base = f"{warden.admin_url}/admin/alerts"

    async def ids(**params: str) -> list[int]:
        async with warden.http.get(base, params=params, headers=admin) as r:
            assert r.status == 200, await r.text()
            return [a["id"] for a in (await r.json())["data"]]

    newest_first = [a["id"] for a in reversed(made)]
    assert await ids() == newest_first
    assert await ids(type="risky_events") == [made[2]["id"], made[0]["id"]]
    assert await ids(severity="high", tenant="globex") == [made[2]["id"]]
    async with warden.http.get(base, params={"limit": "2"}, headers=admin) as r:
        page = await r.json()
    assert [a["id"] for a in page["data"]] == newest_first[:2]
    assert await ids(cursor=page["next_cursor"]) == newest_first[2:]

    first = f"{base}/{made[0]['id']}"
    async with warden.http.post(f"{first}/acknowledge", json={"by": "dana"}, headers=admin) as r:
        acked = await r.json()
        assert r.status == 200 and acked["status"] == "acknowledged"
        assert acked["acknowledged_by"] == "dana" and acked["resolved"] is False
    async with warden.http.post(f"{first}/acknowledge", headers=admin) as r:
        assert r.status == 200 and (await r.json())["acknowledged_by"] == "dana"
    assert await ids(resolved="false") == newest_first
    async with warden.http.post(f"{first}/resolve", json={"by": "dana"}, headers=admin) as r:
        resolved = await r.json()
        assert r.status == 200 and resolved["resolved"] is True
        assert resolved["resolved_by"] == "dana" and resolved["resolved_at"]
    async with warden.http.post(f"{first}/acknowledge", headers=admin) as r:
        assert r.status == 409 and (await r.json())["error"]["param"] == "status"
    assert await ids(resolved="true") == [made[0]["id"]]
    assert await ids(status="open") == newest_first[:2]
    resolved_event = ("alert.resolved", "risky_events", "acme")
    await eventually(lambda: receiver.events() == [resolved_event])

    for path, method in [
        (f"{base}/999999", "GET"),
        (f"{base}/abc", "GET"),
        (f"{base}/999999/acknowledge", "POST"),
        (f"{base}/999999/resolve", "POST"),
    ]:
        async with warden.http.request(method, path, headers=admin) as r:
            assert r.status == 404 and (await r.json())["error"]["param"] == "alert_id"
    for params, field_at_fault in [
        ({"type": "fire"}, "type"),
        ({"status": "gone"}, "status"),
        ({"limit": "501"}, "limit"),
        ({"since": "soon"}, "since"),
    ]:
        async with warden.http.get(base, params=params, headers=admin) as r:
            assert r.status == 400 and (await r.json())["error"]["param"] == field_at_fault
    async with warden.http.post(f"{first}/resolve", json={"who": "x"}, headers=admin) as r:
        assert r.status == 422 and (await r.json())["error"]["param"] == "who"
