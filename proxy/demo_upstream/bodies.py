"""JSON in: parse request bodies and read the fields several endpoints share."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.demo_upstream.errors import DemoRequestError
from proxy.demo_upstream.wire import Json


def loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DemoRequestError(f"We could not parse the JSON body of your request: {exc}") from exc


async def json_object(request: web.Request) -> Json:
    body = loads(await request.read())
    if not isinstance(body, dict):
        raise DemoRequestError("The request body must be a JSON object.")
    return body


def model_name(body: Json, default: str) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else default


def message_list(body: Json, key: str) -> list[Json]:
    messages = body.get(key)
    if not isinstance(messages, list):
        raise DemoRequestError(f"'{key}' must be an array of messages.", param=key)
    return [m for m in messages if isinstance(m, dict)]


def token_limit(body: Json, *names: str) -> int | None:
    for name in names:
        value: object = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DemoRequestError(f"'{name}' must be a positive integer.", param=name)
        return value
    return None
