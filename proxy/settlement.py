"""Settlement: rate-limit reservations replaced by actual usage, off the request path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from proxy.exchange import Exchange
from proxy.ratelimit import ADMISSION, Admission, RateLimiter, usage_of

log = logging.getLogger(__name__)

# Settlements sent to Redis in one pipeline at most; under load one round trip settles many.
BATCH_SIZE: Final = 64


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
            # Whatever queued up while the last batch was in flight goes in one round trip.
            batch = [await self.queue.get()]
            while len(batch) < BATCH_SIZE and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self._settle(batch)

    async def drain(self) -> None:
        while not self.queue.empty():
            batch = [self.queue.get_nowait() for _ in range(min(BATCH_SIZE, self.queue.qsize()))]
            await self._settle(batch)

    async def _settle(self, batch: list[_Pending]) -> None:
        chars_per_token = self.limiter.settings.chars_per_token
        try:
            await self.limiter.settle_many(
                [
                    (p.admission, usage_of(p.exchange, p.exchange.usage, chars_per_token))
                    for p in batch
                ]
            )
        except Exception:
            log.exception("settling reservations failed")
