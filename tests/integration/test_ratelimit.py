"""Rate limits, token quotas and budgets against a real Redis: exact, atomic, shared by replicas."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from proxy.devstack import EmbeddedRedis
from proxy.formats.segments import Usage
from proxy.ratelimit import (
    Admission,
    Budget,
    KeyLimits,
    Price,
    RateLimiter,
    RateLimitSettings,
    RequestContext,
    ScopeLimits,
    WindowLimits,
)
from tests.integration.limits import Clock, MakeLimiter, ctx, key_limits


async def admitted_count(limiter: RateLimiter, context: RequestContext, n: int) -> int:
    results = await asyncio.gather(*(limiter.reserve(context) for _ in range(n)))
    assert not any(a.degraded for a in results), limiter.events
    return sum(a.allowed for a in results)


# --- Requests per window ---------------------------------------------------------------------


async def test_requests_per_minute_admits_the_limit_then_one_per_interval(
    make_limiter: MakeLimiter,
) -> None:
    clock = Clock()
    limiter = make_limiter(key_limits(requests_per_minute=5), clock)
    results = [await limiter.reserve(ctx()) for _ in range(6)]
    assert [a.allowed for a in results] == [True] * 5 + [False]
    assert [a.requests.remaining for a in results[:5] if a.requests] == [4, 3, 2, 1, 0]
    denial = results[5].denial
    assert denial is not None
    assert (denial.type, denial.scope, denial.name) == (
        "rate_limit_exceeded",
        "key",
        "requests_per_minute",
    )
    # 5 a minute come back one every 12 s.
    assert denial.retry_after == pytest.approx(12.0)
    assert results[5].headers()["retry-after"] == "12"
    assert results[4].headers()["x-ratelimit-reset-requests"] == "1m0s"
    clock.advance(11.9)
    assert not (await limiter.reserve(ctx())).allowed
    clock.advance(0.1)
    assert (await limiter.reserve(ctx())).allowed
    assert not (await limiter.reserve(ctx())).allowed


async def test_no_double_burst_at_a_window_boundary(make_limiter: MakeLimiter) -> None:
    """A fixed window would admit 10 just before the minute and 10 more just after it."""
    start = dt.datetime(2024, 5, 1, 12, 0, 59, 900_000, tzinfo=dt.UTC).timestamp()
    clock = Clock(start)
    limiter = make_limiter(key_limits(requests_per_minute=10), clock)
    assert await admitted_count(limiter, ctx(), 15) == 10
    clock.advance(0.2)  # now past 12:01:00, where a fixed window would start afresh
    assert await admitted_count(limiter, ctx(), 15) == 0
    # Over the next minute the allowance comes back steadily: one every 6 s, never a burst.
    admitted = 0
    for _ in range(60):
        clock.advance(1.0)
        admitted += await admitted_count(limiter, ctx(), 3)
    assert admitted == 10
    # In any 60 s span, at most limit + elapsed * rate: here 10 + 60.2 * 10 / 60 = 20.
    assert 10 + admitted <= 10 + int(60.2 * 10 / 60)


async def test_requests_per_second_and_per_day_hold_together(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limiter = make_limiter(key_limits(requests_per_second=2, requests_per_day=3), clock)
    assert await admitted_count(limiter, ctx(), 5) == 2
    clock.advance(1.0)
    admission = await limiter.reserve(ctx())
    assert admission.allowed
    clock.advance(1.0)
    denied = await limiter.reserve(ctx())
    assert denied.denial is not None and denied.denial.name == "requests_per_day"
    assert denied.denial.retry_after == pytest.approx(86_400 / 3 - 2, abs=0.01)


# --- Tokens ----------------------------------------------------------------------------------


async def test_tokens_are_reserved_then_settled_on_actual_usage(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limiter = make_limiter(key_limits(tokens_per_minute=1000), clock)
    first = await limiter.reserve(ctx(100, 500))
    assert first.allowed and first.tokens is not None and first.tokens.remaining == 400
    second = await limiter.reserve(ctx(100, 500))
    assert not second.allowed
    assert second.denial is not None and second.denial.name == "tokens_per_minute"
    # The first used 150 of its 600: 450 come back, so the second now fits.
    assert await limiter.settle(first, Usage(120, 30))
    third = await limiter.reserve(ctx(100, 500))
    assert third.allowed and third.tokens is not None and third.tokens.remaining == 250
    # More than reserved (a prompt underestimated) is charged too: the scope goes into debt.
    assert await limiter.settle(third, Usage(900, 0))
    over = await limiter.reserve(ctx(0, 0))
    assert not over.allowed


async def test_a_request_larger_than_the_limit_is_refused_as_too_large(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter(key_limits(tokens_per_minute=1000), Clock())
    admission = await limiter.reserve(ctx(200, 4096))
    assert admission.denial is not None
    assert "Request too large" in admission.denial.message
    assert "max_tokens" in admission.denial.message


# --- Concurrency -----------------------------------------------------------------------------


async def test_in_flight_slots_are_released_by_settle(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(key_limits(max_concurrent=3))
    held = [await limiter.reserve(ctx()) for _ in range(3)]
    assert all(a.allowed for a in held)
    refused = await limiter.reserve(ctx())
    assert refused.denial is not None and refused.denial.name == "max_concurrent"
    await limiter.settle(held[0], Usage(1, 1))
    assert (await limiter.reserve(ctx())).allowed
    # A failed request frees its slot as well.
    await limiter.settle(held[1], None)
    assert (await limiter.reserve(ctx())).allowed
    assert not (await limiter.reserve(ctx())).allowed


async def test_in_flight_slots_of_a_dead_process_expire(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(key=WindowLimits(max_concurrent=2)), concurrency_lease_seconds=30
    )
    limiter = make_limiter(settings, clock)
    assert await admitted_count(limiter, ctx(), 5) == 2  # never settled: the replica "died"
    clock.advance(29)
    assert not (await limiter.reserve(ctx())).allowed
    clock.advance(2)
    assert await admitted_count(limiter, ctx(), 5) == 2


async def test_concurrency_is_exact_under_concurrent_load(make_limiter: MakeLimiter) -> None:
    settings = key_limits(max_concurrent=100)
    replicas = [make_limiter(settings), make_limiter(settings)]
    results = await asyncio.gather(*(replicas[i % 2].reserve(ctx()) for i in range(500)))
    assert sum(a.allowed for a in results) == 100


# --- Two replicas, one Redis -----------------------------------------------------------------


async def test_two_replicas_admit_exactly_the_limit(make_limiter: MakeLimiter) -> None:
    # Redis's own clock (no test clock): per day, so nothing refills while the test runs.
    settings = RateLimitSettings(
        defaults=ScopeLimits(key=WindowLimits(requests_per_day=100)),
        failure_mode="closed",
    )
    replicas = [make_limiter(settings), make_limiter(settings)]
    assert all([await r.warm_up() for r in replicas])
    results = await asyncio.gather(*(replicas[i % 2].reserve(ctx()) for i in range(500)))
    assert sum(a.allowed for a in results) == 100
    assert not any(a.degraded for a in results)
    by_replica = [sum(a.allowed for a in results[i::2]) for i in range(2)]
    assert all(n > 0 for n in by_replica)


async def test_two_replicas_never_overshoot_tokens(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(tenant=WindowLimits(tokens_per_minute=10_000)), failure_mode="closed"
    )
    replicas = [make_limiter(settings, clock), make_limiter(settings, clock)]
    results = await asyncio.gather(
        *(replicas[i % 2].reserve(ctx(70, 30, key=f"k{i}")) for i in range(500))
    )
    assert sum(a.allowed for a in results) == 100


async def test_concurrent_budget_reservations_cannot_overspend(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(tenant_budget=Budget(daily_usd=1.0)),
        prices={"gpt-4o": Price(input=2.5, output=10.0)},
        failure_mode="closed",
    )
    replicas = [make_limiter(settings, clock), make_limiter(settings, clock)]
    # Each reserves 1000 * 2.5 + 750 * 10 = 10,000 micro-USD = $0.01: exactly 100 fit in $1.
    context = ctx(1000, 750, model="gpt-4o")
    results = await asyncio.gather(*(replicas[i % 2].reserve(context) for i in range(500)))
    admitted = [a for a in results if a.allowed]
    assert len(admitted) == 100
    denial = next(a.denial for a in results if a.denial is not None)
    assert denial.type == "budget_exceeded"
    assert (denial.scope, denial.name) == ("tenant", "daily_usd")
    assert "$1" in denial.message and "resets at 2023-11-15T00:00:00Z" in denial.message
    # Actual usage is less: each settles at 400 * 2.5 + 100 * 10 = $0.002, leaving $0.80.
    await asyncio.gather(*(replicas[0].settle(a, Usage(400, 100)) for a in admitted))
    spent = [int(v or 0) for v in await redis_client.mget(await redis_client.keys("wrl:*:usd:*"))]
    assert spent == [200_000]
    assert await admitted_count(replicas[1], context, 200) == 80


async def test_budgets_follow_utc_calendar_windows(make_limiter: MakeLimiter) -> None:
    clock = Clock(dt.datetime(2024, 1, 31, 23, 59, 50, tzinfo=dt.UTC).timestamp())
    settings = RateLimitSettings(
        defaults=ScopeLimits(key_budget=Budget(daily_usd=0.02, monthly_usd=0.015)),
        prices={"m": Price(input=1000.0, output=0.0)},  # $0.001 per token: $0.005 a request
    )
    limiter = make_limiter(settings, clock)
    assert await admitted_count(limiter, ctx(5, model="m"), 5) == 3
    refused = await limiter.reserve(ctx(5, model="m"))
    assert refused.denial is not None and refused.denial.name == "monthly_usd"
    assert refused.denial.retry_after == pytest.approx(10.0)
    # A key's own daily budget, lower than the default, binds first.
    own = KeyLimits(budget=Budget(daily_usd=0.01))
    assert await admitted_count(limiter, ctx(5, key="k2", model="m", key_limits=own), 5) == 2
    refused = await limiter.reserve(ctx(5, key="k2", model="m", key_limits=own))
    assert refused.denial is not None and refused.denial.name == "daily_usd"
    clock.advance(11)  # 1 February: a new day and a new month
    assert await admitted_count(limiter, ctx(5, model="m"), 5) == 3
    refused = await limiter.reserve(ctx(5, model="m"))
    assert refused.denial is not None and refused.denial.name == "monthly_usd"
    assert refused.denial.resets_at == dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()


# --- Settle ----------------------------------------------------------------------------------


async def test_settle_is_idempotent_and_a_failure_refunds_everything(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(
            key=WindowLimits(requests_per_minute=2, tokens_per_minute=100, max_concurrent=5),
            key_budget=Budget(daily_usd=1),
        ),
        prices={"*": Price(input=100, output=100)},
    )
    limiter = make_limiter(settings, clock)
    first = await limiter.reserve(ctx(10, 40, model="x"))
    second = await limiter.reserve(ctx(10, 40, model="x"))
    assert first.allowed and second.allowed
    assert not (await limiter.reserve(ctx(0, 0, model="x"))).allowed
    # Upstream failed: the request, its tokens, its cost and its slot all come back.
    assert await limiter.settle(first, None)
    assert not await limiter.settle(first, None)
    assert not await limiter.settle(first, Usage(1000, 1000))
    third = await limiter.reserve(ctx(10, 40, model="x"))
    assert third.allowed and third.requests is not None and third.requests.remaining == 0
    assert await limiter.settle(second, Usage(5, 5))
    assert await limiter.settle(third, Usage(5, 5))
    assert await limiter.settle(third, Usage(5, 5)) is False
    spent_key = (await redis_client.keys("wrl:*:usd:*"))[0]
    assert int(await redis_client.get(spent_key) or 0) == 2 * 10 * 100
    inflight = await redis_client.keys("wrl:*:c:*")
    assert inflight == [] or await redis_client.zcard(inflight[0]) == 0


async def test_many_settlements_in_one_call(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(key=WindowLimits(tokens_per_minute=1000, max_concurrent=50)),
        global_model={"m": WindowLimits(requests_per_minute=100)},
    )
    limiter = make_limiter(settings, clock)
    # Ten keys of five tenants, each on the tenant's slot and the global model's.
    admitted = [
        await limiter.reserve(ctx(10, 90, tenant=f"t{i % 5}", key=f"k{i}", model="m"))
        for i in range(10)
    ]
    assert all(a.allowed for a in admitted) and len(limiter.leases) == 10
    await redis_client.script_flush()  # the pipeline falls back to EVAL per call as well
    settled = [(a, Usage(10, 10 * i)) for i, a in enumerate(admitted)]
    assert await limiter.settle_many(settled) == 10
    assert await limiter.settle_many(settled) == 0
    assert len(limiter.leases) == 0
    # k3 used 10 + 30 of its 100: 960 of 1000 left; the others likewise, in-flight all freed.
    again = await limiter.reserve(ctx(0, 960, tenant="t3", key="k3", model="m"))
    assert again.allowed and again.tokens is not None and again.tokens.remaining == 0
    inflight = await redis_client.keys("wrl:*:c:*")
    assert sum([await redis_client.zcard(k) for k in inflight]) == 1


async def test_a_lost_script_cache_is_reloaded(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    limiter = make_limiter(key_limits(requests_per_minute=2), Clock())
    assert (await limiter.reserve(ctx())).allowed
    await redis_client.script_flush()
    admission = await limiter.reserve(ctx())
    assert admission.allowed and not admission.degraded
    await redis_client.script_flush()
    assert await limiter.settle(admission, Usage(1, 1))


# --- Scopes ----------------------------------------------------------------------------------


async def test_tenant_model_and_route_scopes_and_overrides(make_limiter: MakeLimiter) -> None:
    settings = RateLimitSettings(
        defaults=ScopeLimits(
            key=WindowLimits(requests_per_minute=100),
            tenant=WindowLimits(requests_per_minute=4),
            model={"gpt-4o*": WindowLimits(requests_per_minute=2)},
            route={"/ml/": WindowLimits(requests_per_minute=1)},
        ),
        tenants={"big": ScopeLimits(tenant=WindowLimits(requests_per_minute=50))},
    )
    limiter = make_limiter(settings, Clock())
    # Model: two keys of one tenant share the tenant's allowance on gpt-4o*.
    assert (await limiter.reserve(ctx(key="a", model="gpt-4o"))).allowed
    assert (await limiter.reserve(ctx(key="b", model="gpt-4o-mini"))).allowed
    refused = await limiter.reserve(ctx(key="c", model="gpt-4o"))
    assert refused.denial is not None
    assert (refused.denial.scope, refused.denial.name) == ("model", "requests_per_minute")
    # Another tenant has its own allowance on that model.
    assert (await limiter.reserve(ctx(tenant="other", model="gpt-4o"))).allowed
    # Route, then tenant: acme has used 2 of its 4.
    assert (await limiter.reserve(ctx(route="/ml/"))).allowed
    refused = await limiter.reserve(ctx(route="/ml/"))
    assert refused.denial is not None and refused.denial.scope == "route"
    assert (await limiter.reserve(ctx(model="claude"))).allowed
    refused = await limiter.reserve(ctx(model="claude"))
    assert refused.denial is not None and refused.denial.scope == "tenant"
    # A configured tenant's override replaces the default tenant limit.
    assert await admitted_count(limiter, ctx(tenant="big"), 60) == 50


async def test_a_keys_own_limits_replace_the_defaults(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(key_limits(requests_per_minute=100, max_concurrent=1), Clock())
    own = KeyLimits(WindowLimits(requests_per_minute=2))
    assert await admitted_count(limiter, ctx(key="limited", key_limits=own), 5) == 1
    # Still bound by the default max_concurrent of 1, which it did not replace.
    assert await admitted_count(limiter, ctx(key="free"), 5) == 1


async def test_a_global_model_limit_spans_tenants_on_its_own_slot(
    make_limiter: MakeLimiter, redis_client: redis.Redis
) -> None:
    settings = RateLimitSettings(
        defaults=ScopeLimits(tenant=WindowLimits(requests_per_minute=2)),
        global_model={"big-model": WindowLimits(requests_per_minute=3)},
    )
    limiter = make_limiter(settings, Clock())
    results = [await limiter.reserve(ctx(tenant=t, model="big-model")) for t in "abcd"]
    assert [a.allowed for a in results] == [True, True, True, False]
    assert results[3].denial is not None and results[3].denial.scope == "global_model"
    # The refused request's tenant reservation was rolled back: tenant d still has 2.
    assert await admitted_count(limiter, ctx(tenant="d", model="other"), 3) == 2
    keys = sorted(
        k.decode() if isinstance(k, bytes) else k for k in await redis_client.keys("wrl:*")
    )
    assert "wrl:{global:big-model}:w:global_model:-:requests_per_minute" in keys
    # Not on this model: the global limit is not asked (only one script call).
    assert (await limiter.reserve(ctx(tenant="e", model="small"))).allowed


# --- Redis down or slow ----------------------------------------------------------------------


async def _timed_reserve(limiter: RateLimiter, n: int = 20) -> tuple[list[Admission], float]:
    started = time.monotonic()
    results = await asyncio.gather(*(limiter.reserve(ctx()) for _ in range(n)))
    return list(results), time.monotonic() - started


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_redis_outage_fails_as_configured_and_recovers(
    mode: str, tmp_path: Path, make_limiter: MakeLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedRedis(tmp_path / "r", persist=True)
    server.start()
    try:
        settings = RateLimitSettings(
            defaults=ScopeLimits(key=WindowLimits(requests_per_day=3)),
            failure_mode=mode,  # type: ignore[arg-type]
            timeout=0.1,
            retry_interval=0.2,
        )
        limiter = make_limiter(settings, url=server.url, keep_timeout=True)
        assert (await limiter.reserve(ctx())).allowed
        server.stop()
        caplog.set_level(logging.WARNING, logger="proxy.ratelimit.limiter")
        for _ in range(3):
            results, elapsed = await _timed_reserve(limiter)
            assert elapsed < 0.5  # no call waits past the Redis timeout
            assert all(a.degraded for a in results)
            if mode == "open":
                assert all(a.allowed and a.reservation is None for a in results)
            else:
                assert not any(a.allowed for a in results)
                denial = results[0].denial
                assert denial is not None and denial.type == "rate_limit_unavailable"
            await asyncio.sleep(0.25)  # past retry_interval: the next call tries Redis again
        outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(outage_logs) == 1
        assert limiter.events[f"failed_{mode}"] == 60
        server.start()
        await asyncio.sleep(0.25)
        # Back: limits hold again, counting what was reserved before the outage.
        results = [await limiter.reserve(ctx()) for _ in range(4)]
        assert [a.allowed for a in results] == [True, True, False, False]
        assert not any(a.degraded for a in results)
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers: Redis hung, or a black-holed network."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_slow_redis_never_holds_a_request_past_the_timeout(
    make_limiter: MakeLimiter,
) -> None:
    async with silent_server() as port:
        settings = RateLimitSettings(
            defaults=ScopeLimits(key=WindowLimits(requests_per_minute=3)), timeout=0.15
        )
        limiter = make_limiter(settings, url=f"redis://127.0.0.1:{port}/0", keep_timeout=True)
        results, elapsed = await _timed_reserve(limiter)
        assert elapsed < 0.4
        assert all(a.allowed and a.degraded for a in results)
        # Within retry_interval, requests do not even try: they answer at once.
        results, elapsed = await _timed_reserve(limiter)
        assert elapsed < 0.1  # under the 0.15 s timeout: nobody waited on Redis
        await limiter.client.aclose()


# --- Leases of long requests -----------------------------------------------------------------


async def test_a_running_requests_lease_is_renewed_until_it_settles(
    make_limiter: MakeLimiter,
) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(key=WindowLimits(max_concurrent=1)), concurrency_lease_seconds=30
    )
    limiter = make_limiter(settings, clock)
    running = await limiter.reserve(ctx())
    assert running.allowed and len(limiter.leases) == 1
    for _ in range(3):
        clock.advance(20)
        assert await limiter.leases.renew() == 1
    # 60 s in, twice the lease: the slot is still taken by the request that runs.
    refused = await limiter.reserve(ctx())
    assert refused.denial is not None and refused.denial.name == "max_concurrent"
    assert await limiter.settle(running, Usage(1, 1))
    assert len(limiter.leases) == 0
    assert await limiter.leases.renew() == 0
    assert (await limiter.reserve(ctx())).allowed


async def test_an_expired_lease_is_not_revived(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    settings = RateLimitSettings(
        defaults=ScopeLimits(key=WindowLimits(max_concurrent=1)), concurrency_lease_seconds=30
    )
    limiter = make_limiter(settings, clock)
    stale = await limiter.reserve(ctx())
    clock.advance(31)  # renewals failed for a whole lease (say Redis was away): it expired
    newcomer = await limiter.reserve(ctx())
    assert newcomer.allowed
    # Renewing now must not bring the old lease back beside the newcomer's.
    assert await limiter.leases.renew() == 1
    assert not (await limiter.reserve(ctx())).allowed
    assert await limiter.settle(newcomer, Usage(1, 1))
    assert (await limiter.reserve(ctx())).allowed
    assert stale.allowed
