"""CPU per audit row: the real AuditWriter, default settings, against an embedded Postgres.

Usage: python -m bench.audit_writer [--rate R] [--seconds S] [--rounds N] [--sign]
       python -m bench.audit_writer --burst N --dsn URL    (for instruction counts, see below)

Rows like a plain chat request's are built and submitted at a steady rate, as the request path
would, while the writer chains, journals and COPYs them in the same process. The number is
CPU time (user + system, all threads) of this process per row, minus what the same paced loop
costs without submitting. Postgres's own CPU is not included (it is another process). Every
row is counted in Postgres at the end. Runs against whichever `proxy` package is on the path,
so an older checkout can be measured the same way: PYTHONPATH=/path/to/old.

CPU time still moves by a third on a shared machine. Instruction counts do not: `--burst N`
submits N rows without pacing to the Postgres at --dsn and flushes, so that

    valgrind --tool=cachegrind --cache-sim=no python -m bench.audit_writer --burst 4000 --dsn URL

minus the same with `--burst 0`, divided by N, is the instructions per row (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from proxy.audit import AuditRecord, AuditSettings, AuditWriter
from proxy.db import migrate
from proxy.devstack import EmbeddedPostgres

TICK = 0.001  # submit a few rows every millisecond, like requests finishing


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def request_row(n: int) -> AuditRecord:
    """The fields audit_record() fills for an allowed, non-streamed chat completion."""
    return AuditRecord(
        request_id=f"{n:032x}",
        event_time=datetime.now(UTC),
        decision="allow",
        status=200,
        latency_ms=3.2,
        tenant="bench",
        key_id="k_0123456789",
        route="/v1",
        upstream="openai",
        format="openai",
        model="echo-1",
        upstream_status=200,
        request_bytes=96,
        response_bytes=310,
        prompt_tokens=16,
        completion_tokens=16,
        upstream_ms=1.2,
        overhead_ms=0.4,
        request_sha256=hashlib.sha256(b"%d" % n).digest(),
        response_sha256=hashlib.sha256(b"r%d" % n).digest(),
        policy_version="4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    )


async def paced(rate: int, seconds: float, submit: Any) -> int:
    per_tick, count = max(rate * TICK, 1), 0
    end, next_tick = time.monotonic() + seconds, time.monotonic()
    owed = 0.0
    while time.monotonic() < end:
        owed += per_tick
        while owed >= 1:
            submit(count)
            count, owed = count + 1, owed - 1
        next_tick += TICK
        await asyncio.sleep(max(next_tick - time.monotonic(), 0))
    return count


async def one_round(url: str, spool: Path, rate: int, seconds: float, signer: Any) -> float:
    idle_start = cpu_seconds()
    await paced(rate, seconds, lambda n: None)
    idle = cpu_seconds() - idle_start
    options = {"signer": signer} if signer is not None else {}
    writer = AuditWriter(AuditSettings(spool_dir=str(spool)), url, **options)
    await writer.start()
    start = cpu_seconds()
    rows = await paced(rate, seconds, lambda n: writer.submit(request_row(n)))
    await writer.stop()  # flushes: every row submitted is stored before the clock stops
    busy = cpu_seconds() - start
    conn = await asyncpg.connect(url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM audit_events")
        await conn.execute("TRUNCATE audit_events")
    finally:
        await conn.close()
    if stored != rows:
        sys.exit(f"only {stored} of {rows} rows were stored")
    return (busy - idle) / rows * 1e6


async def burst(dsn: str, rows: int) -> None:
    # Generous timeouts: under valgrind everything is ~50x slower, and a retried batch
    # would count twice.
    settings = AuditSettings(shutdown_timeout_seconds=3600, write_timeout_seconds=3600)
    with tempfile.TemporaryDirectory(prefix="warden-bench-audit-") as tmp:
        writer = AuditWriter(replace(settings, spool_dir=str(Path(tmp) / "spool")), dsn)
        await writer.start()
        for n in range(rows):
            writer.submit(request_row(n))
            if n % 50 == 49:  # as requests would, let the writer run now and then
                await asyncio.sleep(0.001)
        await writer.stop()
    print(f"{rows} rows submitted, {writer.rows_written} written", file=sys.stderr)


def make_signer() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from proxy.audit.checkpoint import CheckpointSigner

    return CheckpointSigner(Ed25519PrivateKey.generate())


async def run(rate: int, seconds: float, rounds: int, sign: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="warden-bench-audit-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", fsync=False)
        await asyncio.to_thread(pg.start)
        try:
            pool = await asyncpg.create_pool(pg.url, min_size=1, max_size=1)
            await migrate(pool)
            await pool.close()
            signer = make_signer() if sign else None
            results = []
            for n in range(rounds):
                spool = Path(tmp) / f"spool-{n}"
                per_row = await one_round(pg.url, spool, rate, seconds, signer)
                results.append(per_row)
                print(f"  round {n + 1}/{rounds}: {per_row:7.1f} us CPU per row")
        finally:
            await asyncio.to_thread(pg.stop)
    print(
        f"audit writer ({'signed checkpoints' if sign else 'no signing key'}), {rate} rows/s "
        f"for {seconds:g} s: median {statistics.median(results):.1f} us CPU per row, "
        f"min {min(results):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="rows per second (default 2000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per round (default 5)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sign", action="store_true", help="with an Ed25519 signing key")
    parser.add_argument("--burst", type=int, help="submit this many rows unpaced, then exit")
    parser.add_argument("--dsn", help="with --burst: a migrated Postgres to write to")
    args = parser.parse_args()
    if args.burst is not None:
        if not args.dsn:
            parser.error("--burst needs --dsn")
        asyncio.run(burst(args.dsn, args.burst))
    else:
        asyncio.run(run(args.rate, args.seconds, args.rounds, args.sign))


if __name__ == "__main__":
    main()
