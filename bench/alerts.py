"""Costs of incidents and alerts against an embedded Postgres.

The audit writer's incident hook: batch write time with and without blocks to record. One
alert evaluation round (the aggregate scans over audit_events) at growing volumes of traffic.

Usage: python -m bench.alerts [--rows N] [--volumes 100000,1000000] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from proxy.alerts import AlertEvaluator, AlertSettings
from proxy.audit import AuditRecord
from proxy.audit.record import GENESIS_HASH, chained_row
from proxy.audit.store import AuditStore
from proxy.db import migrate
from proxy.devstack import EmbeddedPostgres
from proxy.incidents import BlockIncidents, IncidentSettings
from proxy.metrics import Metrics

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
    dsn: str, tmp: Path, rows: int, block_every: int, hooked: bool
) -> list[float]:
    """Time of each batch in AuditStore.write: COPY, INSERT and the hook, in one transaction."""
    hook = BlockIncidents(IncidentSettings(min_severity="high")) if hooked else None
    store = AuditStore(dsn, connect_timeout=5.0, write_timeout=60.0, hook=hook)
    now, prev, chained = datetime.now(UTC), GENESIS_HASH, []
    for n in range(rows):
        row = chained_row(record(n, now + timedelta(microseconds=n), block_every), "w", n + 1, prev)
        prev = bytes.fromhex(row["row_hash"])
        chained.append(row)
    await store.connect()
    times = []
    try:
        for i in range(0, rows, BATCH):
            started = time.perf_counter()
            await store.write(chained[i : i + BATCH], tmp / "rejected.jsonl")
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


async def run(dsn: str, tmp: Path, rows: int, volumes: list[int], repeat: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await migrate(pool)
        print(f"audit batch write ({BATCH} rows: COPY + INSERT + hook in one transaction), "
              f"{rows:,} rows x {repeat} rounds, configurations interleaved:")  # fmt: skip
        configurations = [
            ("no hook", 0, False),
            ("hook, no blocks", 0, True),
            ("hook, 1 block in 10", 10, True),
            ("hook, every row a block", 1, True),
        ]
        times: dict[str, list[float]] = {label: [] for label, _, _ in configurations}
        incidents: dict[str, int] = {}
        for _ in range(repeat):  # interleaved, so a noisy neighbour hurts all alike
            for label, block_every, hooked in configurations:
                await pool.execute("TRUNCATE audit_events, incidents")
                times[label] += await batch_seconds(dsn, tmp, rows, block_every, hooked)
                incidents[label] = await pool.fetchval("SELECT count(*) FROM incidents")
        for label, batches in times.items():
            batches.sort()
            median, p90 = statistics.median(batches), batches[int(len(batches) * 0.9)]
            print(f"  {label:<24} median {median * 1000:6.1f} ms, p90 {p90 * 1000:6.1f} ms"
                  f" ({BATCH / median:>8,.0f} rows/s)   incidents {incidents[label]}")  # fmt: skip

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
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    volumes = sorted(int(v) for v in args.volumes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        with EmbeddedPostgres(Path(tmp) / "pg", fsync=False) as pg:
            asyncio.run(run(pg.url, Path(tmp), args.rows, volumes, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
