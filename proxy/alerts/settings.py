"""AlertSettings: the `alerts:` section of config.yaml (rules, thresholds, webhooks)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal
from urllib.parse import urlsplit

from proxy.risk import RiskThresholds
from proxy.triage import Severity
from proxy.typed_yaml import SECRET

WebhookEvent = Literal["fired", "resolved"]


@dataclass(frozen=True, slots=True)
class RiskyEventsRule:
    """Requests of one tenant whose risk label is `risky`, in the window."""

    enabled: bool = True
    severity: Severity = "high"
    min_count: int = 10


@dataclass(frozen=True, slots=True)
class BlockRateSpikeRule:
    """The share of a tenant's requests blocked in the window, against its trailing share."""

    enabled: bool = True
    severity: Severity = "medium"
    min_requests: int = 20
    min_rate: float = 0.2
    # …and at least `factor` times the tenant's block rate over the baseline window.
    factor: float = 3.0


@dataclass(frozen=True, slots=True)
class RateLimitStormRule:
    """Requests of one tenant refused by rate limits or budgets, in the window."""

    enabled: bool = True
    severity: Severity = "medium"
    min_count: int = 50
    min_share: float = 0.5


@dataclass(frozen=True, slots=True)
class UpstreamErrorsRule:
    """Forwarded requests an upstream failed (5xx, unreachable, timed out), in the window."""

    enabled: bool = True
    severity: Severity = "high"
    min_requests: int = 20
    min_rate: float = 0.1


@dataclass(frozen=True, slots=True)
class LatencyDriftRule:
    """A model's mean upstream latency in the window against its baseline."""

    enabled: bool = True
    severity: Severity = "medium"
    min_samples: int = 20
    min_baseline_samples: int = 50
    factor: float = 2.0
    # Ignore drifts too small to matter (a 3 ms model at 7 ms is "2x" too).
    min_increase_ms: float = 100.0


@dataclass(frozen=True, slots=True)
class TenantHealthRule:
    """A tenant's health score (0–100, proxy/health_score.py) below `below`."""

    enabled: bool = True
    severity: Severity = "high"
    below: float = 60.0
    min_requests: int = 20


@dataclass(frozen=True, slots=True)
class ModelDriftRule:
    """An ML model whose drift score (recent feature and latency means against its frozen
    baseline, 0-1, see proxy/ml/stats.py) reaches `min_score`, while it gets traffic."""

    enabled: bool = True
    severity: Severity = "medium"
    # By default the threshold of the "risky" label (0.75): a recent mean 0.75 x
    # ml.drift_sigma baseline standard deviations away from the baseline mean.
    min_score: float = RiskThresholds().risky


@dataclass(frozen=True, slots=True)
class AlertRules:
    risky_events: RiskyEventsRule = RiskyEventsRule()
    block_rate_spike: BlockRateSpikeRule = BlockRateSpikeRule()
    ratelimit_storm: RateLimitStormRule = RateLimitStormRule()
    upstream_errors: UpstreamErrorsRule = UpstreamErrorsRule()
    latency_drift: LatencyDriftRule = LatencyDriftRule()
    tenant_health: TenantHealthRule = TenantHealthRule()
    model_drift: ModelDriftRule = ModelDriftRule()


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    # HMAC-SHA256 key for the x-warden-signature header; unsigned without one.
    secret: str | None = field(default=None, metadata=SECRET)
    events: list[WebhookEvent] = field(default_factory=lambda: ["fired", "resolved"])
    min_severity: Severity = "low"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    timeout_seconds: float = 5.0
    # Attempts per notification, the first included; then it is marked failed.
    max_attempts: int = 8
    # Waits double from this after each failed attempt, up to the maximum (with ±20% jitter).
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    # How often each replica looks for due deliveries (others' included).
    poll_interval_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class AlertSettings:
    enabled: bool = True
    # How often rules are evaluated; N replicas together still evaluate once per interval.
    interval_seconds: float = 30.0
    # Rules look at the last `window_seconds` of audit_events…
    window_seconds: float = 300.0
    # …and compare with the `baseline_seconds` before it (block rate, latency), read again
    # every `baseline_refresh_seconds` (it holds most of the rows and changes slowly).
    baseline_seconds: float = 3600.0
    baseline_refresh_seconds: float = 300.0
    # An open alert whose condition has not been seen for this long resolves by itself.
    auto_resolve: bool = True
    resolve_after_seconds: float = 300.0
    rules: AlertRules = AlertRules()
    webhooks: list[Webhook] = field(default_factory=list)
    delivery: WebhookDelivery = WebhookDelivery()


def settings_problems(settings: AlertSettings) -> list[tuple[str, str]]:
    problems = []
    for name in ("interval_seconds", "window_seconds", "baseline_seconds"):
        if getattr(settings, name) <= 0:
            problems.append((f"alerts.{name}", "must be greater than 0"))
    for rule_field in fields(settings.rules):
        rule = getattr(settings.rules, rule_field.name)
        for name in ("min_rate", "min_share"):
            if not 0 <= getattr(rule, name, 0) <= 1:
                problems.append((f"alerts.rules.{rule_field.name}.{name}", "must be from 0 to 1"))
    if not 0 <= settings.rules.tenant_health.below <= 100:
        problems.append(("alerts.rules.tenant_health.below", "must be from 0 to 100"))
    if not 0 < settings.rules.model_drift.min_score <= 1:
        problems.append(("alerts.rules.model_drift.min_score", "must be above 0 and at most 1"))
    for i, hook in enumerate(settings.webhooks):
        url = urlsplit(hook.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append((f"alerts.webhooks[{i}].url", "expected an http(s) URL"))
    delivery = settings.delivery
    if delivery.max_attempts < 1:
        problems.append(("alerts.delivery.max_attempts", "must be at least 1"))
    if delivery.timeout_seconds <= 0 or delivery.poll_interval_seconds <= 0:
        problems.append(
            ("alerts.delivery", "timeout_seconds and poll_interval_seconds must be > 0")
        )
    return problems
