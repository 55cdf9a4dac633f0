"""Alert rules over aggregated traffic, the tenant health score, webhook signing and backoff."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

import pytest

from proxy.alerts.model_signals import ModelDrift, prefer_frozen, signals_of
from proxy.alerts.rules import evaluate_rules
from proxy.alerts.settings import AlertRules, Webhook, WebhookDelivery
from proxy.alerts.traffic import Counts, LatencyBaseline, Traffic, TrafficWindow
from proxy.alerts.webhooks import backoff_seconds, signature, subscribers
from proxy.health_score import HealthInputs, health_label, health_score
from proxy.ml.registry import ModelHealth

RULES = AlertRules()
QUIET = Counts(requests=100, latency_samples=100, latency_mean_ms=200.0, forwarded=100)


def traffic(
    tenants: dict[str, Counts] | None = None,
    trailing_tenants: dict[str, Counts] | None = None,
    upstreams: dict[str, Counts] | None = None,
    models: dict[str, Counts] | None = None,
    tenant_models: dict[str, frozenset[str]] | None = None,
) -> Traffic:
    return Traffic(
        recent=TrafficWindow(tenants or {}, upstreams or {}, models or {}),
        trailing=TrafficWindow(trailing_tenants or {}, {}, {}),
        tenant_models=tenant_models or {},
    )


def fired(t: Traffic, baselines: dict[str, LatencyBaseline] | None = None) -> set[tuple[str, str]]:
    return {(f.type, f.subject) for f in evaluate_rules(t, baselines or {}, RULES, 300)}


def test_quiet_traffic_raises_nothing():
    baseline = {"gpt-4o": LatencyBaseline(200.0, 1000)}
    t = traffic(
        {"acme": QUIET}, {"acme": QUIET}, {"openai": QUIET}, {"gpt-4o": QUIET},
        {"acme": frozenset({"gpt-4o"})},
    )  # fmt: skip
    assert fired(t, baseline) == set()


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (replace(QUIET, risky=10), {("risky_events", "acme")}),
        (replace(QUIET, risky=9), set()),
        (replace(QUIET, rate_limited=60), {("ratelimit_storm", "acme")}),
        (replace(QUIET, rate_limited=49), set()),  # too few, though most of them
        (replace(QUIET, requests=1000, rate_limited=60), set()),  # many, but a small share
    ],
)
def test_tenant_counts_against_thresholds(counts: Counts, expected: set[tuple[str, str]]):
    assert fired(traffic({"acme": counts})) == expected


def test_block_rate_spike_compares_with_the_tenants_usual_rate():
    spiking = replace(QUIET, blocks=30)  # 30% blocked now
    assert fired(traffic({"acme": spiking}, {"acme": QUIET})) == {("block_rate_spike", "acme")}
    # A tenant that is always blocked this much is not spiking.
    usual = replace(QUIET, blocks=25)
    assert fired(traffic({"acme": spiking}, {"acme": usual})) == set()
    # No earlier traffic: the rate must stand on its own (min_rate 20%).
    assert fired(traffic({"acme": spiking})) == {("block_rate_spike", "acme")}
    assert fired(traffic({"acme": replace(QUIET, blocks=10)})) == set()
    # Too few requests to judge.
    assert fired(traffic({"acme": Counts(requests=5, blocks=5)})) == set()


def test_upstream_error_rate_counts_forwarded_requests_only():
    failing = Counts(requests=200, forwarded=40, upstream_errors=8)  # 20% of forwarded
    assert fired(traffic(upstreams={"openai": failing})) == {("upstream_errors", "openai")}
    assert fired(traffic(upstreams={"openai": replace(failing, upstream_errors=3)})) == set()
    assert fired(traffic(upstreams={"openai": Counts(forwarded=10, upstream_errors=10)})) == set()


def test_latency_drift_against_the_baseline_source():
    slow = replace(QUIET, latency_mean_ms=700.0)
    baseline = {"gpt-4o": LatencyBaseline(200.0, 1000)}
    t = traffic(models={"gpt-4o": slow})
    (drift,) = evaluate_rules(t, baseline, RULES, 300)
    assert (drift.type, drift.subject, drift.value) == ("latency_drift", "gpt-4o", 3.5)
    assert "700 ms" in drift.message and "200 ms" in drift.message
    assert fired(t, {"gpt-4o": LatencyBaseline(200.0, 10)}) == set(), "thin baseline"
    assert fired(t, {}) == set(), "no baseline"
    tiny = traffic(models={"gpt-4o": replace(QUIET, latency_mean_ms=9.0)})
    assert fired(tiny, {"gpt-4o": LatencyBaseline(3.0, 1000)}) == set(), "3x, but only +6 ms"


def test_tenant_health_alerts_below_60_with_drift_from_its_models():
    sick = replace(QUIET, errors=25)  # 25% errors: 50
    assert ("tenant_health", "acme") in fired(traffic({"acme": sick}))
    ailing = replace(QUIET, errors=15)  # 70 alone …
    assert fired(traffic({"acme": ailing})) == set()
    slow = replace(QUIET, latency_mean_ms=600.0)  # … with a 3x slower model: 70 - 25 = 45
    t = traffic({"acme": ailing}, models={"m": slow}, tenant_models={"acme": frozenset({"m"})})
    found = evaluate_rules(t, {"m": LatencyBaseline(200.0, 1000)}, RULES, 300)
    health = next(f for f in found if f.type == "tenant_health")
    assert health.value == 45 and "3.0x slower" in health.message


def test_model_drift_fires_per_drifted_model_with_traffic():
    drift = {
        "iris": ModelDrift(0.92, "petal_width"),
        "churn": ModelDrift(0.74, "tenure_months"),
        "idle": ModelDrift(1.0, "latency"),
    }
    t = traffic(models={"iris": QUIET, "churn": QUIET})
    (found,) = evaluate_rules(t, {}, RULES, 300, drift)
    assert (found.type, found.subject, found.model, found.severity) == (
        "model_drift", "iris", "iris", "medium",
    )  # fmt: skip
    assert (found.value, found.threshold) == (0.92, 0.75)
    assert "0.92" in found.message and "petal_width" in found.message
    # "idle" drifted, but without traffic in the window its statistics stand still.
    stricter = replace(RULES, model_drift=replace(RULES.model_drift, min_score=0.5))
    assert {f.subject for f in evaluate_rules(t, {}, stricter, 300, drift)} == {"iris", "churn"}
    off = replace(RULES, model_drift=replace(RULES.model_drift, enabled=False))
    assert evaluate_rules(t, {}, off, 300, drift) == []


def _health(
    model: str, drift: float | None = None, cause: str | None = None, baseline_s: float = 0.0
) -> ModelHealth:
    return ModelHealth(
        model=model, drift=drift, drift_label=None, drift_cause=cause,
        latency_mean_seconds=None, latency_p95_seconds=None, error_rate_recent=None,
        requests=100, last_seen_ms=None,
        baseline_latency_mean_seconds=baseline_s or None,
        baseline_latency_samples=200 if baseline_s else 0,
    )  # fmt: skip


def test_frozen_ml_baselines_are_preferred_to_the_trailing_window():
    signals = signals_of(
        [
            _health("iris", drift=0.1, cause="sepal_width", baseline_s=0.02),
            _health("collecting"),  # no baseline yet: no drift, no frozen latency
        ]
    )
    assert signals.available and set(signals.drift) == {"iris"}
    trailing = {"iris": LatencyBaseline(900.0, 500), "gpt-4o": LatencyBaseline(200.0, 80)}
    assert prefer_frozen(trailing, signals) == {
        "iris": LatencyBaseline(20.0, 200),
        "gpt-4o": LatencyBaseline(200.0, 80),
    }
    slow = traffic(models={"iris": replace(QUIET, latency_mean_ms=400.0)})
    assert fired(slow, prefer_frozen(trailing, signals)) == {("latency_drift", "iris")}
    assert fired(slow, trailing) == set(), "the trailing window drifted along"


def test_disabled_rules_raise_nothing():
    rules = replace(RULES, risky_events=replace(RULES.risky_events, enabled=False))
    t = traffic({"acme": replace(QUIET, risky=50)})
    assert {f.type for f in evaluate_rules(t, {}, rules, 300)} == {"tenant_health"}


@pytest.mark.parametrize(
    ("errors", "risky", "drift", "score", "label"),
    [
        (0.0, 0.0, None, 100, "healthy"),
        (0.10, 0.0, None, 80, "healthy"),
        (0.25, 0.0, None, 50, "unhealthy"),
        (0.0, 0.25, None, 55, "unhealthy"),
        (1.0, 1.0, 5.0, 0, "unhealthy"),
        (0.15, 0.10, None, 52, "unhealthy"),
        (0.0, 0.10, 1.4, 77, "degraded"),
        (0.0, 0.0, 3.0, 75, "degraded"),
        (0.0, 0.0, 0.5, 100, "healthy"),  # faster than usual costs nothing
    ],
)
def test_health_score(errors: float, risky: float, drift: float | None, score: int, label: str):
    got = health_score(HealthInputs(errors, risky, drift))
    assert got == score and health_label(got) == label


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    body = b'{"event":"alert.fired"}'
    header = signature("s3cret", 1700000000, body)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_backoff_doubles_and_is_capped():
    delivery = WebhookDelivery(initial_backoff_seconds=1.0, max_backoff_seconds=10.0)
    waits = [backoff_seconds(n, delivery, jitter=1.0) for n in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert 0.8 <= backoff_seconds(1, delivery) <= 1.2


def test_subscribers_by_event_and_severity():
    hooks = [
        Webhook("http://a.example/"),
        Webhook("http://b.example/", events=["fired"], min_severity="high"),
    ]
    assert [h.url for h in subscribers(hooks, "fired", "medium")] == ["http://a.example/"]
    assert len(subscribers(hooks, "fired", "critical")) == 2
    assert [h.url for h in subscribers(hooks, "resolved", "critical")] == ["http://a.example/"]
