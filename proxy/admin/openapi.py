"""GET /admin/openapi.json: the admin API's OpenAPI 3.1 document (openapi.yaml beside this)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson
import yaml
from aiohttp import web

from proxy.policy import policy_schema

PATH = "/admin/openapi.json"


@functools.cache
def document() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    _add_policy_schemas(loaded["components"]["schemas"])
    return loaded


def _add_policy_schemas(schemas: dict[str, Any]) -> None:
    """The dry-run body is a policy test's `request`: taken from the policy JSON Schema, so
    the two documents cannot drift apart."""
    policy = policy_schema()
    for name, definition in policy["$defs"].items():
        schemas[f"policy_{name}"] = _moved_refs(definition)
    schemas["EvaluateRequest"] = _moved_refs(policy["$defs"]["test"]["properties"]["request"])


def _moved_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/$defs/", "#/components/schemas/policy_")
                if key == "$ref" and isinstance(value, str)
                else _moved_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_moved_refs(item) for item in node]
    return node


@functools.cache
def _body() -> bytes:
    return orjson.dumps(document())


async def show_openapi(_request: web.Request) -> web.Response:
    return web.Response(body=_body(), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, show_openapi)
