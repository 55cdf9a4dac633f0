"""The request path: an ordered list of stages, then forward or reply, then record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web

from proxy.enforce import EXCHANGE
from proxy.exchange import Exchange
from proxy.record import Recorder
from proxy.replies import LocalReply, internal_error, render_reply

log = logging.getLogger(__name__)

# nginx's code for "client closed the request", so audit and metrics can tell it apart.
CLIENT_CLOSED_REQUEST = 499


class Stage(Protocol):
    """One step of the request path.

    Contract: read and fill in the exchange; return a LocalReply to answer the caller now
    (no later stage runs and nothing is forwarded), or None to continue. Expected outcomes
    are replies, never exceptions; an exception is a bug and fails the request closed.
    """

    async def __call__(self, exchange: Exchange) -> LocalReply | None: ...


# What answers once every stage has passed: forwarding upstream, or the decision API's answer.
Terminal = Callable[[Exchange], Awaitable[web.StreamResponse]]


async def run_stages(stages: Sequence[Stage], exchange: Exchange) -> LocalReply | None:
    for stage in stages:
        reply = await stage(exchange)
        if reply is not None:
            return reply
    return None


class ProxyHandler:
    """The aiohttp handler: stages, then the terminal or a local reply, then record."""

    def __init__(self, stages: Sequence[Stage], terminal: Terminal, recorder: Recorder) -> None:
        self.stages = tuple(stages)
        self.terminal = terminal
        self.recorder = recorder

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        exchange = Exchange.begin(request)
        request[EXCHANGE] = exchange
        response: web.StreamResponse | None = None
        try:
            reply = await run_stages(self.stages, exchange)
            if reply is not None:
                exchange.reply = reply
                response = render_reply(reply, exchange.request_id)
            else:
                response = await self.terminal(exchange)
            return response
        except asyncio.CancelledError:
            # aiohttp cancels the handler when the caller disconnects; the upstream request
            # is closed by the context managers on the way out.
            exchange.client_disconnected = True
            raise
        except Exception:
            log.exception("unhandled error in request %s", exchange.request_id)
            exchange.error = "internal"
            exchange.reply = internal_error()
            response = render_reply(exchange.reply, exchange.request_id)
            return response
        finally:
            if exchange.client_disconnected and not exchange.streamed:
                exchange.status = CLIENT_CLOSED_REQUEST
            elif response is not None:
                exchange.status = response.status
            # Recorded on the loop's next turn: aiohttp writes a returned response as soon as
            # this handler returns, so the caller no longer waits for the audit row, the log
            # line and the metrics (~0.1 ms a request).
            asyncio.get_running_loop().call_soon(self.recorder.record, exchange)
