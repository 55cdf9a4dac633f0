"""Tallies: what the request path adds shows up at refresh() as if observed one by one."""

from __future__ import annotations

from prometheus_client import generate_latest

from proxy.metrics import Metrics

# Below, on and above bucket bounds, the smallest and largest, and past the last one.
VALUES = (0.0, 0.0005, 0.0007, 0.001, 0.0031, 0.25, 7.5, 300, 301, 1e9, -1.0)


def test_a_histogram_tally_equals_its_observations() -> None:
    direct, tallied = Metrics(), Metrics()
    tally = tallied.tally_histogram(tallied.request_duration.labels("/v1"))
    child = direct.request_duration.labels("/v1")
    for value in VALUES:
        child.observe(value)
        tally.observe(value)
    assert generate_latest(tallied.registry) != generate_latest(direct.registry)
    tallied.refresh()
    assert generate_latest(tallied.registry) == generate_latest(direct.registry)
    # Flushed once: a second refresh adds nothing.
    tallied.refresh()
    assert generate_latest(tallied.registry) == generate_latest(direct.registry)


def test_a_counter_tally_equals_its_increments() -> None:
    direct, tallied = Metrics(), Metrics()
    tally = tallied.tally(tallied.tokens.labels("prompt", "m"))
    for amount in (1, 16, 0.5):
        direct.tokens.labels("prompt", "m").inc(amount)
        tally.inc(amount)
    tallied.refresh()
    tallied.refresh()
    assert generate_latest(tallied.registry) == generate_latest(direct.registry)
