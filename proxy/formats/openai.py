"""OpenAI's HTTP API: chat completions, completions, embeddings, responses, models."""

from __future__ import annotations

from typing import Any

from proxy.formats.call import Call, Invalid, read_model_and_stream

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
