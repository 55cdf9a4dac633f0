"""Shares: quota a replica reserves in Redis ahead of its requests and then hands out itself.

Asking Redis on every request puts a round trip on every request's path, and far from a limit
the answer is always yes. So, for each plan (a key's set of limits) that is busy, a replica
reserves a share of every limit at once, through the same reserve script a request uses: a few
requests' worth of requests, tokens, USD and in-flight slots, at most `local_share` of each
limit. It admits requests from the share without a round trip while the share lasts, at most
`local_share_seconds`; then what it did not hand out goes back to Redis in one settle.

Redis counted the whole share when it granted it, so replicas together still never admit past
a limit. The price: near a limit, a replica may refuse while another holds unused quota, at
most `local_share` of each limit per replica and for at most `local_share_seconds`. A plan with
a tenth or less of some limit left gets no share, so there every request asks Redis, exactly as
without shares. A request the share cannot cover also asks Redis; meanwhile a bigger share is
fetched, sized to the demand the last one saw.

A request's settlement lands in its share while the share lives: unused tokens and USD come
back to it, overuse is taken from it (and reaches Redis when the share ends). A request that
outlives its share settles in Redis like any other; its in-flight slot, one of the share's
members, is renewed until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import RedisError

from proxy.ids import random_hex
from proxy.ratelimit.admission import Reservation, tightest
from proxy.ratelimit.leases import Leases
from proxy.ratelimit.lua import RESERVE, SETTLE, Call, Keys, unpack_numbers
from proxy.ratelimit.pipe import ScriptPipe
from proxy.ratelimit.plan import PLAN_CACHE_SIZE, SETTLED_KEY, SETTLED_MARKER_MS, SlotPlan
from proxy.ratelimit.settings import RateLimitSettings
from proxy.ratelimit.share import Share, share_members
from proxy.ratelimit.share_sizing import (
    DEMAND_FACTOR,
    FIRST_REQUESTS,
    FIRST_SLOTS,
    MAX_REQUESTS,
    MAX_SLOTS,
    UNLIMITED,
    Caps,
    Want,
)

log = logging.getLogger(__name__)

# A share asked for: what was wanted, the share's id, its requests, tokens, USD and slots.
_Asked = tuple[Want, str, tuple[int, int, int, int]]


class Shares:
    """This replica's live share per plan; `run()` fetches and returns them off the path."""

    def __init__(
        self,
        pipe: ScriptPipe,
        settings: RateLimitSettings,
        leases: Leases,
        timeout: float,
        *,
        clock: Callable[[], float] | None = None,
        on_event: Callable[[str, int], None] | None = None,
    ) -> None:
        self.pipe = pipe
        self.fraction = settings.local_share
        self.lifetime = settings.local_share_seconds
        self.timeout = timeout
        self.retry_interval = settings.retry_interval
        self.leases = leases
        self.clock = clock
        self.on_event = on_event
        self._live: dict[bytes, Share] = {}  # by the plan's encoded keys
        self._caps: dict[bytes, Caps] = {}
        self._wanted: dict[bytes, Want] = {}
        self._fetching: set[bytes] = set()
        self._cool: dict[bytes, float] = {}  # no share for the plan before this monotonic time
        self._ended: list[Share] = []  # retired, their unused quota not yet given back
        self._orphans: list[tuple[asyncio.Future[list[Any]], list[_Asked], float]] = []
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._live)

    def take(
        self, reservation_id: str, plans: Sequence[SlotPlan], tokens: int, usd: int
    ) -> tuple[tuple[Share, ...], tuple[str, ...]] | None:
        """Admit a request from live shares of all its plans, or None: ask Redis."""
        now = time.monotonic()
        found: list[Share] = []
        for plan in plans:
            share = self._live.get(plan.keys.encoded)
            if share is None or now - share.born >= self.lifetime:
                self._want(plan, share, tokens, usd, now)
                return None
            if not share.fits(tokens, usd):
                share.short_of_slots = share.slots > 0 and not share.free
                self._want(plan, share, tokens, usd, now)
                return None
            found.append(share)
        members = tuple(share.take(reservation_id, tokens, usd) for share in found)
        for share in found:
            if share.low(now - share.born, self.lifetime):
                self._want(share.plan, share, tokens, usd, now)
        return tuple(found), members

    def settle(self, reservation: Reservation, deltas: dict[str, int]) -> tuple[bool, list[int]]:
        """Settle a request in the live shares it came from: whether any took it, and the
        indexes of its plans whose share has ended since, to settle in Redis."""
        here = False
        elsewhere: list[int] = []
        for i, share in enumerate(reservation.shares):
            if not share.retired:
                here = share.put_back(reservation.id, deltas) or here
                continue
            member = share.out.pop(reservation.id, None)
            if member is not None:
                if share.slots:
                    self.leases.release_members(share.plan, (member,))
                elsewhere.append(i)
        return here, elsewhere

    def forget(self, reservation_id: str, shares: Sequence[Share]) -> None:
        """A request that will not be settled: its slot is left to expire, not renewed."""
        for share in shares:
            member = share.out.pop(reservation_id, None)
            if member is not None and share.slots:
                self.leases.release_members(share.plan, (member,))

    def _want(self, plan: SlotPlan, last: Share | None, tokens: int, usd: int, now: float) -> None:
        key = plan.keys.encoded
        if key in self._wanted or key in self._fetching or self._cool.get(key, 0.0) > now:
            return
        requests, slots = FIRST_REQUESTS, FIRST_SLOTS
        if last is not None:
            age = max(now - last.born, 0.001)
            seen = last.admitted * min(self.lifetime / age, 1000.0)
            requests = min(MAX_REQUESTS, max(FIRST_REQUESTS, math.ceil(seen * DEMAND_FACTOR)))
            grown = last.slots * 2 if last.short_of_slots else last.peak * 2
            slots = min(MAX_SLOTS, max(FIRST_SLOTS, grown))
        self._wanted[key] = Want(plan, requests, tokens, usd, slots)
        self._wake.set()

    async def run(self) -> None:
        """Fetch the shares requests asked for, and give back those at the end of their life."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.lifetime / 4):
                    await self._wake.wait()
            self._wake.clear()
            await self.fetch()
            now = time.monotonic()
            await self.give_back(now - self.lifetime)
            if len(self._cool) > PLAN_CACHE_SIZE or len(self._caps) > PLAN_CACHE_SIZE:
                # Bounded like the plans they belong to: keys and models are many.
                self._cool = {key: until for key, until in self._cool.items() if until > now}
                self._caps.clear()

    async def fetch(self) -> int:
        """Ask Redis for every share wanted, in one round trip; how many it granted."""
        wanted, self._wanted = self._wanted, {}
        now = time.monotonic()
        calls: list[Call] = []
        asked: list[_Asked] = []
        for key, want in wanted.items():
            caps = self._caps.get(key)
            if caps is None:
                caps = self._caps[key] = Caps.of(want.plan, self.fraction)
            sized = caps.size(want)
            if sized is None:
                self._cool[key] = now + self.lifetime
                continue
            share_id = random_hex(8)
            amounts = want.plan.reserve_spec(sized[1], sized[2], sized[0], sized[3])
            args = (self._now_ms(), share_id, want.plan.limits, amounts)
            calls.append((want.plan.keys, args))
            asked.append((want, share_id, sized))
        if not calls:
            return 0
        self._fetching.update(want.plan.keys.encoded for want, _, _ in asked)
        pending = asyncio.ensure_future(RESERVE.call_many(self.pipe, calls, self.timeout))
        try:
            replies = await asyncio.shield(pending)
        except asyncio.CancelledError:
            # Stopped mid-fetch: Redis grants these all the same, and give_back() must find
            # them, or their quota (a day's budget too) stays taken.
            self._orphans.append((pending, asked, now))
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("rate limits: fetching shares failed (%s: %s)", type(exc).__name__, exc)
            self._event("share_failed", len(calls))
            for want, _, _ in asked:
                self._cool[want.plan.keys.encoded] = now + self.retry_interval
            return 0
        finally:
            self._fetching.clear()
        return self._grant_all(asked, replies, now)

    def _grant_all(self, asked: list[_Asked], replies: list[Any], now: float) -> int:
        granted = 0
        for (want, share_id, sized), reply in zip(asked, replies, strict=True):
            numbers = unpack_numbers(reply)
            if self._grant(want.plan, share_id, sized, numbers, now):
                granted += 1
        if granted:
            self._event("share_granted", granted)
        return granted

    def _grant(
        self,
        plan: SlotPlan,
        share_id: str,
        sized: tuple[int, int, int, int],
        reply: list[int],
        now: float,
    ) -> bool:
        key = plan.keys.encoded
        if reply[0] != 1:
            # Some limit has less left than a share: its requests ask Redis for a while.
            self._cool[key] = now + self.lifetime
            return False
        requests, tokens, usd, slots = sized
        members = share_members(share_id, slots)
        caps = self._caps[key]
        requests_state, tokens_state, near_limit = tightest((plan,), [reply])
        share = Share(
            share_id,
            plan,
            now,
            requests if caps.requests is not None else UNLIMITED,
            tokens if caps.tokens is not None else UNLIMITED,
            usd if caps.usd is not None else UNLIMITED,
            (requests, tokens, usd),
            slots,
            members,
            (requests_state, tokens_state),
        )
        if slots:
            self.leases.hold_members(plan, members)
        old = self._live.get(key)
        if old is not None:
            self._retire(old)
            share.count_back(old)
        if near_limit:
            # It fitted, but others may need what it holds: hand it back at the next round.
            self._cool[key] = now + self.lifetime
            self._retire(share)
            return True
        self._live[key] = share
        return True

    def _retire(self, share: Share) -> None:
        share.retired = True
        if self._live.get(share.plan.keys.encoded) is share:
            del self._live[share.plan.keys.encoded]
        self._ended.append(share)

    async def give_back(self, born_before: float = math.inf) -> int:
        """End the shares born before `born_before` (monotonic; all by default) and return what
        every ended share did not use, in one round trip; how many Redis took back. A return
        that fails is tried again the next round (the marker makes a repeat a no-op)."""
        orphans, self._orphans = self._orphans, []
        for pending, asked, born in orphans:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                self._grant_all(asked, await pending, born)
        for share in [s for s in self._live.values() if s.born < born_before]:
            self._retire(share)
        ended, self._ended = self._ended, []
        if not ended:
            return 0
        now_ms = self._now_ms()
        calls: list[Call] = [self._return_call(share, now_ms) for share in ended]
        try:
            results = await SETTLE.call_many(self.pipe, calls, self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("rate limits: returning shares failed (%s: %s)", type(exc).__name__, exc)
            self._event("share_return_failed", len(ended))
            self._ended.extend(ended)
            return 0
        for share in ended:
            if share.slots:
                self.leases.release_members(share.plan, share.free)
            share.free = []
        self._event("share_returned", len(ended))
        return sum(int(r) for r in results)

    @staticmethod
    def _return_call(share: Share, now_ms: int) -> Call:
        plan = share.plan
        keys = Keys.of([SETTLED_KEY.format(slot=plan.slot, reservation=share.id)]) + plan.keys
        # Unused quota back (a negative delta), overuse charged; the free slots released.
        deltas = plan.settle_spec(-share.requests, -share.tokens, -share.usd)
        args: list[str | int | bytes] = [now_ms, "-", SETTLED_MARKER_MS, plan.limits, deltas]
        args.extend(share.free)
        return keys, args

    def _now_ms(self) -> int:
        # 0: the scripts read Redis's clock, which every replica shares.
        return round(self.clock() * 1000) if self.clock is not None else 0

    def _event(self, name: str, count: int = 1) -> None:
        if self.on_event is not None:
            self.on_event(name, count)
