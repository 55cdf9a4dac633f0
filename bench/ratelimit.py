"""reserve() latency (p50/p99) and Redis round trips per request, against an embedded Redis.

Usage: python -m bench.ratelimit [--requests N] [--concurrency C]

Each request is checked against a realistic set of scopes (key requests/tokens/in-flight,
tenant, model, key and tenant budgets) and settled afterwards, as the proxy would.
Round trips are counted by Redis itself (INFO commandstats), not assumed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as redis

from proxy.devstack import EmbeddedRedis
from proxy.formats.segments import Usage
from proxy.ratelimit import (
    Budget,
    Price,
    RateLimiter,
    RateLimitSettings,
    RequestContext,
    ScopeLimits,
    WindowLimits,
)
from proxy.ratelimit.lua import create_client

SETTINGS = RateLimitSettings(
    timeout=1.0,
    defaults=ScopeLimits(
        key=WindowLimits(requests_per_minute=10**9, tokens_per_minute=10**12, max_concurrent=10**6),
        tenant=WindowLimits(requests_per_minute=10**9),
        model={"gpt-4o*": WindowLimits(tokens_per_minute=10**12)},
        key_budget=Budget(daily_usd=10**8),
        tenant_budget=Budget(monthly_usd=10**8),
    ),
    prices={"gpt-4o": Price(2.5, 10)},
)


async def commands(client: redis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def run(url: str, requests: int, concurrency: int) -> None:
    client = create_client(url, SETTINGS.timeout, max_connections=concurrency)
    admin = redis.Redis.from_url(url)
    try:
        limiter = RateLimiter(client, SETTINGS)
        await limiter.warm_up(concurrency)
        before = await commands(admin)
        latencies: list[float] = []
        queue = iter(range(requests))

        async def worker(worker_id: int) -> None:
            for i in queue:
                context = RequestContext(f"t{i % 10}", f"k{i % 100}", "gpt-4o", "/v1", 300, 500)
                started = time.perf_counter()
                admission = await limiter.reserve(context)
                latencies.append(time.perf_counter() - started)
                assert admission.allowed and not admission.degraded
                await limiter.settle(admission, Usage(280, 120))

        wall = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = time.perf_counter() - wall
        after = await commands(admin)
        scripts = sum(after.get(c, 0) - before.get(c, 0) for c in ("evalsha", "eval"))
        latencies.sort()
        p50 = statistics.median(latencies) * 1e6
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1e6
        print(f"requests {requests}, concurrency {concurrency}, {requests / wall:,.0f} req/s")
        print(f"reserve() p50 {p50:,.0f} µs, p99 {p99:,.0f} µs")
        print(f"Redis script calls per request (reserve + settle): {scripts / requests:.2f}")
        print(f"events: {dict(limiter.events)}")
    finally:
        await client.aclose()
        await admin.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        asyncio.run(run(server.url, args.requests, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
