"""What a refused client reads: which limit, how far over, and when it resets."""

from __future__ import annotations

import datetime as dt

from proxy.ratelimit.plan import Check
from proxy.ratelimit.settings import MICRO_USD_PER_USD

_SCOPE_WORDS = {
    "key": "this API key",
    "tenant": "this tenant",
    "model": "this model (per tenant)",
    "route": "this route (per tenant)",
    "global_model": "this model (all tenants)",
}


def denial_message(
    check: Check, cost: int, never: bool, remaining: int, wait: float, now: float
) -> str:
    """`cost`: what the refused request would have taken in this check's unit."""
    who = _SCOPE_WORDS.get(check.scope, check.scope)
    name = check.name.replace("_", " ")
    if check.kind == "b":
        limit, usd = _usd(check.limit), _usd(cost)
        resets = dt.datetime.fromtimestamp(now + wait, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if never:
            return (
                f"Budget exceeded for {who} on {name}: this request may cost up to {usd}, "
                f"more than the whole budget of {limit}. Lower max_tokens."
            )
        spent = _usd(check.limit - remaining - cost)
        return (
            f"Budget exceeded for {who} on {name}: limit {limit}, spent {spent}, this request "
            f"may cost up to {usd}. The budget resets at {resets}."
        )
    if never:
        return (
            f"Request too large for {who} on {name}: it needs {cost} {check.unit}, "
            f"more than the limit of {check.limit}. Lower max_tokens or shorten the prompt."
        )
    if check.kind == "c":
        return (
            f"Too many requests in flight for {who}: limit {check.limit} at once. "
            "Please try again when one has finished."
        )
    return (
        f"Rate limit reached for {who} on {name}: limit {check.limit}, requested "
        f"{cost}. Please try again in {format_duration(wait)}."
    )


def _usd(micro: int) -> str:
    return f"${micro / MICRO_USD_PER_USD:.4f}".rstrip("0").rstrip(".")


def format_duration(seconds: float) -> str:
    """Go's time.Duration format, as OpenAI writes resets: 20ms, 1s, 8.64s, 6m0s, 1h2m3s."""
    ms = max(0, round(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    secs = f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs
