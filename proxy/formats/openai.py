"""OpenAI's HTTP API: chat completions, completions, embeddings, responses, models."""

from __future__ import annotations

from typing import Any, Final

from proxy.formats import openai_items
from proxy.formats.call import Call, Invalid, read_model_and_stream
from proxy.formats.segments import (
    NO_PRUNE,
    SCHEMA,
    SYSTEM,
    TOOL_DEFINITION,
    USER,
    Prune,
    Segment,
    Usage,
    read_usage,
    walk_fields,
    walk_strings,
)

# Path suffix -> operation, checked in order: "/chat/completions" before "/completions".
_OPERATIONS = (
    ("/chat/completions", "chat"),
    ("/completions", "completions"),
    ("/embeddings", "embeddings"),
    ("/responses", "responses"),
    ("/moderations", "moderations"),
)
_MODEL_REQUIRED = {"chat", "completions", "embeddings", "moderations"}


def describe(method: str, path: str, payload: Any) -> Call | Invalid:
    path = path.rstrip("/")
    if method == "GET" and ("/models" in path):
        model = path.split("/models/", 1)[1] if "/models/" in path else None
        return Call("models", model)
    operation = _operation_for(path)
    if method != "POST" or operation is None:
        return Call(operation or "other", payload=payload)
    return read_model_and_stream(payload, operation, operation in _MODEL_REQUIRED)


def _operation_for(path: str) -> str | None:
    for suffix, operation in _OPERATIONS:
        if path.endswith(suffix):
            return operation
    return None


# --- Text: which top-level fields hold what. Fields not named here are still walked (role
# None), so a new or provider-specific field (vLLM's `chat_template`, `documents`) is scanned.

_STRUCTURE: Final = openai_items.STRUCTURE
# `logit_bias` maps token ids to numbers: nothing in it is text.
_SKIP: Final = frozenset({"model", "logit_bias"})
_REQUEST_FIELDS: Final[dict[str, dict[str, tuple[str | None, Prune]]]] = {
    "chat": {
        "tools": (TOOL_DEFINITION, SCHEMA),
        "functions": (TOOL_DEFINITION, SCHEMA),
        "response_format": (SYSTEM, SCHEMA),
        "prediction": (USER, _STRUCTURE),
    },
    "completions": {"prompt": (USER, NO_PRUNE), "suffix": (USER, NO_PRUNE)},
    "embeddings": {"input": (USER, NO_PRUNE)},
    "moderations": {"input": (USER, _STRUCTURE)},
    "responses": {
        "tools": (TOOL_DEFINITION, SCHEMA),
        "text": (SYSTEM, SCHEMA),
        "prompt": (USER, _STRUCTURE),
    },
}
# Fields holding lists of messages or items, each with its own role.
_ITEM_LISTS: Final = {"chat": ("messages",), "responses": ("input", "instructions")}
# The top-level fields not walked as plain fields, per operation (item lists are read above).
_NOT_FIELDS: Final = {op: _SKIP | frozenset(keys) for op, keys in _ITEM_LISTS.items()}


def request_segments(operation: str, payload: Any) -> list[Segment]:
    """Every string of a request the model will read, or that leaves for the provider."""
    out: list[Segment] = []
    if not isinstance(payload, dict):
        walk_strings(out, payload, (), None)
        return out
    item_lists = _ITEM_LISTS.get(operation, ())
    for key in item_lists:
        if key in payload:
            default = SYSTEM if key == "instructions" else USER
            openai_items.items(out, payload[key], (key,), default)
    fields = _REQUEST_FIELDS.get(operation, {})
    walk_fields(out, payload, fields, _NOT_FIELDS.get(operation, _SKIP))
    return out


def response_segments(operation: str, payload: Any) -> list[Segment]:
    """The text of a non-streaming answer: what the model wrote, tool-call arguments included."""
    out: list[Segment] = []
    if not isinstance(payload, dict):
        walk_strings(out, payload, (), None)
    elif operation in ("chat", "completions"):
        openai_items.choices(out, payload.get("choices"), ("choices",))
    elif operation == "responses":
        openai_items.items(out, payload.get("output"), ("output",), openai_items.ASSISTANT)
    elif operation not in ("embeddings", "moderations", "models"):
        # Images, audio and whatever else: every string but the known binary ones.
        walk_strings(out, payload, (), None, _STRUCTURE)
    return out


def usage(operation: str, payload: Any) -> Usage | None:
    """Tokens of a non-streaming answer (chat, completions, embeddings, responses)."""
    if isinstance(payload, dict) and isinstance(payload.get("usage"), dict):
        if "prompt_tokens" in payload["usage"]:
            found = read_usage(payload, "prompt_tokens", "completion_tokens")
            # Embeddings report no completion tokens: none were produced.
            if found is not None and found.output_tokens is None:
                return Usage(found.input_tokens, 0)
            return found
        return read_usage(payload, "input_tokens", "output_tokens")
    return None
