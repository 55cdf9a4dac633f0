"""A Share: quota of one plan that Redis granted this replica, and what is left of it.

How shares are fetched, handed out and given back: shares.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from proxy.ratelimit.admission import LimitState
from proxy.ratelimit.plan import SlotPlan

# A fresh share is fetched once the live one is this far through its life or its quota.
RENEW_AT_AGE: Final = 0.75


@dataclass(slots=True, eq=False)
class Share:
    """Quota of one plan granted to this replica; `requests`, `tokens`, `usd` are what is left
    to hand out (below 0 once settlements charged more than requests reserved)."""

    id: str
    plan: SlotPlan
    born: float  # time.monotonic()
    requests: int
    tokens: int
    usd: int
    granted: tuple[int, int, int]  # requests, tokens, usd
    slots: int  # in-flight slots granted; 0 when the plan limits none
    free: list[str]  # members of the in-flight keys not in use
    # Per unit, requests and tokens: the tightest limit's state once the share was taken.
    states: tuple[LimitState | None, LimitState | None]
    out: dict[str, str] = field(default_factory=dict)  # reservation id -> its member
    admitted: int = 0
    peak: int = 0  # most requests in flight from it at once
    short_of_slots: bool = False
    retired: bool = False

    def fits(self, tokens: int, usd: int) -> bool:
        return (
            self.requests >= 1
            and self.tokens >= tokens
            and self.usd >= usd
            and (self.slots == 0 or bool(self.free))
        )

    def take(self, reservation_id: str, tokens: int, usd: int) -> str:
        """Hand out one request's reservation; its member in the in-flight keys."""
        self.requests -= 1
        self.tokens -= tokens
        self.usd -= usd
        member = self.free.pop() if self.slots else reservation_id
        self.out[reservation_id] = member
        self.admitted += 1
        self.peak = max(self.peak, len(self.out))
        return member

    def put_back(self, reservation_id: str, deltas: dict[str, int]) -> bool:
        """Settle a request in the share: False when it is not one of its requests in flight."""
        member = self.out.pop(reservation_id, None)
        if member is None:
            return False
        self.requests -= deltas["requests"]
        self.tokens -= deltas["tokens"]
        self.usd -= deltas["usd"]
        if self.slots:
            self.free.append(member)
        return True

    def low(self, age: float, lifetime: float) -> bool:
        """Time to fetch the next share: late in its life, or half its quota handed out."""
        req, tok, usd = self.granted
        return (
            age >= lifetime * RENEW_AT_AGE
            or self.requests * 2 < req
            or self.tokens * 2 < tok
            or self.usd * 2 < usd
            or (self.slots > 0 and not self.free)
        )

    def count_back(self, old: Share) -> None:
        """Count what the share this one replaces did not use as unused: Redis still counted
        it when it granted this one, and gets it back at the next give_back()."""
        requests, tokens = self.states
        if requests is not None:
            requests = dataclasses.replace(requests, remaining=requests.remaining + old.requests)
        if tokens is not None:
            tokens = dataclasses.replace(tokens, remaining=tokens.remaining + max(0, old.tokens))
        self.states = (requests, tokens)

    def state(self, unit: int) -> LimitState | None:
        """What a request admitted now sees of a unit's tightest limit: the share's unused
        quota is not spent yet."""
        base = self.states[unit]
        if base is None:
            return None
        left = self.requests if unit == 0 else self.tokens
        remaining = min(base.limit, base.remaining + max(0, left))
        used = base.limit - base.remaining
        # GCRA: the time to full is in proportion to what is used.
        reset = base.reset_seconds * (base.limit - remaining) / used if used > 0 else 0.0
        return LimitState(base.limit, remaining, reset)


def local_states(shares: Sequence[Share]) -> tuple[LimitState | None, LimitState | None]:
    """Requests and tokens, the tightest state among a request's shares (its headers)."""
    if len(shares) == 1:
        return shares[0].state(0), shares[0].state(1)
    out: list[LimitState | None] = []
    for unit in (0, 1):
        states = [s for s in (share.state(unit) for share in shares) if s is not None]
        out.append(min(states, key=_tightness) if states else None)
    return out[0], out[1]


def _tightness(state: LimitState) -> tuple[int, float]:
    # The least remaining is the tightest; of equals, the one that takes longest to refill.
    return state.remaining, -state.reset_seconds


def share_members(share_id: str, slots: int) -> list[str]:
    """The in-flight members the reserve script adds for `slots` slots (see lua.py)."""
    if slots <= 1:
        return [share_id] if slots == 1 else []
    return [f"{share_id}.{j}" for j in range(1, slots + 1)]
