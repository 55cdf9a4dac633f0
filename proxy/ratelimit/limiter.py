"""RateLimiter: reserve() in one Redis round trip on the request path, settle() after it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Final

import redis.asyncio as redis
from redis.exceptions import RedisError

from proxy.formats.segments import Usage
from proxy.ids import random_hex
from proxy.ratelimit.admission import (
    ADMITTED_UNLIMITED,
    Admission,
    Denial,
    DenialType,
    Reservation,
    settle_deltas,
    tightest,
)
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
from proxy.ratelimit.plan import SETTLED_KEY, Check, Planner, RequestContext, SlotPlan
from proxy.ratelimit.settings import (
    RateLimitSettings,
)
from proxy.ratelimit.wording import denial_message

log = logging.getLogger(__name__)

# A settled marker outlives any retry of settle() by far; it is a few bytes per request.
SETTLED_MARKER_MS: Final = 86_400_000
# Settling is off the request path, so it may wait longer than reserve() does.
SETTLE_TIMEOUT_FACTOR: Final = 10
_FITS, _OVER, _NEVER = 0, 1, 2


class RateLimiter:
    """Exact limits shared by every replica through one Redis; see lua.py for the algorithm.

    `clock` (seconds) is for tests; by default the scripts read Redis's own clock, so replicas
    with skewed clocks still agree. `on_event` receives "admitted", "denied", "failed_open",
    "failed_closed", "redis_error", "settled", "settle_failed", "settle_batch",
    "lease_renewed", "lease_renew_failed", each with how many times it happened (wire it to
    a counter). Run `leases.run()` beside it, so that in-flight slots outlive their lease
    while their requests do, and `aclose()` after it.

    Its scripts run on a connection of its own (see pipe.py), opened like `client`'s.
    """

    def __init__(
        self,
        client: redis.Redis,
        settings: RateLimitSettings,
        *,
        clock: Callable[[], float] | None = None,
        on_event: Callable[[str, int], None] | None = None,
    ) -> None:
        self.client = client
        self.pipe = ScriptPipe(client)
        self.settings = settings
        self.planner = Planner(settings)
        self.clock = clock
        self.on_event = on_event
        self.events: Counter[str] = Counter()
        self._retry_at = 0.0
        self._outage_since: float | None = None
        self.leases = Leases(
            self.pipe,
            settings.concurrency_lease_seconds,
            settings.timeout * SETTLE_TIMEOUT_FACTOR,
            clock=clock,
            on_event=self._event,
        )

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

    async def aclose(self) -> None:
        await self.pipe.aclose()

    async def reserve(self, ctx: RequestContext) -> Admission:
        """Check every limit that applies to `ctx` and reserve in all of them, or in none."""
        if not self.settings.enabled:
            return ADMITTED_UNLIMITED
        wall = self.clock() if self.clock is not None else time.time()
        plans = self.planner.plan(ctx, wall)
        if not plans:
            return ADMITTED_UNLIMITED
        if time.monotonic() < self._retry_at:
            # Redis failed a moment ago: do not make every request wait out the timeout.
            return self._degraded()
        reservation = Reservation(
            random_hex(8),
            plans,
            ctx.prompt_tokens,
            ctx.max_output_tokens,
            self.planner.reserved_cost(ctx),
            ctx.model,
        )
        now_ms = round(wall * 1000) if self.clock is not None else 0
        results = await self._reserve_slots(reservation, now_ms)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, RedisError | OSError | TimeoutError):
                raise failure  # a bug, not an outage: fail the request closed (500)
        replies = [r for r in results if not isinstance(r, BaseException)]
        if failures:
            written = [p for p, r in zip(plans, results, strict=True) if _wrote(r)]
            return await self._failed(failures[0], reservation, written)
        self._recovered()
        return await self._admission(reservation, replies, wall)

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

    async def _admission(
        self, reservation: Reservation, replies: list[list[int]], wall: float
    ) -> Admission:
        plans = reservation.plans
        requests, tokens, near_limit = tightest(plans, replies)
        # A slot's reply starts with 1 when every check fitted and it reserved.
        if all(reply[0] == 1 for reply in replies):
            self._event("admitted")
            self.leases.hold(reservation)
            return Admission(True, reservation, requests, tokens, near_limit=near_limit)
        outcomes: list[tuple[Check, int, int, int, int]] = []
        for plan, reply in zip(plans, replies, strict=True):
            for i, check in enumerate(plan.checks):
                status, remaining, reset_ms, wait_ms = reply[2 + 4 * i : 6 + 4 * i]
                outcomes.append((check, status, remaining, reset_ms, wait_ms))
        denied = [o for o in outcomes if o[1] != _FITS]
        # With a global model limit, one slot may have reserved while the other refused.
        admitted = [p for p, r in zip(plans, replies, strict=True) if r[0] == 1]
        if admitted:
            await self._release(reservation, admitted)
        # Retrying cannot help a request larger than a limit: name that one first; otherwise
        # the longest wait, since every limit must pass before the request can.
        check, status, remaining, _, wait_ms = max(denied, key=lambda o: (o[1], o[4]))
        wait = wait_ms / 1000
        kind: DenialType = "budget_exceeded" if check.kind == "b" else "rate_limit_exceeded"
        cost = check.amount(reservation.tokens, reservation.cost_micro_usd)
        message = denial_message(check, cost, status == _NEVER, remaining, wait, wall)
        self._event("denied")
        return Admission(
            False,
            None,
            requests,
            tokens,
            Denial(kind, check.scope, check.name, wait, wall + wait, message),
        )

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

    async def settle(self, admission: Admission, usage: Usage | None) -> bool:
        """Replace the reservation with what the request used, and free its in-flight slot.

        `usage` None: nothing was consumed (upstream error, client gone before the answer);
        every reservation, the request itself included, is given back. A field of `usage`
        that is None counts as reserved. Idempotent: a second call changes nothing. Returns
        whether this call applied it (False also when Redis failed; leases still expire).
        """
        return await self.settle_many([(admission, usage)]) == 1

    async def settle_many(self, settlements: Sequence[tuple[Admission, Usage | None]]) -> int:
        """settle() for several requests in one Redis round trip; how many it applied."""
        calls: list[Call] = []
        owners: list[str] = []
        for admission, usage in settlements:
            reservation = admission.reservation
            if reservation is None:
                continue
            self.leases.release(reservation)
            for call in self._settle_calls(reservation, reservation.plans, usage):
                calls.append(call)
                owners.append(reservation.id)
        results = await self._run_settles(calls, len(set(owners)))
        return len({owner for owner, r in zip(owners, results, strict=True) if r == 1})

    def forget(self, admission: Admission) -> None:
        """Stop renewing a reservation that will not be settled; its leases then expire."""
        if admission.reservation is not None:
            self.leases.release(admission.reservation)

    async def _release(self, reservation: Reservation, plans: Sequence[SlotPlan]) -> None:
        await self._run_settles(self._settle_calls(reservation, plans, None), 1)

    def _settle_calls(
        self, reservation: Reservation, plans: Sequence[SlotPlan], usage: Usage | None
    ) -> list[Call]:
        deltas = settle_deltas(reservation, usage, self.planner.price(reservation.model))
        now_ms = round(self.clock() * 1000) if self.clock is not None else 0
        calls: list[Call] = []
        for plan in plans:
            keys = Keys.of([SETTLED_KEY.format(slot=plan.slot, reservation=reservation.id)])
            keys += plan.keys
            amounts = plan.settle_spec(deltas["requests"], deltas["tokens"], deltas["usd"])
            calls.append((keys, (now_ms, reservation.id, SETTLED_MARKER_MS, plan.limits, amounts)))
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


def _wrote(result: object) -> bool:
    return isinstance(result, list) and bool(result) and result[0] == 1


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
