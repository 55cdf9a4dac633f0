"""Any other JSON API: the body is read as data, `model` and `stream` taken when present."""

from __future__ import annotations

from typing import Any

from proxy.formats.call import Call, Invalid


def describe(method: str, path: str, payload: Any) -> Call | Invalid:
    if not isinstance(payload, dict):
        return Call("json", payload=payload)
    model = payload.get("model")
    return Call(
        "json",
        model if isinstance(model, str) and model else None,
        payload.get("stream") is True,
        payload,
    )
