"""Settlement through the proxy: refunds when the model never answered, charges from streams.

Every test reads the key's counters back through the usage API and proves a refund by the next
admission: a limit sized so that the next request fits only if the refund happened.
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.conftest import RunningWarden
from tests.integration.limits import (
    CHAT,
    auth,
    key_usage,
    key_with_limits,
    settled_usage,
    used,
)

# $1 per input token and $2 per output token.
PRICES = {"echo-*": {"input": 1_000_000, "output": 2_000_000}}
# Enough for one request reserving 1 + 1000 tokens; a second fits only after a refund.
LIMITS = {"requests_per_day": 2, "tokens_per_day": 1100, "max_concurrent": 1, "daily_usd": 2100}
COUNTERS = ("requests_per_day", "tokens_per_day", "max_concurrent", "daily_usd")
BIG = {**CHAT, "max_tokens": 1000}


def priced(raw: dict[str, Any]) -> None:
    raw["rate_limit"] = {"prices": PRICES}
    raw["upstreams"]["openai"]["timeouts"]["read"] = 0.5


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens once the socket is closed: connections are refused


def unreachable(raw: dict[str, Any]) -> None:
    priced(raw)
    raw["upstreams"]["openai"]["url"] = f"http://127.0.0.1:{closed_port()}"


def all_zero(usage: dict[tuple[str, str], dict[str, Any]]) -> bool:
    return all(used(usage, name) == 0 for name in COUNTERS)


async def post(warden: RunningWarden, key: str, body: dict[str, Any], **headers: str) -> int:
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions", json=body, headers=auth(key, **headers)
    ) as r:
        await r.read()
        return r.status


@pytest.mark.parametrize(
    ("edit", "headers", "status"),
    [
        (priced, {"x-sim-status": "503"}, 503),
        (priced, {"x-sim-delay": "2"}, 504),
        (unreachable, {}, 502),
    ],
    ids=["upstream_5xx", "upstream_timeout", "upstream_unreachable"],
)
async def test_upstream_failure_refunds_the_whole_reservation(
    start_warden: Callable[..., Any], edit: Any, headers: dict[str, str], status: int
) -> None:
    warden = await start_warden(edit)
    key_id, key = await key_with_limits(warden, LIMITS)
    for _ in range(3):  # more failures than the limit allows requests
        assert await post(warden, key, BIG, **headers) == status
        usage = await settled_usage(warden, key_id, all_zero)
        assert {name: used(usage, name) for name in COUNTERS} == dict.fromkeys(COUNTERS, 0)
    if edit is unreachable:
        return
    # Nothing was spent: the full allowance is still there, and no more than it.
    assert await post(warden, key, BIG) == 200
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    assert await post(warden, key, BIG) == 200
    assert await post(warden, key, CHAT) == 429


async def test_client_gone_before_the_answer_refunds_everything(
    start_warden: Callable[..., Any],
) -> None:
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(warden, {**LIMITS, "requests_per_day": 1})
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                f"{warden.proxy_url}/v1/chat/completions",
                json=BIG,
                headers=auth(key, **{"x-sim-delay": "3"}),
            )
    usage = await settled_usage(warden, key_id, all_zero)
    assert all_zero(usage), usage
    # The one request of the day, the tokens and the in-flight slot all came back.
    assert await post(warden, key, BIG) == 200


async def test_client_gone_mid_stream_is_charged_only_what_was_streamed(
    start_warden: Callable[..., Any],
) -> None:
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(warden, LIMITS)
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{warden.proxy_url}/v1/chat/completions",
            json={**BIG, "stream": True},
            headers=auth(key, **{"x-sim-chunk-delay": "0.05", "x-sim-words": "500"}),
        )
        for _ in range(6):  # a few events, then hang up
            assert (await response.content.readline()) is not None
        response.close()
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    assert used(usage, "requests_per_day") == 1
    # Reserved 1 + 1000; charged the prompt's 1 and the few words streamed before the hang-up.
    tokens = used(usage, "tokens_per_day")
    assert 2 <= tokens < 60, usage
    assert used(usage, "daily_usd") == 1 + 2 * (tokens - 1)
    # Another 1 + 1000 fits in 1100 only because the rest of the reservation came back.
    assert await post(warden, key, BIG) == 200


async def stream_chat(
    warden: RunningWarden, key: str, prompt: str, options: dict[str, Any] | None = None
) -> list[ChatCompletionChunk]:
    """A streamed chat completion through the openai SDK, every chunk of it."""
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="echo-1",
            messages=[{"role": "user", "content": prompt}],
            max_tokens=1000,
            stream=True,
            stream_options=options or openai.NOT_GIVEN,
        )
        return [chunk async for chunk in stream]


async def test_openai_stream_settles_on_the_usage_event(start_warden: Callable[..., Any]) -> None:
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(warden, LIMITS)
    chunks = await stream_chat(
        warden, key, "count the tokens of this streamed answer", {"include_usage": True}
    )
    reported = chunks[-1].usage
    assert reported is not None and reported.completion_tokens == 7
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    assert used(usage, "tokens_per_day") == reported.total_tokens
    assert used(usage, "daily_usd") == reported.prompt_tokens + 2 * reported.completion_tokens


@pytest.mark.parametrize("guarded", [False, True], ids=["unguarded", "response_guard"])
async def test_openai_stream_without_usage_is_counted_from_its_text(
    start_warden: Callable[..., Any], policy_dir: Any, guarded: bool
) -> None:
    if guarded:
        # A response rule puts the stream guard in the path; it meters the events it reads.
        (policy_dir / "rules.yaml").write_text(
            "rules:\n  - {id: answers.flag-cards, description: d, phase: response,"
            " when: {findings: {kinds: [pii.credit_card]}}, action: flag, severity: low}\n"
        )
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(warden, LIMITS)
    prompt = "no usage event comes at the end of this stream, so Warden counts"
    chunks = await stream_chat(warden, key, prompt)
    texts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert all(c.usage is None for c in chunks)
    answer_chars = sum(len(t) for t in texts)
    assert answer_chars >= len(prompt)
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    # The same estimator as admission: characters / 4, rounded up, for prompt and answer.
    prompt_tokens, answer_tokens = math.ceil(len(prompt) / 4), math.ceil(answer_chars / 4)
    assert used(usage, "tokens_per_day") == prompt_tokens + answer_tokens
    assert used(usage, "daily_usd") == prompt_tokens + 2 * answer_tokens


async def test_anthropic_stream_settles_on_message_start_and_delta(
    start_warden: Callable[..., Any],
) -> None:
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(warden, LIMITS)
    async with anthropic.AsyncAnthropic(
        base_url=warden.proxy_url, api_key=key, max_retries=0
    ) as client:
        async with client.messages.stream(
            model="echo-claude",
            max_tokens=1000,
            messages=[{"role": "user", "content": "streaming through warden again"}],
        ) as stream:
            final = await stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 4)
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    assert used(usage, "tokens_per_day") == 8
    assert used(usage, "daily_usd") == 4 + 2 * 4


async def test_anthropic_stream_cut_keeps_its_input_count_and_counts_output(
    start_warden: Callable[..., Any],
) -> None:
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(warden, LIMITS)
    body = {
        "model": "echo-claude",
        "max_tokens": 1000,
        "stream": True,
        "messages": [{"role": "user", "content": "five words in the prompt"}],
    }
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{warden.proxy_url}/v1/messages",
            json=body,
            headers=auth(key, **{"x-sim-chunk-delay": "0.05", "x-sim-words": "500"}),
        )
        seen = b""
        while b"content_block_delta" not in seen:  # message_start has come, then some text
            seen += await response.content.readline()
        response.close()
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    tokens = used(usage, "tokens_per_day")
    # Input 5 as message_start reported (not the reserved estimate); output counted, not 1000.
    assert 5 < tokens < 60, usage
    assert used(usage, "daily_usd") == 5 + 2 * (tokens - 5)


async def test_a_stream_longer_than_its_lease_keeps_its_slot(
    start_warden: Callable[..., Any],
) -> None:
    def short_lease(raw: dict[str, Any]) -> None:
        raw["rate_limit"] = {"concurrency_lease_seconds": 0.6}  # renewed every 0.2 s

    warden = await start_warden(short_lease)
    key_id, key = await key_with_limits(warden, {"max_concurrent": 1})
    url = f"{warden.proxy_url}/v1/chat/completions"
    slow = auth(key, **{"x-sim-chunk-delay": "0.15", "x-sim-words": "14"})
    async with warden.http.post(url, json={**CHAT, "stream": True}, headers=slow) as stream:
        assert stream.status == 200
        await asyncio.sleep(1.5)  # more than two leases into the stream
        async with warden.http.post(url, json=CHAT, headers=auth(key)) as second:
            assert second.status == 429
            assert (await second.json())["error"]["code"] == "key_max_concurrent"
        assert (await stream.read()).rstrip().endswith(b"data: [DONE]")
    usage = await settled_usage(warden, key_id, lambda u: used(u, "max_concurrent") == 0)
    assert used(usage, "max_concurrent") == 0
    assert await post(warden, key, CHAT) == 200


async def test_back_to_back_requests_at_max_concurrent_one_all_fit(
    start_warden: Callable[..., Any],
) -> None:
    # Settlements far from every limit wait a little to share a round trip; this one holds
    # the key's only lease, so it must go at once: the next request, sent the moment the
    # answer arrives, needs that lease back.
    warden = await start_warden(priced)
    _, key = await key_with_limits(warden, {"max_concurrent": 1, "requests_per_minute": 1000})
    statuses = [await post(warden, key, CHAT) for _ in range(20)]
    assert statuses == [200] * 20


async def test_settlements_far_from_limits_still_land(start_warden: Callable[..., Any]) -> None:
    # A tenth of every limit is far more than these requests reserve, so their settlements
    # wait for company; the day's tokens come back slowly enough (about one a second) for
    # the settled count to be read before it fades.
    warden = await start_warden(priced)
    key_id, key = await key_with_limits(
        warden, {"max_concurrent": 100, "tokens_per_day": 100_000, "daily_usd": 10**9}
    )
    for _ in range(5):
        assert await post(warden, key, BIG) == 200
    # Reserved 1 + 1000 tokens each; settled to what the echo model really used.
    usage = await settled_usage(
        warden,
        key_id,
        lambda u: used(u, "max_concurrent") == 0 and used(u, "tokens_per_day") < 5000,
    )
    assert used(usage, "max_concurrent") == 0
    assert 0 < used(usage, "tokens_per_day") < 5000


async def test_a_lingering_settlement_is_sent_when_warden_stops(
    start_warden: Callable[..., Any],
) -> None:
    first = await start_warden(priced)
    other = await start_warden(priced)  # reads the counters once the first has stopped
    key_id, key = await key_with_limits(
        first, {"max_concurrent": 100, "tokens_per_day": 100_000, "daily_usd": 10**9}
    )
    assert await post(first, key, BIG) == 200
    # Stopped while the settlement still waits for company: the stop must send it.
    await first.server.stop()
    usage = await key_usage(other, key_id)
    assert used(usage, "max_concurrent") == 0
    assert 0 < used(usage, "tokens_per_day") < 1001
