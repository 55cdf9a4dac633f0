"""OpenAI endpoints: models, chat completions, legacy completions and embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
from collections.abc import Iterator
from typing import Any, Final

from aiohttp import web

from proxy.demo_upstream.bodies import json_object, message_list, model_name, token_limit
from proxy.demo_upstream.echo import ECHO_MODEL, Answer, echo_answer
from proxy.demo_upstream.errors import DemoRequestError
from proxy.demo_upstream.sse import Sse, stream_sse
from proxy.demo_upstream.text import count_words, last_user_text, text_of
from proxy.demo_upstream.wire import Json, json_response, new_id

EMBED_MODEL: Final = "echo-embed"
_EMBED_DIMS: Final = 8
_MODEL_CREATED: Final = 1_700_000_000


def _openai_usage(prompt_tokens: int, completion_tokens: int) -> Json:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _wants_usage(body: Json) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def list_models(request: web.Request) -> web.Response:
    return json_response(
        {"object": "list", "data": [_model_card(m) for m in (ECHO_MODEL, EMBED_MODEL)]}
    )


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    if model_id not in (ECHO_MODEL, EMBED_MODEL):
        raise DemoRequestError(f"The model '{model_id}' does not exist", status=404, param="model")
    return json_response(_model_card(model_id))


def _model_card(model_id: str) -> Json:
    return {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": "warden-demo"}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    messages = message_list(body, "messages")
    limit = token_limit(body, "max_completion_tokens", "max_tokens")
    answer = echo_answer(request, last_user_text(messages), limit)
    usage = _openai_usage(
        count_words(*(text_of(m.get("content")) for m in messages)), len(answer.words)
    )
    finish = "length" if answer.truncated else "stop"
    base = {
        "id": new_id("chatcmpl"),
        "created": int(time.time()),
        "model": model_name(body, ECHO_MODEL),
    }
    if body.get("stream") is True:
        return await stream_sse(
            request, _chat_chunks(base, answer, finish, _wants_usage(body), usage)
        )
    message = {"role": "assistant", "content": answer.text, "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return json_response({**base, "object": "chat.completion", "choices": [choice], "usage": usage})


def _chat_chunks(
    base: Json, answer: Answer, finish: str, with_usage: bool, usage: Json
) -> Iterator[Sse]:
    def chunk(delta: Json, finish_reason: str | None = None, *, paced: bool = False) -> Sse:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return Sse({**base, "object": "chat.completion.chunk", "choices": [choice]}, paced=paced)

    yield chunk({"role": "assistant", "content": ""})
    for word in answer.words:
        yield chunk({"content": word}, paced=True)
    yield chunk({}, finish)
    if with_usage:
        yield Sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    yield Sse("[DONE]")


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, int) for t in value)


def _as_texts(value: Any, param: str) -> list[str]:
    """Normalise OpenAI text inputs (string, strings, token array, token arrays) to strings."""
    items = [value] if isinstance(value, str) or _is_tokens(value) else value
    if not isinstance(items, list) or not all(isinstance(i, str) or _is_tokens(i) for i in items):
        raise DemoRequestError(f"'{param}' must be a string, strings or token arrays.", param=param)
    return [i if isinstance(i, str) else " ".join(map(str, i)) for i in items]


async def completions(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    prompt = "\n".join(_as_texts(body.get("prompt", ""), "prompt"))
    answer = echo_answer(request, prompt, token_limit(body, "max_tokens"))
    usage = _openai_usage(count_words(prompt), len(answer.words))
    finish = "length" if answer.truncated else "stop"
    base = {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model_name(body, ECHO_MODEL),
    }

    def completion(text: str, finish_reason: str | None) -> Json:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    if body.get("stream") is not True:
        return json_response({**completion(answer.text, finish), "usage": usage})

    def events() -> Iterator[Sse]:
        for word in answer.words:
            yield Sse(completion(word, None), paced=True)
        yield Sse(completion("", finish))
        if _wants_usage(body):
            yield Sse({**base, "choices": [], "usage": usage})
        yield Sse("[DONE]")

    return await stream_sse(request, events())


async def embeddings(request: web.Request) -> web.Response:
    body = await json_object(request)
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
    tokens = count_words(*texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return json_response(
        {"object": "list", "data": data, "model": model_name(body, EMBED_MODEL), "usage": usage}
    )


def _embed(text: str, dims: int) -> bytes:
    """A unit vector seeded by the text, packed as little-endian float32 like the real API."""
    ints = struct.unpack(f"<{dims}I", hashlib.shake_256(text.encode()).digest(4 * dims))
    vector = [i / 2**31 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return struct.pack(f"<{dims}f", *(v / norm for v in vector))
