"""GET /admin/events: the live feed as Server-Sent Events, for consoles and chat-ops bots."""

from __future__ import annotations

import time

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from proxy.admin.common import admin_error, proxy_app
from proxy.keys import DRAINING, EVENT_FEED

EVENT_TYPES = frozenset({"decision", "incident", "alert"})
# A comment line this often keeps proxies and load balancers from closing an idle stream.
KEEP_ALIVE_SECONDS = 15.0


async def stream_events(request: web.Request) -> web.StreamResponse:
    wanted = EVENT_TYPES
    if "types" in request.query:
        wanted = frozenset(t for t in request.query["types"].split(",") if t)
        unknown = sorted(wanted - EVENT_TYPES)
        if unknown or not wanted:
            listed = ", ".join(sorted(EVENT_TYPES))
            return admin_error(400, f"'types' takes a comma list of: {listed}", "types")
    tenant = request.query.get("tenant")
    events = proxy_app(request)[EVENT_FEED].subscribe()
    try:
        first = await anext(events)
    except (RedisError, OSError, TimeoutError):
        await events.aclose()
        return admin_error(503, "the event feed needs Redis, which is unavailable")
    response = web.StreamResponse(
        headers={
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    last_write = time.monotonic()
    try:
        event = first
        while True:
            if event.get("type") in wanted and (tenant is None or event.get("tenant") == tenant):
                await response.write(
                    b"event: "
                    + event["type"].encode()
                    + b"\ndata: "
                    + orjson.dumps(event)
                    + b"\n\n"
                )
                last_write = time.monotonic()
            elif _should_end(request):
                break
            elif time.monotonic() - last_write > KEEP_ALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                last_write = time.monotonic()
            event = await anext(events)
    except (RedisError, OSError, TimeoutError, ConnectionResetError):
        pass  # Redis went away or the client hung up: end the stream, the client reconnects
    finally:
        await events.aclose()
    return response


def _should_end(request: web.Request) -> bool:
    """The client hung up (noticed between events, not only at the next write), or this
    process is stopping: its stop need not wait for streams that never end by themselves."""
    transport = request.transport
    gone = transport is None or transport.is_closing()
    return gone or proxy_app(request)[DRAINING].is_set()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/events", stream_events)
