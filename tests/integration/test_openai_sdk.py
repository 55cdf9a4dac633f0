"""The real openai SDK, unchanged, pointed at Warden: every operation, streaming and not."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import UPSTREAM_CREDENTIAL, RunningWarden
from tests.upstream import SimulatedUpstream


def client_for(warden: RunningWarden, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0)


def assert_forwarded_without_warden_key(upstream: SimulatedUpstream, key: str) -> None:
    seen = upstream.received[-1]
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_CREDENTIAL}"
    assert all(key not in value for value in seen.headers.values())
    assert seen.headers["x-request-id"]


async def test_chat_completion(warden: RunningWarden, api_key: str, upstream: SimulatedUpstream):
    async with client_for(warden, api_key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="echo-1", messages=[{"role": "user", "content": "hello from the sdk"}]
        )
        completion = raw.parse()
    assert completion.choices[0].message.content == "hello from the sdk"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-request-id"] == upstream.received[-1].headers["x-request-id"]
    assert upstream.received[-1].path == "/v1/chat/completions"
    assert_forwarded_without_warden_key(upstream, api_key)


async def test_chat_completion_stream(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    async with client_for(warden, api_key) as client:
        stream = await client.chat.completions.create(
            model="echo-1",
            messages=[{"role": "user", "content": "one two three four"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        deltas = []
        usage = None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
    assert "".join(deltas) == "one two three four"
    assert len(deltas) == 4, "each word arrives as its own chunk"
    assert usage is not None and usage.completion_tokens > 0
    assert_forwarded_without_warden_key(upstream, api_key)


async def test_completions(warden: RunningWarden, api_key: str):
    async with client_for(warden, api_key) as client:
        result = await client.completions.create(model="echo-1", prompt="legacy prompt")
        stream = await client.completions.create(model="echo-1", prompt="a b c", stream=True)
        streamed = "".join([c.choices[0].text async for c in stream if c.choices])
    assert result.choices[0].text == "legacy prompt"
    assert streamed == "a b c"


async def test_embeddings(warden: RunningWarden, api_key: str, upstream: SimulatedUpstream):
    async with client_for(warden, api_key) as client:
        result = await client.embeddings.create(model="echo-embed", input=["alpha", "beta"])
    assert len(result.data) == 2
    assert result.data[0].embedding != result.data[1].embedding
    assert upstream.received[-1].json()["input"] == ["alpha", "beta"]


async def test_models_list(warden: RunningWarden, api_key: str):
    async with client_for(warden, api_key) as client:
        models = [m.id async for m in client.models.list()]
    assert "echo-1" in models


async def test_responses_api(warden: RunningWarden, api_key: str, upstream: SimulatedUpstream):
    async with client_for(warden, api_key) as client:
        response = await client.responses.create(model="echo-1", input="responses api works")
        stream = await client.responses.create(model="echo-1", input="streamed reply", stream=True)
        kinds = []
        text = []
        async for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text.append(event.delta)
    assert response.output_text == "responses api works"
    assert "".join(text) == "streamed reply"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert upstream.received[-1].path == "/v1/responses"


@pytest.mark.parametrize(
    "key",
    [
        "not-a-warden-key",
        "wk_aaaaaaaaaaaaaaaa_wrongsecret",
        "wk_",
    ],
)
async def test_bad_keys_raise_authentication_error(
    warden: RunningWarden, upstream: SimulatedUpstream, key: str
):
    async with client_for(warden, key) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(
                model="echo-1", messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == 401
    assert caught.value.type == "authentication_error"
    assert upstream.received == [], "an unauthenticated request never reaches the upstream"


async def test_revoked_key_raises_authentication_error(warden: RunningWarden):
    key = await warden.create_key("acme")
    key_id = key.split("_")[1]
    async with client_for(warden, key) as client:
        await client.models.list()
        response = await warden.http.delete(
            f"{warden.admin_url}/admin/keys/{key_id}", headers=warden.admin_headers()
        )
        assert response.status == 200
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()


async def test_upstream_error_status_passes_through(warden: RunningWarden, api_key: str):
    async with client_for(warden, api_key) as client:
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(
                model="echo-1",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-sim-status": "429"},
            )
        with pytest.raises(openai.InternalServerError) as failed:
            await client.chat.completions.create(
                model="echo-1",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-sim-status": "503"},
            )
    assert limited.value.status_code == 429
    assert "simulated upstream status 429" in limited.value.message
    assert failed.value.status_code == 503


async def test_bad_request_names_the_field(warden: RunningWarden, api_key: str):
    async with client_for(warden, api_key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="echo-1",
                messages=[{"role": "user", "content": "hi"}],
                extra_body={"stream": "yes"},
            )
    assert caught.value.status_code == 400
    assert caught.value.param == "stream"
