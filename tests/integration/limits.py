"""Helpers for rate-limit tests: a clock moved by hand, limits and contexts for a RateLimiter;
through a running Warden, keys with limits and the usage API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from proxy.ratelimit import (
    RateLimiter,
    RateLimitSettings,
    RequestContext,
    ScopeLimits,
    WindowLimits,
)
from tests.conftest import RunningWarden

CHAT: dict[str, Any] = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
Usage = dict[tuple[str, str], dict[str, Any]]


MakeLimiter = Callable[..., RateLimiter]
T0 = 1_700_000_000.0  # a fixed wall time for tests that move the clock themselves


class Clock:
    """A wall clock the test moves by hand; the limiter then sends its time to the scripts."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key_limits(**limits: Any) -> RateLimitSettings:
    return RateLimitSettings(defaults=ScopeLimits(key=WindowLimits(**limits)))


def ctx(
    prompt: int = 0, output: int = 0, *, tenant: str = "acme", key: str = "k1", **more: Any
) -> RequestContext:
    return RequestContext(tenant, key, prompt_tokens=prompt, max_output_tokens=output, **more)


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
