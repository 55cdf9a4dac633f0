"""A Share's accounting: what it hands out, what settling puts back, when to fetch the next."""

from __future__ import annotations

from proxy.ratelimit.admission import LimitState
from proxy.ratelimit.plan import Check, SlotPlan
from proxy.ratelimit.share import Share, local_states

PLAN = SlotPlan.of(
    "acme",
    (
        Check("g", "w", "key", "requests_per_minute", "requests", 1000, 60_000),
        Check("g", "t", "key", "tokens_per_minute", "tokens", 100_000, 60_000),
        Check("c", "c", "key", "max_concurrent", "concurrent", 50, 60_000),
    ),
)


def share(requests: int = 8, tokens: int = 800, slots: int = 2) -> Share:
    # As granted after 2 requests (and 200 tokens) were already counted, the share included.
    states = (
        LimitState(1000, 1000 - 2 - requests, 0.6),
        LimitState(100_000, 100_000 - 200 - tokens, 0.6),
    )
    members = [f"s.{j}" for j in range(1, slots + 1)]
    return Share("s", PLAN, 0.0, requests, tokens, 0, (requests, tokens, 0), slots, members, states)


def test_a_request_takes_a_slot_and_its_quota_and_settling_puts_back_what_it_did_not_use():
    s = share()
    member = s.take("r1", 100, 0)
    assert member in ("s.1", "s.2") and s.out == {"r1": member}
    assert (s.requests, s.tokens, s.free) == (7, 700, [m for m in ("s.1", "s.2") if m != member])
    # It used 30 of its 100 tokens.
    assert s.put_back("r1", {"requests": 0, "tokens": -70, "usd": 0})
    assert (s.requests, s.tokens, sorted(s.free)) == (7, 770, ["s.1", "s.2"])
    assert not s.put_back("r1", {"requests": 0, "tokens": -70, "usd": 0})  # settled before
    assert s.tokens == 770


def test_a_share_fits_only_what_it_has_left():
    s = share(slots=1)
    assert s.fits(800, 0) and not s.fits(801, 0)
    s.take("r1", 10, 0)
    assert not s.fits(10, 0)  # its one slot is taken
    s.put_back("r1", {"requests": -1, "tokens": -10, "usd": 0})  # the model never answered
    assert (s.requests, s.tokens) == (8, 800) and s.fits(10, 0)


def test_the_next_share_is_wanted_half_way_or_late_in_life():
    s = share()
    assert not s.low(0.1, 1.0)
    assert s.low(0.75, 1.0)
    for n in range(5):
        s.take(f"r{n}", 1, 0)
        s.put_back(f"r{n}", {"requests": 0, "tokens": 0, "usd": 0})
    assert s.requests == 3 and s.low(0.1, 1.0)  # under half of 8 left


def test_headers_count_the_unused_share_as_remaining():
    s = share()
    s.take("r1", 100, 0)
    requests, tokens = local_states([s])
    assert requests is not None and requests.remaining == 1000 - 3
    assert tokens is not None and tokens.remaining == 100_000 - 300
    # The next share, granted while Redis still counted all of this one, counts what this
    # one left unused as remaining too: still the 3 requests made.
    nxt = share()
    nxt.states = (LimitState(1000, 1000 - 2 - 8 - 8, 0.6), None)
    nxt.count_back(s)
    after = nxt.state(0)
    assert after is not None and after.remaining == 1000 - 3
