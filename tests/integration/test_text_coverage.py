"""Every place a model reads text from, for every format, is scanned: through the proxy.

One table: a request with an e-mail address at one location. A redact rule is on, so the
proof is what the upstream received: the address replaced by `[EMAIL_1]` at that location and
nowhere left. Object keys count as locations (free-form JSON, tool-call arguments, tool input
schemas, KServe instances): a key is text the model reads too.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import RunningWarden
from tests.upstream import SimulatedUpstream

RULES = """
rules:
  - id: contact.redact
    description: E-mail addresses are replaced before a model reads them.
    phase: content
    when: {findings: {kinds: [pii.email]}}
    action: redact
    severity: medium
"""
EMAIL = "jane.doe@example.com"
E = EMAIL  # short, for the table


def args(value: Any) -> str:
    return json.dumps(value)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def chat(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "echo-1", "messages": list(messages), **fields}


def tool(description: str = "send mail", properties: Any = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties or {"to": {"type": "string"}}}
    return {
        "type": "function",
        "function": {"name": "send", "description": description, "parameters": schema},
    }


def call(arguments: str) -> dict[str, Any]:
    function = {"name": "send", "arguments": arguments}
    return {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": function}],
    }


def claude(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "claude-echo", "max_tokens": 16, "messages": list(messages), **fields}


def tool_use(input_value: Any) -> dict[str, Any]:
    block = {"type": "tool_use", "id": "toolu_1", "name": "send", "input": input_value}
    return {"role": "assistant", "content": [block]}


def tool_result(content: Any) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": content}],
    }


CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
# (location, path, body): each body holds the address exactly once.
LOCATIONS: list[tuple[str, str, dict[str, Any]]] = [
    # OpenAI chat completions
    ("chat system prompt", CHAT, chat({"role": "system", "content": f"reply to {E}"}, user("hi"))),
    (
        "chat developer prompt",
        CHAT,
        chat({"role": "developer", "content": [{"type": "text", "text": E}]}, user("hi")),
    ),
    ("chat user message", CHAT, chat(user(f"mail {E}"))),
    (
        "chat earlier message",
        CHAT,
        chat(user(f"mail {E}"), {"role": "assistant", "content": "ok"}, user("go")),
    ),
    (
        "chat content part",
        CHAT,
        chat(user([{"type": "text", "text": "hi"}, {"type": "text", "text": E}])),
    ),
    (
        "chat assistant message",
        CHAT,
        chat(user("hi"), {"role": "assistant", "content": f"to {E}"}, user("ok")),
    ),
    ("chat message name", CHAT, chat({"role": "user", "name": E, "content": "hi"})),
    ("chat tool-call argument", CHAT, chat(user("hi"), call(args({"to": E})), user("ok"))),
    ("chat tool-call argument key", CHAT, chat(user("hi"), call(args({E: "vip"})), user("ok"))),
    (
        "chat tool result",
        CHAT,
        chat(user("hi"), {"role": "tool", "tool_call_id": "c1", "content": E}),
    ),
    ("chat tool description", CHAT, chat(user("hi"), tools=[tool(f"mails {E}")])),
    (
        "chat tool property name",
        CHAT,
        chat(user("hi"), tools=[tool(properties={E: {"type": "string"}})]),
    ),
    (
        "chat tool property description",
        CHAT,
        chat(user("hi"), tools=[tool(properties={"to": {"type": "string", "description": E}})]),
    ),
    (
        "chat response schema",
        CHAT,
        chat(
            user("hi"),
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object", "description": E}},
            },
        ),
    ),
    ("chat unknown field", CHAT, chat(user("hi"), metadata={"note": E})),
    ("chat unknown field key", CHAT, chat(user("hi"), metadata={E: "x"})),
    # OpenAI completions and embeddings
    ("completions prompt", "/v1/completions", {"model": "echo-1", "prompt": f"to {E}"}),
    ("completions prompt list", "/v1/completions", {"model": "echo-1", "prompt": ["a", E]}),
    ("embeddings input", "/v1/embeddings", {"model": "echo-embed", "input": E}),
    ("embeddings input list", "/v1/embeddings", {"model": "echo-embed", "input": ["a", E]}),
    # OpenAI Responses API
    ("responses input text", "/v1/responses", {"model": "echo-1", "input": f"to {E}"}),
    (
        "responses instructions",
        "/v1/responses",
        {"model": "echo-1", "instructions": E, "input": "hi"},
    ),
    (
        "responses input part",
        "/v1/responses",
        {
            "model": "echo-1",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": E}]}],
        },
    ),
    (
        "responses function call arguments",
        "/v1/responses",
        {
            "model": "echo-1",
            "input": [
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "send",
                    "arguments": args({"to": E}),
                },
                {"type": "function_call_output", "call_id": "c1", "output": "sent"},
            ],
        },
    ),
    (
        "responses function output",
        "/v1/responses",
        {
            "model": "echo-1",
            "input": [{"type": "function_call_output", "call_id": "c1", "output": E}],
        },
    ),
    (
        "responses tool description",
        "/v1/responses",
        {
            "model": "echo-1",
            "input": "hi",
            "tools": [{"type": "function", "name": "send", "description": E, "parameters": {}}],
        },
    ),
    # Anthropic messages
    ("anthropic system string", MESSAGES, claude(user("hi"), system=f"reply to {E}")),
    ("anthropic system block", MESSAGES, claude(user("hi"), system=[{"type": "text", "text": E}])),
    ("anthropic user string", MESSAGES, claude(user(f"to {E}"))),
    ("anthropic text block", MESSAGES, claude(user([{"type": "text", "text": E}]))),
    (
        "anthropic tool_use input",
        MESSAGES,
        claude(user("hi"), tool_use({"to": E}), tool_result("ok")),
    ),
    (
        "anthropic tool_use input key",
        MESSAGES,
        claude(user("hi"), tool_use({E: "vip"}), tool_result("ok")),
    ),
    ("anthropic tool_result string", MESSAGES, claude(user("hi"), tool_use({}), tool_result(E))),
    (
        "anthropic tool_result block",
        MESSAGES,
        claude(user("hi"), tool_use({}), tool_result([{"type": "text", "text": E}])),
    ),
    (
        "anthropic document text",
        MESSAGES,
        claude(
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": E},
                    }
                ]
            )
        ),
    ),
    (
        "anthropic tool description",
        MESSAGES,
        claude(
            user("hi"),
            tools=[{"name": "send", "description": E, "input_schema": {"type": "object"}}],
        ),
    ),
    (
        "anthropic tool property name",
        MESSAGES,
        claude(
            user("hi"),
            tools=[
                {
                    "name": "send",
                    "input_schema": {"type": "object", "properties": {E: {"type": "string"}}},
                }
            ],
        ),
    ),
    # KServe v1 and v2
    ("kserve v1 instance", "/ml/v1/models/m:predict", {"instances": [E]}),
    ("kserve v1 nested field", "/ml/v1/models/m:predict", {"instances": [{"text": {"body": E}}]}),
    ("kserve v1 key", "/ml/v1/models/m:predict", {"instances": [{E: 1}]}),
    (
        "kserve v2 BYTES input",
        "/ml/v2/models/m/infer",
        {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a", E]}]},
    ),
    # Any other JSON API
    ("json string field", "/json/score", {"text": E}),
    ("json nested list", "/json/score", {"rows": [{"cells": ["a", E]}]}),
    ("json key", "/json/score", {"by_user": {E: 3}}),
]


async def test_every_location_is_scanned_and_redacted(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
) -> None:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))
    warden: RunningWarden = await start_warden()
    key = await warden.create_key()
    headers = {"authorization": f"Bearer {key}", "x-api-key": key}
    missed: list[str] = []
    for name, path, body in LOCATIONS:
        assert EMAIL in json.dumps(body), name
        before = len(upstream.received)
        async with warden.http.post(f"{warden.proxy_url}{path}", json=body, headers=headers) as r:
            await r.read()
            decision = r.headers.get("x-warden-decision")
        if len(upstream.received) == before:
            missed.append(f"{name}: not forwarded ({r.status})")
            continue
        sent = upstream.received[-1].body.decode()
        if EMAIL in sent or EMAIL in json.dumps(json.loads(sent)) or "EMAIL_1" not in sent:
            missed.append(f"{name}: upstream got {sent[:200]}")
        elif decision != "redact":
            missed.append(f"{name}: decision {decision}")
    assert not missed, "\n".join(missed)


def test_the_table_covers_the_issue_list() -> None:
    names = " ".join(name for name, _, _ in LOCATIONS)
    for where in (
        "system",
        "message",
        "content part",
        "tool description",
        "tool-call argument",
        "tool_use input",
        "tool_result",
        "responses input",
        "instructions",
        "embeddings input",
        "kserve v2 BYTES",
        "json string",
        "key",
    ):
        assert where in names, where


async def test_a_redacted_key_that_would_replace_another_is_refused(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
) -> None:
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))
    warden: RunningWarden = await start_warden()
    key = await warden.create_key()
    # Redacted, the second key would become "[EMAIL_1]" and overwrite the first one's value.
    body = {"scores": {"[EMAIL_1]": 1, EMAIL: 2}}
    async with warden.http.post(
        f"{warden.proxy_url}/json/score", json=body, headers={"authorization": f"Bearer {key}"}
    ) as response:
        error = (await response.json())["error"]
    assert response.status == 403
    assert error["code"] == "contact.redact" and error["type"] == "policy_violation"
    assert "would replace another key" in error["message"]
    assert not upstream.received
