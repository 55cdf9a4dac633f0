"""How much quota a share asks Redis for: the bounds, a plan's caps, a wanted share's size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from proxy.ratelimit.plan import SlotPlan

# A first share covers this many requests; later ones what the last share saw in its life.
FIRST_REQUESTS: Final = 8
MAX_REQUESTS: Final = 4096
# Headroom over the demand seen: a share that runs out asks Redis until the next one comes.
DEMAND_FACTOR: Final = 2.0
FIRST_SLOTS: Final = 2
MAX_SLOTS: Final = 64
# A share worth fewer requests than this is not worth a round trip of its own.
MIN_REQUESTS: Final = 2
# Units a share does not limit (its plan has no check of them): never the reason it runs out.
UNLIMITED: Final = 1 << 62


@dataclass(frozen=True, slots=True)
class Caps:
    """The most of each unit a share of one plan may hold (`local_share` of its tightest
    limit), None where the plan has no limit of that unit."""

    requests: int | None
    tokens: int | None
    usd: int | None
    slots: int | None

    @classmethod
    def of(cls, plan: SlotPlan, fraction: float) -> Caps:
        caps: dict[str, int] = {}
        for check in plan.checks:
            cap = math.floor(check.limit * fraction)
            caps[check.unit] = min(cap, caps.get(check.unit, cap))
        return cls(
            caps.get("requests"), caps.get("tokens"), caps.get("usd"), caps.get("concurrent")
        )

    def size(self, want: Want) -> tuple[int, int, int, int] | None:
        """Requests, tokens, micro-USD and slots to ask for, within the caps; None when a
        share worth MIN_REQUESTS requests would not fit in them."""
        requests = want.requests
        if self.requests is not None:
            requests = min(requests, self.requests)
        if self.tokens is not None and want.tokens_each > 0:
            requests = min(requests, self.tokens // want.tokens_each)
        if self.usd is not None and want.usd_each > 0:
            requests = min(requests, self.usd // want.usd_each)
        slots = 0
        if self.slots is not None:
            slots = min(want.slots, self.slots, requests)
            if slots < 1:
                return None
        if requests < MIN_REQUESTS:
            return None
        return requests, requests * want.tokens_each, requests * want.usd_each, slots


@dataclass(frozen=True, slots=True)
class Want:
    plan: SlotPlan
    requests: int
    tokens_each: int
    usd_each: int
    slots: int
