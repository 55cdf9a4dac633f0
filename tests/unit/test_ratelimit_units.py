"""Pure parts of rate limiting: key limits, the YAML shape, plans and hash slots, wording."""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from functools import partial
from typing import Any

import pytest
import redis.asyncio as redis
import yaml
from aiohttp.test_utils import make_mocked_request
from redis.crc import key_slot

from proxy.apikeys import ApiKey
from proxy.exchange import Exchange
from proxy.formats import openai
from proxy.formats.segments import Usage
from proxy.ratelimit import (
    Admission,
    Budget,
    Denial,
    KeyLimits,
    LimitState,
    Price,
    RateLimit,
    RateLimiter,
    RateLimitSettings,
    RequestContext,
    ScopeLimits,
    WindowLimits,
    format_duration,
    parse_key_limits,
    settings_problems,
)
from proxy.ratelimit.plan import Planner
from proxy.ratelimit.settings import cost_micro_usd, find_pattern
from proxy.ratelimit.stage import (
    estimate_prompt_tokens,
    refusal,
    requested_output_tokens,
    usage_of,
)
from proxy.typed_yaml import read_typed


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.02, "20ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (59.9994, "59.999s"),
        (360, "6m0s"),
        (90.5, "1m30.5s"),
        (3723, "1h2m3s"),
        (86_400, "24h0m0s"),
    ],
)
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_key_limits_parse() -> None:
    parsed = parse_key_limits(
        {"requests_per_minute": 60, "tokens_per_day": 10**6, "max_concurrent": 2, "daily_usd": 5}
    )
    assert parsed == KeyLimits(
        WindowLimits(requests_per_minute=60, tokens_per_day=10**6, max_concurrent=2),
        Budget(daily_usd=5.0),
    )
    assert parse_key_limits({}) == KeyLimits()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"requests_per_minute": "60"}, "rate_limit.requests_per_minute"),
        ({"requests_per_minute": 0}, "rate_limit.requests_per_minute"),
        ({"tokens_per_second": -1}, "rate_limit.tokens_per_second"),
        ({"max_concurrent": True}, "rate_limit.max_concurrent"),
        ({"tokens_per_minute": 1.5}, "rate_limit.tokens_per_minute"),
        ({"monthly_usd": -3}, "rate_limit.monthly_usd"),
        ({"daily_usd": float("nan")}, "rate_limit.daily_usd"),
        ({"requests_per_hour": 5}, "rate_limit.requests_per_hour"),
    ],
)
def test_key_limit_errors_name_the_field(raw: dict[str, Any], field: str) -> None:
    errors = parse_key_limits(raw)
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0].startswith(field + ":")


def test_every_key_limit_error_is_reported_at_once() -> None:
    errors = parse_key_limits({"requests_per_minute": 0, "daily_usd": "x", "burst": 1})
    assert isinstance(errors, list) and len(errors) == 3
    assert parse_key_limits([1]) == ["rate_limit: expected an object"]


CONFIG_YAML = """
failure_mode: closed
timeout: 0.05
default_max_tokens: 1024
concurrency_lease_seconds: 300
defaults:
  key: {requests_per_minute: 600, tokens_per_minute: 200000, max_concurrent: 20}
  tenant: {requests_per_minute: 5000}
  model:
    "gpt-4o*": {tokens_per_minute: 500000}
  route:
    /ml/: {requests_per_second: 50}
  key_budget: {daily_usd: 20, monthly_usd: 300}
  tenant_budget: {monthly_usd: 10000}
tenants:
  acme:
    tenant: {requests_per_minute: 20000}
    tenant_budget: {monthly_usd: 50000}
global_model:
  "gpt-4o*": {tokens_per_minute: 30000000}
prices:
  gpt-4o: {input: 2.5, output: 10}
  "claude-*": {input: 3, output: 15}
"""


def test_the_yaml_shape_reads_into_settings() -> None:
    settings, problems = read_typed(RateLimitSettings, yaml.safe_load(CONFIG_YAML), {})
    assert problems == []
    assert isinstance(settings, RateLimitSettings)
    assert settings.failure_mode == "closed"
    assert settings.defaults.key == WindowLimits(
        requests_per_minute=600, tokens_per_minute=200_000, max_concurrent=20
    )
    assert settings.tenants["acme"].tenant_budget == Budget(monthly_usd=50_000)
    assert settings.prices["claude-*"] == Price(3, 15)
    assert settings_problems(settings) == []


def test_zero_limits_in_config_are_problems() -> None:
    settings = RateLimitSettings(
        defaults=ScopeLimits(model={"m": WindowLimits(requests_per_minute=0)})
    )
    assert settings_problems(settings) == [
        (
            "rate_limit.defaults.model.m.requests_per_minute",
            "must be at least 1 (leave it out for no limit)",
        )
    ]


def test_patterns_prefer_an_exact_name_then_globs_in_order() -> None:
    table = {"gpt-4o*": 1, "gpt-*": 2, "gpt-4o-mini": 3}
    assert find_pattern(table, "gpt-4o-mini") == ("gpt-4o-mini", 3)
    assert find_pattern(table, "gpt-4o-2024") == ("gpt-4o*", 1)
    assert find_pattern(table, "gpt-3.5") == ("gpt-*", 2)
    assert find_pattern(table, "claude") is None
    assert find_pattern(table, None) is None


def test_costs_are_whole_micro_dollars_rounded_up() -> None:
    # $2.50 per 1M input tokens is 2.5 micro-dollars per token.
    assert cost_micro_usd(Price(2.5, 10), 1000, 100) == 3500
    assert cost_micro_usd(Price(0.15, 0.6), 1, 0) == 1
    assert cost_micro_usd(None, 10**6, 10**6) == 0


def full_settings() -> RateLimitSettings:
    settings, _ = read_typed(RateLimitSettings, yaml.safe_load(CONFIG_YAML), {})
    assert isinstance(settings, RateLimitSettings)
    return settings


def test_one_script_call_touches_one_hash_slot() -> None:
    planner = Planner(full_settings())
    when = dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC).timestamp()
    for tenant in ("acme", "team {a}:b", "ünï/c%de"):
        context = RequestContext(tenant, "key:1}", "gpt-4o", "/ml/", 10, 10)
        plans = planner.plan(context, when)
        assert [p.slot.startswith("global:") for p in plans] == [False, True]
        for plan in plans:
            slots = {key_slot(c.key.encode()) for c in plan.checks}
            assert len(slots) == 1, [c.key for c in plan.checks]
        # Different tenants, different slots' keys: no brace in a tenant can move its keys.
        assert all("{" not in c.key.split("}", 1)[1] for c in plans[0].checks)
    names = [(c.scope, c.name) for c in plans[0].checks]
    assert names == [
        ("key", "requests_per_minute"),
        ("key", "tokens_per_minute"),
        ("key", "max_concurrent"),
        ("tenant", "requests_per_minute"),
        ("model", "tokens_per_minute"),
        ("route", "requests_per_second"),
        ("key", "daily_usd"),
        ("key", "monthly_usd"),
        ("tenant", "monthly_usd"),
    ]
    budget_keys = [c.key for c in plans[0].checks if c.kind == "b"]
    assert budget_keys[0].endswith(":d20240229") and budget_keys[1].endswith(":m202402")
    ends = [c.span for c in plans[0].checks if c.kind == "b"]
    assert ends[0] == dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp() * 1000 == ends[1]


def test_plans_are_made_once_per_request_shape_and_day() -> None:
    planner = Planner(full_settings())
    noon = dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC).timestamp()
    small = RequestContext("acme", "k1", "gpt-4o", "/v1/", 10, 10)
    large = RequestContext("acme", "k1", "gpt-4o", "/v1/", 9000, 4000)
    # Amounts are not part of a plan: requests of any size share it within a day.
    assert planner.plan(large, noon + 3600) is planner.plan(small, noon)
    next_day = planner.plan(small, noon + 86_400)
    assert next_day[0].checks[-3].key.endswith(":d20240301")
    other_key = planner.plan(RequestContext("acme", "k2", "gpt-4o"), noon)
    assert other_key[0].checks[0].key.endswith(":k2:requests_per_minute")


def test_a_plans_specs_are_packed_once_with_only_the_amounts_packed_per_call() -> None:
    planner = Planner(full_settings())
    noon = dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC).timestamp()
    [plan] = planner.plan(RequestContext("acme", "k1", "other"), noon)
    assert [c.name for c in plan.checks] == [
        "requests_per_minute",
        "tokens_per_minute",
        "max_concurrent",
        "requests_per_minute",
        "daily_usd",
        "monthly_usd",
        "monthly_usd",
    ]
    march = round(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)
    # Kinds as the scripts number them: 1 GCRA window, 2 in flight, 3 budget.
    limits = [1, 600, 60000, 1, 200000, 60000, 2, 20, 300000, 1, 20000, 60000]
    limits += [3, 20000000, march, 3, 300000000, march, 3, 50000000000, march]
    assert struct.unpack(">21d", plan.limits) == tuple(limits)
    assert struct.unpack(">7d", plan.reserve_spec(120, 7)) == (1, 120, 1, 1, 7, 7, 7)
    # A share of 10 requests, their tokens and USD, and 3 in-flight slots.
    share = struct.unpack(">7d", plan.reserve_spec(1200, 70, requests=10, slots=3))
    assert share == (10, 1200, 3, 10, 70, 70, 70)
    assert struct.unpack(">7d", plan.settle_spec(-1, -120, -7)) == (-1, -120, 0, -1, -7, -7, -7)
    assert plan.inflight_keys == (plan.checks[2].key,)


async def test_a_keys_limits_are_parsed_once_per_row_loaded() -> None:
    client = redis.Redis()  # never connects: the stage's cache alone is under test
    stage = RateLimit(RateLimiter(client, RateLimitSettings()))
    raw = {"requests_per_minute": 60, "daily_usd": 5}
    now = dt.datetime.now(dt.UTC)
    key = ApiKey("k1", "acme", None, b"", None, None, now, None, None, None, raw, {})
    first = stage._limits_of(key)
    assert first == KeyLimits(WindowLimits(requests_per_minute=60), Budget(daily_usd=5))
    assert stage._limits_of(key) is first
    # The key cache loaded the row again, changed: its limits are read again.
    reloaded = dataclasses.replace(key, rate_limit={"requests_per_minute": 30})
    assert stage._limits_of(reloaded) == KeyLimits(WindowLimits(requests_per_minute=30))
    assert stage._limits_of(dataclasses.replace(key, rate_limit=None)) is None
    await client.aclose()


def test_tenant_overrides_merge_field_by_field() -> None:
    planner = Planner(full_settings())
    acme = planner.scope_limits("acme")
    assert acme.tenant == WindowLimits(requests_per_minute=20_000)
    assert acme.key_budget == Budget(daily_usd=20, monthly_usd=300)
    assert planner.scope_limits("unknown").tenant == WindowLimits(requests_per_minute=5000)


def test_no_limits_means_no_checks() -> None:
    assert Planner(RateLimitSettings()).plan(RequestContext("t", "k"), 0.0) == ()


@pytest.mark.parametrize(
    ("operation", "payload", "expected"),
    [
        ("chat", {"max_tokens": 100}, 100),
        ("chat", {"max_completion_tokens": 50, "max_tokens": 100}, 50),
        ("chat", {"max_tokens": 100, "n": 3}, 300),
        ("responses", {"max_output_tokens": 70}, 70),
        ("chat", {}, 4096),
        ("chat", {"max_tokens": "lots"}, 4096),
        ("embeddings", {"input": "x"}, 0),
        ("chat", ["not", "a", "dict"], 4096),
    ],
)
def test_output_tokens_reserved(operation: str, payload: Any, expected: int) -> None:
    assert requested_output_tokens(operation, payload, RateLimitSettings()) == expected


def test_prompt_tokens_count_text_not_images() -> None:
    text = "word " * 400  # 2000 characters: about 500 tokens
    image = "data:image/png;base64," + "A" * 100_000
    payload = {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ],
    }
    read = partial(openai.request_segments, "chat", payload)
    estimate = estimate_prompt_tokens(read, 102_400, RateLimitSettings())
    assert 500 <= estimate < 520
    # A format without a text reader falls back to the body size.
    assert estimate_prompt_tokens(None, 4000, RateLimitSettings()) == 1000


def test_a_denial_becomes_a_429_with_retry_headers() -> None:
    denial = Denial("budget_exceeded", "tenant", "daily_usd", 3600.2, 0.0, "Budget exceeded")
    admission = Admission(
        False, requests=LimitState(60, 0, 1.0), tokens=LimitState(1000, 10, 360.0), denial=denial
    )
    reply = refusal(admission)
    assert (reply.status, reply.kind, reply.code) == (429, "budget_exceeded", "tenant_daily_usd")
    assert reply.headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "10",
        "x-ratelimit-reset-tokens": "6m0s",
        "retry-after": "3601",
        "retry-after-ms": "3600200",
    }
    unavailable = Denial("rate_limit_unavailable", "", "redis", 1.0, 0.0, "down")
    reply = refusal(Admission(False, denial=unavailable, degraded=True))
    assert (reply.status, reply.code) == (503, "rate_limit_unavailable")


def test_usage_fields_left_out_count_as_reserved() -> None:
    # The contract settle() relies on: Usage() is "as reserved", Usage(0, 0) is "nothing".
    assert Usage().input_tokens is None and Usage(0, 0).total_tokens == 0


def _exchange(status: int | None, **fields: Any) -> Exchange:
    exchange = Exchange.begin(make_mocked_request("POST", "/v1/chat/completions"))
    exchange.upstream_status = status
    for name, value in fields.items():
        setattr(exchange, name, value)
    return exchange


@pytest.mark.parametrize(
    ("status", "fields", "reported", "charged"),
    [
        # The model never answered: everything back, the request too.
        (None, {}, None, None),
        (None, {"client_disconnected": True}, None, None),
        (502, {}, None, None),
        # A 4xx is a request without tokens; a JSON answer without usage keeps its reservation.
        (400, {}, None, Usage(0, 0)),
        (200, {}, None, Usage()),
        (200, {}, Usage(7, 3), Usage(7, 3)),
        # Streams: reported usage wins; output not reported is counted (41 chars -> 11 tokens).
        (200, {"streamed": True, "streamed_text_chars": 41}, Usage(7, 3), Usage(7, 3)),
        (200, {"streamed": True, "streamed_text_chars": 41}, None, Usage(None, 11)),
        (200, {"streamed": True, "streamed_text_chars": 41}, Usage(5, None), Usage(5, 11)),
        # Cut short, an early count (Anthropic's message_start: 0) lags behind the text.
        (
            200,
            {"streamed": True, "streamed_text_chars": 41, "client_disconnected": True},
            Usage(5, 0),
            Usage(5, 11),
        ),
        (
            200,
            {"streamed": True, "streamed_text_chars": 4, "stream_cut": True},
            Usage(5, 9),
            Usage(5, 9),
        ),
    ],
)
def test_what_settlement_charges(
    status: int | None, fields: dict[str, Any], reported: Usage | None, charged: Usage | None
) -> None:
    assert usage_of(_exchange(status, **fields), reported, 4.0) == charged
