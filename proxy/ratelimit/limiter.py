"""RateLimiter: reserve() in one Redis round trip on the request path, settle() after it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence

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
from proxy.ratelimit.leases import Leases
from proxy.ratelimit.lua import Call
from proxy.ratelimit.pipe import ScriptPipe
from proxy.ratelimit.plan import Check, Planner, RequestContext
from proxy.ratelimit.redis_slots import SETTLE_TIMEOUT_FACTOR, RedisSlots
from proxy.ratelimit.settings import (
    RateLimitSettings,
)
from proxy.ratelimit.share import Share, local_states
from proxy.ratelimit.shares import Shares
from proxy.ratelimit.wording import denial_message

_FITS, _OVER, _NEVER = 0, 1, 2


class RateLimiter(RedisSlots):
    """Exact limits shared by every replica through one Redis; see lua.py for the algorithm.

    `clock` (seconds) is for tests; by default the scripts read Redis's own clock, so replicas
    with skewed clocks still agree. `on_event` receives "admitted", "denied", "failed_open",
    "failed_closed", "redis_error", "settled", "settle_failed", "settle_batch",
    "lease_renewed", "lease_renew_failed", "share_admitted", "share_granted", "share_returned",
    "share_failed", "share_return_failed", each with how many times it happened (wire it to a
    counter). Run `run()` beside it, which renews in-flight leases while their requests run
    and fetches and returns this replica's shares (shares.py), and `aclose()` after it.

    Its scripts run on a connection of its own (see pipe.py), opened like `client`'s; its
    round trips to Redis, and what failure_mode answers when they fail, are RedisSlots'.
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
        self.shares: Shares | None = None
        if settings.local_share > 0:
            timeout = settings.timeout * SETTLE_TIMEOUT_FACTOR  # off the path, as settling is
            self.shares = Shares(
                self.pipe, settings, self.leases, timeout, clock=clock, on_event=self._event
            )

    async def run(self) -> None:
        """The limiter's upkeep for as long as it serves: leases renewed, shares kept."""
        if self.shares is None:
            await self.leases.run()
        else:
            await asyncio.gather(self.leases.run(), self.shares.run())

    async def aclose(self) -> None:
        """Give back what the shares did not use, then close the connection."""
        if self.shares is not None:
            await self.shares.give_back()
        await self.pipe.aclose()

    async def reserve(self, ctx: RequestContext) -> Admission:
        """Check every limit that applies to `ctx` and reserve in all of them, or in none."""
        if not self.settings.enabled:
            return ADMITTED_UNLIMITED
        wall = self.clock() if self.clock is not None else time.time()
        plans = self.planner.plan(ctx, wall)
        if not plans:
            return ADMITTED_UNLIMITED
        reservation_id = random_hex(8)
        cost = self.planner.reserved_cost(ctx)
        if self.shares is not None:
            tokens = ctx.prompt_tokens + ctx.max_output_tokens
            taken = self.shares.take(reservation_id, plans, tokens, cost)
            if taken is not None:
                return self._admitted_locally(reservation_id, ctx, cost, *taken)
        if time.monotonic() < self._retry_at:
            # Redis failed a moment ago: do not make every request wait out the timeout.
            return self._degraded()
        reservation = Reservation(
            reservation_id, plans, ctx.prompt_tokens, ctx.max_output_tokens, cost, ctx.model
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

    def _admitted_locally(
        self,
        reservation_id: str,
        ctx: RequestContext,
        cost: int,
        shares: tuple[Share, ...],
        members: tuple[str, ...],
    ) -> Admission:
        plans = tuple(share.plan for share in shares)
        reservation = Reservation(
            reservation_id,
            plans,
            ctx.prompt_tokens,
            ctx.max_output_tokens,
            cost,
            ctx.model,
            shares,
            members,
        )
        self._event("admitted")
        self._event("share_admitted")
        requests, tokens = local_states(shares)
        return Admission(True, reservation, requests, tokens)

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

    async def settle(self, admission: Admission, usage: Usage | None) -> bool:
        """Replace the reservation with what the request used, and free its in-flight slot.

        `usage` None: nothing was consumed (upstream error, client gone before the answer);
        every reservation, the request itself included, is given back. A field of `usage`
        that is None counts as reserved. Idempotent: a second call changes nothing. Returns
        whether this call applied it (False also when Redis failed; leases still expire).
        """
        return await self.settle_many([(admission, usage)]) == 1

    def settle_here(self, admission: Admission, usage: Usage | None) -> bool:
        """settle() a request admitted from shares that all still live, in them, without
        Redis; False (nothing done) when it needs settle()."""
        reservation = admission.reservation
        if reservation is None or not reservation.shares or self.shares is None:
            return False
        if any(share.retired for share in reservation.shares):
            return False
        deltas = settle_deltas(reservation, usage, self.planner.price(reservation.model))
        here, _ = self.shares.settle(reservation, deltas)
        if here:
            self._event("settled")
        return True

    async def settle_many(self, settlements: Sequence[tuple[Admission, Usage | None]]) -> int:
        """settle() for several requests in one Redis round trip; how many it applied."""
        calls: list[Call] = []
        owners: list[str] = []
        applied: set[str] = set()
        for admission, usage in settlements:
            reservation = admission.reservation
            if reservation is None:
                continue
            deltas = settle_deltas(reservation, usage, self.planner.price(reservation.model))
            if reservation.shares and self.shares is not None:
                # Its shares take it back; those that have ended leave their plans to Redis.
                here, indexes = self.shares.settle(reservation, deltas)
                if here:
                    applied.add(reservation.id)
            else:
                self.leases.release(reservation)
                indexes = list(range(len(reservation.plans)))
            for call in self._settle_calls(reservation, indexes, deltas):
                calls.append(call)
                owners.append(reservation.id)
        if applied:
            self._event("settled", len(applied))
        results = await self._run_settles(calls, len(set(owners)))
        applied.update(owner for owner, r in zip(owners, results, strict=True) if r == 1)
        return len(applied)

    def forget(self, admission: Admission) -> None:
        """Stop renewing a reservation that will not be settled; its leases then expire."""
        reservation = admission.reservation
        if reservation is None:
            return
        if reservation.shares and self.shares is not None:
            self.shares.forget(reservation.id, reservation.shares)
        else:
            self.leases.release(reservation)


def _wrote(result: object) -> bool:
    return isinstance(result, list) and bool(result) and result[0] == 1
