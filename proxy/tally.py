"""Tallies: counter and histogram children updated in plain Python numbers on the request path
and handed to prometheus_client in bulk (Metrics.refresh(), before every scrape)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Protocol

from prometheus_client import Counter, Histogram


class Increments(Protocol):
    def inc(self, amount: float = 1, /) -> None: ...


class Observes(Protocol):
    def observe(self, value: float, /) -> None: ...


class CounterTally:
    """A counter child's increments, held in a plain int until Metrics.refresh() adds them.

    prometheus_client takes a lock and makes several calls on every inc() and observe();
    the request path rather adds to these, and every scrape hands the totals over. Event
    loop thread only. Single process only: with several workers a scrape sums every worker's
    files, and another worker's tallies would be missing from it until that worker refreshed.
    """

    __slots__ = ("child", "pending")

    def __init__(self, child: Counter) -> None:
        self.child = child
        self.pending = 0.0

    def inc(self, amount: float = 1) -> None:
        self.pending += amount

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0.0
            self.child.inc(amount)


class HistogramTally:
    """A histogram child's observations, counted per bucket until Metrics.refresh().

    Adds whole buckets to the child's own bucket values: what observe() would have done
    one observation at a time (tests/unit/test_metrics_tally.py holds them equal).
    """

    __slots__ = ("child", "bounds", "counts", "sum")

    def __init__(self, child: Histogram) -> None:
        self.child = child
        self.bounds: list[float] = child._upper_bounds
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # The first bucket whose upper bound is >= value, as Histogram.observe() picks it.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def flush(self) -> None:
        counts = self.counts
        if not any(counts):
            return
        buckets = self.child._buckets
        for i, count in enumerate(counts):
            if count:
                buckets[i].inc(count)
                counts[i] = 0
        amount, self.sum = self.sum, 0.0
        self.child._sum.inc(amount)
