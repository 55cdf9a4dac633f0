"""Exact limits across replicas on one Redis: two app instances, and `warden serve --workers 2`.

Requests, tokens and budget are hammered at once, several times over the limit, from many
connections spread over the replicas. Each request costs exactly what it reserves (the echo
model answers "hi" with one token and reports 1 + 1), so settlement gives nothing back and
the number admitted must equal the limit exactly, not roughly.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.conftest import ADMIN_TOKEN, Services
from tests.integration.limits import CHAT, auth
from tests.integration.test_cli import serve_two_workers, stop_workers
from tests.upstream import SimulatedUpstream

LIMIT = 10
EXACT = {**CHAT, "max_tokens": 1}  # reserves 1 + 1 tokens, $1 + $2; the echo uses just that
KEY_LIMITS = {
    "requests": {"requests_per_day": LIMIT},
    "tokens": {"tokens_per_day": 2 * LIMIT},
    "budget": {"daily_usd": 3 * LIMIT},
}
REFUSAL = {
    "requests": "rate_limit_exceeded",
    "tokens": "rate_limit_exceeded",
    "budget": "budget_exceeded",
}
PER_KEY = 4 * LIMIT


def exact_limits(raw: dict[str, Any]) -> None:
    raw["rate_limit"] = {
        # Closed, with room to answer: a Redis hiccup shows up as a 503 here, never as an
        # admission nobody counted.
        "failure_mode": "closed",
        "timeout": 2.0,
        "prices": {"echo-*": {"input": 1_000_000, "output": 2_000_000}},
    }


async def create_keys(admin_url: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        for kind, limits in KEY_LIMITS.items():
            async with session.post(
                f"{admin_url}/admin/keys",
                json={"tenant": f"t-{kind}", "rate_limit": limits},
                headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            ) as r:
                assert r.status == 201, await r.text()
                keys[kind] = (await r.json())["key"]
    return keys


async def hammer(
    proxy_urls: list[str], keys: dict[str, str]
) -> dict[str, collections.Counter[str]]:
    """Every key's requests all at once, round robin over the replicas, a new connection each
    (so the kernel spreads `--workers` connections over the processes)."""
    outcomes: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in keys}
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    timeout = aiohttp.ClientTimeout(total=60)

    async def one(session: aiohttp.ClientSession, kind: str, url: str) -> None:
        async with session.post(
            f"{url}/v1/chat/completions", json=EXACT, headers=auth(keys[kind])
        ) as r:
            body = await r.json()
            outcome = str(r.status) if r.status != 429 else body["error"]["type"]
            outcomes[kind][outcome] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        calls = [
            one(session, kind, proxy_urls[i % len(proxy_urls)])
            for i in range(PER_KEY)
            for kind in keys
        ]
        await asyncio.gather(*calls)
    return outcomes


def assert_exact(outcomes: dict[str, collections.Counter[str]]) -> None:
    for kind, counts in outcomes.items():
        assert counts == {"200": LIMIT, REFUSAL[kind]: PER_KEY - LIMIT}, (kind, counts)


async def test_two_app_instances_on_one_redis_admit_exactly_the_limit(
    start_warden: Callable[..., Any],
) -> None:
    replicas = [await start_warden(exact_limits), await start_warden(exact_limits)]
    keys = await create_keys(replicas[0].admin_url)
    assert_exact(await hammer([r.proxy_url for r in replicas], keys))


async def worker_pids(admin_port: int, timeout: float = 30) -> set[int]:
    """Both workers' pids, once each has answered on the shared admin port."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < 2 and time.monotonic() < deadline:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"http://127.0.0.1:{admin_port}/healthz") as r:
                pids.add((await r.json())["pid"])
        await asyncio.sleep(0.02)
    return pids


async def test_two_worker_processes_admit_exactly_the_limit(
    services: Services, upstream: SimulatedUpstream, db: asyncpg.Pool, tmp_path: Path
) -> None:
    def quiet_workers(raw: dict[str, Any]) -> None:
        exact_limits(raw)
        # The workers' stderr is a pipe read only at the end: a line per request would fill it.
        raw["logging"] = {"level": "warning", "requests": False}

    process, proxy_port, admin_port = await serve_two_workers(
        services, upstream, tmp_path, quiet_workers
    )
    try:
        assert len(await worker_pids(admin_port)) == 2
        keys = await create_keys(f"http://127.0.0.1:{admin_port}")
        outcomes = await hammer([f"http://127.0.0.1:{proxy_port}"], keys)
    finally:
        code, stderr = await stop_workers(process)
    assert_exact(outcomes)
    assert code == 0, stderr
