"""The OpenAI Responses endpoint: one message item, streamed as numbered typed events."""

from __future__ import annotations

import time

from aiohttp import web

from proxy.demo_upstream.bodies import json_object, message_list, model_name, token_limit
from proxy.demo_upstream.echo import ECHO_MODEL, echo_answer
from proxy.demo_upstream.errors import DemoRequestError
from proxy.demo_upstream.sse import stream_sse, typed_events
from proxy.demo_upstream.text import count_words, last_user_text, text_of
from proxy.demo_upstream.wire import Json, json_response, new_id


async def responses(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items: list[Json] = [{"role": "user", "content": raw_input}]
    elif isinstance(raw_input, list):
        items = message_list(body, "input")
    else:
        raise DemoRequestError("'input' must be a string or an array of items.", param="input")
    instructions = body.get("instructions") if isinstance(body.get("instructions"), str) else None
    limit = token_limit(body, "max_output_tokens")
    answer = echo_answer(request, last_user_text(items), limit)
    input_tokens = count_words(instructions or "", *(text_of(i.get("content")) for i in items))
    status = "incomplete" if answer.truncated else "completed"
    part = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
    item = {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [part],
    }
    base: Json = {
        "id": new_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "model": model_name(body, ECHO_MODEL),
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
        return json_response(final)
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
    return await stream_sse(request, typed_events(numbered, "response.output_text.delta"))
