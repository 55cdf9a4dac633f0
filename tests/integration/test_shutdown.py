"""Graceful stop: refuse new work, let streams finish within the grace period, flush audit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import RunningWarden

STREAM = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def slow_stream(key: str, words: int, delay: float) -> dict[str, str]:
    return {
        "authorization": f"Bearer {key}",
        "x-sim-chunk-delay": str(delay),
        "x-sim-words": str(words),
    }


async def audit_rows(db: asyncpg.Pool, request_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT status, streamed, decision FROM audit_events WHERE request_id = $1", request_id
    )
    return rows


async def test_stop_lets_a_stream_finish_and_flushes_its_audit_row(
    start_warden: Callable[..., Any], db: asyncpg.Pool
):
    warden: RunningWarden = await start_warden()
    key = await warden.create_key()
    proxy_url, admin_url = warden.proxy_url, warden.admin_url
    async with aiohttp.ClientSession() as client:
        response = await client.post(
            f"{proxy_url}/v1/chat/completions",
            json=STREAM,
            headers=slow_stream(key, words=10, delay=0.1),
        )
        assert (await response.content.readline()).startswith(b"data: ")
        stopping = asyncio.create_task(warden.server.stop())
        await asyncio.sleep(0.1)

        # Draining: readiness says so, and new connections are refused.
        async with client.get(f"{admin_url}/readyz") as r:
            assert r.status == 503 and (await r.json())["status"] == "draining"
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.post(
                f"{proxy_url}/v1/chat/completions",
                json=STREAM,
                headers={"authorization": f"Bearer {key}"},
            )

        rest = await response.read()
        request_id = response.headers["x-request-id"]
        response.close()
    assert rest.rstrip().endswith(b"data: [DONE]")
    await stopping
    # The row was flushed by the stop itself: no waiting for a writer that no longer runs.
    assert [tuple(r) for r in await audit_rows(db, request_id)] == [(200, True, "allow")]


async def test_a_stream_longer_than_the_grace_period_is_cut_and_still_audited(
    start_warden: Callable[..., Any], db: asyncpg.Pool
):
    def short_grace(raw: dict[str, Any]) -> None:
        raw["listen"]["shutdown_grace_seconds"] = 0.5

    warden: RunningWarden = await start_warden(short_grace)
    key = await warden.create_key()
    async with aiohttp.ClientSession() as client:
        response = await client.post(
            f"{warden.proxy_url}/v1/chat/completions",
            json=STREAM,
            headers=slow_stream(key, words=200, delay=0.1),
        )
        assert (await response.content.readline()).startswith(b"data: ")
        request_id = response.headers["x-request-id"]
        started = time.monotonic()
        await warden.server.stop()
        stopped_after = time.monotonic() - started
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
        response.close()
    assert stopped_after < 5, stopped_after
    rows = await audit_rows(db, request_id)
    assert len(rows) == 1 and rows[0]["streamed"] is True
