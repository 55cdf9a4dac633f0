"""Settlement: rate-limit reservations replaced by actual usage, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Final

from proxy.exchange import Exchange
from proxy.ratelimit import ADMISSION, Admission, RateLimiter, usage_of

log = logging.getLogger(__name__)

# Settlements sent to Redis in one pipeline at most; under load one round trip settles many.
BATCH_SIZE: Final = 64
# How long a settlement waits for others when no limit is near: a lone caller's settlements
# then share a round trip too, instead of costing Redis and this process one each. Near a
# limit (Admission.near_limit) it goes at once: a released lease or a refund of unused
# tokens may decide whether the caller's next request fits.
LINGER_SECONDS: Final = 0.05


@dataclass(frozen=True, slots=True)
class _Pending:
    admission: Admission
    exchange: Exchange


class Settlements:
    """A queue the request's `finally` puts into, drained by one task in the app's lifetime.

    The queue lets settlements share Redis round trips; one admitted from this replica's
    shares needs none and is settled in them at once (the usage was read in the `finally`).
    A deque and an event rather than an asyncio.Queue: a Queue's put and get are each several
    Python calls, and this runs for every request.
    """

    def __init__(self, limiter: RateLimiter, maxsize: int = 100_000) -> None:
        self.limiter = limiter
        self.maxsize = maxsize
        # Waiting here until sent; drain() settles what is left at shutdown.
        self._queue: deque[_Pending] = deque()
        self._urgent = False
        # Set for the queue's first settlement (run() waits for one, or is sending the last
        # batch: it clears the event before it waits again), and for an urgent one.
        self._wake = asyncio.Event()

    def submit(self, exchange: Exchange) -> None:
        admission = exchange.request.get(ADMISSION)
        if admission is None or admission.reservation is None:
            return
        if admission.reservation.shares:
            # Admitted from this replica's shares: settled in them at once, no round trip.
            usage = usage_of(exchange, exchange.usage, self.limiter.settings.chars_per_token)
            if self.limiter.settle_here(admission, usage):
                return
        queue = self._queue
        if len(queue) >= self.maxsize:
            # Unsettled reservations expire on their own (leases, windows) once nobody renews them.
            self.limiter.forget(admission)
            log.warning("settlement queue full; a reservation is left to expire")
            return
        queue.append(_Pending(admission, exchange))
        if admission.near_limit or len(queue) >= BATCH_SIZE:
            self._urgent = True
            self._wake.set()
        elif len(queue) == 1:
            self._wake.set()

    async def run(self) -> None:
        queue = self._queue
        while True:
            while not queue:
                self._wake.clear()
                await self._wake.wait()
            if not self._urgent:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LINGER_SECONDS):
                        await self._wake.wait()
            batch = [queue.popleft() for _ in range(min(BATCH_SIZE, len(queue)))]
            # An urgent one may still be queued past a full batch: then the next goes at once.
            self._urgent = self._urgent and bool(queue)
            await self._settle(batch)

    async def drain(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(BATCH_SIZE, len(queue)))]
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
