"""What reserve() answers: admitted or refused, the reservation, OpenAI's header values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from proxy.formats.segments import Usage
from proxy.ratelimit.plan import SlotPlan
from proxy.ratelimit.settings import Price, cost_micro_usd
from proxy.ratelimit.wording import format_duration

if TYPE_CHECKING:
    from proxy.ratelimit.share import Share

DenialType = Literal["rate_limit_exceeded", "budget_exceeded", "rate_limit_unavailable"]


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit as OpenAI's x-ratelimit-* headers show it: reset = seconds until full."""

    limit: int
    remaining: int
    reset_seconds: float


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a request was refused: which scope and limit, and when to come back."""

    type: DenialType
    scope: str
    name: str
    retry_after: float
    resets_at: float
    message: str

    @property
    def code(self) -> str:
        return f"{self.scope}_{self.name}" if self.scope else self.name


@dataclass(frozen=True, slots=True)
class Reservation:
    """What reserve() took, so that settle() can put it right; `plans` are the slots written."""

    id: str
    plans: tuple[SlotPlan, ...]
    prompt_tokens: int
    max_output_tokens: int
    cost_micro_usd: int
    model: str | None
    # Admitted from this replica's shares (shares.py), one per plan, and the in-flight slot it
    # took in each; none when Redis admitted it, and its in-flight member is its id.
    shares: tuple[Share, ...] = ()
    members: tuple[str, ...] = ()

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.max_output_tokens

    def member(self, plan_index: int) -> str:
        """Its member in the in-flight keys of plans[plan_index]."""
        return self.members[plan_index] if self.members else self.id


@dataclass(frozen=True, slots=True)
class Admission:
    """reserve()'s answer. `degraded`: Redis could not be asked, `failure_mode` decided."""

    allowed: bool
    reservation: Reservation | None = None
    requests: LimitState | None = None
    tokens: LimitState | None = None
    denial: Denial | None = None
    degraded: bool = False
    # Some limit had a tenth or less left after this reservation: its settlement goes at once.
    near_limit: bool = False

    def headers(self) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers from the most constraining scope, where known."""
        out: dict[str, str] = {}
        for unit, state in (("requests", self.requests), ("tokens", self.tokens)):
            if state is not None:
                out[f"x-ratelimit-limit-{unit}"] = str(state.limit)
                out[f"x-ratelimit-remaining-{unit}"] = str(max(0, state.remaining))
                out[f"x-ratelimit-reset-{unit}"] = format_duration(state.reset_seconds)
        if self.denial is not None:
            # Whole seconds for Retry-After (RFC 9110); the OpenAI SDK prefers retry-after-ms.
            out["retry-after"] = str(max(1, int(-(-self.denial.retry_after // 1))))
            out["retry-after-ms"] = str(max(1, round(self.denial.retry_after * 1000)))
        return out


ADMITTED_UNLIMITED: Final = Admission(True)


def settle_deltas(
    reservation: Reservation, usage: Usage | None, price: Price | None
) -> dict[str, int]:
    """What settling adds to each unit's count: the usage less the reservation.

    `usage` None gives everything back, the request included; a field of it that is None
    counts as reserved.
    """
    reserved_tokens = reservation.tokens
    if usage is None:
        return {"requests": -1, "tokens": -reserved_tokens, "usd": -reservation.cost_micro_usd}
    used_in = reservation.prompt_tokens if usage.input_tokens is None else usage.input_tokens
    used_out = reservation.max_output_tokens if usage.output_tokens is None else usage.output_tokens
    return {
        "requests": 0,
        "tokens": used_in + used_out - reserved_tokens,
        "usd": cost_micro_usd(price, used_in, used_out) - reservation.cost_micro_usd,
    }


def tightest(
    plans: Sequence[SlotPlan], replies: list[list[int]]
) -> tuple[LimitState | None, LimitState | None, bool]:
    """Per unit, requests and tokens, the scope with the least left (the longest reset on a
    tie): what the client hits next; and whether any check, of any unit, has a tenth of its
    limit or less left. One pass over the replies; this runs on every request."""
    best: dict[str, tuple[int, int, int]] = {}  # unit: (remaining, -reset ms, limit)
    near_limit = False
    for plan, reply in zip(plans, replies, strict=True):
        at = 3  # the first check's remaining; then reset, wait, and the next check's status
        for check in plan.checks:
            unit = check.unit
            if reply[at] * 10 <= check.limit:
                near_limit = True
            if unit == "requests" or unit == "tokens":
                remaining, reset = reply[at], reply[at + 1]
                found = best.get(unit)
                if found is None or (remaining, -reset) < found[:2]:
                    best[unit] = (remaining, -reset, check.limit)
            at += 4
    states = [
        None if found is None else LimitState(found[2], found[0], -found[1] / 1000)
        for found in (best.get("requests"), best.get("tokens"))
    ]
    return states[0], states[1], near_limit
