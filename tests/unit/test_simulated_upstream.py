"""The simulated upstream (and the demo server under it) speaks well enough for the real SDKs."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import aiohttp
import anthropic
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.upstream import SimulatedUpstream, start_simulated_upstream

CHAT_PATH = "/v1/chat/completions"


@pytest.fixture
async def upstream() -> AsyncIterator[SimulatedUpstream]:
    sim = await start_simulated_upstream()
    yield sim
    await sim.close()


@pytest.fixture
async def oai(upstream: SimulatedUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=upstream.url + "/v1", api_key="x", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def claude(upstream: SimulatedUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=upstream.url, api_key="x", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def wait_for_event(upstream: SimulatedUpstream, event: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while event not in upstream.events:
        assert time.monotonic() < deadline, f"{event!r} never came; saw {upstream.events}"
        await asyncio.sleep(0.02)


# --- OpenAI ---------------------------------------------------------------------------------


async def test_models_list_and_retrieve(oai: openai.AsyncOpenAI) -> None:
    ids = [model.id async for model in oai.models.list()]
    assert ids == ["echo-1", "echo-embed"]
    assert (await oai.models.retrieve("echo-1")).owned_by == "warden-demo"
    with pytest.raises(openai.NotFoundError) as err:
        await oai.models.retrieve("gpt-nope")
    assert err.value.status_code == 404


async def test_chat_echoes_last_user_message_with_usage(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="echo-1",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "hello there world"}]},
        ],
    )
    choice = completion.choices[0]
    assert choice.message.content == "hello there world"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.usage is not None
    # Whitespace words over every message: 2 + 2 + 2 + 3.
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (9, 3)
    assert completion.usage.total_tokens == 12


async def test_chat_limit_truncates_with_length(oai: openai.AsyncOpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "one two three"}]
    old = await oai.chat.completions.create(model="echo-1", messages=messages, max_tokens=2)
    new = await oai.chat.completions.create(
        model="echo-1", messages=messages, max_completion_tokens=1
    )
    assert (old.choices[0].message.content, old.choices[0].finish_reason) == ("one two", "length")
    assert (new.choices[0].message.content, new.choices[0].finish_reason) == ("one", "length")
    assert new.usage is not None and new.usage.completion_tokens == 1


async def test_chat_stream_sends_one_chunk_per_word_and_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="echo-1",
        messages=[{"role": "user", "content": "stream me  please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    contents = [c.choices[0].delta.content for c in chunks if c.choices]
    assert contents == ["", "stream", " me", "  please", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert len({c.id for c in chunks}) == 1


async def test_chat_stream_helper_final_completion(oai: openai.AsyncOpenAI) -> None:
    async with oai.chat.completions.stream(
        model="echo-1", messages=[{"role": "user", "content": "via the helper"}]
    ) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "via the helper"
    assert final.choices[0].finish_reason == "stop"


async def test_chat_answers_an_empty_last_message(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": ""}]
    )
    assert completion.choices[0].message.content == ""
    assert completion.choices[0].finish_reason == "stop"
    stream = await oai.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "   "}], stream=True
    )
    finishes = [c.choices[0].finish_reason async for c in stream]
    assert finishes == [None, "stop"]


async def test_legacy_completions(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.completions.create(model="echo-1", prompt="say it back")
    assert completion.choices[0].text == "say it back"
    assert completion.usage is not None and completion.usage.prompt_tokens == 3
    stream = await oai.completions.create(
        model="echo-1", prompt="say it back", max_tokens=2, stream=True
    )
    parts = [(c.choices[0].text, c.choices[0].finish_reason) async for c in stream]
    assert parts == [("say", None), (" it", None), ("", "length")]


async def test_embeddings_are_deterministic_unit_vectors(oai: openai.AsyncOpenAI) -> None:
    # The SDK asks for base64 by default and decodes it; float must carry the same numbers.
    default = await oai.embeddings.create(model="echo-embed", input=["alpha", "beta", "alpha"])
    floats = await oai.embeddings.create(
        model="echo-embed", input=["alpha", "beta", "alpha"], encoding_format="float"
    )
    vectors = [d.embedding for d in default.data]
    assert vectors == [d.embedding for d in floats.data]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(math.sqrt(sum(x * x for x in vectors[0])), 1.0, rel_tol=1e-6)
    assert default.usage.prompt_tokens == 3
    tokens = await oai.embeddings.create(model="echo-embed", input=[[1, 2, 3], [4]])
    assert [d.index for d in tokens.data] == [0, 1]
    assert tokens.usage.total_tokens == 4


async def test_responses_non_stream(oai: openai.AsyncOpenAI) -> None:
    response = await oai.responses.create(
        model="echo-1",
        instructions="repeat",
        input=[
            {"role": "user", "content": "old turn"},
            {"role": "user", "content": [{"type": "input_text", "text": "newest words"}]},
        ],
    )
    assert response.output_text == "newest words"
    assert response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (5, 2)
    limited = await oai.responses.create(model="echo-1", input="a b c", max_output_tokens=1)
    assert (limited.status, limited.output_text) == ("incomplete", "a")
    assert limited.incomplete_details is not None
    assert limited.incomplete_details.reason == "max_output_tokens"


async def test_responses_stream_event_sequence(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.responses.create(model="echo-1", input="three little words", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "three little words"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "three little words"


async def test_responses_stream_helper(oai: openai.AsyncOpenAI) -> None:
    async with oai.responses.stream(model="echo-1", input="helper words here") as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert deltas == ["helper", " words", " here"]
    assert final.output_text == "helper words here"


# --- Anthropic ------------------------------------------------------------------------------


async def test_messages_non_stream(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="echo-1",
        max_tokens=100,
        system=[{"type": "text", "text": "you echo"}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi claude"}]}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "hi claude"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 2)
    short = await claude.messages.create(
        model="echo-1", max_tokens=1, messages=[{"role": "user", "content": "cut me off"}]
    )
    assert short.stop_reason == "max_tokens"
    assert short.content[0].type == "text" and short.content[0].text == "cut"


async def test_messages_raw_stream(claude: anthropic.AsyncAnthropic) -> None:
    stream = await claude.messages.create(
        model="echo-1",
        max_tokens=100,
        messages=[{"role": "user", "content": "raw stream"}],
        stream=True,
    )
    kinds = [event.type async for event in stream]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


async def test_messages_stream_helper(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="echo-1",
        max_tokens=100,
        system="you echo",
        messages=[{"role": "user", "content": "streamed via helper"}],
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert texts == ["streamed", " via", " helper"]
    assert final.content[0].type == "text" and final.content[0].text == "streamed via helper"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 3)


async def test_messages_requires_max_tokens(
    upstream: SimulatedUpstream, http: aiohttp.ClientSession
) -> None:
    body = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(upstream.url + "/v1/messages", json=body) as resp:
        assert resp.status == 400
        error = await resp.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in error["error"]["message"]


# --- KServe and generic JSON ----------------------------------------------------------------


async def test_kserve_v1_iris(upstream: SimulatedUpstream, http: aiohttp.ClientSession) -> None:
    instances = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.8, 4.4, 1.3], [6.9, 3.1, 5.8, 2.2]]
    url = upstream.url + "/v1/models/demo-iris:predict"
    async with http.post(url, json={"instances": instances}) as resp:
        assert resp.status == 200
        predictions = (await resp.json())["predictions"]
    assert [p["label"] for p in predictions] == ["setosa", "versicolor", "virginica"]
    for prediction in predictions:
        assert math.isclose(sum(prediction["probabilities"].values()), 1.0, rel_tol=1e-9)
    assert predictions[0]["probabilities"]["setosa"] > 0.99
    async with http.post(url, json={"instances": [[1, 2, 3]]}) as resp:
        assert resp.status == 400


async def test_kserve_v1_other_model_echoes(
    upstream: SimulatedUpstream, http: aiohttp.ClientSession
) -> None:
    url = upstream.url + "/v1/models/anything:predict"
    async with http.post(url, json={"instances": [{"a": 1}, "b"]}) as resp:
        assert await resp.json() == {"predictions": [{"a": 1}, "b"]}


async def test_kserve_v2_iris_infer_metadata_health(
    upstream: SimulatedUpstream, http: aiohttp.ClientSession
) -> None:
    tensor = {
        "name": "input-0",
        "shape": [2, 4],
        "datatype": "FP32",
        "data": [5.0, 3.4, 1.5, 0.2, 6.7, 3.0, 5.2, 2.3],
    }
    body = {"id": "req-7", "inputs": [tensor]}
    async with http.post(upstream.url + "/v2/models/demo-iris/infer", json=body) as resp:
        assert resp.status == 200
        reply = await resp.json()
    assert (reply["model_name"], reply["id"]) == ("demo-iris", "req-7")
    outputs = {o["name"]: o for o in reply["outputs"]}
    assert outputs["probabilities"]["shape"] == [2, 3]
    probabilities = outputs["probabilities"]["data"]
    assert math.isclose(sum(probabilities[:3]), 1.0) and math.isclose(sum(probabilities[3:]), 1.0)
    assert outputs["label"]["data"] == ["setosa", "virginica"]

    async with http.get(upstream.url + "/v2/models/demo-iris") as resp:
        metadata = await resp.json()
    assert metadata["inputs"][0]["shape"] == [-1, 4]
    async with http.get(upstream.url + "/v2/health/ready") as resp:
        assert resp.status == 200 and (await resp.json())["ready"] is True


async def test_kserve_v2_other_model_echoes_inputs(
    upstream: SimulatedUpstream, http: aiohttp.ClientSession
) -> None:
    tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hola"]}
    async with http.post(upstream.url + "/v2/models/echo/infer", json={"inputs": [tensor]}) as r:
        reply = await r.json()
    assert reply["outputs"] == [tensor]
    assert reply["model_name"] == "echo"


async def test_generic_json_echo(upstream: SimulatedUpstream, http: aiohttp.ClientSession) -> None:
    async with http.post(upstream.url + "/score", json={"features": [1, 2]}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"echo": {"features": [1, 2]}}


@pytest.mark.parametrize(
    ("path", "shape_key"), [(CHAT_PATH, "message"), ("/v1/messages", "type"), ("/score", "message")]
)
async def test_bad_json_is_400_in_the_endpoints_shape(
    upstream: SimulatedUpstream, http: aiohttp.ClientSession, path: str, shape_key: str
) -> None:
    headers = {"content-type": "application/json"}
    async with http.post(upstream.url + path, data=b"{nope", headers=headers) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert shape_key in error
    if path != "/v1/messages":
        assert set(error) == {"message", "type", "param", "code"}


# --- Scripting, recording, disconnects ------------------------------------------------------


async def test_sim_status_raises_sdk_status_errors(
    oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(openai.APIStatusError) as oai_err:
        await oai.chat.completions.create(
            model="echo-1",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-sim-status": "503"},
        )
    assert isinstance(oai_err.value, openai.InternalServerError)
    assert oai_err.value.status_code == 503
    with pytest.raises(anthropic.APIStatusError) as claude_err:
        await claude.messages.create(
            model="echo-1",
            max_tokens=5,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-sim-status": "503"},
        )
    assert claude_err.value.status_code == 503


async def test_sim_body_is_sent_verbatim(oai: openai.AsyncOpenAI) -> None:
    custom = {"error": {"message": "quota gone", "type": "insufficient_quota", "code": "q"}}
    with pytest.raises(openai.RateLimitError) as err:
        await oai.models.list(
            extra_headers={"x-sim-status": "429", "x-sim-body": orjson.dumps(custom).decode()}
        )
    assert err.value.body == custom["error"]
    assert err.value.code == "q"


async def test_sim_delay_holds_the_answer(oai: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    await oai.models.list(extra_headers={"x-sim-delay": "0.3"})
    assert time.monotonic() - started >= 0.3


async def test_client_timeout_during_delay_is_recorded_as_cancelled(
    upstream: SimulatedUpstream, oai: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.APITimeoutError):
        await oai.chat.completions.create(
            model="echo-1",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-sim-delay": "5"},
            timeout=0.2,
        )
    await wait_for_event(upstream, f"cancelled:{CHAT_PATH}")


async def test_sim_words_lengthens_the_stream(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="echo-1",
        messages=[{"role": "user", "content": "a b c"}],
        stream=True,
        extra_headers={"x-sim-words": "50"},
    )
    words = [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]
    assert len(words) == 50
    assert "".join(words).split() == ["a", "b", "c"] * 16 + ["a", "b"]


async def test_chunk_delay_paces_stream_on_the_wire(
    upstream: SimulatedUpstream, http: aiohttp.ClientSession
) -> None:
    body = {"model": "echo-1", "stream": True, "messages": [{"role": "user", "content": "x y z"}]}
    headers = {"x-sim-chunk-delay": "0.05"}
    reads: list[bytes] = []
    async with http.post(upstream.url + CHAT_PATH, json=body, headers=headers) as resp:
        assert resp.content_type == "text/event-stream"
        async for data in resp.content.iter_any():
            reads.append(data)
    assert len(reads) >= 3  # words arrive apart, not as one buffered body
    assert b"".join(reads).endswith(b"data: [DONE]\n\n")
    await wait_for_event(upstream, f"completed:{CHAT_PATH}")


async def test_requests_are_recorded(upstream: SimulatedUpstream) -> None:
    # A raw request, because HTTP clients tend to merge a repeated header before sending it.
    body = orjson.dumps({"model": "echo-1", "messages": [{"role": "user", "content": "rec"}]})
    host = upstream.url.removeprefix("http://")
    reader, writer = await asyncio.open_connection(*host.split(":"))
    head = (
        f"POST {CHAT_PATH}?tenant=a HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        "X-Trace: one\r\nx-trace: two\r\nAuthorization: Bearer k\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    reply = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert reply.startswith(b"HTTP/1.1 200")
    [received] = upstream.received
    assert (received.method, received.path, received.query_string) == (
        "POST",
        CHAT_PATH,
        "tenant=a",
    )
    assert received.headers["x-trace"] == "one, two"
    assert received.headers["authorization"] == "Bearer k"
    assert received.body == body


async def test_sdk_headers_reach_the_recording(
    upstream: SimulatedUpstream, claude: anthropic.AsyncAnthropic
) -> None:
    await claude.messages.create(
        model="echo-1",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-tenant": "blue"},
    )
    [received] = upstream.received
    assert received.headers["x-tenant"] == "blue"
    # anthropic 2.x sends the API key as a bearer token, not x-api-key.
    assert received.headers["authorization"] == "Bearer x"
    assert "anthropic-version" in received.headers
    assert received.json()["max_tokens"] == 10


async def test_disconnect_mid_stream_is_recorded(
    upstream: SimulatedUpstream, oai: openai.AsyncOpenAI
) -> None:
    stream = await oai.chat.completions.create(
        model="echo-1",
        messages=[{"role": "user", "content": "long answer"}],
        stream=True,
        extra_headers={"x-sim-words": "50", "x-sim-chunk-delay": "0.1"},
    )
    seen = 0
    async for _chunk in stream:
        seen += 1
        if seen == 3:
            break
    await stream.close()
    await wait_for_event(upstream, f"cancelled:{CHAT_PATH}")
    assert f"completed:{CHAT_PATH}" not in upstream.events
