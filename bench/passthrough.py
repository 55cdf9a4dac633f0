"""The floor for this stack: the least an aiohttp reverse proxy can do per request.

One ClientSession; method, path, query, headers and body go upstream as they came; a JSON
answer is relayed whole and an event stream chunk by chunk. No auth, no parsing, no logging:
whatever Warden costs beyond this is Warden's own work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from proxy.upstream import HOP_BY_HOP

# The same per-hop list as Warden, plus what aiohttp recomputes for each hop itself;
# forwarding a stale Content-Length or Transfer-Encoding would corrupt the framing.
_PER_HOP = HOP_BY_HOP | {"host", "content-length"}

_SESSION = web.AppKey("passthrough_session", aiohttp.ClientSession)
_UPSTREAM = web.AppKey("passthrough_upstream", str)


def create_passthrough_app(upstream_url: str) -> web.Application:
    app = web.Application()
    app[_UPSTREAM] = upstream_url.rstrip("/")
    app.cleanup_ctx.append(_client_session)
    app.router.add_route("*", "/{tail:.*}", _forward)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    # limit=0: the connection pool must never be what caps throughput, as in Warden.
    # Bodies stay encoded as they came, so the upstream's Content-Encoding still holds.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        app[_SESSION] = session
        yield


def _kept(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers if k.lower() not in _PER_HOP)


async def _forward(request: web.Request) -> web.StreamResponse:
    url = URL(request.app[_UPSTREAM] + request.rel_url.raw_path_qs, encoded=True)
    body = await request.read()
    async with request.app[_SESSION].request(
        request.method,
        url,
        headers=_kept(request.headers.items()),
        data=body or None,
        allow_redirects=False,
    ) as upstream:
        headers = _kept(upstream.headers.items())
        if upstream.content_type != "text/event-stream":
            return web.Response(status=upstream.status, body=await upstream.read(), headers=headers)
        response = web.StreamResponse(status=upstream.status, headers=headers)
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response
