"""The real anthropic SDK, unchanged, pointed at Warden: messages, streaming and not."""

from __future__ import annotations

import anthropic
import pytest

from tests.conftest import UPSTREAM_CREDENTIAL, RunningWarden
from tests.upstream import SimulatedUpstream


def client_for(warden: RunningWarden, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=warden.proxy_url, api_key=key, max_retries=0)


async def test_messages(warden: RunningWarden, api_key: str, upstream: SimulatedUpstream):
    async with client_for(warden, api_key) as client:
        message = await client.messages.create(
            model="claude-echo",
            max_tokens=64,
            system="be brief",
            messages=[{"role": "user", "content": "hello anthropic"}],
        )
    assert message.content[0].type == "text"
    assert message.content[0].text == "hello anthropic"
    seen = upstream.received[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == UPSTREAM_CREDENTIAL
    assert api_key not in " ".join(seen.headers.values())
    assert "anthropic-version" in seen.headers, "client headers other than the key pass through"


async def test_messages_stream(warden: RunningWarden, api_key: str):
    async with client_for(warden, api_key) as client:
        async with client.messages.stream(
            model="claude-echo",
            max_tokens=64,
            messages=[{"role": "user", "content": "streaming through warden"}],
        ) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
    assert "".join(pieces) == "streaming through warden"
    assert len(pieces) == 3
    assert final.usage.output_tokens > 0
    assert final.stop_reason == "end_turn"


async def test_unknown_key_raises_authentication_error(warden: RunningWarden):
    async with client_for(warden, "wk_zzzzzzzzzzzzzzzz_nope") as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(
                model="claude-echo", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
    assert caught.value.status_code == 401


async def test_upstream_overload_passes_through(warden: RunningWarden, api_key: str):
    async with client_for(warden, api_key) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(
                model="claude-echo",
                max_tokens=8,
                messages=[{"role": "user", "content": "x"}],
                extra_headers={"x-sim-status": "529"},
            )
    assert caught.value.status_code == 529
