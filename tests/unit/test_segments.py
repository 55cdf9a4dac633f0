"""Where text comes from: every text-bearing field of every format is found, and rewritable."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import orjson
import pytest

from proxy.formats.rewrite import KeyCollision, SegmentPathError, replace_segments
from proxy.formats.segments import (
    ASSISTANT,
    DOCUMENT,
    IN_JSON,
    KEY,
    MAX_DEPTH,
    SCHEMA,
    SYSTEM,
    TOOL,
    TOOL_DEFINITION,
    USER,
    JsonPath,
    Segment,
    TooDeeplyNested,
    Usage,
    walk_strings,
)
from proxy.formats.texts import TEXT_READERS

Role = str | None


def c(name: str) -> str:
    """A canary: a unique string to find in exactly one field."""
    return f"CANARY-{name}"


def args(value: Any) -> str:
    return json.dumps(value)


BINARY = "BINARY-not-text"  # in image URLs, base64 data, file ids: must never be a segment

# --- Maximal requests, one per format, with a canary in every text-bearing field ------------

OPENAI_CHAT: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": c("system")},
        {"role": "developer", "content": [{"type": "text", "text": c("developer-part")}]},
        {"role": "user", "name": c("user-name"), "content": c("user")},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": c("user-part")},
                {"type": "image_url", "image_url": {"url": BINARY, "detail": "high"}},
                {"type": "input_audio", "input_audio": {"data": BINARY, "format": "wav"}},
                {"type": "file", "file": {"file_data": BINARY, "filename": c("filename")}},
            ],
        },
        {
            "role": "assistant",
            "content": c("assistant"),
            "refusal": c("refusal"),
            "audio": {"id": "audio_1"},
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "arguments": args({"q": c("arguments"), "opts": {"type": c("arg-type")}}),
                    },
                },
                {"id": "call_2", "type": "custom", "custom": {"name": "sql", "input": c("custom")}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": c("tool-result")},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": [{"type": "text", "text": c("tool-result-part")}],
        },
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "legacy", "arguments": args({"x": c("function-call")})},
        },
        {"role": "function", "name": "legacy", "content": c("function-result")},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": c("assistant-part")},
                {"type": "refusal", "refusal": c("refusal-part")},
            ],
        },
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": c("tool-description"),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "q": {"type": "string", "description": c("parameter-description")},
                        "type": {"type": "string", "enum": [c("enum-value")]},
                    },
                },
            },
        },
        {"type": "custom", "custom": {"name": "sql", "description": c("custom-tool")}},
    ],
    "functions": [{"name": "legacy", "description": c("legacy-function")}],
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "description": c("schema-description"),
            "schema": {"type": "object", "properties": {"a": {"description": c("schema-prop")}}},
        },
    },
    "prediction": {"type": "content", "content": c("prediction")},
    "user": c("user-field"),
    "metadata": {"k": c("metadata")},
    "documents": [{"title": c("vendor-field")}],  # vLLM-style extension: unknown, still walked
    "temperature": 0.3,
    "stream": True,
}

OPENAI_RESPONSES: dict[str, Any] = {
    "model": "gpt-4.1",
    "instructions": c("instructions"),
    "input": [
        {"role": "developer", "content": c("developer")},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": c("input-text")},
                {"type": "input_image", "image_url": BINARY, "detail": "auto"},
                {"type": "input_file", "file_data": BINARY, "filename": c("input-filename")},
            ],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": c("output-text"), "annotations": []}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "lookup",
            "arguments": args({"q": c("function-arguments")}),
        },
        {"type": "function_call_output", "call_id": "call_1", "output": c("function-output")},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [{"type": "input_text", "text": c("function-output-part")}],
        },
        {"type": "custom_tool_call", "call_id": "c3", "name": "sql", "input": c("custom-input")},
        {"type": "custom_tool_call_output", "call_id": "c3", "output": c("custom-output")},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": c("reasoning-summary")}],
            "encrypted_content": BINARY,
        },
        {
            "type": "mcp_call",
            "id": "mcp_1",
            "server_label": "docs",
            "name": "search",
            "arguments": args({"query": c("mcp-arguments")}),
            "output": c("mcp-output"),
        },
        {"type": "local_shell_call_output", "id": "ls_1", "output": c("shell-output")},
        {
            "type": "file_search_call",
            "id": "fs_1",
            "status": "completed",
            "queries": [c("file-search-query")],
            "results": [{"file_id": BINARY, "text": c("file-search-result")}],
        },
        {
            "type": "computer_call_output",
            "call_id": "cc_1",
            "output": {"type": "computer_screenshot", "image_url": BINARY},
        },
        {"type": "item_reference", "id": "msg_0"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "lookup",
            "description": c("tool-description"),
            "parameters": {"type": "object", "properties": {"q": {"description": c("tool-param")}}},
        }
    ],
    "text": {"format": {"type": "json_schema", "name": "a", "description": c("text-format")}},
    "prompt": {"id": "pmpt_1", "variables": {"city": c("prompt-variable")}},
    "previous_response_id": "resp_1",
}

ANTHROPIC_MESSAGES: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": c("system"), "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": c("user")},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": c("user-block")},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": BINARY},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": c("doc-text")},
                    "title": c("doc-title"),
                    "context": c("doc-context"),
                },
                {
                    "type": "document",
                    "source": {
                        "type": "content",
                        "content": [{"type": "text", "text": c("doc-content-block")}],
                    },
                },
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": BINARY},
                },
                {
                    "type": "search_result",
                    "source": "https://example.com/a",
                    "title": c("search-title"),
                    "content": [{"type": "text", "text": c("search-content")}],
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": c("thinking"), "signature": BINARY},
                {"type": "redacted_thinking", "data": BINARY},
                {"type": "text", "text": c("assistant-block")},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "lookup",
                    "input": {"q": c("tool-input"), "type": c("tool-input-type")},
                },
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": c("server-tool-input")},
                },
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_1",
                    "content": [
                        {
                            "type": "web_search_result",
                            "url": "https://example.com",
                            "title": c("web-result-title"),
                            "encrypted_content": BINARY,
                        }
                    ],
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": c("tool-result")},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "is_error": False,
                    "content": [
                        {"type": "text", "text": c("tool-result-block")},
                        {"type": "image", "source": {"type": "url", "url": BINARY}},
                    ],
                },
            ],
        },
    ],
    "tools": [
        {
            "name": "lookup",
            "description": c("tool-description"),
            "input_schema": {
                "type": "object",
                "properties": {"q": {"type": "string", "description": c("input-schema")}},
            },
        }
    ],
    "metadata": {"user_id": c("metadata-user")},
    "stop_sequences": [c("stop-sequence")],
}

OPENAI_COMPLETIONS = {"model": "m", "prompt": [c("prompt-0"), c("prompt-1")], "suffix": c("suffix")}
OPENAI_EMBEDDINGS = {"model": "e", "input": [c("input-0"), [101, 102]], "dimensions": 8}
OPENAI_MODERATIONS = {
    "model": "omni-moderation-latest",
    "input": [
        {"type": "text", "text": c("moderation-text")},
        {"type": "image_url", "image_url": {"url": BINARY}},
    ],
}
KSERVE_V1 = {"instances": [{"text": c("instance"), "meta": {"notes": [c("nested")]}}, [0.1, 0.2]]}
KSERVE_V2 = {
    "id": "req-1",
    "inputs": [
        {
            "name": "text",
            "shape": [1, 2],
            "datatype": "BYTES",
            "data": [[c("bytes-0"), c("bytes-1")]],
        },
        {"name": "x", "shape": [2], "datatype": "FP32", "data": [0.5, 1.5]},
    ],
}
GENERIC = {"query": c("top"), "nested": {"list": [1, {"deep": c("deep")}], "flag": True}}

# (format, operation, request, [(canary name, path, role)]): the fields each format reads.
CANARY_FIELDS: list[tuple[str, str, dict[str, Any], list[tuple[str, JsonPath, Role]]]] = [
    (
        "openai",
        "chat",
        OPENAI_CHAT,
        [
            ("system", ("messages", 0, "content"), SYSTEM),
            ("developer-part", ("messages", 1, "content", 0, "text"), SYSTEM),
            ("user-name", ("messages", 2, "name"), USER),
            ("user", ("messages", 2, "content"), USER),
            ("user-part", ("messages", 3, "content", 0, "text"), USER),
            ("filename", ("messages", 3, "content", 3, "file", "filename"), USER),
            ("assistant", ("messages", 4, "content"), ASSISTANT),
            ("refusal", ("messages", 4, "refusal"), ASSISTANT),
            (
                "arguments",
                ("messages", 4, "tool_calls", 0, "function", "arguments", IN_JSON, "q"),
                ASSISTANT,
            ),
            (
                "arg-type",
                ("messages", 4, "tool_calls", 0, "function", "arguments", IN_JSON, "opts", "type"),
                ASSISTANT,
            ),
            ("custom", ("messages", 4, "tool_calls", 1, "custom", "input"), ASSISTANT),
            ("tool-result", ("messages", 5, "content"), TOOL),
            ("tool-result-part", ("messages", 6, "content", 0, "text"), TOOL),
            (
                "function-call",
                ("messages", 7, "function_call", "arguments", IN_JSON, "x"),
                ASSISTANT,
            ),
            ("function-result", ("messages", 8, "content"), TOOL),
            ("assistant-part", ("messages", 9, "content", 0, "text"), ASSISTANT),
            ("refusal-part", ("messages", 9, "content", 1, "refusal"), ASSISTANT),
            ("tool-description", ("tools", 0, "function", "description"), TOOL_DEFINITION),
            (
                "parameter-description",
                ("tools", 0, "function", "parameters", "properties", "q", "description"),
                TOOL_DEFINITION,
            ),
            (
                "enum-value",
                ("tools", 0, "function", "parameters", "properties", "type", "enum", 0),
                TOOL_DEFINITION,
            ),
            ("custom-tool", ("tools", 1, "custom", "description"), TOOL_DEFINITION),
            ("legacy-function", ("functions", 0, "description"), TOOL_DEFINITION),
            ("schema-description", ("response_format", "json_schema", "description"), SYSTEM),
            (
                "schema-prop",
                ("response_format", "json_schema", "schema", "properties", "a", "description"),
                SYSTEM,
            ),
            ("prediction", ("prediction", "content"), USER),
            ("user-field", ("user",), None),
            ("metadata", ("metadata", "k"), None),
            ("vendor-field", ("documents", 0, "title"), None),
        ],
    ),
    (
        "openai",
        "responses",
        OPENAI_RESPONSES,
        [
            ("instructions", ("instructions",), SYSTEM),
            ("developer", ("input", 0, "content"), SYSTEM),
            ("input-text", ("input", 1, "content", 0, "text"), USER),
            ("input-filename", ("input", 1, "content", 2, "filename"), USER),
            ("output-text", ("input", 2, "content", 0, "text"), ASSISTANT),
            ("function-arguments", ("input", 3, "arguments", IN_JSON, "q"), ASSISTANT),
            ("function-output", ("input", 4, "output"), TOOL),
            ("function-output-part", ("input", 5, "output", 0, "text"), TOOL),
            ("custom-input", ("input", 6, "input"), ASSISTANT),
            ("custom-output", ("input", 7, "output"), TOOL),
            ("reasoning-summary", ("input", 8, "summary", 0, "text"), ASSISTANT),
            ("mcp-arguments", ("input", 9, "arguments", IN_JSON, "query"), ASSISTANT),
            ("mcp-output", ("input", 9, "output"), ASSISTANT),
            ("shell-output", ("input", 10, "output"), TOOL),
            ("file-search-query", ("input", 11, "queries", 0), ASSISTANT),
            ("file-search-result", ("input", 11, "results", 0, "text"), ASSISTANT),
            ("tool-description", ("tools", 0, "description"), TOOL_DEFINITION),
            (
                "tool-param",
                ("tools", 0, "parameters", "properties", "q", "description"),
                TOOL_DEFINITION,
            ),
            ("text-format", ("text", "format", "description"), SYSTEM),
            ("prompt-variable", ("prompt", "variables", "city"), USER),
        ],
    ),
    (
        "anthropic",
        "messages",
        ANTHROPIC_MESSAGES,
        [
            ("system", ("system", 0, "text"), SYSTEM),
            ("user", ("messages", 0, "content"), USER),
            ("user-block", ("messages", 1, "content", 0, "text"), USER),
            ("doc-text", ("messages", 1, "content", 2, "source", "data"), DOCUMENT),
            ("doc-title", ("messages", 1, "content", 2, "title"), DOCUMENT),
            ("doc-context", ("messages", 1, "content", 2, "context"), DOCUMENT),
            (
                "doc-content-block",
                ("messages", 1, "content", 3, "source", "content", 0, "text"),
                DOCUMENT,
            ),
            ("search-title", ("messages", 1, "content", 5, "title"), DOCUMENT),
            ("search-content", ("messages", 1, "content", 5, "content", 0, "text"), DOCUMENT),
            ("thinking", ("messages", 2, "content", 0, "thinking"), ASSISTANT),
            ("assistant-block", ("messages", 2, "content", 2, "text"), ASSISTANT),
            ("tool-input", ("messages", 2, "content", 3, "input", "q"), ASSISTANT),
            ("tool-input-type", ("messages", 2, "content", 3, "input", "type"), ASSISTANT),
            ("server-tool-input", ("messages", 2, "content", 4, "input", "query"), ASSISTANT),
            (
                "web-result-title",
                ("messages", 2, "content", 5, "content", 0, "title"),
                ASSISTANT,
            ),
            ("tool-result", ("messages", 3, "content", 0, "content"), TOOL),
            ("tool-result-block", ("messages", 3, "content", 1, "content", 0, "text"), TOOL),
            ("tool-description", ("tools", 0, "description"), TOOL_DEFINITION),
            (
                "input-schema",
                ("tools", 0, "input_schema", "properties", "q", "description"),
                TOOL_DEFINITION,
            ),
            ("metadata-user", ("metadata", "user_id"), None),
            ("stop-sequence", ("stop_sequences", 0), None),
        ],
    ),
    (
        "openai",
        "completions",
        OPENAI_COMPLETIONS,
        [
            ("prompt-0", ("prompt", 0), USER),
            ("prompt-1", ("prompt", 1), USER),
            ("suffix", ("suffix",), USER),
        ],
    ),
    ("openai", "embeddings", OPENAI_EMBEDDINGS, [("input-0", ("input", 0), USER)]),
    (
        "openai",
        "moderations",
        OPENAI_MODERATIONS,
        [("moderation-text", ("input", 0, "text"), USER)],
    ),
    (
        "kserve",
        "predict",
        KSERVE_V1,
        [
            ("instance", ("instances", 0, "text"), None),
            ("nested", ("instances", 0, "meta", "notes", 0), None),
        ],
    ),
    (
        "kserve",
        "infer",
        KSERVE_V2,
        [
            ("bytes-0", ("inputs", 0, "data", 0, 0), None),
            ("bytes-1", ("inputs", 0, "data", 0, 1), None),
        ],
    ),
    (
        "json",
        "json",
        GENERIC,
        [("top", ("query",), None), ("deep", ("nested", "list", 1, "deep"), None)],
    ),
]


def _canary_cases() -> list[Any]:
    return [
        pytest.param(fmt, op, body, name, path, role, id=f"{fmt}-{op}-{name}")
        for fmt, op, body, fields in CANARY_FIELDS
        for name, path, role in fields
    ]


@pytest.mark.parametrize(("fmt", "operation", "body", "name", "path", "role"), _canary_cases())
def test_canary_in_each_text_field_is_found(
    fmt: str, operation: str, body: dict[str, Any], name: str, path: JsonPath, role: Role
) -> None:
    segments = TEXT_READERS[fmt].request_segments(operation, body)
    assert Segment(path, c(name), role) in segments


@pytest.mark.parametrize(("fmt", "operation", "body", "fields"), CANARY_FIELDS)
def test_every_canary_in_the_body_is_listed_and_found(
    fmt: str, operation: str, body: dict[str, Any], fields: list[Any]
) -> None:
    # Belt and braces: any canary anywhere in the bytes (JSON-in-JSON included) is in a segment,
    # and the table above names every one of them.
    segments = TEXT_READERS[fmt].request_segments(operation, body)
    in_body = set(re.findall(r"CANARY-[\w-]+", orjson.dumps(body).decode()))
    found = {m for s in segments for m in re.findall(r"CANARY-[\w-]+", s.text)}
    assert in_body == found == {c(name) for name, _, _ in fields}


@pytest.mark.parametrize(("fmt", "operation", "body", "fields"), CANARY_FIELDS)
def test_binary_ids_and_structure_are_not_text(
    fmt: str, operation: str, body: dict[str, Any], fields: list[Any]
) -> None:
    texts = [s.text for s in TEXT_READERS[fmt].request_segments(operation, body)]
    assert not [t for t in texts if BINARY in t]
    # Ids and vocabulary ("type": "object") are not scanned either.
    assert not {"call_1", "toolu_1", "image_url", "object", "string", "function"} & set(texts)
    assert "gpt-4o" not in texts and "claude-sonnet-4-5" not in texts


# --- Smaller request shapes, table-driven ------------------------------------------------------

REQUESTS: list[tuple[str, str, Any, list[tuple[JsonPath, str, Role]]]] = [
    ("openai", "completions", {"model": "m", "prompt": "p"}, [(("prompt",), "p", USER)]),
    (
        "openai",
        "completions",
        {"model": "m", "prompt": ["a", "b"], "suffix": "s", "logit_bias": {"50256": -100}},
        [(("prompt", 0), "a", USER), (("prompt", 1), "b", USER), (("suffix",), "s", USER)],
    ),
    ("openai", "completions", {"model": "m", "prompt": [[1, 2], [3]]}, []),
    ("openai", "embeddings", {"model": "e", "input": "x"}, [(("input",), "x", USER)]),
    (
        "openai",
        "embeddings",
        {"model": "e", "input": ["x", "y"], "encoding_format": "float"},
        [
            (("input", 0), "x", USER),
            (("input", 1), "y", USER),
            (("encoding_format",), "float", None),
        ],
    ),
    ("openai", "embeddings", {"model": "e", "input": [101, 102]}, []),
    ("openai", "moderations", {"model": "o", "input": "x"}, [(("input",), "x", USER)]),
    (
        "openai",
        "moderations",
        {
            "model": "o",
            "input": [
                {"type": "text", "text": "t"},
                {"type": "image_url", "image_url": {"url": BINARY}},
            ],
        },
        [(("input", 0, "text"), "t", USER)],
    ),
    ("openai", "responses", {"model": "m", "input": "hi"}, [(("input",), "hi", USER)]),
    (
        "openai",
        "other",
        {"model": "dall-e-3", "prompt": "a cat", "size": "1024x1024"},
        [(("prompt",), "a cat", None), (("size",), "1024x1024", None)],
    ),
    ("openai", "models", None, []),
    (
        "anthropic",
        "messages",
        {"model": "c", "system": "be brief", "messages": [{"role": "user", "content": "hi"}]},
        [(("system",), "be brief", SYSTEM), (("messages", 0, "content"), "hi", USER)],
    ),
    (
        "anthropic",
        "count_tokens",
        {"model": "c", "messages": [{"role": "user", "content": [{"type": "text", "text": "t"}]}]},
        [(("messages", 0, "content", 0, "text"), "t", USER)],
    ),
    (
        "anthropic",
        "complete",
        {"model": "claude-2", "prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 5},
        [(("prompt",), "\n\nHuman: hi\n\nAssistant:", USER)],
    ),
    (
        "kserve",
        "predict",
        {"instances": [{"text": "a", "id": 3}, ["b", ["c"]], 1.5]},
        [
            ((KEY, "instances"), "instances", None),
            (("instances", 0, KEY, "text"), "text", None),
            (("instances", 0, "text"), "a", None),
            (("instances", 0, KEY, "id"), "id", None),
            (("instances", 1, 0), "b", None),
            (("instances", 1, 1, 0), "c", None),
        ],
    ),
    (
        "kserve",
        "predict",
        {"inputs": ["x"]},
        [((KEY, "inputs"), "inputs", None), (("inputs", 0), "x", None)],
    ),
    (
        "kserve",
        "infer",
        {
            "inputs": [
                {"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
                {"name": "n", "shape": [1, 2], "datatype": "BYTES", "data": [["c", "d"]]},
                {"name": "f", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]},
            ],
            "parameters": {"content_type": "str"},
        },
        [
            (("inputs", 0, "data", 0), "a", None),
            (("inputs", 0, "data", 1), "b", None),
            (("inputs", 1, "data", 0, 0), "c", None),
            (("inputs", 1, "data", 0, 1), "d", None),
        ],
    ),
    (
        "json",
        "json",
        # In free-form JSON a key is data like any value.
        {"key is text": {"a": ["x", {"b": "y"}], "n": 1, "e": ""}, "z": True},
        [
            ((KEY, "key is text"), "key is text", None),
            (("key is text", KEY, "a"), "a", None),
            (("key is text", "a", 0), "x", None),
            (("key is text", "a", 1, KEY, "b"), "b", None),
            (("key is text", "a", 1, "b"), "y", None),
            (("key is text", KEY, "n"), "n", None),
            (("key is text", KEY, "e"), "e", None),
            ((KEY, "z"), "z", None),
        ],
    ),
    ("json", "json", "bare", [((), "bare", None)]),
]


@pytest.mark.parametrize(("fmt", "operation", "payload", "expected"), REQUESTS)
def test_request_segments(fmt: str, operation: str, payload: Any, expected: list[Any]) -> None:
    segments = TEXT_READERS[fmt].request_segments(operation, payload)
    assert [(s.path, s.text, s.role) for s in segments] == expected


# --- Responses ---------------------------------------------------------------------------------

CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "answer",
                "refusal": "no",
                "reasoning_content": "because",
                "audio": {"id": "a", "data": BINARY, "expires_at": 1, "transcript": "spoken"},
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "g", "arguments": '{"cut":'},
                    },
                ],
            },
            "logprobs": {"content": [{"token": "answer", "logprob": -0.1, "bytes": [97]}]},
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}
RESPONSES_RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "instructions": "echoed instructions are not output",
    "output": [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "thought"}],
            "encrypted_content": BINARY,
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": "hello", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "nope"},
            ],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "f",
            "arguments": '{"q":"x"}',
            "status": "completed",
        },
        {"type": "image_generation_call", "id": "ig_1", "result": BINARY, "status": "completed"},
    ],
    "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
}
ANTHROPIC_RESPONSE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": BINARY},
        {"type": "text", "text": "hi", "citations": [{"type": "char_location", "cited_text": "q"}]},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"id": "data, not an id"}},
    ],
    "stop_reason": "tool_use",
    "usage": {
        "input_tokens": 10,
        "output_tokens": 4,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    },
}

RESPONSES: list[tuple[str, str, Any, list[tuple[JsonPath, str]]]] = [
    (
        "openai",
        "chat",
        CHAT_RESPONSE,
        [
            (("choices", 0, "message", "content"), "answer"),
            (("choices", 0, "message", "refusal"), "no"),
            (("choices", 0, "message", "reasoning_content"), "because"),
            (("choices", 0, "message", "audio", "transcript"), "spoken"),
            (("choices", 0, "message", "tool_calls", 0, "function", "name"), "f"),
            (
                (
                    "choices",
                    0,
                    "message",
                    "tool_calls",
                    0,
                    "function",
                    "arguments",
                    IN_JSON,
                    KEY,
                    "city",
                ),
                "city",
            ),
            (
                (
                    "choices",
                    0,
                    "message",
                    "tool_calls",
                    0,
                    "function",
                    "arguments",
                    IN_JSON,
                    "city",
                ),
                "Paris",
            ),
            (("choices", 0, "message", "tool_calls", 1, "function", "name"), "g"),
            (("choices", 0, "message", "tool_calls", 1, "function", "arguments"), '{"cut":'),
        ],
    ),
    (
        "openai",
        "completions",
        {"choices": [{"index": 0, "text": "done", "logprobs": None, "finish_reason": "stop"}]},
        [(("choices", 0, "text"), "done")],
    ),
    (
        "openai",
        "responses",
        RESPONSES_RESPONSE,
        [
            (("output", 0, "summary", 0, "text"), "thought"),
            (("output", 1, "content", 0, "text"), "hello"),
            (("output", 1, "content", 1, "refusal"), "nope"),
            (("output", 2, "name"), "f"),
            (("output", 2, "arguments", IN_JSON, KEY, "q"), "q"),
            (("output", 2, "arguments", IN_JSON, "q"), "x"),
        ],
    ),
    ("openai", "embeddings", {"data": [{"embedding": "AAAA", "index": 0}]}, []),
    (
        "anthropic",
        "messages",
        ANTHROPIC_RESPONSE,
        [
            (("content", 0, "thinking"), "hmm"),
            (("content", 1, "text"), "hi"),
            (("content", 1, "citations", 0, "cited_text"), "q"),
            (("content", 2, "name"), "f"),
            (("content", 2, "input", KEY, "id"), "id"),
            (("content", 2, "input", "id"), "data, not an id"),
        ],
    ),
    (
        "anthropic",
        "complete",
        {"completion": " Hello", "stop_reason": "stop_sequence"},
        [(("completion",), " Hello")],
    ),
    (
        "kserve",
        "predict",
        {"predictions": [{"label": "setosa", "p": 0.9}, "x"]},
        [
            (("predictions", 0, KEY, "label"), "label"),
            (("predictions", 0, "label"), "setosa"),
            (("predictions", 0, KEY, "p"), "p"),
            (("predictions", 1), "x"),
        ],
    ),
    (
        "kserve",
        "infer",
        {
            "model_name": "iris",
            "outputs": [
                {"name": "p", "datatype": "FP32", "shape": [1], "data": [0.5]},
                {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["setosa"]},
            ],
        },
        [(("outputs", 1, "data", 0), "setosa")],
    ),
    (
        "json",
        "json",
        {"echo": {"a": ["b"]}},
        [((KEY, "echo"), "echo"), (("echo", KEY, "a"), "a"), (("echo", "a", 0), "b")],
    ),
]


@pytest.mark.parametrize(("fmt", "operation", "payload", "expected"), RESPONSES)
def test_response_segments(fmt: str, operation: str, payload: Any, expected: list[Any]) -> None:
    segments = TEXT_READERS[fmt].response_segments(operation, payload)
    assert [(s.path, s.text) for s in segments] == expected
    assert all(s.role in (ASSISTANT, None) for s in segments)


@pytest.mark.parametrize(
    ("fmt", "operation", "payload", "expected"),
    [
        ("openai", "chat", CHAT_RESPONSE, Usage(12, 5)),
        ("openai", "responses", RESPONSES_RESPONSE, Usage(7, 3)),
        ("openai", "embeddings", {"usage": {"prompt_tokens": 8, "total_tokens": 8}}, Usage(8, 0)),
        ("openai", "chat", {"choices": []}, None),
        ("anthropic", "messages", ANTHROPIC_RESPONSE, Usage(1110, 4)),
        ("anthropic", "messages", {"usage": {"input_tokens": 3, "output_tokens": 1}}, Usage(3, 1)),
        ("kserve", "infer", {"outputs": []}, None),
        ("json", "json", {"usage": {"prompt_tokens": 1}}, None),
    ],
)
def test_usage(fmt: str, operation: str, payload: Any, expected: Usage | None) -> None:
    assert TEXT_READERS[fmt].usage(operation, payload) == expected


def test_usage_merges_later_counts_over_earlier_ones() -> None:
    merged = Usage(10, 1).merge(Usage(None, 25))
    assert merged == Usage(10, 25)
    assert merged.total_tokens == 35


# --- Rewriting ---------------------------------------------------------------------------------


def _all_requests() -> list[Any]:
    cases = [pytest.param(f, o, b, id=f"{f}-{o}-max") for f, o, b, _ in CANARY_FIELDS]
    cases += [pytest.param(f, o, p, id=f"{f}-{o}-{i}") for i, (f, o, p, _) in enumerate(REQUESTS)]
    return cases


@pytest.mark.parametrize(("fmt", "operation", "payload"), _all_requests())
def test_replace_round_trip(fmt: str, operation: str, payload: Any) -> None:
    read = TEXT_READERS[fmt].request_segments
    before = copy.deepcopy(payload)
    segments = read(operation, payload)
    # Text a JSON encoder must escape, to prove re-serialisation inside arguments is sound.
    replaced = {s.path: f'[R{i}] "quoted" \\ \n' for i, s in enumerate(segments) if not s.is_key}
    rewritten = replace_segments(payload, replaced)
    assert payload == before, "the input must not be mutated"
    values = [(s.path, s.text) for s in read(operation, rewritten) if not s.is_key]
    assert values == list(replaced.items())
    assert replace_segments(payload, {}) is payload


@pytest.mark.parametrize(("fmt", "operation", "payload"), _all_requests())
def test_every_key_renamed_at_once_keeps_values_and_order(
    fmt: str, operation: str, payload: Any
) -> None:
    read = TEXT_READERS[fmt].request_segments
    before = copy.deepcopy(payload)
    segments = read(operation, payload)
    renamed = {s.path: f'[K{i}] "q" \\' for i, s in enumerate(segments) if s.is_key}
    # Values too, in the same call: their paths name keys by their old names.
    values = {s.path: f"[V{i}]" for i, s in enumerate(segments) if not s.is_key}
    rewritten = replace_segments(payload, {**renamed, **values})
    assert payload == before
    after = read(operation, rewritten)
    assert [s.text for s in after] == [renamed.get(s.path) or values[s.path] for s in segments], (
        "same strings, same document order, every key and value rewritten"
    )


def test_only_the_replaced_branches_are_copied() -> None:
    body = copy.deepcopy(OPENAI_CHAT)
    rewritten = replace_segments(body, {("messages", 2, "content"): "x"})
    assert rewritten["messages"][2]["content"] == "x"
    assert rewritten["messages"] is not body["messages"]
    assert rewritten["messages"][3] is body["messages"][3]  # shared, untouched
    assert rewritten["tools"] is body["tools"]


def test_arguments_stay_valid_json_and_keep_the_other_fields() -> None:
    message = OPENAI_CHAT["messages"][4]
    path = ("messages", 4, "tool_calls", 0, "function", "arguments")
    rewritten = replace_segments(OPENAI_CHAT, {(*path, IN_JSON, "q"): '[EMAIL_1] "x"'})
    arguments = rewritten["messages"][4]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"q": '[EMAIL_1] "x"', "opts": {"type": c("arg-type")}}
    assert message["tool_calls"][0]["function"]["arguments"] == args(
        {"q": c("arguments"), "opts": {"type": c("arg-type")}}
    )


def test_arguments_that_are_not_json_are_one_raw_segment() -> None:
    for raw in ('{"a": "x"} trailing', "plain words", '"a json string"', "[1, 2"):
        body = _chat_with_arguments(raw)
        (segment,) = [s for s in _read_chat(body) if "arguments" in s.path]
        assert segment.path[-1] == "arguments" and segment.text == raw
        rewritten = replace_segments(body, {segment.path: "[X]"})
        assert rewritten["messages"][0]["tool_calls"][0]["function"]["arguments"] == "[X]"


def test_arguments_with_duplicate_keys_are_scanned_raw() -> None:
    # A parser keeps the last "a"; the model reads both. Scanned raw, the first is not hidden.
    raw = '{"a": "hidden secret", "a": "decoy"}'
    texts = [s.text for s in _read_chat(_chat_with_arguments(raw))]
    assert raw in texts


def test_escaped_text_in_arguments_is_decoded_for_scanning() -> None:
    texts = [s.text for s in _read_chat(_chat_with_arguments('{"k": "AK\\u0049A\\n"}'))]
    assert "AKIA\n" in texts


def _chat_with_arguments(raw: str) -> dict[str, Any]:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": raw}}
    return {"model": "m", "messages": [{"role": "assistant", "tool_calls": [call]}]}


def _read_chat(body: dict[str, Any]) -> list[Segment]:
    return TEXT_READERS["openai"].request_segments("chat", body)


def test_a_real_key_named_like_the_marker_is_still_a_key() -> None:
    body = {IN_JSON: {"x": "text"}, "s": '{"x": "inner"}'}
    assert replace_segments(body, {(IN_JSON, "x"): "new"}) == {
        IN_JSON: {"x": "new"},
        "s": body["s"],
    }
    rewritten = replace_segments(body, {("s", IN_JSON, "x"): "new"})
    assert rewritten["s"] == '{"x":"new"}'


def test_a_string_at_the_root_is_replaced() -> None:
    assert replace_segments("secret", {(): "[X]"}) == "[X]"


@pytest.mark.parametrize(
    "path",
    [
        ("messages", 99, "content"),
        ("messages", 0),
        ("messages", "0", "content"),
        ("nope",),
        ("messages", 0, "content", "deeper"),
        ("messages", 0, "content", IN_JSON, "x"),
    ],
)
def test_a_path_that_leads_nowhere_is_refused(path: JsonPath) -> None:
    with pytest.raises(SegmentPathError):
        replace_segments(OPENAI_CHAT, {path: "x"})


def test_overlapping_paths_are_refused() -> None:
    path = ("messages", 4, "tool_calls", 0, "function", "arguments")
    with pytest.raises(ValueError):
        replace_segments(OPENAI_CHAT, {path: "a", (*path, IN_JSON, "q"): "b"})


def test_deep_json_is_walked_without_recursion_up_to_the_limit() -> None:
    deep: Any = "bottom"
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    segments: list[Segment] = []
    walk_strings(segments, {"a": deep}, (), None)
    assert [s.text for s in segments] == ["a", "bottom"]
    assert len(segments[1].path) == MAX_DEPTH


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "kserve", "json"])
def test_deeper_json_is_refused_not_skipped(fmt: str) -> None:
    deep: Any = "hidden"
    for _ in range(5000):  # past the interpreter's recursion limit as well
        deep = {"k": [deep]}
    with pytest.raises(TooDeeplyNested):
        TEXT_READERS[fmt].request_segments("predict", {"model": "m", "instances": deep})


# --- Object keys ---------------------------------------------------------------------------


def test_keys_are_renamed_in_place_keeping_order_and_values() -> None:
    body = {"a": 1, "jane@example.com": {"inner@example.com": "x", "z": 2}, "b": 3}
    rewritten = replace_segments(
        body,
        {
            ("jane@example.com", KEY, "inner@example.com"): "[EMAIL_2]",
            (KEY, "jane@example.com"): "[EMAIL_1]",
            ("jane@example.com", "inner@example.com"): "value",
        },
    )
    assert list(rewritten) == ["a", "[EMAIL_1]", "b"]
    assert rewritten["[EMAIL_1]"] == {"[EMAIL_2]": "value", "z": 2}
    assert body == {"a": 1, "jane@example.com": {"inner@example.com": "x", "z": 2}, "b": 3}


def test_keys_inside_embedded_json_are_renamed() -> None:
    body = {"arguments": '{"jane@example.com": "vip"}'}
    rewritten = replace_segments(body, {("arguments", IN_JSON, KEY, "jane@example.com"): "[E]"})
    assert json.loads(rewritten["arguments"]) == {"[E]": "vip"}


@pytest.mark.parametrize(
    "renames",
    [
        {(KEY, "b"): "a"},  # onto a key that stays
        {(KEY, "a"): "x", (KEY, "b"): "x"},  # two keys onto one name
    ],
)
def test_a_rename_that_would_drop_a_key_is_refused(renames: dict[JsonPath, str]) -> None:
    with pytest.raises(KeyCollision) as collision:
        replace_segments({"a": 1, "b": 2}, renames)
    assert collision.value.path == ()


def test_swapping_two_keys_is_fine() -> None:
    swapped = replace_segments({"a": 1, "b": 2}, {(KEY, "a"): "b", (KEY, "b"): "a"})
    assert swapped == {"b": 1, "a": 2} and list(swapped) == ["b", "a"]


def test_a_missing_key_is_a_path_error() -> None:
    with pytest.raises(SegmentPathError):
        replace_segments({"a": 1}, {(KEY, "nope"): "x"})


def test_schema_vocabulary_keys_are_not_text_but_property_names_are() -> None:
    segments: list[Segment] = []
    schema = {"type": "object", "properties": {"user_email": {"type": "string"}}}
    walk_strings(segments, schema, (), None, SCHEMA)
    assert [(s.path, s.text, s.is_key) for s in segments] == [
        (("properties", KEY, "user_email"), "user_email", True)
    ]
