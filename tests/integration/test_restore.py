"""Restore-in-response through the proxy with the real SDKs: the model sees placeholders, the
caller reads its own values back, whole answers and streams cut inside placeholders alike."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import RunningWarden
from tests.upstream import SIM_BODY, SIM_CHUNK_CHARS, SIM_EVENTS, SIM_STATUS, SimulatedUpstream

RULES = """
rules:
  - id: contact.redact-and-restore
    description: Contact details never reach the model; the caller gets them back.
    phase: content
    when: {findings: {kinds: [pii.email, pii.phone]}}
    action: redact
    severity: medium
    restore: true
  - id: cards.redact
    description: Card numbers are replaced for good.
    phase: content
    when: {findings: {kinds: [pii.credit_card]}}
    action: redact
    severity: high
  - id: answers.no-new-emails
    description: Addresses the model makes up are hidden.
    phase: response
    when: {findings: {kinds: [pii.email]}}
    action: redact
    severity: low
"""

EMAIL, PHONE, CARD = "jane.doe@example.com", "+1 415 555 0132", "4111 1111 1111 1111"
PROMPT = f"Write to {EMAIL} or call {PHONE} about card {CARD} today"
SENT = "Write to [EMAIL_1] or call [PHONE_1] about card [CREDIT_CARD_1] today"
SHOWN = f"Write to {EMAIL} or call {PHONE} about card [CREDIT_CARD_1] today"
# Chunk sizes that cut "[EMAIL_1]", "[PHONE_1]" and "[CREDIT_CARD_1]" at different offsets.
CUTS = [1, 2, 3, 5, 8]


async def start(
    start_warden: Callable[..., Any], policy_dir: Path, mode: str = "window"
) -> tuple[RunningWarden, str]:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))

    def guard_mode(raw: dict[str, Any]) -> None:
        for route in raw["routes"]:
            route["stream_guard"] = mode

    warden: RunningWarden = await start_warden(guard_mode)
    return warden, await warden.create_key()


def openai_client(warden: RunningWarden, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0)


def anthropic_client(warden: RunningWarden, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=warden.proxy_url, api_key=key, max_retries=0)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def test_openai_chat_answer_gets_the_values_back(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
) -> None:
    warden, key = await start(start_warden, policy_dir)
    async with openai_client(warden, key) as client:
        answer = await client.chat.completions.create(model="echo-1", messages=user(PROMPT))
    assert upstream.received[-1].json()["messages"][0]["content"] == SENT
    assert answer.choices[0].message.content == SHOWN


@pytest.mark.parametrize("chunk", CUTS)
async def test_openai_chat_stream_cut_inside_placeholders(
    start_warden: Callable[..., Any], policy_dir: Path, chunk: int
) -> None:
    warden, key = await start(start_warden, policy_dir)
    async with openai_client(warden, key) as client:
        stream = await client.chat.completions.create(
            model="echo-1",
            messages=user(PROMPT),
            stream=True,
            extra_headers={SIM_CHUNK_CHARS: str(chunk)},
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == SHOWN
    assert not any("[EMAIL" in p or "[PHONE" in p for p in pieces)
    # Held back only while a word or a placeholder is being written: still a stream.
    assert len([p for p in pieces if p]) >= len(SHOWN.split()) // 2


@pytest.mark.parametrize("mode", ["buffer", "observe", "off"])
async def test_every_stream_guard_mode_restores(
    start_warden: Callable[..., Any], policy_dir: Path, mode: str
) -> None:
    warden, key = await start(start_warden, policy_dir, mode)
    async with openai_client(warden, key) as client:
        stream = await client.chat.completions.create(
            model="echo-1",
            messages=user(PROMPT),
            stream=True,
            extra_headers={SIM_CHUNK_CHARS: "4"},
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == SHOWN


async def test_anthropic_messages_whole_and_streamed(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
) -> None:
    warden, key = await start(start_warden, policy_dir)
    async with anthropic_client(warden, key) as client:
        message = await client.messages.create(
            model="claude-echo", max_tokens=256, messages=user(PROMPT)
        )
        assert upstream.received[-1].json()["messages"][0]["content"] == SENT
        assert message.content[0].text == SHOWN  # type: ignore[union-attr]
        for chunk in CUTS:
            async with client.messages.stream(
                model="claude-echo",
                max_tokens=256,
                messages=user(PROMPT),
                extra_headers={SIM_CHUNK_CHARS: str(chunk)},
            ) as stream:
                pieces = [t async for t in stream.text_stream]
                final = await stream.get_final_message()
            assert "".join(pieces) == SHOWN, chunk
            assert final.content[0].text == SHOWN  # type: ignore[union-attr]


async def test_responses_api_whole_and_streamed(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
) -> None:
    warden, key = await start(start_warden, policy_dir)
    async with openai_client(warden, key) as client:
        response = await client.responses.create(model="echo-1", input=PROMPT)
        assert upstream.received[-1].json()["input"] == SENT
        assert response.output_text == SHOWN
        stream = await client.responses.create(
            model="echo-1", input=PROMPT, stream=True, extra_headers={SIM_CHUNK_CHARS: "3"}
        )
        deltas, done, completed = [], None, None
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            elif event.type == "response.output_text.done":
                done = event.text
            elif event.type == "response.completed":
                completed = event.response.output_text
    # The deltas and both repeats of the whole text agree.
    assert "".join(deltas) == done == completed == SHOWN


async def test_an_address_the_model_adds_stays_hidden(
    start_warden: Callable[..., Any], policy_dir: Path
) -> None:
    warden, key = await start(start_warden, policy_dir)
    # The echo model repeats the prompt; the redacted prompt keeps one address the model
    # "made up" (it reaches the answer as text, not as a placeholder).
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "echo-1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Sent to [EMAIL_1]; copied bob@example.org and [EMAIL_2].",
                },
            }
        ],
    }
    async with openai_client(warden, key) as client:
        answer = await client.chat.completions.create(
            model="echo-1",
            messages=user(f"mail {EMAIL}"),
            extra_headers={SIM_STATUS: "200", SIM_BODY: orjson.dumps(body).decode()},
        )
    # [EMAIL_2] is the answer's own placeholder for bob: never the prompt's, never restored.
    assert answer.choices[0].message.content == (
        f"Sent to {EMAIL}; copied [EMAIL_2] and [EMAIL_2]."
    )


def tool_call_body(arguments: str) -> dict[str, Any]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "send", "arguments": arguments},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "echo-1",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
    }


def tool_call_chunks(arguments: str, size: int) -> list[Any]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "echo-1",
            "choices": [choice],
        }

    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "send"}}
    events: list[Any] = [chunk({"role": "assistant", "tool_calls": [first]})]
    for i in range(0, len(arguments), size):
        part = {"index": 0, "function": {"arguments": arguments[i : i + size]}}
        events.append(chunk({"tool_calls": [part]}))
    return [*events, chunk({}, "tool_calls"), "[DONE]"]


ARGUMENTS = '{"to":"[EMAIL_1]","phone":"[PHONE_1]","card":"[CREDIT_CARD_1]"}'
RESTORED_ARGUMENTS = {"to": EMAIL, "phone": PHONE, "card": "[CREDIT_CARD_1]"}


async def test_tool_call_arguments_whole(
    start_warden: Callable[..., Any], policy_dir: Path
) -> None:
    warden, key = await start(start_warden, policy_dir)
    async with openai_client(warden, key) as client:
        answer = await client.chat.completions.create(
            model="echo-1",
            messages=user(PROMPT),
            extra_headers={
                SIM_STATUS: "200",
                SIM_BODY: orjson.dumps(tool_call_body(ARGUMENTS)).decode(),
            },
        )
    (call,) = answer.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == RESTORED_ARGUMENTS  # type: ignore[union-attr]


# (A script travels in one request header: pieces of one character would not fit in 8 KB.)
@pytest.mark.parametrize("size", [2, 4, 7])
async def test_tool_call_arguments_streamed(
    start_warden: Callable[..., Any], policy_dir: Path, size: int
) -> None:
    warden, key = await start(start_warden, policy_dir)
    script = orjson.dumps(tool_call_chunks(ARGUMENTS, size)).decode()
    async with openai_client(warden, key) as client:
        stream = await client.chat.completions.create(
            model="echo-1", messages=user(PROMPT), stream=True, extra_headers={SIM_EVENTS: script}
        )
        arguments = ""
        async for chunk in stream:
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                arguments += (call.function.arguments or "") if call.function else ""
    assert json.loads(arguments) == RESTORED_ARGUMENTS


async def test_anthropic_tool_use_input_streamed(
    start_warden: Callable[..., Any], policy_dir: Path
) -> None:
    warden, key = await start(start_warden, policy_dir)
    partial = '{"to": "[EMAIL_1]", "note": "call [PHONE_1]"}'
    events: list[Any] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-echo",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "send", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": partial[i : i + 5]},
            }
            for i in range(0, len(partial), 5)
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    async with anthropic_client(warden, key) as client:
        async with client.messages.stream(
            model="claude-echo",
            max_tokens=64,
            messages=user(PROMPT),
            extra_headers={SIM_EVENTS: orjson.dumps(events).decode()},
        ) as stream:
            final = await stream.get_final_message()
    assert final.content[0].input == {"to": EMAIL, "note": f"call {PHONE}"}  # type: ignore[union-attr]


async def test_values_are_not_recorded(
    start_warden: Callable[..., Any], policy_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    warden, key = await start(start_warden, policy_dir)
    async with openai_client(warden, key) as client:
        answer = await client.chat.completions.create(model="echo-1", messages=user(PROMPT))
    assert answer.choices[0].message.content == SHOWN
    await warden.server.stop()
    rows = await warden.db.fetch("SELECT row_to_json(a)::text AS row FROM audit_events a")
    assert rows, "the request was audited"
    recorded = " ".join(r["row"] for r in rows) + capfd.readouterr().err
    for value in (EMAIL, PHONE, "jane.doe"):
        assert value not in recorded
