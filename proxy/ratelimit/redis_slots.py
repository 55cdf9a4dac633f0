"""RedisSlots: a reservation's slots reserved and settled in Redis, failure_mode when it fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Final

from redis.exceptions import RedisError

from proxy.ratelimit.admission import Admission, Denial, Reservation, settle_deltas
from proxy.ratelimit.leases import RENEW_LUA, Leases
from proxy.ratelimit.lua import (
    RESERVE,
    RESERVE_LUA,
    SETTLE,
    SETTLE_LUA,
    Call,
    Keys,
    unpack_numbers,
)
from proxy.ratelimit.pipe import ScriptPipe, command
from proxy.ratelimit.plan import SETTLED_KEY, SETTLED_MARKER_MS, SlotPlan
from proxy.ratelimit.settings import RateLimitSettings

# RateLimiter's logger: these are its warnings, and log filters know them by that name.
log = logging.getLogger("proxy.ratelimit.limiter")

# Settling is off the request path, so it may wait longer than reserve() does.
SETTLE_TIMEOUT_FACTOR: Final = 10


class RedisSlots:
    """RateLimiter's round trips to Redis (limiter.py decides what to ask; the scripts are in
    lua.py). A base class rather than a member, so that the request path calls these as the
    limiter's own methods, with no attribute between; RateLimiter.__init__ sets its state."""

    pipe: ScriptPipe
    settings: RateLimitSettings
    clock: Callable[[], float] | None
    on_event: Callable[[str, int], None] | None
    events: Counter[str]
    leases: Leases
    _retry_at: float
    _outage_since: float | None

    def _event(self, name: str, count: int = 1) -> None:
        self.events[name] += count
        if self.on_event is not None:
            self.on_event(name, count)

    async def warm_up(self) -> bool:
        """Open the connection and load the scripts before traffic arrives (call it at
        startup): opening a connection costs several round trips, and a cold burst would
        otherwise spend its Redis timeout on them and fail open."""
        loads = [command("SCRIPT", "LOAD", text) for text in (RESERVE_LUA, SETTLE_LUA, RENEW_LUA)]
        timeout = max(1.0, self.settings.timeout * SETTLE_TIMEOUT_FACTOR)
        try:
            replies = await self.pipe.execute(loads, timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate limits: Redis warm-up failed (%s: %s)", type(exc).__name__, exc)
            return False
        failed = [r for r in replies if isinstance(r, RedisError)]
        if failed:
            log.warning("rate limits: loading the scripts failed (%s)", failed[0])
            return False
        return True

    async def _reserve_slots(
        self, reservation: Reservation, now_ms: int
    ) -> list[list[int] | BaseException]:
        plans = reservation.plans
        if len(plans) == 1:
            # The usual case: one slot, one round trip, and no task to schedule for it.
            try:
                return [await self._reserve_slot(plans[0], reservation, now_ms)]
            except (RedisError, OSError, TimeoutError) as exc:
                return [exc]
        # A global model limit: its slot is asked alongside, still one round trip of latency.
        calls = [self._reserve_slot(plan, reservation, now_ms) for plan in plans]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    async def _reserve_slot(
        self, plan: SlotPlan, reservation: Reservation, now_ms: int
    ) -> list[int]:
        amounts = plan.reserve_spec(reservation.tokens, reservation.cost_micro_usd)
        args = (now_ms, reservation.id, plan.limits, amounts)
        timeout = self.settings.timeout
        reply: bytes = await RESERVE.call(self.pipe, plan.keys, args, timeout)
        return unpack_numbers(reply)

    async def _failed(
        self, exc: BaseException, reservation: Reservation, written: list[SlotPlan]
    ) -> Admission:
        self._event("redis_error")
        self._retry_at = time.monotonic() + self.settings.retry_interval
        if self._outage_since is None:
            # Once per outage, not once per request: during an outage every request fails.
            self._outage_since = time.monotonic()
            log.warning(
                "rate limits: Redis unavailable (%s: %s); failing %s until it answers",
                type(exc).__name__,
                exc,
                self.settings.failure_mode,
            )
        if self.settings.failure_mode == "open":
            self._event("failed_open")
            return self._open_with(reservation, written)
        if written:
            await self._release(reservation, written)
        return self._degraded()

    def _open_with(self, reservation: Reservation, written: list[SlotPlan]) -> Admission:
        # Whatever one slot did reserve is settled normally with the rest.
        partial = _partial(reservation, written)
        if partial is not None:
            self.leases.hold(partial)
        return Admission(True, partial, degraded=True)

    def _degraded(self) -> Admission:
        if self.settings.failure_mode == "open":
            self._event("failed_open")
            return Admission(True, degraded=True)
        self._event("failed_closed")
        retry = self.settings.retry_interval
        message = "Rate limits cannot be checked right now; try again shortly"
        denial = Denial("rate_limit_unavailable", "", "redis", retry, time.time() + retry, message)
        return Admission(False, denial=denial, degraded=True)

    def _recovered(self) -> None:
        if self._outage_since is not None:
            down = time.monotonic() - self._outage_since
            self._outage_since = None
            log.warning("rate limits: Redis answers again after %.1fs", down)

    async def _release(self, reservation: Reservation, plans: Sequence[SlotPlan]) -> None:
        deltas = settle_deltas(reservation, None, None)
        indexes = [reservation.plans.index(plan) for plan in plans]
        await self._run_settles(self._settle_calls(reservation, indexes, deltas), 1)

    def _settle_calls(
        self, reservation: Reservation, indexes: Sequence[int], deltas: dict[str, int]
    ) -> list[Call]:
        now_ms = round(self.clock() * 1000) if self.clock is not None else 0
        calls: list[Call] = []
        for i in indexes:
            plan = reservation.plans[i]
            keys = Keys.of([SETTLED_KEY.format(slot=plan.slot, reservation=reservation.id)])
            keys += plan.keys
            amounts = plan.settle_spec(deltas["requests"], deltas["tokens"], deltas["usd"])
            member = reservation.member(i)
            calls.append((keys, (now_ms, member, SETTLED_MARKER_MS, plan.limits, amounts)))
        return calls

    async def _run_settles(self, calls: list[Call], reservations: int) -> list[Any]:
        """The calls' results (1 applied, 0 settled before); all 0 when Redis failed."""
        if not calls:
            return []
        try:
            timeout = self.settings.timeout * SETTLE_TIMEOUT_FACTOR
            results = await SETTLE.call_many(self.pipe, calls, timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._event("settle_failed", reservations)
            if self._outage_since is None:
                log.warning("rate limits: settle failed (%s: %s)", type(exc).__name__, exc)
            return [0] * len(calls)
        self._event("settled", reservations)
        self._event("settle_batch")  # one round trip, however many it settled
        return results


def _partial(reservation: Reservation, written: list[SlotPlan]) -> Reservation | None:
    if not written:
        return None
    return Reservation(
        reservation.id,
        tuple(written),
        reservation.prompt_tokens,
        reservation.max_output_tokens,
        reservation.cost_micro_usd,
        reservation.model,
    )
