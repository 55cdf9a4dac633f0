"""Shares: quota a replica reserves ahead in a real Redis and admits from without a round trip.

What must hold: requests admitted from a share see the same counts as if each had asked Redis;
replicas together never admit past a limit; what a share did not use goes back, so Redis ends
up counting exactly what was admitted; a request that outlives its share settles in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from proxy.devstack import EmbeddedRedis
from proxy.formats.segments import Usage
from proxy.ratelimit import (
    Admission,
    Budget,
    Price,
    RateLimiter,
    RateLimitSettings,
    ScopeLimits,
    WindowLimits,
    settings_problems,
)
from proxy.ratelimit.plan import KEY_PREFIX
from tests.integration.limits import Clock, MakeLimiter, ctx, key_limits


def shared(settings: RateLimitSettings, fraction: float = 0.05) -> RateLimitSettings:
    return dataclasses.replace(settings, local_share=fraction, local_share_seconds=30.0)


def unshared(settings: RateLimitSettings) -> RateLimitSettings:
    return dataclasses.replace(settings, local_share=0.0)


@contextlib.asynccontextmanager
async def upkeep(*limiters: RateLimiter) -> AsyncIterator[None]:
    """Each limiter's run() beside the test, as the app runs it."""
    tasks = [asyncio.create_task(limiter.run()) for limiter in limiters]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def in_flight(client: redis.Redis) -> int:
    keys = [k async for k in client.scan_iter(f"{KEY_PREFIX}:*:c:*")]
    return sum([await client.zcard(k) for k in keys])


def local(admission: Admission) -> bool:
    return admission.reservation is not None and bool(admission.reservation.shares)


async def test_requests_from_a_share_count_as_if_each_asked_redis(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    clock = Clock()
    settings = key_limits(requests_per_minute=1000, tokens_per_minute=100_000, max_concurrent=100)
    limiter = make_limiter(shared(settings), clock)
    assert limiter.shares is not None
    first = await limiter.reserve(ctx(10, 20))
    assert first.allowed and not local(first)  # no share yet: this one asked Redis
    assert await limiter.shares.fetch() == 1
    # The share holds 2 in-flight slots beside the request that asked Redis.
    assert await in_flight(redis_client) == 3
    assert await limiter.settle(first, Usage(10, 20))
    rest = []
    for _ in range(5):
        admission = await limiter.reserve(ctx(10, 20))
        rest.append(admission)
        assert await limiter.settle(admission, Usage(10, 20))
    assert all(a.allowed and local(a) for a in rest)
    assert limiter.events["share_admitted"] == 5
    # The clock stands still, so these are exact: one request and 30 tokens less each time.
    assert [a.requests.remaining for a in [first, *rest] if a.requests] == list(range(999, 993, -1))
    assert [a.tokens.remaining for a in [first, *rest] if a.tokens] == [
        100_000 - 30 * n for n in range(1, 7)
    ]
    assert await limiter.shares.give_back() == 1
    assert await in_flight(redis_client) == 0
    # Redis now counts exactly the 6 requests and their tokens, nothing of the share.
    probe = make_limiter(unshared(settings), clock)
    after = await probe.reserve(ctx(0, 0))
    assert after.requests is not None and after.requests.remaining == 1000 - 7
    assert after.tokens is not None and after.tokens.remaining == 100_000 - 6 * 30


async def test_settlements_in_a_share_give_back_and_charge_as_redis_would(
    make_limiter: MakeLimiter,
) -> None:
    clock = Clock()
    settings = key_limits(tokens_per_minute=100_000, max_concurrent=100)
    limiter = make_limiter(shared(settings), clock)
    assert limiter.shares is not None
    await limiter.settle(await limiter.reserve(ctx(100, 900)), Usage(100, 900))
    await limiter.shares.fetch()
    under, over = await limiter.reserve(ctx(100, 900)), await limiter.reserve(ctx(100, 900))
    assert local(under) and local(over)
    # A third finds both slots of the share taken: it asks Redis.
    third = await limiter.reserve(ctx(100, 900))
    assert third.allowed and not local(third)
    assert await limiter.settle(under, Usage(100, 50))  # 850 of 1000 back
    assert await limiter.settle(over, Usage(3000, 0))  # 2000 more than reserved
    assert await limiter.settle(third, None)  # the model never answered: all back
    await limiter.shares.give_back()
    probe = make_limiter(unshared(settings), clock)
    after = await probe.reserve(ctx(0, 0))
    assert after.tokens is not None
    assert after.tokens.remaining == 100_000 - (1000 + 150 + 3000)


async def test_replicas_with_shares_never_admit_past_the_limit(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limit = 400
    settings = key_limits(requests_per_day=limit)
    replicas = [make_limiter(shared(settings), clock) for _ in range(2)]
    admitted = 0
    async with upkeep(*replicas):
        for _ in range(30):
            waves = [replica.reserve(ctx()) for replica in replicas for _ in range(20)]
            admitted += sum(a.allowed for a in await asyncio.gather(*waves))
            await asyncio.sleep(0.002)  # let run() fetch the shares the wave asked for
    assert all(r.events["share_admitted"] > 0 for r in replicas)
    assert admitted <= limit
    for replica in replicas:
        assert replica.shares is not None
        await replica.shares.give_back()
    # Whatever the shares held came back: a replica without shares gets exactly the rest.
    probe = make_limiter(unshared(settings), clock)
    rest = [await probe.reserve(ctx()) for _ in range(limit - admitted + 1)]
    assert [a.allowed for a in rest] == [True] * (limit - admitted) + [False]


async def test_a_request_that_outlives_its_share_settles_in_redis(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    clock = Clock()
    settings = key_limits(tokens_per_minute=100_000, max_concurrent=100)
    limiter = make_limiter(shared(settings), clock)
    assert limiter.shares is not None
    await limiter.reserve(ctx(100, 900))
    await limiter.shares.fetch()
    running = await limiter.reserve(ctx(100, 900))
    assert local(running)
    await limiter.shares.give_back()  # the share ends while the request still runs
    assert await in_flight(redis_client) == 2  # its slot is kept, and the first request's
    assert len(limiter.leases) == 2  # and both renewed
    batches = limiter.events["settle_batch"]
    assert await limiter.settle(running, Usage(100, 50))
    assert limiter.events["settle_batch"] == batches + 1  # it went to Redis
    assert await in_flight(redis_client) == 1
    assert not await limiter.settle(running, Usage(100, 50))  # twice changes nothing
    probe = make_limiter(unshared(settings), clock)
    after = await probe.reserve(ctx(0, 0))
    # 1000 reserved by the first, still running; 150 used by the second.
    assert after.tokens is not None and after.tokens.remaining == 100_000 - 1000 - 150


async def test_no_share_near_a_limit(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    settings = key_limits(requests_per_minute=100)
    limiter = make_limiter(shared(settings), clock)
    assert limiter.shares is not None
    for _ in range(93):
        assert (await limiter.reserve(ctx())).allowed
    await limiter.shares.fetch()  # 5 more would leave 2 of 100: too close to hold them
    assert len(limiter.shares) == 0
    await limiter.shares.give_back()
    results = [await limiter.reserve(ctx()) for _ in range(8)]
    assert not any(local(a) for a in results)
    assert [a.allowed for a in results] == [True] * 7 + [False]


async def test_a_budget_share_gives_back_what_it_did_not_spend(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(key=WindowLimits(), key_budget=Budget(daily_usd=100.0)),
        prices={"m": Price(input=1.0, output=2.0)},  # micro-USD per token
    )
    limiter = make_limiter(shared(settings), clock)
    assert limiter.shares is not None
    first = await limiter.reserve(ctx(1000, 1000, model="m"))  # reserves 3000 micro-USD
    await limiter.shares.fetch()
    second = await limiter.reserve(ctx(1000, 1000, model="m"))
    assert local(second)
    await limiter.settle(first, Usage(1000, 10))  # 1020
    await limiter.settle(second, Usage(500, 500))  # 1500
    await limiter.shares.give_back()
    spend_keys = [k async for k in redis_client.scan_iter(f"{KEY_PREFIX}:*:usd:*")]
    assert len(spend_keys) == 1
    assert int(await redis_client.get(spend_keys[0])) == 1020 + 1500


async def test_run_fetches_a_share_for_a_lone_caller(
    make_limiter: MakeLimiter,
) -> None:
    """run() fetches a share as soon as a request asks for one; the next ones use it."""
    settings = key_limits(requests_per_minute=6000, max_concurrent=50)
    limiter = make_limiter(shared(settings))
    async with upkeep(limiter):
        for _ in range(20):
            admission = await limiter.reserve(ctx(5, 5))
            assert admission.allowed
            await limiter.settle(admission, Usage(5, 5))
            await asyncio.sleep(0.001)
    assert limiter.events["share_granted"] >= 1
    assert limiter.events["share_admitted"] >= 15


@pytest.mark.parametrize(
    ("field", "value"), [("local_share", -0.1), ("local_share", 0.6), ("local_share_seconds", 0)]
)
def test_share_settings_out_of_range_are_named(field: str, value: float) -> None:
    changes: dict[str, Any] = {field: value}
    settings = dataclasses.replace(RateLimitSettings(), **changes)
    assert [path for path, _ in settings_problems(settings)] == [f"rate_limit.{field}"]


async def test_a_share_serves_through_a_redis_outage_and_goes_back_once_redis_is_up(
    tmp_path: Path, make_limiter: MakeLimiter
) -> None:
    server = EmbeddedRedis(tmp_path / "r", persist=True)
    server.start()
    try:
        clock = Clock()
        settings = RateLimitSettings(
            defaults=ScopeLimits(key=WindowLimits(requests_per_day=1000)),
            failure_mode="closed",
            timeout=0.1,
            retry_interval=0.2,
        )
        limiter = make_limiter(shared(settings), clock, url=server.url, keep_timeout=True)
        assert limiter.shares is not None
        assert (await limiter.reserve(ctx())).allowed
        assert await limiter.shares.fetch() == 1
        server.stop()
        # Closed on failure, yet admitted: the share was granted before Redis went away.
        during = [await limiter.reserve(ctx()) for _ in range(3)]
        assert all(a.allowed and local(a) and not a.degraded for a in during)
        # Giving back fails while Redis is away; it is kept and tried again.
        assert await limiter.shares.give_back() == 0
        assert limiter.events["share_return_failed"] == 1
        denied = await limiter.reserve(ctx())  # the share has ended: Redis decides, and is away
        assert not denied.allowed and denied.degraded
        server.start()
        assert await limiter.shares.give_back() == 1
        await asyncio.sleep(0.25)  # past retry_interval
        probe = make_limiter(unshared(settings), clock, url=server.url)
        after = await probe.reserve(ctx())
        assert after.requests is not None and after.requests.remaining == 1000 - 5
    finally:
        server.stop()


async def test_a_share_fetched_as_warden_stops_still_goes_back(make_limiter: MakeLimiter) -> None:
    """Stopping cancels run() wherever it is; a fetch already sent is granted all the same."""
    clock = Clock()
    settings = key_limits(requests_per_day=1000)
    limiter = make_limiter(shared(settings), clock)
    assert limiter.shares is not None
    assert (await limiter.reserve(ctx())).allowed  # asks for a share
    fetching = asyncio.create_task(limiter.shares.fetch())
    await asyncio.sleep(0)  # the reserve call is on its way to Redis
    fetching.cancel()
    await asyncio.gather(fetching, return_exceptions=True)
    assert fetching.cancelled()
    assert await limiter.shares.give_back() == 1
    probe = make_limiter(unshared(settings), clock)
    after = await probe.reserve(ctx())
    assert after.requests is not None and after.requests.remaining == 1000 - 2
