"""Which limits apply to a request, as checks on Redis keys grouped by hash slot."""

from __future__ import annotations

import datetime as dt
import functools
import struct
from dataclasses import dataclass
from struct import Struct
from typing import Final, Literal
from urllib.parse import quote as _quote

from proxy.ratelimit.lua import Keys
from proxy.ratelimit.settings import (
    MICRO_USD_PER_USD,
    Budget,
    KeyLimits,
    Price,
    RateLimitSettings,
    ScopeLimits,
    WindowLimits,
    cost_micro_usd,
    find_pattern,
)

# Redis keys. `{slot}` is a Redis Cluster hash tag: the tenant (percent-encoded, so it holds no
# brace or colon), or "global:" + a model pattern for cross-tenant limits. Every key one script
# call touches has the same tag, hence the same slot.
KEY_PREFIX: Final = "wrl"
WINDOW_KEY: Final = KEY_PREFIX + ":{{{slot}}}:w:{scope}:{id}:{name}"  # GCRA: the TAT, ms
INFLIGHT_KEY: Final = KEY_PREFIX + ":{{{slot}}}:c:{scope}:{id}"  # zset: reservation -> lease end
SPEND_KEY: Final = KEY_PREFIX + ":{{{slot}}}:usd:{scope}:{id}:{window}"  # micro-USD spent
SETTLED_KEY: Final = KEY_PREFIX + ":{{{slot}}}:done:{reservation}"  # settle() already ran
# A settled marker outlives any retry of settle() by far; it is a few bytes per request.
SETTLED_MARKER_MS: Final = 86_400_000

# The scope id of scopes that are the whole slot (the tenant itself, a global model limit).
WHOLE: Final = "-"
# Plans kept for (tenant, key, model, route, key limits, day); past this many, the cache starts
# over (tenants, keys and models are many, and a model name is whatever a client sends).
PLAN_CACHE_SIZE: Final = 10_000

Kind = Literal["g", "c", "b"]
Unit = Literal["requests", "tokens", "concurrent", "usd"]


@dataclass(frozen=True, slots=True)
class Check:
    """One limit on one key. `span`: period ms (g), lease ms (c), window end epoch ms (b).
    What a request costs in it depends on its unit alone: see `amount()`."""

    kind: Kind
    key: str
    scope: str
    name: str
    unit: Unit
    limit: int
    span: int

    def amount(self, tokens: int, micro_usd: int) -> int:
        """A request's cost here, given the tokens and micro-USD it reserves."""
        if self.unit == "tokens":
            return tokens
        return micro_usd if self.unit == "usd" else 1


# The scripts' specs (lua.py) as big-endian doubles, which Redis's Lua unpacks with one
# struct.unpack: parsing words with string.gmatch was a fifth of the reserve script's time.
# A check's kind as the scripts number it.
_KIND_CODE: Final = {"g": 1, "c": 2, "b": 3}
# Which of a call's amounts a check takes: reserve() passes (requests, tokens, micro-USD,
# in-flight slots), settle() (0, requests, tokens, micro-USD).
_RESERVE_AMOUNT: Final = {"requests": 0, "tokens": 1, "usd": 2, "concurrent": 3}
_SETTLE_DELTA: Final = {"requests": 1, "tokens": 2, "concurrent": 0, "usd": 3}


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """The checks of one script call: all on keys of one hash slot. Built once and cached,
    with what every call needs of it: its keys, and its checks' kinds, limits and spans
    packed; only the amounts are packed per call."""

    slot: str
    checks: tuple[Check, ...]
    keys: Keys
    inflight_keys: tuple[str, ...]
    limits: bytes  # per check: kind code, limit, span
    reserve_amounts: tuple[int, ...]  # per check, its index into reserve()'s amounts
    settle_amounts: tuple[int, ...]  # per check, its index into settle()'s deltas
    amounts: Struct  # one double per check

    @classmethod
    def of(cls, slot: str, checks: tuple[Check, ...]) -> SlotPlan:
        limits = [n for c in checks for n in (_KIND_CODE[c.kind], c.limit, c.span)]
        return cls(
            slot,
            checks,
            Keys.of([c.key for c in checks]),
            tuple(c.key for c in checks if c.kind == "c"),
            struct.pack(f">{len(limits)}d", *limits),
            tuple(_RESERVE_AMOUNT[c.unit] for c in checks),
            tuple(_SETTLE_DELTA[c.unit] for c in checks),
            struct.Struct(f">{len(checks)}d"),
        )

    def reserve_spec(self, tokens: int, micro_usd: int, requests: int = 1, slots: int = 1) -> bytes:
        values = (requests, tokens, micro_usd, slots)
        return self.amounts.pack(*[values[i] for i in self.reserve_amounts])

    def settle_spec(self, requests: int, tokens: int, micro_usd: int) -> bytes:
        values = (0, requests, tokens, micro_usd)
        return self.amounts.pack(*[values[i] for i in self.settle_amounts])


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the limiter needs to know about one request."""

    tenant: str
    key_id: str
    model: str | None = None
    route: str | None = None
    prompt_tokens: int = 0
    max_output_tokens: int = 0
    key_limits: KeyLimits | None = None


_PlanKey = tuple[str, str, str | None, str | None, KeyLimits | None, int]


@functools.lru_cache(maxsize=65536)
def quote(name: str, safe: str = "") -> str:
    """Percent-encoded, so no tenant, key or pattern can add a brace or a colon to a key."""
    return _quote(name, safe=safe)


@functools.lru_cache(maxsize=4096)
def _windows_of(limits: WindowLimits) -> list[tuple[str, Literal["requests", "tokens"], int, int]]:
    return limits.windows()


@dataclass(frozen=True, slots=True)
class Calendar:
    """The UTC day and month a time falls in: key suffixes and ends (epoch ms)."""

    day: str
    day_end: int
    month: str
    month_end: int


@functools.lru_cache(maxsize=8)
def calendar_of(day_number: int) -> Calendar:
    day_start = dt.datetime.fromtimestamp(day_number * 86_400, dt.UTC)
    month_start = day_start.replace(day=1)
    next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
    return Calendar(
        f"d{day_start:%Y%m%d}",
        _epoch_ms(day_start + dt.timedelta(days=1)),
        f"m{month_start:%Y%m}",
        _epoch_ms(next_month),
    )


class Planner:
    """Resolves settings for a request; tenant overrides merged once per tenant, then cached."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self.lease_ms = max(1, round(settings.concurrency_lease_seconds * 1000))
        self._merged: dict[str | None, ScopeLimits] = {}
        self._plans: dict[_PlanKey, tuple[SlotPlan, ...]] = {}
        self._prices: dict[str | None, Price | None] = {}

    def scope_limits(self, tenant: str) -> ScopeLimits:
        # Only configured tenants get an entry of their own, so the cache stays bounded.
        name = tenant if tenant in self.settings.tenants else None
        merged = self._merged.get(name)
        if merged is None:
            override = self.settings.tenants.get(name) if name is not None else None
            merged = self._merged[name] = _merge(self.settings.defaults, override)
        return merged

    def price(self, model: str | None) -> Price | None:
        try:
            return self._prices[model]
        except KeyError:
            pass
        if len(self._prices) >= PLAN_CACHE_SIZE:
            self._prices.clear()
        found = find_pattern(self.settings.prices, model)
        price = self._prices[model] = found[1] if found is not None else None
        return price

    def reserved_cost(self, ctx: RequestContext) -> int:
        return cost_micro_usd(self.price(ctx.model), ctx.prompt_tokens, ctx.max_output_tokens)

    def plan(self, ctx: RequestContext, now: float) -> tuple[SlotPlan, ...]:
        """The checks for `ctx` at wall time `now` (seconds), tenant slot first."""
        day = int(now // 86_400)
        key = (ctx.tenant, ctx.key_id, ctx.model, ctx.route, ctx.key_limits, day)
        plans = self._plans.get(key)
        if plans is None:
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.clear()
            plans = self._plans[key] = self._make_plans(ctx, day)
        return plans

    def _make_plans(self, ctx: RequestContext, day: int) -> tuple[SlotPlan, ...]:
        limits = self.scope_limits(ctx.tenant)
        slot = quote(ctx.tenant, safe="")
        checks: list[Check] = []
        key_windows, key_budget = key_scope(limits, ctx.key_limits)
        scopes: list[tuple[str, str, WindowLimits | None]] = [
            ("key", quote(ctx.key_id, safe=""), key_windows),
            ("tenant", WHOLE, limits.tenant),
        ]
        model = find_pattern(limits.model, ctx.model)
        if model is not None:
            scopes.append(("model", quote(model[0], safe=""), model[1]))
        if ctx.route is not None and ctx.route in limits.route:
            scopes.append(("route", quote(ctx.route, safe=""), limits.route[ctx.route]))
        for scope, scope_id, windows in scopes:
            if windows is not None:
                checks.extend(self.window_checks(slot, scope, scope_id, windows))
        when = calendar_of(day)
        for scope, scope_id, budget in (
            ("key", quote(ctx.key_id, safe=""), key_budget),
            ("tenant", WHOLE, limits.tenant_budget),
        ):
            if budget is not None:
                checks.extend(budget_checks(slot, scope, scope_id, budget, when))
        plans = [SlotPlan.of(slot, tuple(checks))] if checks else []
        found = find_pattern(self.settings.global_model, ctx.model)
        if found is not None:
            pattern, windows = found
            global_slot = "global:" + quote(pattern, safe="")
            glob_checks = self.window_checks(global_slot, "global_model", WHOLE, windows)
            if glob_checks:
                plans.append(SlotPlan.of(global_slot, tuple(glob_checks)))
        return tuple(plans)

    def window_checks(
        self, slot: str, scope: str, scope_id: str, windows: WindowLimits
    ) -> list[Check]:
        """Checks of one scope's windows."""
        checks = []
        for name, unit, period, limit in _windows_of(windows):
            key = WINDOW_KEY.format(slot=slot, scope=scope, id=scope_id, name=name)
            checks.append(Check("g", key, scope, name, unit, limit, period))
        if windows.max_concurrent is not None:
            key = INFLIGHT_KEY.format(slot=slot, scope=scope, id=scope_id)
            checks.append(
                Check(
                    "c",
                    key,
                    scope,
                    "max_concurrent",
                    "concurrent",
                    windows.max_concurrent,
                    self.lease_ms,
                )
            )
        return checks


def key_scope(limits: ScopeLimits, own: KeyLimits | None) -> tuple[WindowLimits, Budget]:
    """A key's windows and budget: its tenant's key defaults, with the key's own on top."""
    windows = limits.key or WindowLimits()
    budget = limits.key_budget or Budget()
    if own is not None:
        windows = windows.overlay(own.limits)
        budget = budget.overlay(own.budget)
    return windows, budget


def budget_checks(
    slot: str, scope: str, scope_id: str, budget: Budget, when: Calendar
) -> list[Check]:
    checks = []
    for name, usd, window, end in (
        ("daily_usd", budget.daily_usd, when.day, when.day_end),
        ("monthly_usd", budget.monthly_usd, when.month, when.month_end),
    ):
        if usd is None:
            continue
        key = SPEND_KEY.format(slot=slot, scope=scope, id=scope_id, window=window)
        limit = round(usd * MICRO_USD_PER_USD)
        checks.append(Check("b", key, scope, name, "usd", limit, end))
    return checks


def _epoch_ms(when: dt.datetime) -> int:
    return round(when.timestamp() * 1000)


def _merge(defaults: ScopeLimits, override: ScopeLimits | None) -> ScopeLimits:
    """A tenant's own values replace the defaults field by field; its model and route patterns
    are tried before the default ones."""
    if override is None:
        return defaults
    return ScopeLimits(
        key=_overlay_windows(defaults.key, override.key),
        tenant=_overlay_windows(defaults.tenant, override.tenant),
        model={
            **override.model,
            **{k: v for k, v in defaults.model.items() if k not in override.model},
        },
        route={**defaults.route, **override.route},
        key_budget=_overlay_budget(defaults.key_budget, override.key_budget),
        tenant_budget=_overlay_budget(defaults.tenant_budget, override.tenant_budget),
    )


def _overlay_windows(base: WindowLimits | None, over: WindowLimits | None) -> WindowLimits | None:
    if base is None:
        return over
    return base.overlay(over)


def _overlay_budget(base: Budget | None, over: Budget | None) -> Budget | None:
    if base is None:
        return over
    return base.overlay(over)
