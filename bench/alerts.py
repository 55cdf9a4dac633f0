"""Costs of incidents and alerts against an embedded Postgres and Redis.

The audit writer's incident hook: batch write time with and without blocks to record, and
with the live feed watched (every change NOTIFYed for after the commit). One alert evaluation
round (the aggregate scans over audit_events) at growing volumes of traffic. Reading the ML
models' frozen baselines and drift from Redis for a round, at growing numbers of models.

Usage: python -m bench.alerts [--rows N] [--volumes 100000,1000000] [--models 10,100,1000]
       [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from bench.ml import FEATURES, iris_rows, request_body
from proxy.alerts import AlertEvaluator, AlertSettings
from proxy.alerts.model_signals import RegistrySignals
from proxy.audit import AuditRecord
from proxy.audit.chained_row import GENESIS_HASH, chained_row
from proxy.audit.store import AuditStore
from proxy.db import migrate
from proxy.devstack import EmbeddedPostgres, EmbeddedRedis
from proxy.events import EventFeed
from proxy.incidents import BlockIncidents, IncidentSettings
from proxy.incidents.notices import IncidentNotices
from proxy.metrics import Metrics
from proxy.ml.features import Prediction
from proxy.ml.lua import model_keys
from proxy.ml.observer import ModelObserver, Observation
from proxy.ml.registry import ModelRegistry
from proxy.ml.settings import MlSettings

TENANTS, RULES = 20, 3
BATCH = 500


def record(n: int, at: datetime, block_every: int) -> AuditRecord:
    tenant = f"tenant-{n % TENANTS}"
    base = AuditRecord(
        request_id=f"req-{n}", event_time=at, decision="allow", status=200, latency_ms=12.0,
        tenant=tenant, key_id="k", route="/v1", upstream="openai", model="gpt-4o",
        upstream_status=200, upstream_ms=10.0, overhead_ms=0.4, request_bytes=300,
    )  # fmt: skip
    if block_every and n % block_every == 0:
        rule = f"rule-{n % RULES}"
        return replace(base, decision="block", status=403, winning_rule=rule, severity="high")
    return base


async def batch_seconds(
    dsn: str,
    tmp: Path,
    rows: int,
    block_every: int,
    hooked: bool,
    notices: IncidentNotices | None = None,
) -> list[float]:
    """Time of each batch in AuditStore.write: COPY, INSERT and the hook, in one transaction."""
    settings = IncidentSettings(min_severity="high")
    hook = BlockIncidents(settings, None, notices) if hooked else None
    store = AuditStore(dsn, connect_timeout=5.0, write_timeout=60.0, hook=hook)
    now, prev, chained = datetime.now(UTC), GENESIS_HASH, []
    for n in range(rows):
        row = chained_row(record(n, now + timedelta(microseconds=n), block_every), "w", n + 1, prev)
        prev = row.row_hash
        chained.append(row)
    await store.connect()
    times = []
    try:
        for i in range(0, rows, BATCH):
            started = time.perf_counter()
            await store.write(chained[i : i + BATCH], [], tmp / "rejected.jsonl")
            times.append(time.perf_counter() - started)
    finally:
        store.disconnect()
    return times


# Synthetic traffic straight into the table: 1 in 20 blocked, 1 in 50 risky, 1 in 100
# failing upstream, spread over the recent window and the baseline before it.
FILL_SQL = """
INSERT INTO audit_events (event_time, writer_id, seq, request_id, tenant, route, upstream,
    model, decision, risk_label, status, upstream_status, latency_ms, upstream_ms, overhead_ms,
    prev_hash, row_hash)
SELECT now() - (random() * $2::float8) * interval '1 second', 'bench-fill', g, 'r' || g,
    'tenant-' || (g % 20), '/v1', 'openai', 'model-' || (g % 5),
    CASE WHEN g % 20 = 0 THEN 'block' ELSE 'allow' END,
    CASE WHEN g % 50 = 0 THEN 'risky' ELSE 'normal' END,
    CASE WHEN g % 100 = 0 THEN 502 ELSE 200 END,
    CASE WHEN g % 100 = 0 THEN 502 ELSE 200 END,
    20 + random() * 10, 18 + random() * 10, 0.5, decode(repeat('00', 32), 'hex'),
    decode(repeat('00', 32), 'hex')
FROM generate_series($1::bigint, $1::bigint + $3::bigint - 1) AS g
"""


async def evaluation_seconds(pool: asyncpg.Pool, repeat: int) -> tuple[float, list[float]]:
    """The first round (reads the baseline window too), then rounds with it cached."""
    evaluator = AlertEvaluator(pool, AlertSettings(), Metrics())
    times = []
    for _ in range(repeat + 1):
        await pool.execute("TRUNCATE alert_rounds")
        started = time.perf_counter()
        result = await evaluator.evaluate()
        times.append(time.perf_counter() - started)
        assert result.evaluated
    return times[0], times[1:]


@contextlib.asynccontextmanager
async def watched_feed(dsn: str) -> AsyncIterator[tuple[IncidentNotices, EventFeed]]:
    """Incident notices as while a console watches the feed: listening, connected."""
    feed = EventFeed(redis.Redis.from_url("redis://127.0.0.1:1"))  # publishes nothing here
    feed.listening = True
    notices = IncidentNotices(dsn, feed)
    task = asyncio.create_task(notices.run())
    try:
        while not notices.ready:
            await asyncio.sleep(0.01)
        yield notices, feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await feed.client.aclose()


SAMPLES = 1000  # latency samples a busy model keeps (ml.latency_samples)


async def add_models(client: redis.Redis, first: int, count: int) -> None:
    """ML models with frozen baselines and drift, through the observer, as in production;
    then their latency lists filled to SAMPLES, as a busy model's are."""
    observer = ModelObserver(
        client, MlSettings(baseline_requests=20, latency_samples=SAMPLES), Metrics(),
        lambda model: FEATURES,
    )  # fmt: skip
    rng = random.Random(first)
    names = [f"model-{i}" for i in range(first, first + count)]
    for chunk in range(0, count, 200):  # within the observer's queue
        for _ in range(2):  # 20 predictions freeze the baseline, 20 more move the recent means
            for name in names[chunk : chunk + 200]:
                for _ in range(20):
                    prediction = Prediction(name, "infer", request_body(iris_rows(1, rng)))
                    latency = rng.uniform(0.002, 0.02)
                    observer.observe(Observation(prediction, latency, True, "normal"))
            await observer.flush()
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.rpush(model_keys(name)[2], *(f"{rng.uniform(0.002, 0.02):.6f}",) * SAMPLES)
            pipe.ltrim(model_keys(name)[2], 0, SAMPLES - 1)
        await pipe.execute()


async def model_signals(url: str, counts: list[int], repeat: int) -> None:
    client = redis.Redis.from_url(url)
    registry = ModelRegistry(client, MlSettings())
    signals = RegistrySignals(registry)
    print(f"model signals read from Redis for an alert round ({SAMPLES} latency samples "
          f"per model kept), median of {repeat}:")  # fmt: skip
    try:
        loaded = 0
        for count in counts:
            await add_models(client, loaded, count - loaded)
            loaded = count
            without, with_samples = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                found = await signals()
                without.append(time.perf_counter() - started)
                started = time.perf_counter()
                await registry.health()
                with_samples.append(time.perf_counter() - started)
            assert len(found.drift) == count and len(found.baselines) == count
            print(f"  {count:>6,} models: {statistics.median(without) * 1000:8.1f} ms "
                  f"(reading the samples too, as /admin/models does: "
                  f"{statistics.median(with_samples) * 1000:,.1f} ms)")  # fmt: skip
    finally:
        await client.aclose()


async def run(dsn: str, tmp: Path, rows: int, volumes: list[int], repeat: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await migrate(pool)
        print(f"audit batch write ({BATCH} rows: COPY + INSERT + hook in one transaction), "
              f"{rows:,} rows x {repeat} rounds, configurations interleaved:")  # fmt: skip
        configurations = [
            ("no hook", 0, False, False),
            ("hook, no blocks", 0, True, False),
            ("hook, 1 block in 10", 10, True, False),
            ("hook, every row a block", 1, True, False),
            ("  … feed watched", 1, True, True),
        ]
        times: dict[str, list[float]] = {label: [] for label, *_ in configurations}
        incidents: dict[str, int] = {}
        async with watched_feed(dsn) as (notices, feed):
            for _ in range(repeat):  # interleaved, so a noisy neighbour hurts all alike
                for label, block_every, hooked, watched in configurations:
                    await pool.execute("TRUNCATE audit_events, incidents")
                    times[label] += await batch_seconds(
                        dsn, tmp, rows, block_every, hooked, notices if watched else None
                    )
                    incidents[label] = await pool.fetchval("SELECT count(*) FROM incidents")
            await asyncio.sleep(0.5)  # the last notifications arrive and are read back
            announced = len(feed._pending) + feed.dropped
        for label, batches in times.items():
            batches.sort()
            median, p90 = statistics.median(batches), batches[int(len(batches) * 0.9)]
            print(f"  {label:<24} median {median * 1000:6.1f} ms, p90 {p90 * 1000:6.1f} ms"
                  f" ({BATCH / median:>8,.0f} rows/s)   incidents {incidents[label]}")  # fmt: skip
        print(f"  feed watched: {announced:,} incident events published after commit")

        settings = AlertSettings()
        span = settings.window_seconds + settings.baseline_seconds
        print(f"alert round (window {settings.window_seconds:g} s + baseline "
              f"{settings.baseline_seconds:g} s, {TENANTS} tenants, 5 models):")  # fmt: skip
        await pool.execute("TRUNCATE audit_events, incidents")
        loaded = 0
        for volume in volumes:
            await pool.execute(FILL_SQL, loaded + 1, span, volume - loaded)
            loaded = volume
            await pool.execute("ANALYZE audit_events")
            first, cached = await evaluation_seconds(pool, repeat)
            alerts = await pool.fetchval("SELECT count(*) FROM alerts")
            print(f"  {volume:>10,} rows in range: first round {first * 1000:,.0f} ms, then "
                  f"median {statistics.median(cached) * 1000:,.0f} ms with the baseline cached"
                  f"   ({alerts} alerts open)")  # fmt: skip
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--volumes", default="100000,1000000")
    parser.add_argument("--models", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    volumes = sorted(int(v) for v in args.volumes.split(","))
    models = sorted(int(v) for v in args.models.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        with EmbeddedPostgres(Path(tmp) / "pg", fsync=False) as pg:
            asyncio.run(run(pg.url, Path(tmp), args.rows, volumes, args.repeat))
        server = EmbeddedRedis(Path(tmp) / "redis")
        server.start()
        try:
            asyncio.run(model_signals(server.url, models, args.repeat))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
