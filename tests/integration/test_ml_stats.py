"""Model statistics in a real Redis: Welford/Chan merges from several replicas, baselines."""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import replace

import pytest
import redis.asyncio as redis

from proxy.metrics import Metrics
from proxy.ml.features import Prediction
from proxy.ml.lua import model_keys
from proxy.ml.observer import ModelObserver, Observation
from proxy.ml.registry import ModelRegistry
from proxy.ml.settings import MlSettings

SETTINGS = MlSettings(baseline_requests=0, flush_interval_seconds=0.05)
NAMES = ("a", "b")


def observer(client: redis.Redis, settings: MlSettings = SETTINGS) -> ModelObserver:
    return ModelObserver(client, settings, Metrics(), lambda model: NAMES)


def observation(model: str, row: list[float], latency: float = 0.01) -> Observation:
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": row}]}
    return Observation(Prediction(model, "infer", body), latency, True, "normal")


def dropped(replica: ModelObserver, reason: str) -> float | None:
    return replica.metrics.registry.get_sample_value(
        "warden_ml_observations_dropped_total", {"reason": reason}
    )


async def test_replicas_merge_into_the_exact_mean_and_variance(redis_client: redis.Redis):
    rng = random.Random(8)
    rows = [[rng.gauss(10, 2), rng.gauss(-3, 0.5)] for _ in range(600)]
    latencies = [rng.uniform(0.005, 0.05) for _ in rows]
    replicas = [observer(redis_client) for _ in range(3)]

    async def feed(replica: ModelObserver, part: int) -> None:
        # Each replica flushes its share in several batches, interleaved with the others.
        for i in range(part, len(rows), 3):
            replica.observe(observation("iris", rows[i], latencies[i]))
            if i % 50 == part:
                await replica.flush()
                await asyncio.sleep(0)
        await replica.flush()

    await asyncio.gather(*(feed(r, i) for i, r in enumerate(replicas)))
    report = await ModelRegistry(redis_client, SETTINGS).report("iris")
    assert report is not None
    stats = report.stats
    assert stats.requests == stats.rows == 600
    for index, name in enumerate(NAMES):
        column = [r[index] for r in rows]
        moments = stats.features[name]
        assert moments.count == 600
        assert moments.mean == pytest.approx(statistics.fmean(column), rel=1e-12)
        assert moments.variance == pytest.approx(statistics.variance(column), rel=1e-9)
    assert stats.latency.mean == pytest.approx(statistics.fmean(latencies), rel=1e-12)
    assert stats.latency.std == pytest.approx(statistics.stdev(latencies), rel=1e-9)
    assert len(report.latency_samples) == 600
    assert report.latency_p95 == pytest.approx(sorted(latencies)[569])
    # Every replica's snapshot holds the merged state as of its last flush.
    assert max(r.snapshots["iris"].stats.requests for r in replicas) == 600


async def test_baseline_freezes_after_n_requests_and_resets(redis_client: redis.Redis):
    settings = replace(SETTINGS, baseline_requests=20, recent_window=10)
    replica = observer(redis_client, settings)
    for value in range(25):
        replica.observe(observation("m", [float(value), 1.0]))
        if value in (9, 19, 24):
            await replica.flush()
    registry = ModelRegistry(redis_client, settings)
    report = await registry.report("m")
    assert report is not None and report.stats.baseline is not None
    baseline = report.stats.baseline
    assert baseline.source == "auto" and baseline.requests == 20
    assert baseline.features["a"].count == 20
    assert baseline.features["a"].mean == pytest.approx(9.5)
    # b never varied: its baseline σ is 0 and the recent mean equals it, so no drift from it.
    assert report.drift.features["b"] == 0.0
    # a's recent mean ran ahead of the baseline: the recent window weighs the last values most.
    assert report.stats.recent["a"] > baseline.features["a"].mean
    assert report.drift.score is not None and report.drift.score > 0

    reset = await registry.reset("m")
    assert reset is not None
    assert reset.stats.baseline is None and reset.stats.features == {}
    assert reset.stats.requests == 25  # counters survive a reset
    assert await registry.freeze("m") == "empty"
    for value in range(5):
        replica.observe(observation("m", [100.0 + value, 1.0]))
    await replica.flush()
    frozen = await registry.freeze("m")
    assert not isinstance(frozen, str)
    assert frozen.stats.baseline is not None and frozen.stats.baseline.source == "admin"
    assert frozen.stats.baseline.features["a"].mean == pytest.approx(102.0)
    assert await registry.freeze("never-seen") == "unknown"
    assert await registry.reset("never-seen") is None


async def test_failures_count_only_for_known_models_and_limits_hold(redis_client: redis.Redis):
    settings = replace(SETTINGS, max_models=2, max_features=1)
    replica = observer(redis_client, settings)
    failed = replace(observation("m1", [1.0, 2.0]), ok=False, latency=None)
    replica.observe(failed)
    await replica.flush()
    assert await redis_client.exists(model_keys("m1")[0]) == 0
    for model in ("m1", "m2", "m3"):
        replica.observe(observation(model, [1.0, 2.0]))
    replica.observe(failed)
    await replica.flush()
    registry = ModelRegistry(redis_client, settings)
    assert await registry.names() == ["m1", "m2"]
    report = await registry.report("m1")
    assert report is not None
    assert report.stats.errors == 1 and report.stats.requests == 1
    assert report.stats.error_rate_recent == pytest.approx(0.5)
    assert list(report.stats.features) == ["a"]  # max_features: the first feature only
    assert dropped(replica, "max_models") == 1
    health = {h.model: h for h in await registry.health()}
    assert set(health) == {"m1", "m2"}
    assert health["m1"].drift is None and health["m1"].requests == 1


async def test_redis_down_drops_and_counts_the_interval(redis_client: redis.Redis):
    unreachable = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    try:
        replica = observer(unreachable)
        replica.observe(observation("m", [1.0, 2.0]))
        await replica.flush()
        assert dropped(replica, "redis_error") == 1
        flushes = replica.metrics.registry.get_sample_value(
            "warden_ml_stats_flushes_total", {"result": "error"}
        )
        assert flushes == 1
        assert replica.snapshots == {}
    finally:
        await unreachable.aclose()
