"""Server-sent events: framing events and writing them out, paced word by word."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson
from aiohttp import web

from proxy.demo_upstream.pacing import request_pacing
from proxy.demo_upstream.wire import Json


@dataclass(frozen=True, slots=True)
class Sse:
    data: Json | str
    event: str | None = None
    paced: bool = False  # a word chunk: the pacing delay goes in front of it


def typed_events(steps: list[tuple[str, Json]], word_kind: str) -> Iterator[Sse]:
    """Frame ``(type, payload)`` steps the Responses/Anthropic way: named events with a type."""
    for kind, payload in steps:
        yield Sse({"type": kind, **payload}, event=kind, paced=kind == word_kind)


async def stream_sse(request: web.Request, events: Iterable[Sse]) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    delay = request_pacing(request).chunk_delay
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
