"""JSON out: the body type every endpoint builds, the JSON response and response ids."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

Json = dict[str, Any]


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
