"""The values every format reader returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Call:
    """What one request asks of the model: the operation, the model named, whether it streams."""

    operation: str
    model: str | None = None
    stream: bool = False
    payload: Any = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A body the format cannot accept; `param` is the JSON path of the field at fault."""

    message: str
    param: str | None = None


def read_model_and_stream(payload: Any, operation: str, model_required: bool) -> Call | Invalid:
    """The `model` and `stream` fields shared by the OpenAI and Anthropic JSON bodies."""
    if not isinstance(payload, dict):
        return Invalid("the request body must be a JSON object")
    model = payload.get("model")
    if model is None and model_required:
        return Invalid("'model' is required", "model")
    if model is not None and (not isinstance(model, str) or not model):
        return Invalid("'model' must be a non-empty string", "model")
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        return Invalid("'stream' must be true or false", "stream")
    return Call(operation, model, stream, payload)
