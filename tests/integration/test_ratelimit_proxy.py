"""Rate limits through the proxy: SDK errors and headers, budgets, key limits validated."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import openai
import pytest

from proxy.ratelimit import share_sizing
from tests.conftest import RunningWarden
from tests.integration.limits import CHAT, auth, key_usage, key_with_limits, used
from tests.integration.test_metrics import parse, scrape, value


async def test_limited_key_gets_429_with_headers(warden: RunningWarden):
    _, key = await key_with_limits(warden, {"requests_per_minute": 3})
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        for remaining in ("2", "1", "0"):
            raw = await client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[arg-type]
            assert raw.headers["x-ratelimit-limit-requests"] == "3"
            assert raw.headers["x-ratelimit-remaining-requests"] == remaining
            assert raw.headers["x-ratelimit-reset-requests"]
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(**CHAT)  # type: ignore[arg-type]
    error = limited.value
    assert error.status_code == 429
    assert error.type == "rate_limit_exceeded"
    assert error.code == "key_requests_per_minute"
    assert 0 < float(error.response.headers["retry-after"]) <= 60


async def test_budget_is_charged_actual_usage_and_then_refused(start_warden: Callable[..., Any]):
    def priced(raw: dict[str, Any]) -> None:
        # $1 per token either way; a request reserves its estimate + 1 output token.
        raw["rate_limit"] = {
            "default_max_tokens": 1,
            "prices": {"echo-*": {"input": 1_000_000, "output": 1_000_000}},
        }

    warden = await start_warden(priced)
    _, key = await key_with_limits(warden, {"daily_usd": 2.5})
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        first = await client.chat.completions.create(**CHAT)  # type: ignore[arg-type]
        assert first.usage is not None and first.usage.total_tokens == 2  # $2 actually spent
        await asyncio.sleep(0.2)  # settlement runs after the response, off the request path
        with pytest.raises(openai.RateLimitError) as over:
            await client.chat.completions.create(**CHAT)  # type: ignore[arg-type]
    assert over.value.type == "budget_exceeded"
    assert over.value.code == "key_daily_usd"


async def test_bad_key_limits_name_the_field(warden: RunningWarden):
    async with warden.http.post(
        f"{warden.admin_url}/admin/keys",
        json={"tenant": "acme", "rate_limit": {"requests_per_minute": -1}},
        headers=warden.admin_headers(),
    ) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["param"] == "rate_limit.requests_per_minute"


async def test_a_busy_key_is_admitted_from_a_share_and_redis_gets_back_the_rest(
    start_warden: Callable[..., Any],
):
    """The shipped default: after the first requests, a share answers without a round trip.
    Stopping Warden gives back what the share did not use, so a second Warden on the same
    Redis sees exactly the requests that were made."""
    first = await start_warden()
    key_id, key = await key_with_limits(first, {"requests_per_day": 100_000, "max_concurrent": 50})
    remaining = []
    for _ in range(30):
        async with first.http.post(
            f"{first.proxy_url}/v1/chat/completions", json=CHAT, headers=auth(key)
        ) as r:
            assert r.status == 200
            remaining.append(int(r.headers["x-ratelimit-remaining-requests"]))
    # One request less each time (a day's allowance comes back at ~1 a second meanwhile).
    # A request that asks Redis itself while a share is on its way sees that share counted as
    # used (Redis granted it first; its quota is not spent, but the answer cannot tell): a dip
    # of one share at most, gone at the next request. Those dips set aside, the count is exact.
    dips = [
        i
        for i in range(1, len(remaining) - 1)
        if remaining[i] < remaining[i + 1] and remaining[i - 1] - remaining[i] > 1
    ]
    assert len(dips) <= 2, remaining
    # A share holds at most local_share (5%) of the day's 100,000, and MAX_REQUESTS.
    largest = min(share_sizing.MAX_REQUESTS, 100_000 // 20)
    assert all(remaining[i - 1] - remaining[i] <= largest + 1 for i in dips), remaining
    kept = [(i, r) for i, r in enumerate(remaining) if i not in dips]
    for (i, a), (j, b) in itertools.pairwise(kept):
        assert 0 <= a - b <= j - i, remaining
    samples = parse(await scrape(first))
    events = "warden_ratelimit_events_total"
    assert value(samples, events, event="share_granted") >= 1
    assert value(samples, events, event="share_admitted") >= 20
    await first.server.stop()

    second = await start_warden()
    usage = await key_usage(second, key_id)
    assert 28 <= used(usage, "requests_per_day") <= 30
    assert used(usage, "max_concurrent") == 0
