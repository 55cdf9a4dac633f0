"""Rate-limit settings: windows, budgets and prices as frozen values; a key's own limits checked."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Literal, TypeVar

# Window lengths in milliseconds, by the suffix of a limit's name.
SECOND_MS: Final = 1_000
MINUTE_MS: Final = 60_000
DAY_MS: Final = 86_400_000

# One micro-dollar: costs and budgets are integers of these in Redis, so sums never drift.
MICRO_USD_PER_USD: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class WindowLimits:
    """Limits of one scope; None means no limit of that kind. Tokens are prompt + completion."""

    requests_per_second: int | None = None
    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_second: int | None = None
    tokens_per_minute: int | None = None
    tokens_per_day: int | None = None
    max_concurrent: int | None = None

    def windows(self) -> list[tuple[str, Literal["requests", "tokens"], int, int]]:
        """(name, "requests" | "tokens", period ms, limit) for every window that is set."""
        out = []
        for name, unit, period in _WINDOWS:
            limit = getattr(self, name)
            if limit is not None:
                out.append((name, unit, period, limit))
        return out

    def overlay(self, over: WindowLimits | None) -> WindowLimits:
        """These limits with every field `over` sets replacing ours."""
        return _overlay(self, over)


_WINDOWS: Final[tuple[tuple[str, Literal["requests", "tokens"], int], ...]] = (
    ("requests_per_second", "requests", SECOND_MS),
    ("requests_per_minute", "requests", MINUTE_MS),
    ("requests_per_day", "requests", DAY_MS),
    ("tokens_per_second", "tokens", SECOND_MS),
    ("tokens_per_minute", "tokens", MINUTE_MS),
    ("tokens_per_day", "tokens", DAY_MS),
)


@dataclass(frozen=True, slots=True)
class Budget:
    """Spend caps in USD over calendar windows in UTC: the day and the month."""

    daily_usd: float | None = None
    monthly_usd: float | None = None

    def overlay(self, over: Budget | None) -> Budget:
        return _overlay(self, over)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per one million tokens, as providers publish them."""

    input: float = 0.0
    output: float = 0.0


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """Limits for the scopes inside one tenant; `model` and `route` keys are globs / prefixes.

    `model` and `route` limits count per tenant (each tenant has its own allowance on a model),
    so that every key of one check shares the tenant's Redis hash slot.
    """

    key: WindowLimits | None = None
    tenant: WindowLimits | None = None
    model: dict[str, WindowLimits] = field(default_factory=dict)
    route: dict[str, WindowLimits] = field(default_factory=dict)
    key_budget: Budget | None = None
    tenant_budget: Budget | None = None


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """The `rate_limit:` section of config.yaml."""

    enabled: bool = True
    # Redis unreachable or slower than `timeout` seconds: admit (open) or answer 503 (closed).
    failure_mode: Literal["open", "closed"] = "open"
    timeout: float = 0.1
    # After a Redis failure, requests skip Redis for this long before one tries again.
    retry_interval: float = 1.0
    # Output tokens reserved when a request does not say its maximum.
    default_max_tokens: int = 4096
    chars_per_token: float = 4.0
    # An in-flight slot never settled (the process died) frees itself after this many seconds;
    # live requests renew theirs every third of it, so a long stream never loses its slot.
    concurrency_lease_seconds: float = 60.0
    # Each replica may reserve up to this fraction of every limit ahead of its requests and
    # admit them from it without a Redis round trip (shares.py); 0 asks Redis every time.
    local_share: float = 0.05
    # ...for at most this many seconds, after which what it did not use goes back.
    local_share_seconds: float = 1.0
    defaults: ScopeLimits = ScopeLimits()
    tenants: dict[str, ScopeLimits] = field(default_factory=dict)
    # Across all tenants, for upstream protection: a second Redis call on its own hash slot,
    # made only when a pattern here matches the request's model.
    global_model: dict[str, WindowLimits] = field(default_factory=dict)
    # Model glob -> price; first exact name, then globs in file order. Unpriced models cost 0.
    prices: dict[str, Price] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """Whether any limit exists besides those a key row may bring itself."""
        return self.enabled and (
            self.defaults != ScopeLimits() or bool(self.tenants) or bool(self.global_model)
        )


_L = TypeVar("_L", WindowLimits, Budget)
_V = TypeVar("_V")


def _overlay(base: _L, over: _L | None) -> _L:
    if over is None:
        return base
    changes = {f.name: getattr(over, f.name) for f in fields(over)}
    return replace(base, **{k: v for k, v in changes.items() if v is not None})


def find_pattern(table: dict[str, _V], name: str | None) -> tuple[str, _V] | None:
    """The entry for `name`: an exact key first, then the first glob (in order) that matches."""
    if name is None:
        return None
    exact = table.get(name)
    if exact is not None:
        return name, exact
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(name, pattern):
            return pattern, value
    return None


def cost_micro_usd(price: Price | None, input_tokens: int, output_tokens: int) -> int:
    """Cost in micro-dollars, rounded up: a price per 1M tokens is micro-dollars per token."""
    if price is None:
        return 0
    return math.ceil(input_tokens * price.input + output_tokens * price.output)


# --- A key's own limits, from the `rate_limit` JSON of its row -----------------------------


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What `POST /admin/keys` accepts as `rate_limit`; each field set replaces the default."""

    limits: WindowLimits = WindowLimits()
    budget: Budget = Budget()


_INT_FIELDS: Final = tuple(name for name, _, _ in _WINDOWS) + ("max_concurrent",)
_USD_FIELDS: Final = ("daily_usd", "monthly_usd")
# Far beyond any real limit, and still exact as a double in Lua.
_MAX_COUNT: Final = 10**12
_MAX_USD: Final = 10**9


def parse_key_limits(obj: Any) -> KeyLimits | list[str]:
    """A key's `rate_limit` JSON as KeyLimits, or every error, each naming its field.

    Example: {"requests_per_minute": 60, "tokens_per_minute": 40000, "max_concurrent": 4,
    "daily_usd": 5}. Counts are positive integers; budgets are non-negative USD amounts.
    """
    if not isinstance(obj, dict):
        return ["rate_limit: expected an object"]
    errors: list[str] = []
    known = (*_INT_FIELDS, *_USD_FIELDS)
    for name in obj:
        if name not in known:
            errors.append(f"rate_limit.{name}: unknown field (expected one of: {', '.join(known)})")
    ints: dict[str, int] = {}
    for name in _INT_FIELDS:
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type: 60.0 is the integer 60
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"rate_limit.{name}: expected an integer, got {type(value).__name__}")
        elif not 1 <= value <= _MAX_COUNT:
            errors.append(f"rate_limit.{name}: expected 1 to {_MAX_COUNT}, got {value}")
        else:
            ints[name] = value
    usd: dict[str, float] = {}
    for name in _USD_FIELDS:
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"rate_limit.{name}: expected a number, got {type(value).__name__}")
        elif not (math.isfinite(value) and 0 <= value <= _MAX_USD):
            errors.append(f"rate_limit.{name}: expected 0 to {_MAX_USD} USD, got {value}")
        else:
            usd[name] = float(value)
    if errors:
        return errors
    return KeyLimits(WindowLimits(**ints), Budget(**usd))


def settings_problems(settings: RateLimitSettings) -> list[tuple[str, str]]:
    """(path, message) for values read_typed accepts but a limiter cannot use (zero limits)."""
    problems: list[tuple[str, str]] = []
    if settings.timeout <= 0:
        problems.append(("rate_limit.timeout", "must be greater than 0"))
    if settings.chars_per_token <= 0:
        problems.append(("rate_limit.chars_per_token", "must be greater than 0"))
    if settings.concurrency_lease_seconds <= 0:
        problems.append(("rate_limit.concurrency_lease_seconds", "must be greater than 0"))
    if not 0 <= settings.local_share <= 0.5:
        problems.append(("rate_limit.local_share", "must be from 0 (off) to 0.5"))
    if settings.local_share_seconds <= 0:
        problems.append(("rate_limit.local_share_seconds", "must be greater than 0"))
    scopes = {"rate_limit.defaults": settings.defaults}
    scopes.update({f"rate_limit.tenants.{t}": s for t, s in settings.tenants.items()})
    for where, scope in scopes.items():
        named = {f"{where}.key": scope.key, f"{where}.tenant": scope.tenant}
        named.update({f"{where}.model.{m}": w for m, w in scope.model.items()})
        named.update({f"{where}.route.{r}": w for r, w in scope.route.items()})
        for path, limits in named.items():
            problems.extend(_zero_limits(path, limits))
    for pattern, limits in settings.global_model.items():
        problems.extend(_zero_limits(f"rate_limit.global_model.{pattern}", limits))
    return problems


def _zero_limits(path: str, limits: WindowLimits | None) -> list[tuple[str, str]]:
    if limits is None:
        return []
    return [
        (f"{path}.{name}", "must be at least 1 (leave it out for no limit)")
        for name in _INT_FIELDS
        if getattr(limits, name) == 0
    ]
