"""ResponseGuard over SSE bytes cut anywhere: the caller always sees the same redacted text."""

from __future__ import annotations

import functools

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request

from proxy.config import settings_from_mapping
from proxy.exchange import Exchange
from proxy.formats import Call
from proxy.policy import PolicySet, compile_policies
from proxy.response_guard import ResponseGuard
from proxy.routing import Route, RouteTable
from proxy.scanners import KNOWN_KINDS, SCANNERS
from proxy.sse import SseParser

RULES = """
rules:
  - id: redact.phone
    description: phones are hidden
    phase: response
    when: {findings: {kinds: [pii.phone]}}
    action: redact
    severity: low
"""
WORDS = "please call +1 415 555 0132 before noon".split(" ")


def chat_stream(words: list[str] = WORDS) -> bytes:
    def event(delta: dict[str, str], finish: str | None = None) -> bytes:
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "echo-1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    body = event({"role": "assistant", "content": ""})
    for i, word in enumerate(words):
        body += event({"content": word if i == 0 else " " + word})
    return body + event({}, "stop") + b"data: [DONE]\n\n"


@functools.cache
def compiled() -> tuple[Route, PolicySet]:
    settings = settings_from_mapping(
        {
            "upstreams": {"u": {"url": "http://u"}},
            "routes": [{"prefix": "/v1", "upstream": "u", "format": "openai"}],
        },
        {},
    )
    route = RouteTable.from_settings(settings).match("/v1/chat/completions")
    assert route is not None
    return route, compile_policies([("r.yaml", RULES)], known_kinds=KNOWN_KINDS)


def guard(hold_back: int) -> tuple[ResponseGuard, Exchange]:
    route, policy = compiled()
    exchange = Exchange(make_mocked_request("POST", "/v1/chat/completions"), "req")
    exchange.route = route
    exchange.call = Call("chat", "echo-1", True, {})
    exchange.policy = policy
    return ResponseGuard(exchange, policy, tuple(SCANNERS.values()), hold_back), exchange


def fed(g: ResponseGuard, chunk: bytes) -> bytes:
    """Everything the guard lets out for `chunk`, its events' outputs joined."""
    return b"".join(step.data for step in g.feed(chunk))


def shown_text(data: bytes) -> tuple[str, bool]:
    text, done = "", False
    for event in SseParser().feed(data):
        if event.data == "[DONE]":
            done = True
            continue
        for choice in orjson.loads(event.data)["choices"]:
            text += choice["delta"].get("content") or ""
    return text, done


@pytest.mark.parametrize("hold_back", [16, 64])
def test_every_cut_gives_the_same_redacted_answer(hold_back: int):
    stream = chat_stream()
    expected = "please call [PHONE_1] before noon"
    # Every byte around the phone number's events, every seventh byte elsewhere.
    first, last = stream.index(b' +1"'), stream.index(b' 0132"')
    cuts = sorted({*range(0, len(stream) + 1, 7), *range(first - 80, last + 80), len(stream)})
    for cut in cuts:
        g, exchange = guard(hold_back)
        out = fed(g, stream[:cut]) + fed(g, stream[cut:]) + g.finish().data
        assert shown_text(out) == (expected, True), cut
        assert exchange.decisions[-1].rule_id == "redact.phone"


def test_unredacted_events_pass_byte_for_byte():
    g, _ = guard(16)
    stream = chat_stream("please call the office before noon".split(" "))
    out = fed(g, stream) + g.finish().data
    assert shown_text(out) == ("please call the office before noon", True)
    assert out.startswith(stream.split(b"\n\n")[0]), "the first event is relayed as received"


def anthropic_guard() -> tuple[ResponseGuard, Exchange]:
    settings = settings_from_mapping(
        {
            "upstreams": {"u": {"url": "http://u"}},
            "routes": [{"prefix": "/v1/messages", "upstream": "u", "format": "anthropic"}],
        },
        {},
    )
    route = RouteTable.from_settings(settings).match("/v1/messages")
    assert route is not None
    _, policy = compiled()
    exchange = Exchange(make_mocked_request("POST", "/v1/messages"), "req")
    exchange.route = route
    exchange.call = Call("messages", "claude", True, {})
    exchange.policy = policy
    # The scanners a phone rule needs (per-phase selection): no injection model on answers.
    scanners = (SCANNERS["pii"], SCANNERS["secrets"])
    return ResponseGuard(exchange, policy, scanners, 4200), exchange


def anthropic_event(data: dict[str, object]) -> bytes:
    return f"event: {data['type']}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def test_block_starts_keep_their_place_before_their_deltas():
    # The tool's name is a whole value: held, the start would follow its own deltas.
    events = [
        {"type": "message_start", "message": {"id": "m", "content": [], "usage": {}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "send", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            for piece in ('{"to": ', '"call +1 415', " 555 0132", '"}')
        ),
        {"type": "ping"},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_stop"},
    ]
    stream = b"".join(anthropic_event(e) for e in events)
    for cut in range(0, len(stream) + 1, 3):
        g, _ = anthropic_guard()
        out = fed(g, stream[:cut]) + fed(g, stream[cut:]) + g.finish().data
        kinds = [orjson.loads(e.data)["type"] for e in SseParser().feed(out)]
        assert kinds[:2] == ["message_start", "content_block_start"], cut
        assert kinds[-2:] == ["content_block_stop", "message_stop"], cut
        partial = "".join(
            orjson.loads(e.data)["delta"]["partial_json"]
            for e in SseParser().feed(out)
            if orjson.loads(e.data)["type"] == "content_block_delta"
        )
        assert orjson.loads(partial) == {"to": "call [PHONE_1]"}, cut


def test_a_ping_does_not_release_a_number_being_written():
    g, _ = anthropic_guard()
    out = b""
    for data in (
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "call +1 415"},
        },
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " 555 0132 now"},
        },
        {"type": "content_block_stop", "index": 0},
    ):
        out += fed(g, anthropic_event(data))
    out += g.finish().data
    texts = [
        orjson.loads(e.data)["delta"]["text"]
        for e in SseParser().feed(out)
        if orjson.loads(e.data)["type"] == "content_block_delta"
    ]
    assert "".join(texts) == "call [PHONE_1] now"
    assert texts[0] == "call ", "what cannot be part of the number went out at once"


def test_a_chunk_of_many_events_comes_out_event_by_event():
    g, _ = guard(16)
    stream = chat_stream("please call the office before noon".split(" "))
    steps = g.feed(stream)
    first = next(steps)
    # The role chunk is out before any later event of the same read is checked.
    assert first.data == stream.split(b"\n\n")[0] + b"\n\n"
    assert not g.channels, "no text event looked at yet"
    assert len(list(steps)) > 3


def test_an_event_whose_data_is_one_json_string_is_redacted():
    g, exchange = guard(16)
    out = fed(g, b'data: "call +1 415 555 0132 now"\n\n') + g.finish().data
    assert out == b'data: "call [PHONE_1] now"\n\n'
    assert exchange.decisions[-1].rule_id == "redact.phone"
