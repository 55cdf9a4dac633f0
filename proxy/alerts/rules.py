"""The alert rules: from aggregated traffic to the conditions that hold now. Pure.

Each rule names its subject (a tenant, an upstream or a model): one open alert per type and
subject, however often the condition is found again while it lasts. Messages are built from
counts and names only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from proxy.alerts.model_signals import ModelDrift
from proxy.alerts.settings import (
    AlertRules,
    BlockRateSpikeRule,
    LatencyDriftRule,
    ModelDriftRule,
    RateLimitStormRule,
    RiskyEventsRule,
    TenantHealthRule,
    UpstreamErrorsRule,
)
from proxy.alerts.traffic import Counts, LatencyBaseline, Traffic
from proxy.health_score import HealthInputs, health_score
from proxy.triage import Severity

RISKY_EVENTS = "risky_events"
BLOCK_RATE_SPIKE = "block_rate_spike"
RATELIMIT_STORM = "ratelimit_storm"
UPSTREAM_ERRORS = "upstream_errors"
LATENCY_DRIFT = "latency_drift"
TENANT_HEALTH = "tenant_health"
MODEL_DRIFT = "model_drift"
ALERT_TYPES = (
    RISKY_EVENTS, BLOCK_RATE_SPIKE, RATELIMIT_STORM, UPSTREAM_ERRORS, LATENCY_DRIFT, TENANT_HEALTH,
    MODEL_DRIFT,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Firing:
    """A condition that holds now."""

    type: str
    subject: str
    severity: Severity
    message: str
    value: float
    threshold: float
    tenant: str | None = None
    upstream: str | None = None
    model: str | None = None


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def risky_events(tenant: str, now: Counts, rule: RiskyEventsRule, window: str) -> Firing | None:
    if now.risky < rule.min_count:
        return None
    message = (
        f"{now.risky} risky requests from tenant {tenant} in {window} (threshold {rule.min_count})"
    )
    return Firing(
        RISKY_EVENTS, tenant, rule.severity, message, now.risky, rule.min_count, tenant=tenant
    )


def block_rate_spike(
    tenant: str, now: Counts, before: Counts | None, rule: BlockRateSpikeRule, window: str
) -> Firing | None:
    if now.requests < rule.min_requests:
        return None
    rate = now.share(now.blocks)
    # Without enough earlier traffic to compare with, the rate must stand on its own.
    usual = 0.0
    if before is not None and before.requests >= rule.min_requests:
        usual = before.share(before.blocks)
    threshold = max(rule.min_rate, usual * rule.factor)
    if rate < threshold:
        return None
    message = (
        f"{_percent(rate)} of requests from tenant {tenant} blocked in {window} "
        f"({now.blocks} of {now.requests}; usually {_percent(usual)})"
    )
    return Firing(BLOCK_RATE_SPIKE, tenant, rule.severity, message, rate, threshold, tenant=tenant)


def ratelimit_storm(
    tenant: str, now: Counts, rule: RateLimitStormRule, window: str
) -> Firing | None:
    share = now.share(now.rate_limited)
    if now.rate_limited < rule.min_count or share < rule.min_share:
        return None
    message = (
        f"{now.rate_limited} requests from tenant {tenant} refused by rate limits or budgets "
        f"in {window} ({_percent(share)} of its requests)"
    )
    return Firing(
        RATELIMIT_STORM, tenant, rule.severity, message, now.rate_limited, rule.min_count,
        tenant=tenant,
    )  # fmt: skip


def tenant_health(
    tenant: str, now: Counts, drift: float | None, rule: TenantHealthRule, window: str
) -> Firing | None:
    if now.requests < rule.min_requests:
        return None
    errors, risky = now.share(now.errors), now.share(now.risky)
    score = health_score(HealthInputs(error_rate=errors, risky_share=risky, drift_ratio=drift))
    if score >= rule.below:
        return None
    drifted = f", models {drift:.1f}x slower" if drift is not None and drift > 1 else ""
    message = (
        f"tenant {tenant} health score {score} (below {rule.below:g}): "
        f"{_percent(errors)} errors, {_percent(risky)} risky{drifted} in {window}"
    )
    return Firing(TENANT_HEALTH, tenant, rule.severity, message, score, rule.below, tenant=tenant)


def upstream_errors(
    upstream: str, now: Counts, rule: UpstreamErrorsRule, window: str
) -> Firing | None:
    if now.forwarded < rule.min_requests:
        return None
    failed = now.upstream_errors / now.forwarded
    if failed < rule.min_rate:
        return None
    message = (
        f"upstream {upstream} failed {now.upstream_errors} of {now.forwarded} requests "
        f"({_percent(failed)}) in {window}"
    )
    return Firing(
        UPSTREAM_ERRORS, upstream, rule.severity, message, failed, rule.min_rate,
        upstream=upstream,
    )  # fmt: skip


def drift_ratio(
    now: Counts | None, baseline: LatencyBaseline | None, rule: LatencyDriftRule
) -> float | None:
    """Recent mean latency over the baseline's, when both rest on enough samples."""
    if now is None or baseline is None or now.latency_mean_ms is None or baseline.mean_ms <= 0:
        return None
    if now.latency_samples < rule.min_samples or baseline.samples < rule.min_baseline_samples:
        return None
    return now.latency_mean_ms / baseline.mean_ms


def latency_drift(
    model: str, now: Counts, baseline: LatencyBaseline | None, rule: LatencyDriftRule, window: str
) -> Firing | None:
    ratio = drift_ratio(now, baseline, rule)
    if ratio is None or baseline is None or now.latency_mean_ms is None:
        return None
    if ratio < rule.factor or now.latency_mean_ms - baseline.mean_ms < rule.min_increase_ms:
        return None
    message = (
        f"model {model} answers in {now.latency_mean_ms:.0f} ms on average in {window}, "
        f"{ratio:.1f}x its baseline of {baseline.mean_ms:.0f} ms"
    )
    return Firing(LATENCY_DRIFT, model, rule.severity, message, ratio, rule.factor, model=model)


def tenant_drift(
    models: Iterable[str],
    recent: Mapping[str, Counts],
    baselines: Mapping[str, LatencyBaseline],
    rule: LatencyDriftRule,
) -> float | None:
    """A tenant's drift is that of the slowest-drifting model it used; None when unknown."""
    ratios = [drift_ratio(recent.get(m), baselines.get(m), rule) for m in models]
    return max((r for r in ratios if r is not None), default=None)


def model_drift(
    model: str, drift: ModelDrift | None, rule: ModelDriftRule, window: str
) -> Firing | None:
    if drift is None or drift.score < rule.min_score:
        return None
    cause = f", most in {drift.cause}" if drift.cause else ""
    message = (
        f"ML model {model} drifted from its baseline: drift score {drift.score:.2f} "
        f"(threshold {rule.min_score:.2f}{cause}), with traffic in {window}"
    )
    return Firing(
        MODEL_DRIFT, model, rule.severity, message, drift.score, rule.min_score, model=model
    )


def evaluate_rules(
    traffic: Traffic,
    baselines: Mapping[str, LatencyBaseline],
    rules: AlertRules,
    window_seconds: float,
    drift: Mapping[str, ModelDrift] | None = None,
) -> list[Firing]:
    """Every enabled rule over every subject with traffic in the recent window.

    `drift` holds the ML models' drift scores; a drifted model that gets no traffic is not
    found again, so its alert resolves (its statistics, and its drift, stand still).
    """
    window = f"the last {window_seconds / 60:g} min"
    recent, found = traffic.recent, []
    for tenant, now in sorted(recent.tenants.items()):
        if rules.risky_events.enabled:
            found.append(risky_events(tenant, now, rules.risky_events, window))
        if rules.block_rate_spike.enabled:
            before = traffic.trailing.tenants.get(tenant)
            found.append(block_rate_spike(tenant, now, before, rules.block_rate_spike, window))
        if rules.ratelimit_storm.enabled:
            found.append(ratelimit_storm(tenant, now, rules.ratelimit_storm, window))
        if rules.tenant_health.enabled:
            models = traffic.tenant_models.get(tenant, ())
            ratio = tenant_drift(models, recent.models, baselines, rules.latency_drift)
            found.append(tenant_health(tenant, now, ratio, rules.tenant_health, window))
    if rules.upstream_errors.enabled:
        for upstream, now in sorted(recent.upstreams.items()):
            found.append(upstream_errors(upstream, now, rules.upstream_errors, window))
    if rules.latency_drift.enabled:
        for model, now in sorted(recent.models.items()):
            baseline = baselines.get(model)
            found.append(latency_drift(model, now, baseline, rules.latency_drift, window))
    if rules.model_drift.enabled and drift:
        for model in sorted(recent.models):
            found.append(model_drift(model, drift.get(model), rules.model_drift, window))
    return [f for f in found if f is not None]
