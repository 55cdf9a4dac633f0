"""ML risk components and their combination; drift against a baseline. Pure."""

from __future__ import annotations

import math

import pytest

from proxy.ml.risk import Moments, Weights, combine, confidence_score, outlier_score, z_score
from proxy.ml.stats import Baseline, ModelStats, drift_of, parse_stats


def moments(values: list[float]) -> Moments:
    n = len(values)
    mean = sum(values) / n
    return Moments(n, mean, sum((v - mean) ** 2 for v in values))


STATS = {"a": moments([9.0, 10.0, 11.0] * 20), "b": Moments(60, 5.0, 0.0)}


def test_confidence_is_one_minus_the_least_sure_instance():
    assert confidence_score([0.9, 0.6]) == pytest.approx(0.4)
    assert confidence_score([]) is None


def test_outlier_scales_z_to_sigma_and_caps_at_one():
    std = STATS["a"].std
    assert outlier_score([{"a": 10 + std}], STATS, min_samples=30, sigma=3) == pytest.approx(1 / 3)
    assert outlier_score([{"a": 10 - 6 * std}], STATS, min_samples=30, sigma=3) == 1.0
    # The worst value of the batch counts.
    rows = [{"a": 10.0}, {"a": 10 + 1.5 * std}]
    assert outlier_score(rows, STATS, min_samples=30, sigma=3) == pytest.approx(0.5)
    # Too few samples, unknown features: no score at all rather than a reassuring 0.
    assert outlier_score([{"a": 50.0}], STATS, min_samples=100, sigma=3) is None
    assert outlier_score([{"zzz": 50.0}], STATS, min_samples=30, sigma=3) is None


def test_a_feature_that_never_varied():
    assert z_score(5.0, STATS["b"]) == 0.0
    assert math.isinf(z_score(5.1, STATS["b"]))
    assert outlier_score([{"b": 5.1}], STATS, min_samples=30, sigma=3) == 1.0


def test_combination_weighs_known_components_only():
    risk = combine(0.5, 1.0, 0.0)
    assert risk.score == pytest.approx(0.4 * 0.5 + 0.3 * 1.0)
    assert risk.label == "suspicious"
    # Without probabilities the outlier and drift decide on their own: not a free 40%.
    alone = combine(None, 1.0, 1.0)
    assert alone.score == 1.0 and alone.label == "risky"
    assert combine(None, None, None).score == 0.0
    assert combine(0.1, None, None).label == "normal"
    custom = combine(0.2, 0.9, 0.0, Weights(confidence=0, drift=0, outlier=1))
    assert custom.score == pytest.approx(0.9) and custom.label == "risky"


def stats_with(recent: dict[str, float], latency_recent: float | None = None) -> ModelStats:
    baseline = Baseline(
        frozen_at_ms=0,
        source="auto",
        requests=60,
        latency=Moments(60, 0.020, 59 * 0.001**2),
        features={"a": STATS["a"], "b": STATS["b"]},
    )
    return ModelStats(
        "m", recent=recent, latency_recent=latency_recent, baseline=baseline, features=STATS
    )


def test_drift_compares_recent_means_with_the_baseline():
    std = STATS["a"].std
    drift = drift_of(stats_with({"a": 10 + 1.5 * std, "b": 5.0}, 0.020), sigma=3)
    assert drift.features == {"a": pytest.approx(0.5), "b": 0.0}
    assert drift.latency == 0.0
    assert drift.score == pytest.approx(0.5)
    assert drift_of(stats_with({"b": 6.0}), sigma=3).score == 1.0
    assert drift_of(ModelStats("m"), sigma=3).score is None


def test_latency_drift_counts_only_slower_and_not_tiny_changes():
    # σ is 1 ms but the floor is 10% of 20 ms = 2 ms: 6 ms slower is 3 floors, drift 1.
    assert drift_of(stats_with({}, 0.026), sigma=3).latency == pytest.approx(1.0)
    assert drift_of(stats_with({}, 0.023), sigma=3).latency == pytest.approx(0.5)
    assert drift_of(stats_with({}, 0.010), sigma=3).latency == 0.0


def test_parse_stats_from_redis_replies():
    stats = parse_stats(
        "m",
        [b"requests", b"3", b"f:x:y:n", b"2", b"f:x:y:mean", b"1.5", b"f:x:y:m2", b"0.5",
         b"f:x:y:recent", b"1.6", b"lat:n", b"3", b"risk:risky", b"1"],
        [b"frozen_at", b"1700000000000", b"source", b"admin", b"requests", b"2",
         b"f:x:y:n", b"2", b"f:x:y:mean", b"1.5", b"f:x:y:m2", b"0.5"],
    )  # fmt: skip
    assert stats.requests == 3
    assert stats.features["x:y"] == Moments(2, 1.5, 0.5)  # feature names may hold colons
    assert stats.recent["x:y"] == 1.6
    assert stats.risk == {"normal": 0, "suspicious": 0, "risky": 1}
    assert stats.baseline is not None and stats.baseline.source == "admin"
    assert stats.baseline.features["x:y"].variance == 0.5
