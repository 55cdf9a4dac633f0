"""Settlement: rate-limit reservations replaced by actual usage, off the request path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from proxy.exchange import Exchange
from proxy.ratelimit import ADMISSION, Admission, RateLimiter, usage_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    admission: Admission
    exchange: Exchange


class Settlements:
    """A queue the request's `finally` puts into, drained by one task in the app's lifetime.

    Reading usage from a whole answer (a JSON parse) happens here, not while the caller waits.
    """

    def __init__(self, limiter: RateLimiter, maxsize: int = 100_000) -> None:
        self.limiter = limiter
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize)

    def submit(self, exchange: Exchange) -> None:
        admission = exchange.request.get(ADMISSION)
        if admission is None or admission.reservation is None:
            return
        try:
            self.queue.put_nowait(_Pending(admission, exchange))
        except asyncio.QueueFull:
            # Unsettled reservations expire on their own (leases, windows) once nobody renews them.
            self.limiter.forget(admission)
            log.warning("settlement queue full; a reservation is left to expire")

    async def run(self) -> None:
        while True:
            pending = await self.queue.get()
            await self._settle(pending)

    async def drain(self) -> None:
        while not self.queue.empty():
            await self._settle(self.queue.get_nowait())

    async def _settle(self, pending: _Pending) -> None:
        try:
            exchange = pending.exchange
            usage = usage_of(exchange, exchange.usage, self.limiter.settings.chars_per_token)
            await self.limiter.settle(pending.admission, usage)
        except Exception:
            log.exception("settling a reservation failed")
