"""Offline demo model server: an echo LLM and a tiny iris classifier behind real wire formats."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import struct
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

Json = dict[str, Any]

ECHO_MODEL: Final = "echo-1"
EMBED_MODEL: Final = "echo-embed"
IRIS_MODEL: Final = "demo-iris"
IRIS_CLASSES: Final = ("setosa", "versicolor", "virginica")
# Per-class feature means (cm) of Fisher's iris data: sepal length/width, petal length/width.
_IRIS_CENTROIDS: Final = (
    (5.006, 3.428, 1.462, 0.246),
    (5.936, 2.770, 4.260, 1.326),
    (6.588, 2.974, 5.552, 2.026),
)
_EMBED_DIMS: Final = 8
_MODEL_CREATED: Final = 1_700_000_000
# A "word" keeps its leading whitespace so that joining the words reproduces the text exactly;
# words are also the unit the demo counts tokens in (prompt and completion alike).
_WORD: Final = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the echo model paces a stream and how long its answer is (None: the echo's length)."""

    chunk_delay: float = 0.0
    answer_words: int | None = None


# Set by an outer middleware to slow streams down or lengthen answers for one request.
PACING: Final = web.RequestKey("warden_demo_pacing", Pacing)
_NO_PACING: Final = Pacing()


class DemoRequestError(Exception):
    """A client error, reported in the wire format of the endpoint that was called."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param


_ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_response(path: str, status: int, message: str, param: str | None = None) -> web.Response:
    """Build an error body shaped for the SDK that calls ``path`` (Anthropic or OpenAI)."""
    body: Json
    if path.startswith("/v1/messages"):
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return _json(body, status=status)


def create_demo_upstream_app(*, middlewares: Iterable[Middleware] = ()) -> web.Application:
    """Build the demo app; extra ``middlewares`` wrap the demo's own error handling."""
    app = web.Application(middlewares=[*middlewares, _demo_errors])
    router = app.router
    router.add_get("/v1/models", _list_models)
    router.add_get("/v1/models/{model_id}", _get_model)
    router.add_post("/v1/chat/completions", _chat_completions)
    router.add_post("/v1/completions", _completions)
    router.add_post("/v1/embeddings", _embeddings)
    router.add_post("/v1/responses", _responses)
    router.add_post("/v1/messages", _messages)
    router.add_post("/v1/models/{name}:predict", _kserve_v1_predict)
    router.add_post("/v2/models/{name}/infer", _kserve_v2_infer)
    router.add_get("/v2/models/{name}", _kserve_v2_metadata)
    router.add_get("/v2/health/ready", _kserve_v2_health)
    router.add_get("/v2/health/live", _kserve_v2_health)
    # Last, so it only gets what no real route claims.
    router.add_route("*", "/{tail:.*}", _generic_echo)
    return app


@web.middleware
async def _demo_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DemoRequestError as exc:
        return error_response(request.path, exc.status, exc.message, exc.param)


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DemoRequestError(f"We could not parse the JSON body of your request: {exc}") from exc


async def _json_object(request: web.Request) -> Json:
    body = _loads(await request.read())
    if not isinstance(body, dict):
        raise DemoRequestError("The request body must be a JSON object.")
    return body


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _model(body: Json, default: str) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else default


def _pacing(request: web.Request) -> Pacing:
    return request[PACING] if PACING in request else _NO_PACING


def _text_of(content: Any) -> str:
    """Flatten string-or-parts content; OpenAI, Responses and Anthropic all share this shape."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (p.get("text") for p in content if isinstance(p, dict))
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def _message_list(body: Json, key: str) -> list[Json]:
    messages = body.get(key)
    if not isinstance(messages, list):
        raise DemoRequestError(f"'{key}' must be an array of messages.", param=key)
    return [m for m in messages if isinstance(m, dict)]


def _last_user_text(messages: list[Json]) -> str:
    users = [m for m in messages if m.get("role") == "user"] or messages
    return _text_of(users[-1].get("content")) if users else ""


def _count_words(*texts: str) -> int:
    return sum(len(text.split()) for text in texts)


def _limit(body: Json, *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DemoRequestError(f"'{name}' must be a positive integer.", param=name)
        return value
    return None


@dataclass(frozen=True, slots=True)
class _Answer:
    words: list[str]
    truncated: bool

    @property
    def text(self) -> str:
        return "".join(self.words)


def _answer(request: web.Request, prompt: str, limit: int | None) -> _Answer:
    words: list[str] = _WORD.findall(prompt)
    wanted = _pacing(request).answer_words
    if wanted is not None:
        source = words or ["echo"]
        cycled = [source[i % len(source)] for i in range(wanted)]
        # A repeat starts with a bare word; give it a separator so words do not fuse.
        words = [w if i == 0 or w[:1].isspace() else f" {w}" for i, w in enumerate(cycled)]
    if limit is not None and len(words) > limit:
        return _Answer(words[:limit], truncated=True)
    return _Answer(words, truncated=False)


@dataclass(frozen=True, slots=True)
class _Sse:
    data: Json | str
    event: str | None = None
    paced: bool = False  # a word chunk: the pacing delay goes in front of it


def _typed_events(steps: list[tuple[str, Json]], word_kind: str) -> Iterator[_Sse]:
    """Frame ``(type, payload)`` steps the Responses/Anthropic way: named events with a type."""
    for kind, payload in steps:
        yield _Sse({"type": kind, **payload}, event=kind, paced=kind == word_kind)


async def _stream(request: web.Request, events: Iterable[_Sse]) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    delay = _pacing(request).chunk_delay
    try:
        for sse in events:
            if sse.paced:
                # Even without a delay, yield so each word leaves as its own chunk.
                await asyncio.sleep(delay)
            data = sse.data.encode() if isinstance(sse.data, str) else orjson.dumps(sse.data)
            head = f"event: {sse.event}\n".encode() if sse.event else b""
            await resp.write(head + b"data: " + data + b"\n\n")
        await resp.write_eof()
    except ConnectionResetError:
        # The client hung up mid-stream; nobody is left to answer, and letting the error out
        # would make aiohttp log a routine disconnect as a handler crash.
        pass
    return resp


def _openai_usage(prompt_tokens: int, completion_tokens: int) -> Json:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _wants_usage(body: Json) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _list_models(request: web.Request) -> web.Response:
    return _json({"object": "list", "data": [_model_card(m) for m in (ECHO_MODEL, EMBED_MODEL)]})


async def _get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    if model_id not in (ECHO_MODEL, EMBED_MODEL):
        raise DemoRequestError(f"The model '{model_id}' does not exist", status=404, param="model")
    return _json(_model_card(model_id))


def _model_card(model_id: str) -> Json:
    return {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": "warden-demo"}


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    body = await _json_object(request)
    messages = _message_list(body, "messages")
    limit = _limit(body, "max_completion_tokens", "max_tokens")
    answer = _answer(request, _last_user_text(messages), limit)
    usage = _openai_usage(
        _count_words(*(_text_of(m.get("content")) for m in messages)), len(answer.words)
    )
    finish = "length" if answer.truncated else "stop"
    base = {
        "id": _new_id("chatcmpl"),
        "created": int(time.time()),
        "model": _model(body, ECHO_MODEL),
    }
    if body.get("stream") is True:
        return await _stream(request, _chat_chunks(base, answer, finish, _wants_usage(body), usage))
    message = {"role": "assistant", "content": answer.text, "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return _json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})


def _chat_chunks(
    base: Json, answer: _Answer, finish: str, with_usage: bool, usage: Json
) -> Iterator[_Sse]:
    def chunk(delta: Json, finish_reason: str | None = None, *, paced: bool = False) -> _Sse:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _Sse({**base, "object": "chat.completion.chunk", "choices": [choice]}, paced=paced)

    yield chunk({"role": "assistant", "content": ""})
    for word in answer.words:
        yield chunk({"content": word}, paced=True)
    yield chunk({}, finish)
    if with_usage:
        yield _Sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    yield _Sse("[DONE]")


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, int) for t in value)


def _as_texts(value: Any, param: str) -> list[str]:
    """Normalise OpenAI text inputs (string, strings, token array, token arrays) to strings."""
    items = [value] if isinstance(value, str) or _is_tokens(value) else value
    if not isinstance(items, list) or not all(isinstance(i, str) or _is_tokens(i) for i in items):
        raise DemoRequestError(f"'{param}' must be a string, strings or token arrays.", param=param)
    return [i if isinstance(i, str) else " ".join(map(str, i)) for i in items]


async def _completions(request: web.Request) -> web.StreamResponse:
    body = await _json_object(request)
    prompt = "\n".join(_as_texts(body.get("prompt", ""), "prompt"))
    answer = _answer(request, prompt, _limit(body, "max_tokens"))
    usage = _openai_usage(_count_words(prompt), len(answer.words))
    finish = "length" if answer.truncated else "stop"
    base = {
        "id": _new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": _model(body, ECHO_MODEL),
    }

    def completion(text: str, finish_reason: str | None) -> Json:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    if body.get("stream") is not True:
        return _json({**completion(answer.text, finish), "usage": usage})

    def events() -> Iterator[_Sse]:
        for word in answer.words:
            yield _Sse(completion(word, None), paced=True)
        yield _Sse(completion("", finish))
        if _wants_usage(body):
            yield _Sse({**base, "choices": [], "usage": usage})
        yield _Sse("[DONE]")

    return await _stream(request, events())


async def _embeddings(request: web.Request) -> web.Response:
    body = await _json_object(request)
    texts = _as_texts(body.get("input"), "input")
    if not texts:
        raise DemoRequestError("'input' must not be empty.", param="input")
    dims = body.get("dimensions", _EMBED_DIMS)
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 4096:
        raise DemoRequestError(
            "'dimensions' must be an integer from 1 to 4096.", param="dimensions"
        )
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        packed = _embed(text, dims)
        vector: Any = (
            base64.b64encode(packed).decode()
            if as_base64
            else list(struct.unpack(f"<{dims}f", packed))
        )
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = _count_words(*texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json(
        {"object": "list", "data": data, "model": _model(body, EMBED_MODEL), "usage": usage}
    )


def _embed(text: str, dims: int) -> bytes:
    """A unit vector seeded by the text, packed as little-endian float32 like the real API."""
    ints = struct.unpack(f"<{dims}I", hashlib.shake_256(text.encode()).digest(4 * dims))
    vector = [i / 2**31 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return struct.pack(f"<{dims}f", *(v / norm for v in vector))


async def _responses(request: web.Request) -> web.StreamResponse:
    body = await _json_object(request)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items: list[Json] = [{"role": "user", "content": raw_input}]
    elif isinstance(raw_input, list):
        items = _message_list(body, "input")
    else:
        raise DemoRequestError("'input' must be a string or an array of items.", param="input")
    instructions = body.get("instructions") if isinstance(body.get("instructions"), str) else None
    limit = _limit(body, "max_output_tokens")
    answer = _answer(request, _last_user_text(items), limit)
    input_tokens = _count_words(instructions or "", *(_text_of(i.get("content")) for i in items))
    status = "incomplete" if answer.truncated else "completed"
    part = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
    item = {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [part],
    }
    base: Json = {
        "id": _new_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "model": _model(body, ECHO_MODEL),
        "instructions": instructions,
        "max_output_tokens": limit,
        "incomplete_details": {"reason": "max_output_tokens"} if answer.truncated else None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": len(answer.words),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + len(answer.words),
    }
    final = {**base, "status": status, "output": [item], "usage": usage}
    if body.get("stream") is not True:
        return _json(final)
    pending = {**base, "status": "in_progress", "incomplete_details": None, "output": []}
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    steps: list[tuple[str, Json]] = [
        ("response.created", {"response": pending}),
        ("response.in_progress", {"response": pending}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
        ),
        ("response.content_part.added", {**where, "part": {**part, "text": ""}}),
        *(
            ("response.output_text.delta", {**where, "delta": w, "logprobs": []})
            for w in answer.words
        ),
        ("response.output_text.done", {**where, "text": answer.text, "logprobs": []}),
        ("response.content_part.done", {**where, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        (f"response.{status}", {"response": final}),
    ]
    numbered = [(kind, {**data, "sequence_number": n}) for n, (kind, data) in enumerate(steps)]
    return await _stream(request, _typed_events(numbered, "response.output_text.delta"))


async def _messages(request: web.Request) -> web.StreamResponse:
    body = await _json_object(request)
    if "max_tokens" not in body:
        raise DemoRequestError("max_tokens: Field required", param="max_tokens")
    limit = _limit(body, "max_tokens")
    messages = _message_list(body, "messages")
    answer = _answer(request, _last_user_text(messages), limit)
    input_tokens = _count_words(
        _text_of(body.get("system")), *(_text_of(m.get("content")) for m in messages)
    )
    stop = "max_tokens" if answer.truncated else "end_turn"
    message = {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": _model(body, ECHO_MODEL),
        "content": [{"type": "text", "text": answer.text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": len(answer.words)},
    }
    if body.get("stream") is not True:
        return _json(message)
    usage = {"input_tokens": input_tokens, "output_tokens": 0}
    steps: list[tuple[str, Json]] = [
        (
            "message_start",
            {"message": {**message, "content": [], "stop_reason": None, "usage": usage}},
        ),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {}),
        *(
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}})
            for w in answer.words
        ),
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": len(answer.words)},
            },
        ),
        ("message_stop", {}),
    ]
    return await _stream(request, _typed_events(steps, "content_block_delta"))


def _iris_probabilities(row: Any) -> list[float]:
    """Softmax over negative squared distances to the class centroids."""
    if (
        not isinstance(row, list)
        or len(row) != 4
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in row)
    ):
        raise DemoRequestError(
            f"{IRIS_MODEL} expects 4 numeric features per instance, got {row!r}."
        )
    scores = [
        -sum((x - c) ** 2 for x, c in zip(row, centroid, strict=True))
        for centroid in _IRIS_CENTROIDS
    ]
    exps = [math.exp(s - max(scores)) for s in scores]
    return [e / sum(exps) for e in exps]


def _label(probabilities: list[float]) -> str:
    return IRIS_CLASSES[max(range(len(probabilities)), key=probabilities.__getitem__)]


async def _kserve_v1_predict(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await _json_object(request)
    instances = body.get("instances", body.get("inputs"))
    if not isinstance(instances, list):
        raise DemoRequestError("'instances' must be an array.", param="instances")
    if name != IRIS_MODEL:
        return _json({"predictions": instances})
    return _json({"predictions": [_iris_prediction(row) for row in instances]})


def _iris_prediction(row: Any) -> Json:
    probabilities = _iris_probabilities(row)
    by_class = dict(zip(IRIS_CLASSES, probabilities, strict=True))
    return {"label": _label(probabilities), "probabilities": by_class}


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [x for item in data for x in _flatten(item)]
    return [data]


async def _kserve_v2_infer(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await _json_object(request)
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
        raise DemoRequestError("'inputs' must be a non-empty array of tensors.", param="inputs")
    if name == IRIS_MODEL:
        flat = _flatten(inputs[0].get("data"))
        rows = [flat[i : i + 4] for i in range(0, len(flat), 4)]
        if not rows:
            raise DemoRequestError(f"{IRIS_MODEL} expects FP32 data of shape [N, 4].")
        probabilities = [_iris_probabilities(row) for row in rows]
        outputs = [
            _tensor(
                "probabilities", "FP32", [len(rows), 3], [p for ps in probabilities for p in ps]
            ),
            _tensor("label", "BYTES", [len(rows)], [_label(ps) for ps in probabilities]),
        ]
    else:
        keys = ("name", "shape", "datatype", "data")
        outputs = [{k: tensor.get(k) for k in keys} for tensor in inputs]
    request_id = body.get("id") if isinstance(body.get("id"), str) else str(uuid.uuid4())
    return _json({"model_name": name, "model_version": "1", "id": request_id, "outputs": outputs})


def _tensor(name: str, datatype: str, shape: list[int], data: Any = None) -> Json:
    tensor = {"name": name, "datatype": datatype, "shape": shape}
    return tensor if data is None else {**tensor, "data": data}


async def _kserve_v2_metadata(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    # The echo model takes any tensor and hands it back.
    inputs = outputs = [_tensor("input-0", "BYTES", [-1])]
    if name == IRIS_MODEL:
        inputs = [_tensor("input-0", "FP32", [-1, 4])]
        outputs = [_tensor("probabilities", "FP32", [-1, 3]), _tensor("label", "BYTES", [-1])]
    meta = {"name": name, "versions": ["1"], "platform": "warden-demo"}
    return _json({**meta, "inputs": inputs, "outputs": outputs})


async def _kserve_v2_health(request: web.Request) -> web.Response:
    return _json({"live": True} if request.path.endswith("/live") else {"ready": True})


async def _generic_echo(request: web.Request) -> web.Response:
    raw = await request.read()
    return _json({"echo": _loads(raw) if raw else None})
