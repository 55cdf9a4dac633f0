"""Prometheus metrics in Warden's own registry; every one is named in proxy.metric_families.

With several worker processes (`warden serve --workers N`) a scrape reaches one worker at
random, so every worker writes its values to files in a shared folder (prometheus_client's
multiprocess mode, switched on by PROMETHEUS_MULTIPROC_DIR before the workers start) and
whichever worker answers the scrape sums them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from proxy.metric_families import MetricFamilies
from proxy.tally import CounterTally, HistogramTally, Increments, Observes

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Model names come from request bodies; past this many distinct ones a worker reports
# "other", so a client sending random model names cannot grow the series without bound.
MAX_MODEL_LABELS = 100

CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def scanner_label(name: str) -> str:
    """Custom scanners are named after their rule; one label covers them all."""
    return "custom" if name.startswith("custom.") else name


class ModelLabels:
    """The model label of a request: the name while fewer than `limit` are known, else other."""

    def __init__(self, limit: int = MAX_MODEL_LABELS) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def __call__(self, model: str | None) -> str:
        if not model:
            return "none"
        if model in self._known:
            return model
        if len(self._known) >= self.limit or len(model) > 100:
            return "other"
        self._known.add(model)
        return model


class Metrics(MetricFamilies):
    """The metric families and how values reach them: tallies on the request path, samplers
    before every scrape, and the exposition (of this worker, or of all of them)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.multiprocess = multiprocess_enabled()
        # What the worker answering a scrape knows alone (the active policy set is the same in
        # every worker) stays out of the shared files: prometheus_client cannot share an Info.
        self._local = CollectorRegistry() if self.multiprocess else self.registry
        self._samplers: list[Callable[[], None]] = []
        self._tallies: list[CounterTally | HistogramTally] = []
        self.model_label = ModelLabels()
        super().__init__(self.registry, self._local)

    def sample(self, sampler: Callable[[], None]) -> None:
        """Run `sampler` before every scrape (and periodically with several workers)."""
        self._samplers.append(sampler)

    def tally(self, child: Counter) -> Increments:
        """A labelled counter child to increment on the request path; see CounterTally."""
        if self.multiprocess:
            return child
        tally = CounterTally(child)
        self._tallies.append(tally)
        return tally

    def tally_histogram(self, child: Histogram) -> Observes:
        """A labelled histogram child to observe on the request path; see HistogramTally."""
        if self.multiprocess:
            return child
        tally = HistogramTally(child)
        self._tallies.append(tally)
        return tally

    def scanner_timer(self) -> Callable[[str, float], None]:
        """Observes each scanner's seconds; its labelled series is looked up once, not per scan
        (`.labels()` takes a lock and builds a key, several times the cost of the observation),
        and observed through a tally (several scanners, both ways, on every request)."""
        by_label: dict[str, Observes] = {}  # few labels: every custom scanner shares one

        def observe(name: str, seconds: float) -> None:
            label = scanner_label(name)
            child = by_label.get(label)
            if child is None:
                child = by_label[label] = self.tally_histogram(self.scanner_duration.labels(label))
            child.observe(seconds)

        return observe

    def ratelimit_event_counter(self) -> Callable[[str, int], None]:
        """Counts the rate limiter's events (its `on_event`): a few, each on every request, so
        each series is looked up once and counted through a tally."""
        series: dict[str, Increments] = {}

        def count(event: str, times: int) -> None:
            counter = series.get(event)
            if counter is None:
                counter = series[event] = self.tally(self.ratelimit_events.labels(event))
            counter.inc(times)
            if event in ("failed_open", "failed_closed"):
                self.dependency_failures.labels("redis", event).inc(times)

        return count

    def refresh(self) -> None:
        for tally in self._tallies:
            tally.flush()
        for sampler in self._samplers:
            sampler()

    def watch_audit(self, writer: Any) -> None:
        """Read the writer's own counters instead of updating metrics on every row."""
        seen: dict[str, int] = {}

        def since_last(name: str, total: int) -> int:
            grown = max(total - seen.get(name, 0), 0)
            seen[name] = total
            return grown

        def sampler() -> None:
            recent = writer.recent_writes
            while recent:
                self.audit_write_duration.observe(recent.popleft())
            self.audit_queue_depth.set(writer.queue_depth)
            self.audit_spooled_rows.set(writer.spooled_rows)
            rows = self.audit_rows
            rows.labels("written").inc(since_last("written", writer.rows_written))
            rows.labels("duplicate").inc(since_last("duplicate", writer.duplicates_skipped))
            rows.labels("rejected").inc(since_last("rejected", writer.rows_rejected))
            rows.labels("dropped").inc(since_last("dropped", writer.rows_dropped))
            failures = since_last("failures", writer.write_failures)
            self.dependency_failures.labels("postgres", "spooled").inc(failures)
            self.audit_checkpoints.inc(since_last("checkpoints", writer.checkpoints_written))

        self.sample(sampler)

    def exposition(self) -> bytes:
        self.refresh()
        if not self.multiprocess:
            return generate_latest(self.registry)
        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        return generate_latest(shared) + generate_latest(self._local)
