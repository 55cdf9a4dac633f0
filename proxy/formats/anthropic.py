"""Anthropic's Messages API."""

from __future__ import annotations

from typing import Any

from proxy.formats.call import Call, Invalid, read_model_and_stream


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
