"""ModelObserver: predictions observed by the recorder, merged into Redis off the request path.

The recorder hands over each finished prediction (a list append, nothing more). Every
`flush_interval_seconds` one task reads the inputs, adds them up per model with Welford's
algorithm and merges each model's partial state into Redis with one script call (lua.py); the
merged state that comes back, every replica's updates included, is the snapshot the scorer
reads on the request path, so scoring never waits on Redis.

Statistics are advisory: when Redis fails, that interval's observations are dropped and
counted (`warden_ml_observations_dropped_total{reason="redis_error"}`), never retried into
a backlog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from proxy.exchange import Exchange
from proxy.metrics import Metrics
from proxy.ml.features import Batch, Prediction
from proxy.ml.lua import MERGE, MERGE_LUA, MODELS_KEY, model_keys
from proxy.ml.settings import MlSettings
from proxy.ml.stats import Drift, ModelStats, drift_of, parse_stats

log = logging.getLogger(__name__)

_MODELS_PER_PIPELINE = 100
# Names positional inputs of a model (from its input contract), or None.
FeatureNames = Callable[[str], Sequence[str] | None]


@dataclass(frozen=True, slots=True)
class Observation:
    prediction: Prediction
    latency: float | None  # seconds upstream
    ok: bool  # False: the upstream failed (5xx, timeout, unreachable)
    risk_label: str | None


@dataclass(slots=True)
class Welford:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    def args(self) -> list[Any]:
        return [self.count, repr(self.mean), repr(self.m2)]


@dataclass(slots=True)
class _Pending:
    requests: int = 0
    rows: int = 0
    errors: int = 0
    risk: Counter[str] = field(default_factory=Counter)
    latency: Welford = field(default_factory=Welford)
    samples: list[float] = field(default_factory=list)
    features: dict[str, Welford] = field(default_factory=dict)
    # Looked up once per model and flush: the contract's feature names, features already kept.
    names: Sequence[str] | None = None
    known_features: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    stats: ModelStats
    drift: Drift


def observation_of(exchange: Exchange) -> Observation | None:
    """What the recorder hands over: predictions the upstream answered or failed."""
    prediction = exchange.prediction
    if prediction is None or exchange.upstream_started is None:
        return None
    status = exchange.upstream_status
    failed = exchange.error is not None and exchange.error.startswith("upstream_")
    if not failed and (status is None or not 200 <= status < 300):
        if status is None or status < 500:
            return None  # refused by the model as bad input: not a prediction, not a failure
        failed = True
    latency = None
    if exchange.upstream_finished is not None:
        latency = exchange.upstream_finished - exchange.upstream_started
    risk = exchange.ml_risk.label if exchange.ml_risk is not None else None
    return Observation(prediction, latency, not failed, risk)


class ModelObserver:
    def __init__(
        self,
        client: redis.Redis,
        settings: MlSettings,
        metrics: Metrics,
        feature_names: FeatureNames,
    ) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.feature_names = feature_names
        self.snapshots: dict[str, Snapshot] = {}
        self._queue: list[Observation] = []
        self._alpha = 2.0 / (settings.recent_window + 1)

    def submit(self, exchange: Exchange) -> None:
        """From the recorder, in the request's `finally`: must not raise and must not await."""
        observation = observation_of(exchange)
        if observation is not None:
            self.observe(observation)

    def observe(self, observation: Observation) -> None:
        if len(self._queue) >= self.settings.queue_size:
            self._dropped("queue_full")
            return
        self._queue.append(observation)

    def _dropped(self, reason: str, count: int = 1) -> None:
        self.metrics.ml_dropped.labels(reason).inc(count)

    def remember(self, stats: ModelStats) -> None:
        """A model's state as just read or written; what the scorer uses from now on."""
        self.snapshots[stats.model] = Snapshot(stats, drift_of(stats, self.settings.drift_sigma))
        drift = self.snapshots[stats.model].drift.score
        self.metrics.ml_drift.labels(stats.model).set(drift or 0.0)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_seconds)
            await self.flush()

    async def flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        pending = self._accumulate(batch)
        models = list(pending)
        for start in range(0, len(models), _MODELS_PER_PIPELINE):
            chunk = {m: pending[m] for m in models[start : start + _MODELS_PER_PIPELINE]}
            try:
                await self._merge(chunk)
            except (RedisError, OSError, TimeoutError) as exc:
                lost = sum(p.requests + p.errors for p in chunk.values())
                self._dropped("redis_error", lost)
                self.metrics.ml_flushes.labels("error").inc()
                log.warning("ml statistics: merge failed (%s: %s)", type(exc).__name__, exc)
            else:
                self.metrics.ml_flushes.labels("ok").inc()

    def _accumulate(self, batch: list[Observation]) -> dict[str, _Pending]:
        pending: dict[str, _Pending] = {}
        settings = self.settings
        for observation in batch:
            model = observation.prediction.model
            entry = pending.get(model)
            if entry is None:
                snapshot = self.snapshots.get(model)
                if snapshot is None and not observation.ok:
                    continue  # failures alone never make a model appear
                if snapshot is None and len(self.snapshots) + len(pending) >= settings.max_models:
                    self._dropped("max_models")
                    continue
                known = len(snapshot.stats.features) if snapshot is not None else 0
                entry = pending[model] = _Pending(
                    names=self.feature_names(model), known_features=known
                )
            if not observation.ok:
                entry.errors += 1
                continue
            entry.requests += 1
            if observation.risk_label is not None:
                entry.risk[observation.risk_label] += 1
            if observation.latency is not None:
                entry.latency.add(observation.latency)
                if len(entry.samples) < settings.latency_samples:
                    entry.samples.append(observation.latency)
            self._add_features(entry, observation.prediction)
        for model, entry in pending.items():
            for label, count in entry.risk.items():
                self.metrics.ml_predictions.labels(model, label).inc(count)
        return pending

    def _add_features(self, entry: _Pending, prediction: Prediction) -> None:
        batch = prediction.batch
        if not isinstance(batch, Batch):
            return
        settings = self.settings
        entry.rows += len(batch.rows)
        room = settings.max_features - entry.known_features
        features = entry.features
        for row in prediction.numbers(entry.names, settings.max_rows, settings.max_features):
            for name, value in row.items():
                moments = features.get(name)
                if moments is None:
                    if len(features) >= room:
                        continue
                    moments = features[name] = Welford()
                moments.add(value)

    async def _merge(self, chunk: dict[str, _Pending]) -> None:
        settings = self.settings
        now_ms = int(time.time() * 1000)
        ttl_ms = int(settings.retention_days * 86_400_000)
        timeout = max(1.0, settings.flush_interval_seconds * 4)
        async with asyncio.timeout(timeout):
            async with self.client.pipeline(transaction=False) as pipe:
                # Loaded first on the same connection, so EVALSHA after it always finds it.
                pipe.script_load(MERGE_LUA)
                for model, entry in chunk.items():
                    args: list[Any] = [
                        now_ms,
                        settings.baseline_requests,
                        repr(self._alpha),
                        settings.latency_samples,
                        ttl_ms,
                        entry.requests,
                        entry.rows,
                        entry.errors,
                        *(entry.risk[label] for label in ("normal", "suspicious", "risky")),
                        *entry.latency.args(),
                        len(entry.samples),
                        *(repr(s) for s in entry.samples),
                    ]
                    for name, moments in entry.features.items():
                        args.extend([name, *moments.args()])
                    pipe.evalsha(MERGE.sha, 3, *model_keys(model), *args)
                pipe.sadd(MODELS_KEY, *chunk)
                results = await pipe.execute(raise_on_error=False)
        for model, result in zip(chunk, results[1:-1], strict=True):
            if isinstance(result, BaseException):
                raise result
            self.remember(parse_stats(model, result[0], result[1]))
