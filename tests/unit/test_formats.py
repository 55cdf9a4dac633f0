"""Format readers: what a body asks for, and the field at fault when it cannot be read."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.formats import FORMATS, Call, Invalid

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
TENSOR = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}


@pytest.mark.parametrize(
    ("fmt", "method", "path", "payload", "expected"),
    [
        ("openai", "POST", "/v1/chat/completions", CHAT, Call("chat", "gpt-x", False, CHAT)),
        (
            "openai",
            "POST",
            "/v1/chat/completions",
            {**CHAT, "stream": True},
            Call("chat", "gpt-x", True, {**CHAT, "stream": True}),
        ),
        (
            "openai",
            "POST",
            "/v1/completions",
            {"model": "m", "prompt": "p"},
            Call("completions", "m", False, {"model": "m", "prompt": "p"}),
        ),
        (
            "openai",
            "POST",
            "/v1/embeddings",
            {"model": "e", "input": "x"},
            Call("embeddings", "e", False, {"model": "e", "input": "x"}),
        ),
        (
            "openai",
            "POST",
            "/v1/responses",
            {"input": "x"},
            Call("responses", None, False, {"input": "x"}),
        ),
        ("openai", "GET", "/v1/models", None, Call("models")),
        ("openai", "GET", "/v1/models/gpt-x", None, Call("models", "gpt-x")),
        (
            "anthropic",
            "POST",
            "/v1/messages",
            {"model": "c", "messages": []},
            Call("messages", "c", False, {"model": "c", "messages": []}),
        ),
        (
            "kserve",
            "POST",
            "/v2/models/iris/infer",
            {"inputs": [TENSOR]},
            Call("infer", "iris", False, {"inputs": [TENSOR]}),
        ),
        (
            "kserve",
            "POST",
            "/v2/models/iris/versions/3/infer",
            {"inputs": [TENSOR]},
            Call("infer", "iris", False, {"inputs": [TENSOR]}),
        ),
        (
            "kserve",
            "POST",
            "/v1/models/iris:predict",
            {"instances": [[1]]},
            Call("predict", "iris", False, {"instances": [[1]]}),
        ),
        ("kserve", "GET", "/v2/models/iris", None, Call("metadata", "iris")),
        (
            "json",
            "POST",
            "/score",
            {"model": "fraud", "x": 1},
            Call("json", "fraud", False, {"model": "fraud", "x": 1}),
        ),
        ("json", "POST", "/score", [1, 2], Call("json", None, False, [1, 2])),
    ],
)
def test_describe(fmt: str, method: str, path: str, payload: Any, expected: Call):
    assert FORMATS[fmt](method, path, payload) == expected


@pytest.mark.parametrize(
    ("fmt", "path", "payload", "param"),
    [
        ("openai", "/v1/chat/completions", {"messages": []}, "model"),
        ("openai", "/v1/chat/completions", {"model": "", "messages": []}, "model"),
        ("openai", "/v1/chat/completions", {**CHAT, "stream": "yes"}, "stream"),
        ("openai", "/v1/chat/completions", ["not", "an", "object"], None),
        ("anthropic", "/v1/messages", {"model": "c"}, "messages"),
        ("anthropic", "/v1/messages", {"messages": []}, "model"),
        ("kserve", "/v2/models/m/infer", {}, "inputs"),
        (
            "kserve",
            "/v2/models/m/infer",
            {"inputs": [{**TENSOR, "shape": [1, "2"]}]},
            "inputs[0].shape",
        ),
        (
            "kserve",
            "/v2/models/m/infer",
            {"inputs": [TENSOR, {**TENSOR, "datatype": "F32"}]},
            "inputs[1].datatype",
        ),
        (
            "kserve",
            "/v2/models/m/infer",
            {"inputs": [{k: v for k, v in TENSOR.items() if k != "data"}]},
            "inputs[0].data",
        ),
        ("kserve", "/v1/models/m:predict", {"rows": []}, "instances"),
    ],
)
def test_invalid_bodies_name_the_field(fmt: str, path: str, payload: Any, param: str | None):
    result = FORMATS[fmt]("POST", path, payload)
    assert isinstance(result, Invalid)
    assert result.param == param
    assert result.message
