"""Helpers for rate-limit tests through a running Warden: keys with limits, the usage API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import RunningWarden

CHAT: dict[str, Any] = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
Usage = dict[tuple[str, str], dict[str, Any]]


async def key_with_limits(
    warden: RunningWarden, limits: dict[str, Any], tenant: str = "acme"
) -> tuple[str, str]:
    """A key made through the admin API with its own `rate_limit`: (key id, full key)."""
    async with warden.http.post(
        f"{warden.admin_url}/admin/keys",
        json={"tenant": tenant, "rate_limit": limits},
        headers=warden.admin_headers(),
    ) as r:
        assert r.status == 201, await r.text()
        body = await r.json()
    return body["id"], body["key"]


async def admin_get(warden: RunningWarden, path: str) -> tuple[int, dict[str, Any]]:
    async with warden.http.get(f"{warden.admin_url}{path}", headers=warden.admin_headers()) as r:
        return r.status, await r.json()


def by_limit(body: dict[str, Any]) -> Usage:
    """The usage API's `limits` keyed by (scope, name)."""
    return {(u["scope"], u["name"]): u for u in body["limits"]}


async def key_usage(warden: RunningWarden, key_id: str) -> Usage:
    status, body = await admin_get(warden, f"/admin/keys/{key_id}/usage")
    assert status == 200, body
    return by_limit(body)


async def settled_usage(
    warden: RunningWarden,
    key_id: str,
    done: Callable[[Usage], bool],
    timeout: float = 5.0,
) -> Usage:
    """The key's usage once `done` holds: settlement runs after the response, off its path."""
    deadline = time.monotonic() + timeout
    while True:
        usage = await key_usage(warden, key_id)
        if done(usage) or time.monotonic() > deadline:
            return usage
        await asyncio.sleep(0.05)


def used(usage: Usage, name: str, scope: str = "key") -> Any:
    return usage[(scope, name)]["used"]


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}
