"""Which limits apply to a request, as checks on Redis keys grouped by hash slot."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote as _quote

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

# The scope id of scopes that are the whole slot (the tenant itself, a global model limit).
WHOLE: Final = "-"

Kind = Literal["g", "c", "b"]
Unit = Literal["requests", "tokens", "concurrent", "usd"]


@dataclass(frozen=True, slots=True)
class Check:
    """One limit on one key. `span`: period ms (g), lease ms (c), window end epoch ms (b)."""

    kind: Kind
    key: str
    scope: str
    name: str
    unit: Unit
    limit: int
    cost: int
    span: int


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """The checks of one script call: all on keys of one hash slot."""

    slot: str
    checks: tuple[Check, ...]


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

    @property
    def reserved_tokens(self) -> int:
        return self.prompt_tokens + self.max_output_tokens


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

    def scope_limits(self, tenant: str) -> ScopeLimits:
        # Only configured tenants get an entry of their own, so the cache stays bounded.
        name = tenant if tenant in self.settings.tenants else None
        merged = self._merged.get(name)
        if merged is None:
            override = self.settings.tenants.get(name) if name is not None else None
            merged = self._merged[name] = _merge(self.settings.defaults, override)
        return merged

    def price(self, model: str | None) -> Price | None:
        found = find_pattern(self.settings.prices, model)
        return found[1] if found is not None else None

    def reserved_cost(self, ctx: RequestContext) -> int:
        return cost_micro_usd(self.price(ctx.model), ctx.prompt_tokens, ctx.max_output_tokens)

    def plan(self, ctx: RequestContext, now: float, cost: int) -> list[SlotPlan]:
        """The checks for `ctx` at wall time `now` (seconds), tenant slot first."""
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
                checks.extend(
                    self.window_checks(slot, scope, scope_id, windows, ctx.reserved_tokens)
                )
        when = calendar_of(int(now // 86_400))
        for scope, scope_id, budget in (
            ("key", quote(ctx.key_id, safe=""), key_budget),
            ("tenant", WHOLE, limits.tenant_budget),
        ):
            if budget is not None:
                checks.extend(budget_checks(slot, scope, scope_id, budget, cost, when))
        plans = [SlotPlan(slot, tuple(checks))] if checks else []
        found = find_pattern(self.settings.global_model, ctx.model)
        if found is not None:
            pattern, windows = found
            global_slot = "global:" + quote(pattern, safe="")
            glob_checks = self.window_checks(
                global_slot, "global_model", WHOLE, windows, ctx.reserved_tokens
            )
            if glob_checks:
                plans.append(SlotPlan(global_slot, tuple(glob_checks)))
        return plans

    def window_checks(
        self, slot: str, scope: str, scope_id: str, windows: WindowLimits, tokens: int
    ) -> list[Check]:
        """Checks of one scope's windows; a request costs 1 request and `tokens` tokens."""
        checks = []
        for name, unit, period, limit in _windows_of(windows):
            cost = 1 if unit == "requests" else tokens
            key = WINDOW_KEY.format(slot=slot, scope=scope, id=scope_id, name=name)
            checks.append(Check("g", key, scope, name, unit, limit, cost, period))
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
                    1,
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
    slot: str, scope: str, scope_id: str, budget: Budget, cost: int, when: Calendar
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
        checks.append(Check("b", key, scope, name, "usd", limit, cost, end))
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
