"""Usage against each limit of a key or a tenant, read from the keys the scripts write.

One script call reads every key of one report at Redis's own time, the clock the reserve
script measures windows by, so what the report shows is what the next request will meet.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from proxy.ratelimit.limiter import RateLimiter
from proxy.ratelimit.lua import Keys, Script
from proxy.ratelimit.plan import WHOLE, Check, Planner, budget_checks, calendar_of, key_scope, quote
from proxy.ratelimit.redis_slots import SETTLE_TIMEOUT_FACTOR
from proxy.ratelimit.settings import DAY_MS, MICRO_USD_PER_USD, Budget, KeyLimits, WindowLimits

# KEYS: one per check; ARGV: the kind of each ("g", "c", "b"). Returns Redis's time in ms,
# then per key the stored value ("" when absent): a GCRA key's TAT, a budget's micro-USD, or
# for an in-flight set the number of leases that have not expired.
READ_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {now}
for i = 1, #KEYS do
  local kind = ARGV[i]
  if kind == 'c' then
    out[#out + 1] = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf')
  else
    out[#out + 1] = redis.call('GET', KEYS[i]) or ''
  end
end
return out
"""
READ: Final = Script(READ_LUA)

_WINDOW_NAMES: Final = {1_000: "second", 60_000: "minute", DAY_MS: "day"}


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """One limit as an operator reads it. USD amounts for budgets, counts otherwise.

    `resets_in`: seconds until the whole limit is available again (None for in-flight
    requests, which free themselves when they end).
    """

    scope: str
    scope_id: str
    name: str
    unit: str
    window: str | None
    limit: float
    used: float
    remaining: float
    resets_in: float | None

    def to_json(self, now: float) -> dict[str, Any]:
        resets_at = None
        if self.resets_in is not None:
            resets_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + self.resets_in))
        return {
            "scope": self.scope,
            "scope_id": self.scope_id,
            "name": self.name,
            "unit": self.unit,
            "window": self.window,
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "resets_in_seconds": self.resets_in,
            "resets_at": resets_at,
        }


@dataclass(frozen=True, slots=True)
class _Reading:
    scope_id: str
    check: Check


class UsageUnavailable(Exception):
    """Redis could not be read; the admin API answers 503."""


async def key_usage(
    limiter: RateLimiter, tenant: str, key_id: str, own: KeyLimits | None
) -> tuple[float, list[LimitUsage]]:
    """(Redis time in seconds, usage) of every key-scope and tenant-scope limit on this key."""
    planner, wall = limiter.planner, time.time()
    limits = planner.scope_limits(tenant)
    windows, budget = key_scope(limits, own)
    slot = quote(tenant, safe="")
    key = quote(key_id, safe="")
    readings = [_Reading(key_id, c) for c in planner.window_checks(slot, "key", key, windows)]
    readings += _budget_readings(slot, "key", key_id, budget, wall)
    readings += _tenant_readings(planner, tenant, wall, scopes=False)
    return await _read(limiter, readings)


async def tenant_usage(limiter: RateLimiter, tenant: str) -> tuple[float, list[LimitUsage]]:
    """Every limit the tenant shares among its keys: its own, and its model and route ones."""
    return await _read(limiter, _tenant_readings(limiter.planner, tenant, time.time(), True))


def _tenant_readings(planner: Planner, tenant: str, wall: float, scopes: bool) -> list[_Reading]:
    limits = planner.scope_limits(tenant)
    slot = quote(tenant, safe="")
    named: list[tuple[str, str, WindowLimits]] = []
    if limits.tenant is not None:
        named.append(("tenant", tenant, limits.tenant))
    if scopes:
        named += [("model", pattern, w) for pattern, w in limits.model.items()]
        named += [("route", prefix, w) for prefix, w in limits.route.items()]
    readings: list[_Reading] = []
    for scope, scope_id, windows in named:
        key = WHOLE if scope == "tenant" else quote(scope_id, safe="")
        checks = planner.window_checks(slot, scope, key, windows)
        readings += [_Reading(scope_id, c) for c in checks]
    if limits.tenant_budget is not None:
        readings += _budget_readings(slot, "tenant", tenant, limits.tenant_budget, wall)
    return readings


def _budget_readings(
    slot: str, scope: str, scope_id: str, budget: Budget, wall: float
) -> list[_Reading]:
    key = WHOLE if scope == "tenant" else quote(scope_id, safe="")
    when = calendar_of(int(wall // 86_400))
    return [_Reading(scope_id, c) for c in budget_checks(slot, scope, key, budget, when)]


async def _read(limiter: RateLimiter, readings: list[_Reading]) -> tuple[float, list[LimitUsage]]:
    if not readings or not limiter.settings.enabled:
        return time.time(), []
    checks = [r.check for r in readings]
    keys, kinds = Keys.of([c.key for c in checks]), [c.kind for c in checks]
    timeout = limiter.settings.timeout * SETTLE_TIMEOUT_FACTOR
    try:
        reply = await READ.call(limiter.pipe, keys, kinds, timeout)
    except (RedisError, OSError, TimeoutError) as exc:
        raise UsageUnavailable(f"{type(exc).__name__}: {exc}") from exc
    now_ms = int(reply[0])
    usage = [_usage(r, value, now_ms) for r, value in zip(readings, reply[1:], strict=True)]
    return now_ms / 1000, usage


def _usage(reading: _Reading, value: Any, now_ms: int) -> LimitUsage:
    check = reading.check
    if isinstance(value, bytes):
        value = value.decode()
    stored = float(value) if value not in ("", None) else None
    if check.kind == "g":
        # GCRA: the TAT is how far ahead the scope is booked; each unit books span / limit.
        ahead = max(0.0, (stored or 0.0) - now_ms)
        used = math.ceil(ahead * check.limit / check.span - 1e-6)
        window = _WINDOW_NAMES.get(check.span)
        return _counted(reading, window, used, ahead / 1000)
    if check.kind == "c":
        return _counted(reading, None, int(stored or 0), None)
    spent = int(stored or 0)
    limit = check.limit / MICRO_USD_PER_USD
    return LimitUsage(
        check.scope,
        reading.scope_id,
        check.name,
        check.unit,
        "day" if check.name == "daily_usd" else "month",
        limit,
        spent / MICRO_USD_PER_USD,
        max(0, check.limit - spent) / MICRO_USD_PER_USD,
        max(0.0, (check.span - now_ms) / 1000),
    )


def _counted(reading: _Reading, window: str | None, used: int, resets: float | None) -> LimitUsage:
    check = reading.check
    return LimitUsage(
        check.scope,
        reading.scope_id,
        check.name,
        check.unit,
        window,
        check.limit,
        used,
        max(0, check.limit - used),
        resets,
    )
