"""Settlement: rate-limit reservations replaced by actual usage, off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

    Reading usage from a whole answer (a JSON parse) happens here, not while the caller waits.
    """

    def __init__(self, limiter: RateLimiter, maxsize: int = 100_000) -> None:
        self.limiter = limiter
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize)
        self._urgent = False
        self._wake = asyncio.Event()
        # Taken from the queue by run() and not sent yet: drain() settles it at shutdown.
        self._held: list[_Pending] = []

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
            return
        if admission.near_limit or self.queue.qsize() >= BATCH_SIZE:
            self._urgent = True
            self._wake.set()

    async def run(self) -> None:
        while True:
            self._held = [await self.queue.get()]
            if not self._urgent:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LINGER_SECONDS):
                        await self._wake.wait()
            batch, self._held = self._held, []
            while len(batch) < BATCH_SIZE and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            # An urgent one may still be queued past a full batch: then the next goes at once.
            self._urgent = self._urgent and not self.queue.empty()
            await self._settle(batch)

    async def drain(self) -> None:
        held, self._held = self._held, []
        if held:
            await self._settle(held)
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
