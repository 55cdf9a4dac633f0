"""The Anthropic Messages endpoint: one text block, streamed as typed events."""

from __future__ import annotations

from aiohttp import web

from proxy.demo_upstream.bodies import json_object, message_list, model_name, token_limit
from proxy.demo_upstream.echo import ECHO_MODEL, echo_answer
from proxy.demo_upstream.errors import DemoRequestError
from proxy.demo_upstream.sse import stream_sse, typed_events
from proxy.demo_upstream.text import count_words, last_user_text, text_of
from proxy.demo_upstream.wire import Json, json_response, new_id


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    if "max_tokens" not in body:
        raise DemoRequestError("max_tokens: Field required", param="max_tokens")
    limit = token_limit(body, "max_tokens")
    messages = message_list(body, "messages")
    answer = echo_answer(request, last_user_text(messages), limit)
    input_tokens = count_words(
        text_of(body.get("system")), *(text_of(m.get("content")) for m in messages)
    )
    stop = "max_tokens" if answer.truncated else "end_turn"
    message = {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model_name(body, ECHO_MODEL),
        "content": [{"type": "text", "text": answer.text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": len(answer.words)},
    }
    if body.get("stream") is not True:
        return json_response(message)
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
    return await stream_sse(request, typed_events(steps, "content_block_delta"))
