"""Prometheus metrics, every one named here, in Warden's own registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds: from sub-millisecond local replies to multi-minute streams.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60, 120, 300,
)  # fmt: skip
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Labels are bounded by construction: route prefixes and status classes, never raw paths."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "warden_requests_total",
            "Requests handled, by route, outcome and HTTP status.",
            ("route", "outcome", "status"),
            registry=r,
        )
        self.request_duration = Histogram(
            "warden_request_duration_seconds",
            "Time from request arrival to the end of the response.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_duration = Histogram(
            "warden_upstream_duration_seconds",
            "Time spent waiting on and relaying the upstream response.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "warden_overhead_seconds",
            "Time Warden adds before forwarding (authentication, routing, reading the body).",
            ("route",),
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "warden_upstream_errors_total",
            "Upstream failures by kind (connect, timeout, disconnected, invalid).",
            ("route", "kind"),
            registry=r,
        )

        self.decisions = Counter(
            "warden_policy_decisions_total",
            "Rule matches by phase, action, rule and mode; mode=monitor counts what would "
            'have happened. Requests no rule matched count under rule="default".',
            ("phase", "action", "rule", "mode"),
            registry=r,
        )
        self.policy_reloads = Counter(
            "warden_policy_reloads_total",
            "Policy reloads by result (ok, unchanged, error).",
            ("result",),
            registry=r,
        )
        self.policy_info = Info(
            "warden_policy", "The active policy set: version (SHA-256) and rule count.", registry=r
        )
        self.policy_loaded = Gauge(
            "warden_policy_loaded_timestamp_seconds",
            "When the active policy set was loaded.",
            registry=r,
        )

        self.ratelimit_events = Counter(
            "warden_ratelimit_events_total",
            "Rate limiter outcomes: admitted, denied, failed_open, failed_closed, redis_error, "
            "pool_exhausted, settled, settle_failed.",
            ("event",),
            registry=r,
        )
        self.ratelimited = Counter(
            "warden_ratelimited_requests_total",
            "Requests refused by a rate limit or budget, by scope and limit.",
            ("type", "scope", "limit"),
            registry=r,
        )

        self.audit_queue_depth = Gauge(
            "warden_audit_queue_depth", "Audit rows waiting in memory.", registry=r
        )
        self.audit_spooled_rows = Gauge(
            "warden_audit_spooled_rows",
            "Audit rows in the local journal not yet stored in Postgres.",
            registry=r,
        )
        self.audit_write_seconds = Gauge(
            "warden_audit_last_write_seconds", "Duration of the last audit batch write.", registry=r
        )
        self.audit_rows_dropped = Gauge(
            "warden_audit_rows_dropped",
            "Audit rows that could be neither stored nor journaled.",
            registry=r,
        )
        self.audit_checkpoints = Gauge(
            "warden_audit_checkpoints_written",
            "Signed checkpoints this process stored since it started (0 without a signing key).",
            registry=r,
        )

    def watch_audit(self, writer: Any) -> None:
        """Read the writer's counters at scrape time instead of updating gauges per row."""
        self.audit_queue_depth.set_function(lambda: writer.queue_depth)
        self.audit_spooled_rows.set_function(lambda: writer.spooled_rows)
        self.audit_write_seconds.set_function(lambda: writer.last_write_seconds or 0.0)
        self.audit_rows_dropped.set_function(lambda: writer.rows_dropped)
        self.audit_checkpoints.set_function(lambda: writer.checkpoints_written)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
