"""GET /admin/keys/{id}/usage and /admin/tenants/{id}/usage after real traffic through the proxy."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.integration.limits import (
    CHAT,
    admin_get,
    auth,
    by_limit,
    key_usage,
    key_with_limits,
    settled_usage,
    used,
)

# $1 per input token and $2 per output token, so spend is easy to check by hand.
PRICES = {"echo-*": {"input": 1_000_000, "output": 2_000_000}}


def tenant_limits(raw: dict[str, Any]) -> None:
    # Per-day windows: nothing visibly refills while a test runs, so the counts are exact.
    raw["rate_limit"] = {
        "default_max_tokens": 16,
        "defaults": {
            "tenant": {"requests_per_day": 1000, "max_concurrent": 10},
            "tenant_budget": {"monthly_usd": 500},
            "model": {"echo-*": {"tokens_per_day": 100_000}},
            "route": {"/v1": {"requests_per_day": 900}},
        },
        "prices": PRICES,
    }


async def test_key_usage_after_proxied_traffic(start_warden: Callable[..., Any]) -> None:
    warden = await start_warden(tenant_limits)
    key_id, key = await key_with_limits(
        warden,
        {"requests_per_day": 5, "tokens_per_day": 1000, "max_concurrent": 2, "daily_usd": 100},
    )
    for _ in range(2):
        body = {**CHAT, "max_tokens": 5}
        async with warden.http.post(
            f"{warden.proxy_url}/v1/chat/completions", json=body, headers=auth(key)
        ) as r:
            assert r.status == 200
            assert (await r.json())["usage"]["total_tokens"] == 2  # "hi" -> "hi"
    # Each request reserved 1 + 5 tokens; settled, each is charged its 1 + 1.
    usage = await settled_usage(warden, key_id, lambda u: used(u, "tokens_per_day") == 4)
    assert set(usage) == {
        ("key", "requests_per_day"),
        ("key", "tokens_per_day"),
        ("key", "max_concurrent"),
        ("key", "daily_usd"),
        ("tenant", "requests_per_day"),
        ("tenant", "max_concurrent"),
        ("tenant", "monthly_usd"),
    }
    requests = usage[("key", "requests_per_day")]
    assert requests["scope_id"] == key_id
    assert (requests["unit"], requests["window"]) == ("requests", "day")
    assert (requests["limit"], requests["used"], requests["remaining"]) == (5, 2, 3)
    # GCRA: the day is back to full two fifths of a day after the two requests.
    assert requests["resets_in_seconds"] == pytest.approx(2 * 86_400 / 5, abs=5)
    resets_at = dt.datetime.fromisoformat(requests["resets_at"].replace("Z", "+00:00"))
    assert abs(resets_at.timestamp() - (time.time() + 2 * 86_400 / 5)) < 5
    tokens = usage[("key", "tokens_per_day")]
    assert (tokens["limit"], tokens["used"], tokens["remaining"]) == (1000, 4, 996)
    assert usage[("key", "max_concurrent")] | {"resets_at": None} == {
        "scope": "key",
        "scope_id": key_id,
        "name": "max_concurrent",
        "unit": "concurrent",
        "window": None,
        "limit": 2,
        "used": 0,
        "remaining": 2,
        "resets_in_seconds": None,
        "resets_at": None,
    }
    spend = usage[("key", "daily_usd")]
    assert (spend["unit"], spend["window"]) == ("usd", "day")
    assert (spend["limit"], spend["used"], spend["remaining"]) == (100.0, 6.0, 94.0)
    today = dt.datetime.now(dt.UTC).date()
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    assert spend["resets_at"] == midnight.strftime("%Y-%m-%dT%H:%M:%SZ")
    tenant = usage[("tenant", "monthly_usd")]
    assert (tenant["scope_id"], tenant["used"], tenant["window"]) == ("acme", 6.0, "month")
    assert used(usage, "requests_per_day", "tenant") == 2


async def test_tenant_usage_shows_its_model_and_route_limits(
    start_warden: Callable[..., Any],
) -> None:
    warden = await start_warden(tenant_limits)
    _, key_a = await key_with_limits(warden, {})
    _, key_b = await key_with_limits(warden, {})
    _, other = await key_with_limits(warden, {}, tenant="globex")
    for key in (key_a, key_b, key_a, other):
        async with warden.http.post(
            f"{warden.proxy_url}/v1/chat/completions", json=CHAT, headers=auth(key)
        ) as r:
            assert r.status == 200

    async def acme() -> dict[tuple[str, str], dict[str, Any]]:
        status, body = await admin_get(warden, "/admin/tenants/acme/usage")
        assert status == 200 and body["tenant"] == "acme" and body["rate_limits_enabled"]
        return by_limit(body)

    deadline = time.monotonic() + 5
    usage = await acme()
    while usage[("model", "tokens_per_day")]["used"] != 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        usage = await acme()
    assert sorted(usage) == [
        ("model", "tokens_per_day"),
        ("route", "requests_per_day"),
        ("tenant", "max_concurrent"),
        ("tenant", "monthly_usd"),
        ("tenant", "requests_per_day"),
    ]
    # Three requests from two keys of acme; the other tenant's one is not counted here.
    assert usage[("tenant", "requests_per_day")]["used"] == 3
    assert usage[("route", "requests_per_day")] | {"resets_in_seconds": 0, "resets_at": ""} == {
        "scope": "route",
        "scope_id": "/v1",
        "name": "requests_per_day",
        "unit": "requests",
        "window": "day",
        "limit": 900,
        "used": 3,
        "remaining": 897,
        "resets_in_seconds": 0,
        "resets_at": "",
    }
    model = usage[("model", "tokens_per_day")]
    assert (model["scope_id"], model["used"]) == ("echo-*", 6)
    assert usage[("tenant", "monthly_usd")]["used"] == 9.0


async def test_unknown_key_is_404_and_a_bad_tenant_id_400(warden: RunningWarden) -> None:
    status, body = await admin_get(warden, "/admin/keys/nosuchkey0000000/usage")
    assert status == 404
    assert body["error"]["param"] == "key_id"
    assert body["error"]["type"] == "not_found_error"
    status, body = await admin_get(warden, "/admin/tenants/bad%20id!/usage")
    assert status == 400
    assert body["error"]["param"] == "tenant"


async def test_no_limits_is_an_empty_list_not_an_error(warden: RunningWarden) -> None:
    key = await warden.create_key("quiet")
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions", json=CHAT, headers=auth(key)
    ) as r:
        assert r.status == 200
    status, body = await admin_get(warden, "/admin/tenants/quiet/usage")
    assert status == 200
    assert body == {"tenant": "quiet", "rate_limits_enabled": True, "limits": []}
    status, body = await admin_get(warden, "/admin/tenants/never-seen/usage")
    assert (status, body["limits"]) == (200, [])


async def test_in_flight_requests_show_until_they_end(start_warden: Callable[..., Any]) -> None:
    warden = await start_warden()
    key_id, key = await key_with_limits(warden, {"max_concurrent": 3})
    body = {**CHAT, "stream": True}
    headers = auth(key, **{"x-sim-chunk-delay": "0.1", "x-sim-words": "10"})
    url = f"{warden.proxy_url}/v1/chat/completions"
    responses = [await warden.http.post(url, json=body, headers=headers) for _ in range(2)]
    try:
        usage = await key_usage(warden, key_id)
        assert used(usage, "max_concurrent") == 2
        assert usage[("key", "max_concurrent")]["remaining"] == 1
        for response in responses:
            assert response.status == 200
            await response.read()
    finally:
        for response in responses:
            response.release()
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    assert used(usage, "max_concurrent") == 0


async def test_usage_needs_the_admin_token(warden: RunningWarden) -> None:
    async with warden.http.get(f"{warden.admin_url}/admin/tenants/acme/usage") as r:
        assert r.status == 401
