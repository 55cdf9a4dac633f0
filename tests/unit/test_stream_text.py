"""Streamed text: deltas per channel, usage, the end, snapshots; events rebuilt for redaction."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import orjson
import pydantic
import pytest
from aiohttp.test_utils import TestClient
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

from proxy.demo_upstream import create_demo_upstream_app
from proxy.formats import stream_openai
from proxy.formats.segments import Usage
from proxy.formats.stream_text import (
    RAW_DATA,
    ChannelKey,
    StreamDelta,
    _located_delta,
    rewrite_delta,
    stream_deltas,
)
from proxy.formats.texts import TEXT_READERS
from proxy.sse import SseEvent, SseParser, make_event

Json = dict[str, Any]


def sse(data: Json | str, named: bool = False) -> SseEvent:
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    event = data["type"] if named and isinstance(data, dict) else None
    return make_event(text, event=event)


class Accumulated:
    """What a guard keeps per stream: text per channel, snapshots, merged usage, the end."""

    def __init__(self) -> None:
        self.texts: dict[ChannelKey, str] = defaultdict(str)
        self.snapshots: dict[ChannelKey, str] = {}
        self.usage: Usage | None = None
        self.done = 0

    def add(self, delta: StreamDelta) -> None:
        for channel, text in delta.texts:
            self.texts[channel] += text
        self.snapshots.update(delta.snapshots)
        if delta.usage is not None:
            self.usage = delta.usage if self.usage is None else self.usage.merge(delta.usage)
        self.done += delta.done


def accumulate(fmt: str, operation: str, events: list[SseEvent]) -> Accumulated:
    acc = Accumulated()
    for event in events:
        acc.add(stream_deltas(fmt, operation, event))
    return acc


# --- OpenAI chat: the chunks the API sends (and the SDK's ChatCompletionChunk accepts) ---------

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}


def chunk(delta: Json, index: int = 0, finish: str | None = None) -> SseEvent:
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
    return sse({**BASE, "choices": [choice]})


def call(index: int, arguments: str, name: str | None = None) -> Json:
    if name is None:
        return {"index": index, "function": {"arguments": arguments}}
    fn = {"name": name, "arguments": arguments}
    return {"index": index, "id": f"call_{index}", "type": "function", "function": fn}


CHAT_STREAM = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Hello"}),
    chunk({"content": " there"}),
    chunk({"tool_calls": [call(0, "", "weather")]}),
    chunk({"tool_calls": [call(0, '{"city":')]}),
    chunk({"tool_calls": [call(1, "", "weather")]}),
    chunk({"tool_calls": [call(1, '{"city":"Rome"}')]}),
    chunk({"tool_calls": [call(0, '"Paris"}')]}),
    chunk({}, finish="tool_calls"),
    sse({**BASE, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 20}}),
    sse("[DONE]"),
]


def test_openai_chat_stream() -> None:
    acc = accumulate("openai", "chat", CHAT_STREAM)
    assert dict(acc.texts) == {
        ("choice", 0, "content"): "Hello there",
        ("choice", 0, "tool_call", 0): '{"city":"Paris"}',
        ("choice", 0, "tool_call", 1): '{"city":"Rome"}',
    }
    assert acc.usage == Usage(10, 20)
    assert acc.done == 1 and stream_deltas("openai", "chat", CHAT_STREAM[-1]).done


def test_openai_chat_choices_are_channels_by_index_not_position() -> None:
    events = [chunk({"content": w}, index=i) for w, i in [("a", 1), ("b", 0), ("c", 1), ("d", 0)]]
    events.append(chunk({"refusal": "no", "reasoning_content": "why"}, index=0))
    events.append(chunk({"audio": {"id": "a", "data": "QUJD", "transcript": "said"}}, index=0))
    acc = accumulate("openai", "chat", events)
    assert dict(acc.texts) == {
        ("choice", 1, "content"): "ac",
        ("choice", 0, "content"): "bd",
        ("choice", 0, "refusal"): "no",
        ("choice", 0, "reasoning_content"): "why",
        ("choice", 0, "audio"): "said",
    }


def test_openai_chat_delta_fields_nobody_listed_are_still_text() -> None:
    acc = accumulate("openai", "chat", [chunk({"reasoning_details": [{"text": "x"}]})])
    assert dict(acc.texts) == {("choice", 0, "reasoning_details", 0, "text"): "x"}


def test_openai_completions_stream() -> None:
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    events = [
        sse({**base, "choices": [{"index": 0, "text": t, "logprobs": None, "finish_reason": f}]})
        for t, f in [("Once", None), (" upon", None), ("", "stop")]
    ]
    events.append(
        sse({**base, "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 2}})
    )
    acc = accumulate("openai", "completions", [*events, sse("[DONE]")])
    assert dict(acc.texts) == {("choice", 0, "text"): "Once upon"}
    assert acc.usage == Usage(2, 2)


# --- OpenAI Responses: typed events; `.done`, items and the final response repeat the text -----

MSG = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed"}
FC = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "weather"}
RS = {"id": "rs_1", "type": "reasoning", "encrypted_content": "gAAAA"}
TEXT_PART = {"type": "output_text", "text": "Hi there", "annotations": [], "logprobs": []}
FINAL: Json = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "model": "gpt-4.1",
    "status": "completed",
    "output": [
        {**RS, "summary": [{"type": "summary_text", "text": "Think"}]},
        {**MSG, "content": [TEXT_PART]},
        {**FC, "arguments": '{"city":"Oslo"}', "status": "completed"},
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 4},
        "total_tokens": 14,
    },
}
AT = {"item_id": "msg_1", "output_index": 1, "content_index": 0}
RESPONSES_STREAM_DATA: list[Json] = [
    {"type": "response.created", "response": {**FINAL, "status": "in_progress", "output": []}},
    {"type": "response.output_item.added", "output_index": 0, "item": {**RS, "summary": []}},
    {
        "type": "response.reasoning_summary_part.added",
        "item_id": "rs_1",
        "output_index": 0,
        "summary_index": 0,
        "part": {"type": "summary_text", "text": ""},
    },
    *(
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "summary_index": 0,
            "delta": d,
            "obfuscation": "Xy9",
        }
        for d in ("Thi", "nk")
    ),
    {
        "type": "response.reasoning_summary_text.done",
        "item_id": "rs_1",
        "output_index": 0,
        "summary_index": 0,
        "text": "Think",
    },
    {
        "type": "response.output_item.added",
        "output_index": 1,
        "item": {**MSG, "status": "in_progress", "content": []},
    },
    {"type": "response.content_part.added", **AT, "part": {**TEXT_PART, "text": ""}},
    *(
        {"type": "response.output_text.delta", **AT, "delta": d, "logprobs": []}
        for d in ("Hi", " there")
    ),
    {"type": "response.output_text.done", **AT, "text": "Hi there", "logprobs": []},
    {"type": "response.content_part.done", **AT, "part": TEXT_PART},
    {"type": "response.output_item.done", "output_index": 1, "item": FINAL["output"][1]},
    {"type": "response.output_item.added", "output_index": 2, "item": {**FC, "arguments": ""}},
    *(
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 2,
            "delta": d,
        }
        for d in ('{"city":', '"Oslo"}')
    ),
    {
        "type": "response.function_call_arguments.done",
        "item_id": "fc_1",
        "output_index": 2,
        "arguments": '{"city":"Oslo"}',
    },
    {"type": "response.output_item.done", "output_index": 2, "item": FINAL["output"][2]},
    {"type": "response.completed", "response": FINAL},
]
RESPONSES_STREAM = [
    sse({**data, "sequence_number": n}, named=True) for n, data in enumerate(RESPONSES_STREAM_DATA)
]
RESPONSES_TEXTS = {
    ("output", 0, "summary", 0): "Think",
    ("output", 1, "content", 0): "Hi there",
    ("output", 2, "arguments"): '{"city":"Oslo"}',
}


def test_openai_responses_stream() -> None:
    acc = accumulate("openai", "responses", RESPONSES_STREAM)
    # The function's name comes whole, in output_item.added.
    assert dict(acc.texts) == {**RESPONSES_TEXTS, ("output", 2, "name"): "weather"}
    assert acc.usage == Usage(5, 9)
    assert acc.done == 1


def test_openai_responses_snapshots_name_the_channels_their_deltas_used() -> None:
    acc = accumulate("openai", "responses", RESPONSES_STREAM)
    # Function names and other item fields are snapshots on their own channels.
    assert {k: v for k, v in acc.snapshots.items() if k in RESPONSES_TEXTS} == RESPONSES_TEXTS
    assert acc.snapshots[("output", 2, "name")] == "weather"
    assert "gAAAA" not in acc.snapshots.values()  # encrypted reasoning is not text
    done = stream_deltas("openai", "responses", RESPONSES_STREAM[-1])
    assert sorted(done.snapshots) == sorted(
        [*RESPONSES_TEXTS.items(), (("output", 2, "name"), "weather")]
    )


def test_openai_responses_events_nobody_listed() -> None:
    annotation = {
        "type": "response.output_text.annotation.added",
        **AT,
        "annotation_index": 0,
        "annotation": {"type": "url_citation", "title": "Page", "url": "https://x.test"},
    }
    shell = {"type": "response.shell_call_command.delta", "output_index": 3, "command_index": 1}
    events = [
        sse(annotation, named=True),
        sse({**shell, "delta": "ls "}, named=True),
        sse({**shell, "delta": "-la"}, named=True),
        sse({"type": "response.audio.delta", "delta": "UklGRg=="}, named=True),
        sse({"type": "error", "code": "server_error", "message": "boom"}, named=True),
    ]
    acc = accumulate("openai", "responses", events)
    key = ("event", "response.output_text.annotation.added", "annotation")
    assert acc.snapshots[(*key, "title")] == "Page"
    assert dict(acc.texts) == {
        ("response.shell_call_command", "command_index", 1, "output_index", 3): "ls -la"
    }
    assert "UklGRg==" not in [*acc.texts.values(), *acc.snapshots.values()]
    assert acc.done == 1


# --- Anthropic ---------------------------------------------------------------------------------

ANTHROPIC_STREAM_DATA: list[Json] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 25,
                "output_tokens": 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 100,
            },
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Hmm"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQ"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    *(
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": t}}
        for t in ("Hello", " world")
    ),
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {
            "type": "citations_delta",
            "citation": {
                "type": "char_location",
                "cited_text": "quoted",
                "document_index": 0,
                "document_title": None,
                "start_char_index": 0,
                "end_char_index": 6,
            },
        },
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
    },
    *(
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": p},
        }
        for p in ('{"city": ', '"Lima"}')
    ),
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 42},
    },
    {"type": "message_stop"},
]
ANTHROPIC_STREAM = [sse(d, named=True) for d in ANTHROPIC_STREAM_DATA]


def test_anthropic_stream() -> None:
    acc = accumulate("anthropic", "messages", ANTHROPIC_STREAM)
    assert dict(acc.texts) == {
        ("content", 0): "Hmm",
        ("content", 1): "Hello world",
        ("content", 1, "citation", "cited_text"): "quoted",
        ("content", 2): '{"city": "Lima"}',
        ("content", 2, "name"): "weather",
    }
    assert acc.usage == Usage(125, 42)  # input from message_start, output from message_delta
    assert acc.done == 1


def test_anthropic_error_and_unknown_events_are_scanned_and_an_error_ends_the_stream() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    delta = stream_deltas("anthropic", "messages", sse(error, named=True))
    assert delta.done and delta.snapshots == [
        (("event", "error", "error", "message"), "Overloaded")
    ]


# --- Rewriting events (redaction in flight) ----------------------------------------------------

CHAT_ADAPTER: Any = pydantic.TypeAdapter(ChatCompletionChunk)
RESPONSES_ADAPTER: Any = pydantic.TypeAdapter(ResponseStreamEvent)
ANTHROPIC_ADAPTER: Any = pydantic.TypeAdapter(RawMessageStreamEvent)


def _rewrite_cases() -> list[Any]:
    cases = []
    for fmt, op, events, adapter in [
        ("openai", "chat", CHAT_STREAM, CHAT_ADAPTER),
        ("openai", "responses", RESPONSES_STREAM, RESPONSES_ADAPTER),
        ("anthropic", "messages", ANTHROPIC_STREAM, ANTHROPIC_ADAPTER),
    ]:
        for n, event in enumerate(events):
            delta = stream_deltas(fmt, op, event)
            for channel, _ in [*delta.texts, *delta.snapshots]:
                cases.append(
                    pytest.param(fmt, op, event, channel, adapter, id=f"{op}-{n}-{channel}")
                )
    return cases


@pytest.mark.parametrize(("fmt", "operation", "event", "channel", "adapter"), _rewrite_cases())
def test_rewrite_replaces_one_channel_and_keeps_the_event_valid(
    fmt: str, operation: str, event: SseEvent, channel: ChannelKey, adapter: Any
) -> None:
    new_text = '[EMAIL_1] "q" \\ é'
    rewritten = rewrite_delta(fmt, event, channel, new_text)
    assert (rewritten.event, rewritten.id) == (event.event, event.id)
    before = stream_deltas(fmt, operation, event)
    after = stream_deltas(fmt, operation, rewritten)
    for field in ("texts", "snapshots"):
        old = [(c, new_text if c == channel else t) for c, t in getattr(before, field)]
        assert getattr(after, field) == old
    assert (after.usage, after.done) == (before.usage, before.done)
    adapter.validate_python(orjson.loads(rewritten.data))  # the real SDK still reads it
    assert SseParser().feed(rewritten.raw) == [rewritten]


def test_rewrite_a_channel_the_event_does_not_carry_is_refused() -> None:
    with pytest.raises(LookupError):
        rewrite_delta("openai", CHAT_STREAM[1], ("choice", 5, "content"), "x")
    with pytest.raises(LookupError):
        rewrite_delta(
            "openai", SseEvent(None, "", raw=b": ping\n\n", has_data=False), RAW_DATA, "x"
        )


def test_data_that_is_not_json_is_one_raw_text() -> None:
    event = make_event("plain text line\nsecond", event="note")
    assert stream_deltas("openai", "chat", event).texts == [(RAW_DATA, "plain text line\nsecond")]
    rewritten = rewrite_delta("openai", event, RAW_DATA, "[REDACTED]")
    assert (rewritten.event, rewritten.data) == ("note", "[REDACTED]")


def test_comments_and_keep_alives_carry_nothing() -> None:
    (ping,) = SseParser().feed(b": ping\n\n")
    assert stream_deltas("anthropic", "messages", ping) == StreamDelta(keepalive=True)
    (anthropic_ping,) = SseParser().feed(b'event: ping\ndata: {"type": "ping"}\n\n')
    assert stream_deltas("anthropic", "messages", anthropic_ping) == StreamDelta(keepalive=True)


def test_tool_call_arguments_are_json_channels() -> None:
    chat = sse(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "content": "x",
                        "tool_calls": [{"index": 1, "function": {"arguments": '{"a'}}],
                    },
                }
            ]
        }
    )
    delta = stream_deltas("openai", "chat", chat)
    assert delta.json_channels == {("choice", 0, "tool_call", 1)}
    responses = sse(
        {"type": "response.function_call_arguments.delta", "output_index": 2, "delta": '{"'}
    )
    assert stream_deltas("openai", "responses", responses).json_channels == {
        ("output", 2, "arguments")
    }
    anthropic_delta = sse(
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"q'},
        }
    )
    assert stream_deltas("anthropic", "messages", anthropic_delta).json_channels == {("content", 1)}
    text = sse(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}
    )
    assert stream_deltas("anthropic", "messages", text).json_channels == frozenset()


def test_generic_streams_use_the_path_as_channel() -> None:
    # KServe's generate_stream and other JSON streams: every string, by its path.
    events = [sse({"text_output": w, "model_name": "llama"}) for w in ("Hel", "lo")]
    acc = accumulate("kserve", "generate", events)
    assert dict(acc.texts) == {("text_output",): "Hello", ("model_name",): "llamallama"}
    rewritten = rewrite_delta("kserve", events[0], ("text_output",), "X")
    assert orjson.loads(rewritten.data) == {"text_output": "X", "model_name": "llama"}


# --- Against the demo upstream: real bytes, split anywhere -------------------------------------

DEMO_CALLS = [
    ("openai", "chat", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
    ("openai", "completions", "/v1/completions", {"prompt": "x"}),
    ("openai", "responses", "/v1/responses", {"input": "x"}),
    (
        "anthropic",
        "messages",
        "/v1/messages",
        {"max_tokens": 100, "messages": [{"role": "user", "content": "x"}]},
    ),
]
PROMPT = "my card is 4111 1111 1111 1111 and my mail is ana@example.com, thanks"


@pytest.mark.parametrize(("fmt", "operation", "path", "body"), DEMO_CALLS)
async def test_demo_streams_rebuild_the_non_streaming_answer(
    aiohttp_client: Any, fmt: str, operation: str, path: str, body: Json
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_demo_upstream_app())
    body = _with_prompt(body, PROMPT) | {
        "model": "echo-1",
        "stream_options": {"include_usage": True},
    }
    plain = await (await client.post(path, json=body)).json()
    raw = await (await client.post(path, json={**body, "stream": True})).read()

    events = _parse_in_random_chunks(raw, seed=len(raw))
    assert b"".join(e.raw for e in events) == raw
    acc = accumulate(fmt, operation, events)
    expected = [s.text for s in TEXT_READERS[fmt].response_segments(operation, plain)]
    assert list(acc.texts.values()) == expected == [PROMPT]
    assert acc.usage == TEXT_READERS[fmt].usage(operation, plain)
    assert acc.done == 1
    assert all(text == PROMPT for text in acc.snapshots.values())


@pytest.mark.parametrize(("fmt", "operation", "path", "body"), DEMO_CALLS)
async def test_demo_stream_redacted_in_flight(
    aiohttp_client: Any, fmt: str, operation: str, path: str, body: Json
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_demo_upstream_app())
    body = _with_prompt(body, PROMPT) | {"model": "echo-1", "stream": True}
    raw = await (await client.post(path, json=body)).read()
    # A naive word-level redactor: enough to prove every text-bearing event is rewritable.
    out = b""
    for event in SseParser().feed(raw):
        delta = stream_deltas(fmt, operation, event)
        for channel, text in [*delta.texts, *delta.snapshots]:
            event = rewrite_delta(fmt, event, channel, text.replace("ana@example.com", "[EMAIL_1]"))
        out += event.raw
    acc = accumulate(fmt, operation, SseParser().feed(out))
    redacted = PROMPT.replace("ana@example.com", "[EMAIL_1]")
    assert list(acc.texts.values()) == [redacted]
    assert b"ana@example.com" not in out


def _with_prompt(body: Json, prompt: str) -> Json:
    if "messages" in body:
        return {**body, "messages": [{"role": "user", "content": prompt}]}
    return {**body, ("prompt" if "prompt" in body else "input"): prompt}


def _parse_in_random_chunks(raw: bytes, seed: int) -> list[SseEvent]:
    rng = random.Random(seed)
    parser, events, at = SseParser(), [], 0
    while at < len(raw):
        size = rng.randint(1, 9)
        events.extend(parser.feed(raw[at : at + size]))
        at += size
    assert parser.pending() == b""
    return events


def _chat_chunk(choices: Any, **extra: Any) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "choices": choices, **extra}


@pytest.mark.parametrize(
    "data",
    [
        _chat_chunk([{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]),
        _chat_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
        _chat_chunk([{"index": 2, "delta": {"content": "x"}, "logprobs": None}]),
        _chat_chunk([{"index": True, "delta": {"content": "x"}}]),
        _chat_chunk([{"delta": {"content": "x"}}]),
        _chat_chunk([{"index": 0, "delta": {"content": None}}]),
        _chat_chunk([{"index": 0, "delta": {"content": 3}}]),
        _chat_chunk([{"index": 0, "delta": {"content": "x", "refusal": "no"}}]),
        _chat_chunk([{"index": 0, "delta": {"content": "x", "extra": "y"}}]),
        _chat_chunk([{"index": 0, "delta": {"content": "x"}, "text": "t"}]),
        _chat_chunk([{"index": 0, "delta": {"content": "x"}}], usage=None),
        _chat_chunk([{"index": 0, "delta": {"content": "x"}}], usage={"completion_tokens": 1}),
        _chat_chunk([{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {}}]),
        _chat_chunk([{"index": 0, "delta": {"content": "x"}}], type=None),
        _chat_chunk([]),
        _chat_chunk([{"index": 0, "delta": []}]),
        _chat_chunk([["content"]]),
    ],
)
def test_the_usual_chat_chunk_is_read_as_the_general_reader_reads_it(data: Any) -> None:
    event = SseParser().feed(b"data: " + orjson.dumps(data) + b"\n\n")[0]
    fast = stream_deltas("openai", "chat", event)
    parsed = orjson.loads(event.data)
    general = _located_delta(parsed, stream_openai.locate(parsed))
    assert fast._replace(parsed=None, places=()) == general._replace(parsed=None, places=())
    assert fast.parsed == general.parsed
    assert [(c, k) for c, _, k in fast.places] == [(c, k) for c, _, k in general.places]
    for (_, holder, key), (_, other, _) in zip(fast.places, general.places, strict=True):
        assert holder == other and holder is not None and key in holder
