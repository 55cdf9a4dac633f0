"""Simulated model upstream for tests: the demo server plus recording and header scripting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from proxy.demo_upstream import PACING, Pacing, create_demo_upstream_app, error_response


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the upstream saw it, after Warden rewrote whatever it rewrites."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""

    def json(self) -> Any:
        return orjson.loads(self.body)


RECEIVED = web.AppKey("received", list[ReceivedRequest])
EVENTS = web.AppKey("events", list[str])

# Script headers: tests set them on the client request and Warden forwards them upstream.
SIM_STATUS = "x-sim-status"
SIM_BODY = "x-sim-body"
SIM_DELAY = "x-sim-delay"
SIM_CHUNK_DELAY = "x-sim-chunk-delay"
SIM_WORDS = "x-sim-words"
SIM_CHUNK_CHARS = "x-sim-chunk-chars"
# A JSON list of SSE `data:` payloads (objects or strings) streamed as the answer, one event
# per list item, each in its own write; objects with a "type" get an `event:` line too.
SIM_EVENTS = "x-sim-events"


def create_simulated_upstream() -> web.Application:
    """The demo upstream wrapped in a recording, scriptable middleware."""
    app = create_demo_upstream_app(middlewares=[_simulate])
    app[RECEIVED] = []
    app[EVENTS] = []
    return app


def _headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


@web.middleware
async def _simulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    body = await request.read()
    headers = _headers(request)
    app[RECEIVED].append(
        ReceivedRequest(
            request.method,
            request.path,
            request.query_string,
            headers,
            body,
            request.rel_url.raw_path,
        )
    )
    events = app[EVENTS]
    try:
        delay = float(headers.get(SIM_DELAY, "0"))
        chunk_delay = float(headers.get(SIM_CHUNK_DELAY, "0"))
        words = int(headers[SIM_WORDS]) if SIM_WORDS in headers else None
        chunk_chars = int(headers[SIM_CHUNK_CHARS]) if SIM_CHUNK_CHARS in headers else None
        status = int(headers[SIM_STATUS]) if SIM_STATUS in headers else None
    except ValueError as exc:
        return error_response(request.path, 400, f"bad x-sim-* header: {exc}")
    try:
        if delay > 0:
            await asyncio.sleep(delay)
        if status is not None:
            if SIM_BODY in headers:
                return web.Response(
                    status=status, body=headers[SIM_BODY].encode(), content_type="application/json"
                )
            return error_response(request.path, status, f"simulated upstream status {status}")
        if SIM_EVENTS in headers:
            return await _scripted_stream(request, headers[SIM_EVENTS])
        request[PACING] = Pacing(
            chunk_delay=chunk_delay, answer_words=words, chunk_chars=chunk_chars
        )
        response = await handler(request)
    except (asyncio.CancelledError, ConnectionResetError):
        events.append(f"cancelled:{request.path}")
        raise
    if not isinstance(response, web.Response):
        # The demo swallows a failed mid-stream write, so a closed transport is the tell.
        transport = request.transport
        gone = transport is None or transport.is_closing()
        events.append(f"{'cancelled' if gone else 'completed'}:{request.path}")
    return response


async def _scripted_stream(request: web.Request, script: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for item in orjson.loads(script):
        data = item if isinstance(item, str) else orjson.dumps(item).decode()
        # Typed events (Anthropic, Responses API) are named after their type, as providers do.
        kind = item.get("type") if isinstance(item, dict) else None
        named = f"event: {kind}\n" if isinstance(kind, str) else ""
        await response.write(f"{named}data: {data}\n\n".encode())
    await response.write_eof()
    return response


@dataclass(slots=True)
class SimulatedUpstream:
    """A running simulated upstream on 127.0.0.1; ``close()`` it when done."""

    app: web.Application
    url: str
    _runner: web.AppRunner

    @property
    def received(self) -> list[ReceivedRequest]:
        return self.app[RECEIVED]

    @property
    def events(self) -> list[str]:
        return self.app[EVENTS]

    async def close(self) -> None:
        await self._runner.cleanup()


async def start_simulated_upstream() -> SimulatedUpstream:
    """Serve a fresh simulated upstream on a free port, cancelling handlers on disconnect."""
    app = create_simulated_upstream()
    # handler_cancellation makes a client hang-up cancel the handler, which tests observe;
    # a short shutdown keeps close() quick when a test leaves a stream hanging.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return SimulatedUpstream(app=app, url=f"http://{host}:{port}", _runner=runner)
