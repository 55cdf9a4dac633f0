"""Any other JSON API: the body is read as data, `model` and `stream` taken when present."""

from __future__ import annotations

from typing import Any

from proxy.formats.call import Call, Invalid
from proxy.formats.segments import Segment, Usage, walk_strings


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


def request_segments(operation: str, payload: Any) -> list[Segment]:
    """Every string at any depth, object keys included: in free-form JSON a key is data."""
    out: list[Segment] = []
    walk_strings(out, payload, (), None)
    return out


def response_segments(operation: str, payload: Any) -> list[Segment]:
    """Every string at any depth, keys included, as for requests."""
    return request_segments(operation, payload)


def usage(operation: str, payload: Any) -> Usage | None:
    """An unknown API's token counts cannot be read."""
    return None
