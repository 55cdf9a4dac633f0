"""Drift per model and health per tenant in /admin/stats: judged as the alert rules judge."""

from __future__ import annotations

from proxy.admin.stats_health import HealthJudge
from proxy.alerts.model_signals import ModelDrift, ModelSignals
from proxy.alerts.settings import LatencyDriftRule
from proxy.alerts.traffic import Counts, LatencyBaseline
from proxy.ml.risk import Moments

RULE = LatencyDriftRule(min_samples=20, min_baseline_samples=50)


def window(mean_ms: float, samples: int = 100) -> Counts:
    return Counts(requests=samples, latency_samples=samples, latency_mean_ms=mean_ms)


def moments(mean: float, std: float, count: int = 1000) -> Moments:
    return Moments(count, mean, std * std * (count - 1))


def test_latency_drift_on_the_ml_scale_and_the_ratio_the_health_score_uses():
    judge = HealthJudge(
        {"gpt-4o": window(260.0), "thin": window(900.0, samples=5)},
        {"gpt-4o": moments(200.0, 20.0), "thin": moments(200.0, 20.0)},
        ModelSignals(),
        RULE,
        sigma=3.0,
    )
    # 60 ms slower with a 20 ms spread: 3 standard deviations, 1 drift_sigma.
    assert judge.model("gpt-4o") == {"drift": 1.0, "drift_source": "latency", "latency_ratio": 1.3}
    assert judge.model("thin") == {"drift": None, "drift_source": None, "latency_ratio": None}
    assert judge.model("unseen") == {"drift": None, "drift_source": None, "latency_ratio": None}
    slower = HealthJudge(
        {"m": window(230.0)}, {"m": moments(200.0, 20.0)}, ModelSignals(), RULE, 3.0
    )
    assert slower.model("m")["drift"] == 0.5


def test_ml_models_take_their_drift_and_frozen_baseline_from_statistics():
    signals = ModelSignals(
        baselines={"iris": LatencyBaseline(10.0, 200)}, drift={"iris": ModelDrift(0.8, "x")}
    )
    judge = HealthJudge({"iris": window(30.0)}, {"iris": moments(30.0, 1.0)}, signals, RULE, 3.0)
    assert judge.model("iris") == {"drift": 0.8, "drift_source": "ml", "latency_ratio": 3.0}
    # The tenant's drift is its slowest model's: 3x costs all 25 points; 10% errors cost 20.
    assert judge.tenant(["iris", "unseen"], error_rate=0.1, risky_share=0.0) == {
        "health_score": 55, "health_label": "unhealthy", "drift_ratio": 3.0,
    }  # fmt: skip
    assert judge.tenant([], 0.0, 0.0) == {
        "health_score": 100, "health_label": "healthy", "drift_ratio": None,
    }  # fmt: skip
