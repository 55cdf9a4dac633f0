"""GET /admin/events: decisions from every replica as Server-Sent Events, metadata only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from proxy.keys import EVENT_FEED, INCIDENT_NOTICES
from tests.conftest import RunningWarden, eventually
from tests.integration.test_alerts import alerting
from tests.integration.test_alerts import send as send_alerts
from tests.rules import ECHO_MODELS_ONLY, rules

CANARY = "CANARY-" + "e1v9"
RULES = rules(ECHO_MODELS_ONLY)


async def send(warden: RunningWarden, key: str, model: str) -> str:
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": f"say {CANARY}"}]},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        return r.headers["x-request-id"]


async def wait_listening(*replicas: RunningWarden) -> None:
    deadline = time.monotonic() + 5
    while not all(r.server.app[EVENT_FEED].listening for r in replicas):
        assert time.monotonic() < deadline, "publishers never saw the subscriber"
        await asyncio.sleep(0.05)


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    kind = None
    async with asyncio.timeout(10):
        while len(events) < count:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind or "", orjson.loads(line.removeprefix("data: "))))
    return events


async def open_feed(warden: RunningWarden, **params: str) -> aiohttp.ClientResponse:
    response = await warden.http.get(
        f"{warden.admin_url}/admin/events", params=params, headers=warden.admin_headers()
    )
    assert response.status == 200, await response.text()
    assert response.headers["content-type"] == "text/event-stream"
    assert await response.content.readline() == b": connected\n"
    return response


async def test_decisions_from_both_replicas_reach_one_feed(
    start_warden: Callable[..., Any], policy_dir: Path
):
    (policy_dir / "rules.yaml").write_text(RULES)
    replica_a: RunningWarden = await start_warden()
    replica_b: RunningWarden = await start_warden()
    key = await replica_a.create_key("acme")
    feed = await open_feed(replica_a, types="decision")
    try:
        await wait_listening(replica_a, replica_b)
        allowed = await send(replica_a, key, "echo-1")
        blocked = await send(replica_b, key, "gpt-unlisted")
        events = await read_events(feed, 2)
    finally:
        feed.close()
    by_id = {data["request_id"]: (kind, data) for kind, data in events}
    assert set(by_id) == {allowed, blocked}
    kind, data = by_id[blocked]
    assert kind == "decision" and data["type"] == "decision"
    assert data["decision"] == "block" and data["rules"] == ["models.allowlist"]
    assert data["tenant"] == "acme" and data["status"] == 403
    assert by_id[allowed][1]["decision"] == "allow"
    assert CANARY not in orjson.dumps(events).decode()


async def test_the_feed_filters_by_tenant(warden: RunningWarden):
    acme, globex = await warden.create_key("acme"), await warden.create_key("globex")
    feed = await open_feed(warden, tenant="globex", types="decision")
    try:
        await wait_listening(warden)
        await send(warden, acme, "echo-1")
        wanted = await send(warden, globex, "echo-1")
        ((kind, data),) = await read_events(feed, 1)
    finally:
        feed.close()
    assert data["request_id"] == wanted and data["tenant"] == "globex"


async def test_unknown_event_types_are_refused(warden: RunningWarden):
    async with warden.http.get(
        f"{warden.admin_url}/admin/events",
        params={"types": "decision,gossip"},
        headers=warden.admin_headers(),
    ) as r:
        assert r.status == 400 and (await r.json())["error"]["param"] == "types"


async def wait_for_incident_notices(warden: RunningWarden) -> None:
    """The replica listens for its audit writer's incident changes once the feed is watched."""
    notices = warden.server.app[INCIDENT_NOTICES]
    await eventually(lambda: notices.ready, timeout=5)


async def test_incidents_from_blocks_reach_the_feed_once_committed(
    start_warden: Callable[..., Any], policy_dir: Path
):
    (policy_dir / "rules.yaml").write_text(RULES)
    warden: RunningWarden = await start_warden()
    key = await warden.create_key("acme")
    feed = await open_feed(warden, types="incident")
    try:
        await wait_listening(warden)
        await wait_for_incident_notices(warden)
        first = await send(warden, key, "gpt-unlisted")
        ((kind, opened),) = await read_events(feed, 1)
        # Published after the audit batch committed: anyone may read it at once.
        incident = opened["incident"]
        async with warden.http.get(
            f"{warden.admin_url}/admin/incidents/{incident['id']}", headers=warden.admin_headers()
        ) as r:
            assert r.status == 200 and await r.json() == incident
        second = await send(warden, key, "gpt-unlisted")
        ((_, grown),) = await read_events(feed, 1)
    finally:
        feed.close()
    assert kind == "incident" and opened["type"] == "incident" and opened["action"] == "opened"
    assert opened["tenant"] == "acme" and incident["source"] == "auto"
    assert incident["rule_id"] == "models.allowlist" and incident["request_ids"] == [first]
    assert grown["action"] == "grown" and grown["incident"]["id"] == incident["id"]
    assert grown["incident"]["count"] == 2 and grown["incident"]["request_ids"] == [first, second]
    assert CANARY not in orjson.dumps([opened, grown]).decode()


async def test_nothing_is_announced_for_an_incident_that_rolled_back(
    start_warden: Callable[..., Any], policy_dir: Path, db: asyncpg.Pool
):
    """A block whose incident Postgres refuses is stored, its incident is not (the hook's
    savepoint rolls back): the feed shows the decision and no incident."""
    (policy_dir / "rules.yaml").write_text(RULES)
    warden: RunningWarden = await start_warden()
    key = await warden.create_key("refused")
    feed = await open_feed(warden)
    await db.execute(
        "ALTER TABLE incidents ADD CONSTRAINT test_refuses_tenant CHECK (tenant <> 'refused')"
    )
    try:
        await wait_listening(warden)
        await wait_for_incident_notices(warden)
        blocked = await send(warden, key, "gpt-unlisted")
        ((kind, data),) = await read_events(feed, 1)
        assert kind == "decision" and data["request_id"] == blocked
        await eventually(
            lambda: db.fetchval("SELECT count(*) FROM audit_events WHERE request_id = $1", blocked)
        )
        with pytest.raises(TimeoutError):  # an incident event would have come by now
            async with asyncio.timeout(1.0):
                await read_events(feed, 1)
    finally:
        feed.close()
        await db.execute("ALTER TABLE incidents DROP CONSTRAINT test_refuses_tenant")
    assert await db.fetchval("SELECT count(*) FROM incidents") == 0


async def test_admin_changes_to_incidents_reach_the_feed(warden: RunningWarden):
    feed = await open_feed(warden, types="incident")
    base, admin = f"{warden.admin_url}/admin/incidents", warden.admin_headers()
    try:
        await wait_listening(warden)
        async with warden.http.post(
            base, json={"title": "Leak review", "severity": "High", "tenant": "acme"}, headers=admin
        ) as r:
            assert r.status == 201
            created = await r.json()
        one = f"{base}/{created['id']}"
        for change in ({"status": "acknowledged"}, {"notes": "on it"}, {"status": "resolved"}):
            async with warden.http.patch(one, json=change, headers=admin) as r:
                assert r.status == 200
        async with warden.http.delete(one, headers=admin) as r:
            assert r.status == 204
        events = await read_events(feed, 5)
    finally:
        feed.close()
    assert [(data["action"], data["incident"]["status"]) for _, data in events] == [
        ("opened", "open"),
        ("acknowledged", "acknowledged"),
        ("updated", "acknowledged"),
        ("resolved", "resolved"),
        ("deleted", "resolved"),
    ]
    assert {data["tenant"] for _, data in events} == {"acme"}
    assert events[0][1]["incident"] == created and events[2][1]["incident"]["notes"] == "on it"


async def test_alerts_fired_acknowledged_and_resolved_reach_the_feed(
    start_warden: Callable[..., Any],
):
    warden: RunningWarden = await start_warden(
        alerting(
            None,
            upstream_errors={"min_requests": 3, "min_rate": 0.5},
            tenant_health={"min_requests": 3},
        )
    )
    key = await warden.create_key("acme")
    admin = warden.admin_headers()
    feed = await open_feed(warden, types="alert")
    try:
        await wait_listening(warden)
        assert await send_alerts(warden, key, 3, **{"x-sim-status": "500"}) == [500] * 3
        fired = {data["alert"]["type"]: data for _, data in await read_events(feed, 2)}
        upstream = fired["upstream_errors"]["alert"]
        path = f"{warden.admin_url}/admin/alerts/{upstream['id']}"
        async with warden.http.post(f"{path}/acknowledge", json={"by": "dana"}, headers=admin) as r:
            assert r.status == 200
        async with warden.http.post(f"{path}/resolve", json={"by": "dana"}, headers=admin) as r:
            assert r.status == 200
        # Resolved while the errors are still in the window: the condition holds, so the
        # next round fires a new alert. Both clear when the errors leave it: auto-resolved.
        later = await read_events(feed, 5)
    finally:
        feed.close()
    assert {(kind, data["action"]) for kind, data in fired.items()} == {
        ("upstream_errors", "fired"), ("tenant_health", "fired"),
    }  # fmt: skip
    assert fired["tenant_health"]["tenant"] == "acme" and fired["upstream_errors"]["tenant"] is None
    actions = [(d["action"], d["alert"]["type"], d["alert"]["resolved_by"]) for _, d in later]
    assert actions[:3] == [
        ("acknowledged", "upstream_errors", None),
        ("resolved", "upstream_errors", "dana"),
        ("fired", "upstream_errors", None),
    ]
    assert sorted(actions[3:]) == [
        ("resolved", "tenant_health", "auto"),
        ("resolved", "upstream_errors", "auto"),
    ]
    assert later[1][1]["alert"]["id"] == upstream["id"] != later[2][1]["alert"]["id"]
