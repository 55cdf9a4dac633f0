"""Rate limits, token quotas and USD budgets, exact across replicas through one Redis."""

from proxy.ratelimit.admission import Admission, Denial, LimitState, Reservation
from proxy.ratelimit.limiter import RateLimiter
from proxy.ratelimit.plan import KEY_PREFIX, RequestContext
from proxy.ratelimit.settings import (
    Budget,
    KeyLimits,
    Price,
    RateLimitSettings,
    ScopeLimits,
    WindowLimits,
    parse_key_limits,
    settings_problems,
)
from proxy.ratelimit.stage import (
    ADMISSION,
    RateLimit,
    holds_reservation,
    ratelimit_headers,
    usage_of,
)
from proxy.ratelimit.wording import format_duration

__all__ = [
    "ADMISSION",
    "KEY_PREFIX",
    "Admission",
    "Budget",
    "Denial",
    "KeyLimits",
    "LimitState",
    "Price",
    "RateLimit",
    "RateLimitSettings",
    "RateLimiter",
    "RequestContext",
    "Reservation",
    "ScopeLimits",
    "WindowLimits",
    "format_duration",
    "holds_reservation",
    "parse_key_limits",
    "ratelimit_headers",
    "settings_problems",
    "usage_of",
]
