"""GET /admin/events: decisions from every replica as Server-Sent Events, metadata only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from proxy.keys import EVENT_FEED
from tests.conftest import RunningWarden
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
    feed = await open_feed(replica_a)
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
