"""Anthropic's Messages API."""

from __future__ import annotations

from typing import Any, Final

from proxy.formats.call import Call, Invalid, read_model_and_stream
from proxy.formats.segments import (
    ASSISTANT,
    DOCUMENT,
    NO_PRUNE,
    SCHEMA,
    SYSTEM,
    TOOL,
    TOOL_DEFINITION,
    USER,
    JsonPath,
    Prune,
    Segment,
    Usage,
    add_text,
    read_usage,
    walk_fields,
    walk_strings,
)


def describe(method: str, path: str, payload: Any) -> Call | Invalid:
    path = path.rstrip("/")
    if method == "GET" and "/models" in path:
        return Call("models")
    if method != "POST":
        return Call("other", payload=payload)
    if path.endswith("/messages/count_tokens"):
        return read_model_and_stream(payload, "count_tokens", model_required=True)
    if path.endswith("/messages"):
        call = read_model_and_stream(payload, "messages", model_required=True)
        if isinstance(call, Call) and not isinstance(payload.get("messages"), list):
            return Invalid("'messages' must be a list", "messages")
        return call
    if path.endswith("/complete"):
        return read_model_and_stream(payload, "complete", model_required=True)
    return Call("other", payload=payload)


# --- Text. Ids, signatures and binary sources (images, PDFs, files, URLs, encrypted search
# results, redacted thinking) hold nothing to scan; every other field of a block is walked, so a
# block type added to the API later is scanned without a change here.
STRUCTURE: Final = Prune(
    keys=frozenset(
        {
            "type",
            "id",
            "tool_use_id",
            "signature",
            "cache_control",
            "media_type",
            "encrypted_content",
            "encrypted_index",
            "file_id",
        }
    ),
    types=frozenset({"image", "base64", "url", "file", "redacted_thinking", "container_upload"}),
)
# Blocks whose text someone other than the message's author wrote.
_BLOCK_ROLES: Final = {
    "tool_result": TOOL,
    "mcp_tool_result": TOOL,
    "document": DOCUMENT,
    "search_result": DOCUMENT,
}
_ROLES: Final = {"user": USER, "assistant": ASSISTANT}
_REQUEST_FIELDS: Final = {
    "tools": (TOOL_DEFINITION, SCHEMA),
    "prompt": (USER, NO_PRUNE),  # the legacy /v1/complete
}
# Top-level fields read before the others are walked (messages only when they are a list).
_READ_WITHOUT_MESSAGES: Final = frozenset({"model", "system"})
_READ_WITH_MESSAGES: Final = _READ_WITHOUT_MESSAGES | {"messages"}


def request_segments(operation: str, payload: Any) -> list[Segment]:
    """Every string of a request the model will read (messages, count_tokens, complete): the
    system prompt, message blocks, tool definitions, and any other field with no role."""
    out: list[Segment] = []
    if not isinstance(payload, dict):
        walk_strings(out, payload, (), None)
        return out
    if "system" in payload:
        blocks(out, payload["system"], ("system",), SYSTEM)
    messages = payload.get("messages")
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            _message(out, message, ("messages", index))
    handled = _READ_WITH_MESSAGES if isinstance(messages, list) else _READ_WITHOUT_MESSAGES
    walk_fields(out, payload, _REQUEST_FIELDS, handled)
    return out


def _message(out: list[Segment], message: Any, path: JsonPath) -> None:
    if not isinstance(message, dict):
        walk_strings(out, message, path, USER)
        return
    role = message.get("role")
    # An unknown role is read as the least trusted: the user's.
    role = _ROLES.get(role, USER) if isinstance(role, str) else USER
    for key, value in message.items():
        if key == "content":
            blocks(out, value, (*path, key), role)
        elif key != "role":
            walk_strings(out, value, (*path, key), role, STRUCTURE)


def blocks(out: list[Segment], content: Any, path: JsonPath, role: str) -> None:
    """A string or a list of content blocks, as in `system`, `content` and `tool_result`."""
    if not isinstance(content, list):
        walk_strings(out, content, path, role, STRUCTURE)
        return
    for index, block in enumerate(content):
        where = (*path, index)
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict) or kind in STRUCTURE.types:
            walk_strings(out, block, where, role, STRUCTURE)
            continue
        block_role = _BLOCK_ROLES.get(kind, role) if isinstance(kind, str) else role
        for key, value in block.items():
            if key == "input":
                # tool_use / server_tool_use / mcp_tool_use input: free-form JSON, where a key
                # named "type" or "id" is data like any other.
                walk_strings(out, value, (*where, key), block_role)
            elif key == "content":
                blocks(out, value, (*where, key), block_role)
            elif key not in STRUCTURE.keys:
                walk_strings(out, value, (*where, key), block_role, STRUCTURE)


def response_segments(operation: str, payload: Any) -> list[Segment]:
    """The text of a non-streaming answer: content blocks (text, tool_use input, thinking)."""
    out: list[Segment] = []
    if not isinstance(payload, dict):
        walk_strings(out, payload, (), None)
    elif operation == "messages":
        blocks(out, payload.get("content"), ("content",), ASSISTANT)
    elif operation == "complete":
        add_text(out, payload.get("completion"), ("completion",), ASSISTANT)
    elif operation not in ("count_tokens", "models"):
        walk_strings(out, payload, (), None, STRUCTURE)
    return out


def usage(operation: str, payload: Any) -> Usage | None:
    """Tokens of a non-streaming answer. Input includes cache reads and writes, which Anthropic
    counts apart, so that it means what OpenAI's `prompt_tokens` means."""
    return read_usage(
        payload,
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    )
