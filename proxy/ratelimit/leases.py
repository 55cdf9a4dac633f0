"""In-flight leases kept alive while their requests run.

A `max_concurrent` slot is a lease (a member of a sorted set scored by its expiry) so that a
replica that dies mid-request cannot hold a slot forever. A request that outlives the lease,
a long stream, would then lose its slot while still running and let one more in. So every
replica renews the leases of its own requests still in flight, every third of a lease, and
stops when they settle: the lease can stay short (a dead replica's slots come back soon)
without ever expiring under a live request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from redis.exceptions import RedisError

from proxy.ratelimit.admission import Reservation
from proxy.ratelimit.lua import NOW_LUA, Call, Keys, Script
from proxy.ratelimit.pipe import ScriptPipe
from proxy.ratelimit.plan import SlotPlan

log = logging.getLogger(__name__)

# KEYS: in-flight sets of one hash slot; ARGV: now (0 = Redis's clock), lease ms, then one
# member per key. A lease is moved to now + lease only while it is still live: one that has
# expired may already have been counted as free, and reviving it would overfill the scope.
RENEW_LUA: Final = (
    NOW_LUA
    + """
local span = tonumber(ARGV[2])
local renewed = 0
for i = 1, #KEYS do
  local score = tonumber(redis.call('ZSCORE', KEYS[i], ARGV[2 + i]))
  if score and score > now then
    redis.call('ZADD', KEYS[i], now + span, ARGV[2 + i])
    redis.call('PEXPIRE', KEYS[i], math.ceil(span))
    renewed = renewed + 1
  end
end
return renewed
"""
)
RENEW: Final = Script(RENEW_LUA)


@dataclass(slots=True)
class _Held:
    slot: str
    keys: tuple[str, ...]
    renewed_at: float  # time.monotonic() of the reservation or the last renewal


class Leases:
    """The in-flight leases this replica holds, renewed by `run()` until released."""

    def __init__(
        self,
        pipe: ScriptPipe,
        lease_seconds: float,
        timeout: float,
        *,
        clock: Callable[[], float] | None = None,
        on_event: Callable[[str, int], None] | None = None,
    ) -> None:
        self.pipe = pipe
        self.lease_seconds = lease_seconds
        self.lease_ms = max(1, round(lease_seconds * 1000))
        self.timeout = timeout
        self.clock = clock
        self.on_event = on_event
        self._held: dict[tuple[str, str], _Held] = {}
        self._failing = False

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, reservation: Reservation) -> None:
        for i, plan in enumerate(reservation.plans):
            if plan.inflight_keys:
                self.hold_members(plan, (reservation.member(i),))

    def release(self, reservation: Reservation) -> None:
        for i, plan in enumerate(reservation.plans):
            self._held.pop((reservation.member(i), plan.slot), None)

    def hold_members(self, plan: SlotPlan, members: Iterable[str]) -> None:
        """Renew these members of `plan`'s in-flight keys until released (a share's slots)."""
        now = time.monotonic()
        for member in members:
            self._held[(member, plan.slot)] = _Held(plan.slot, plan.inflight_keys, now)

    def release_members(self, plan: SlotPlan, members: Iterable[str]) -> None:
        for member in members:
            self._held.pop((member, plan.slot), None)

    async def run(self) -> None:
        """Renew, every third of a lease, what has been held since the last round."""
        interval = self.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            await self.renew(min_age=interval * 0.9)

    async def renew(self, min_age: float = 0.0) -> int:
        """Renew every lease held at least `min_age` seconds since its last renewal; one
        script call per hash slot. Returns how many leases Redis still had and renewed."""
        now = time.monotonic()
        by_slot: dict[str, list[tuple[str, str]]] = {}
        due: list[_Held] = []
        for (member, _), held in self._held.items():
            if now - held.renewed_at >= min_age:
                due.append(held)
                by_slot.setdefault(held.slot, []).extend((key, member) for key in held.keys)
        if not by_slot:
            return 0
        now_ms = round(self.clock() * 1000) if self.clock is not None else 0
        calls: list[Call] = [
            (
                Keys.of([key for key, _ in pairs]),
                [now_ms, self.lease_ms, *(member for _, member in pairs)],
            )
            for pairs in by_slot.values()
        ]
        try:
            results = await RENEW.call_many(self.pipe, calls, self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._event("lease_renew_failed")
            if not self._failing:
                # Once until it works again: the next round retries what is still held.
                log.warning("rate limits: renewing leases failed (%s: %s)", type(exc).__name__, exc)
                self._failing = True
            return 0
        self._failing = False
        for held in due:
            held.renewed_at = now
        renewed = sum(int(r) for r in results)
        if renewed:
            self._event("lease_renewed", renewed)
        return renewed

    def _event(self, name: str, count: int = 1) -> None:
        if self.on_event is not None:
            self.on_event(name, count)
