"""Every metric Warden exports, named in one place: name, help text, labels and buckets."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

# Seconds: from sub-millisecond local replies to multi-minute streams.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60, 120, 300,
)  # fmt: skip
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
_SCANNER_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05)
_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# A `_created` twin of every counter and histogram doubles the series for nothing dashboards use.
disable_created_metrics()  # type: ignore[no-untyped-call]


class MetricFamilies:
    """Labels are bounded by construction: route prefixes, status codes, rule ids and finding
    kinds from the policy, at most MAX_MODEL_LABELS models (proxy.metrics.ModelLabels); never
    raw paths or request ids.

    `local` is the registry for what only the worker answering a scrape reports (see Metrics).
    """

    def __init__(self, registry: CollectorRegistry, local: CollectorRegistry) -> None:
        r = registry
        self.requests = Counter(
            "warden_requests_total",
            "Requests handled, by route, model, decision (the audit decision) and HTTP status.",
            ("route", "model", "decision", "status"),
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
        self.time_to_first_byte = Histogram(
            "warden_time_to_first_byte_seconds",
            "Time from request arrival to the first byte of the upstream's answer.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "warden_overhead_seconds",
            "Time Warden adds before forwarding (authentication, policy, limits, scanning).",
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
        self.tokens = Counter(
            "warden_tokens_total",
            "Tokens by direction (prompt, completion) and model, as the upstream reported them.",
            ("direction", "model"),
            registry=r,
        )

        self.decisions = Counter(
            "warden_policy_decisions_total",
            "Rule matches by phase, action, rule and mode; mode=monitor counts what would "
            'have happened. Requests no rule matched count under rule="default".',
            ("phase", "action", "rule", "mode"),
            registry=r,
        )
        self.findings = Counter(
            "warden_findings_total",
            "Scanner findings by phase (prompt, response) and kind.",
            ("phase", "kind"),
            registry=r,
        )
        self.scanner_duration = Histogram(
            "warden_scanner_duration_seconds",
            "Time one scanner spent on one request's texts, by scanner (custom rules: custom).",
            ("scanner",),
            buckets=_SCANNER_BUCKETS,
            registry=r,
        )
        self.policy_reloads = Counter(
            "warden_policy_reloads_total",
            "Policy reloads by result (ok, unchanged, error).",
            ("result",),
            registry=r,
        )
        self.policy_info = Info(
            "warden_policy",
            "The active policy set: version (SHA-256) and rule count.",
            registry=local,
        )
        self.policy_loaded = Gauge(
            "warden_policy_loaded_timestamp_seconds",
            "When the active policy set was loaded.",
            multiprocess_mode="max",
            registry=r,
        )

        self.ratelimit_events = Counter(
            "warden_ratelimit_events_total",
            "Rate limiter outcomes: admitted, denied, failed_open, failed_closed, redis_error, "
            "pool_exhausted, settled, settle_failed, settle_batch (a round trip), lease_renewed, "
            "lease_renew_failed, share_admitted (admitted without a round trip), share_granted, "
            "share_returned, share_failed, share_return_failed.",
            ("event",),
            registry=r,
        )
        self.ratelimited = Counter(
            "warden_ratelimited_requests_total",
            "Requests refused by a rate limit or budget, by scope and limit.",
            ("type", "scope", "limit"),
            registry=r,
        )
        self.dependency_failures = Counter(
            "warden_dependency_failures_total",
            "Failed calls to a dependency (postgres, redis) by what Warden did instead: "
            "failed_open, failed_closed, stale_cache, unavailable, spooled, fallback (alerts "
            "judged models on trailing baselines without their statistics).",
            ("dependency", "mode"),
            registry=r,
        )

        self.audit_queue_depth = Gauge(
            "warden_audit_queue_depth",
            "Audit rows waiting in memory.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.audit_spooled_rows = Gauge(
            "warden_audit_spooled_rows",
            "Audit rows in the local journal not yet stored in Postgres.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.audit_write_duration = Histogram(
            "warden_audit_write_duration_seconds",
            "Duration of one audit batch write to Postgres.",
            buckets=_WRITE_BUCKETS,
            registry=r,
        )
        self.audit_rows = Counter(
            "warden_audit_rows_total",
            "Audit rows by result: written, duplicate (a replay already stored), rejected "
            "(refused by a table constraint), dropped (neither stored nor journaled).",
            ("result",),
            registry=r,
        )
        self.audit_checkpoints = Counter(
            "warden_audit_checkpoints_total",
            "Signed checkpoints stored (none without an audit.evidence signing key).",
            registry=r,
        )

        self.incidents_opened = Counter(
            "warden_incidents_opened_total",
            "Incidents opened, by source (auto: from enforced blocks; manual) and severity.",
            ("source", "severity"),
            registry=r,
        )
        self.incident_errors = Counter(
            "warden_incident_errors_total",
            "Batches of blocks that could not be recorded as incidents (their audit rows were).",
            registry=r,
        )
        self.alerts_fired = Counter(
            "warden_alerts_fired_total",
            "Alerts opened by the evaluator, by type; a firing alert that is already open "
            "only grows.",
            ("type",),
            registry=r,
        )
        self.alerts_resolved = Counter(
            "warden_alerts_resolved_total",
            "Alerts resolved, by type and by whom (auto: the condition cleared; admin).",
            ("type", "by"),
            registry=r,
        )
        self.alert_evaluations = Counter(
            "warden_alert_evaluations_total",
            "Alert evaluation rounds by result: ok, skipped (another replica evaluated), error.",
            ("result",),
            registry=r,
        )
        self.alert_evaluation_duration = Histogram(
            "warden_alert_evaluation_duration_seconds",
            "Time one alert evaluation round took (aggregates over audit_events and upserts).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "warden_alert_webhook_deliveries_total",
            "Alert webhook delivery attempts by result: delivered, retry (will be tried "
            "again), failed (gave up).",
            ("result",),
            registry=r,
        )

        # Model labels are bounded: a model appears only once its upstream answered it, and
        # at most ml.max_models of them.
        self.ml_predictions = Counter(
            "warden_ml_predictions_total",
            "Predictions answered by ML models, by model and ML risk label.",
            ("model", "risk"),
            registry=r,
        )
        self.ml_drift = Gauge(
            "warden_ml_drift_score",
            "A model's drift score (0-1): recent feature means and latency against its "
            "baseline; 0 until a baseline is frozen.",
            ("model",),
            registry=r,
        )
        self.ml_flushes = Counter(
            "warden_ml_stats_flushes_total",
            "Merges of observed predictions into the shared statistics, by result (ok, error).",
            ("result",),
            registry=r,
        )
        self.ml_dropped = Counter(
            "warden_ml_observations_dropped_total",
            "Observed predictions left out of the statistics, by reason (queue_full, "
            "max_models, redis_error).",
            ("reason",),
            registry=r,
        )
