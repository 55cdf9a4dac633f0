"""Fixtures of the rate-limit tests: RateLimiters on the embedded Redis, as replicas."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from proxy.ratelimit import RateLimiter, RateLimitSettings
from proxy.ratelimit.lua import create_client
from tests.conftest import Services
from tests.integration.limits import Clock, MakeLimiter


@pytest.fixture
async def make_limiter(services: Services, redis_client: redis.Redis) -> AsyncIterator[MakeLimiter]:
    """A RateLimiter per call, each with its own Redis client, as separate replicas would be."""
    clients: list[redis.Redis] = []
    limiters: list[RateLimiter] = []

    def make(
        settings: RateLimitSettings,
        clock: Clock | None = None,
        url: str | None = None,
        keep_timeout: bool = False,
    ) -> RateLimiter:
        if not keep_timeout:
            # Hundreds of calls at once on a cold pool spend >100 ms opening connections;
            # these tests are about counting, and a timeout would fail them open.
            settings = dataclasses.replace(settings, timeout=5.0)
        client = create_client(url or services.redis_url, settings.timeout)
        clients.append(client)
        limiters.append(RateLimiter(client, settings, clock=clock))
        return limiters[-1]

    try:
        yield make
    finally:
        for limiter in limiters:
            await limiter.aclose()
        for client in clients:
            await client.aclose()
