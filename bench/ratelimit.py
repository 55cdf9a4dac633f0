"""What rate limiting adds: latency through the proxy with vs without limits, Redis round trips.

Usage: python -m bench.ratelimit [--concurrency 1] [--duration 5] [--rounds 3] [--no-audit]

Three Warden processes on the same Postgres, Redis and simulated upstream, identical but for
`rate_limit`: one with limits off, and two with a realistic set that never refuses (key
requests, tokens and in-flight, tenant requests, model tokens, key and tenant budgets): "no
shares" asks Redis on every request (one Lua call on the request path), "limits" is the
default, where a busy key is admitted from this replica's share (shares.py). Every round
measures all three, in turn, with the same workloads, so the differences of their latencies
are what the rate-limit stage and its settlement add.

Round trips are counted by Redis (INFO commandstats: EVALSHA and EVAL calls) while each Warden
is under load, and split into reserve (on the request path) and settle (after the response)
by Warden's own counters (warden_ratelimit_events_total). Then reserve() alone, in this
process, for the limiter's latency without HTTP around it.

Latency at concurrency 1 is per-request cost without queueing; a shared machine is noisy, so
compare the two targets of one run (the same rounds alternate them), not numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import statistics
import sys
import time
from typing import Any

import aiohttp
import orjson
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families

from bench import load, servers
from proxy.config import settings_from_mapping
from proxy.formats.segments import Usage
from proxy.ratelimit import RateLimiter, RateLimitSettings, RequestContext
from proxy.ratelimit.lua import create_client
from proxy.typed_yaml import read_typed

TARGETS = ("no limits", "no shares", "limits")
# The rate_limit section of the limited Warden, as config.yaml would have it.
LIMITS: dict[str, Any] = load.SHIPPED_RATE_LIMIT
RATE_LIMITS: dict[str, dict[str, Any]] = {
    "no limits": {"enabled": False},
    "no shares": {**LIMITS, "local_share": 0},
    "limits": LIMITS,
}
_SCRIPT_CALLS = ("evalsha", "eval")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((servers.HOST, 0))
        port: int = s.getsockname()[1]
    return port


async def redis_commands(client: redis.Redis) -> collections.Counter[str]:
    stats = await client.info("commandstats")
    return collections.Counter(
        {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
    )


async def warden_counts(session: aiohttp.ClientSession, admin_url: str) -> collections.Counter[str]:
    """Requests served and rate-limiter events, from Warden's own /metrics."""
    async with session.get(f"{admin_url}/metrics") as response:
        text = await response.text()
    counts: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "warden_requests_total":
                counts["requests"] += int(sample.value)
            elif sample.name == "warden_ratelimit_events_total":
                counts[sample.labels["event"]] += int(sample.value)
    return counts


class Tally:
    """Redis commands and Warden counters accumulated over every phase of one target."""

    def __init__(self) -> None:
        self.redis: collections.Counter[str] = collections.Counter()
        self.warden: collections.Counter[str] = collections.Counter()

    def add(self, before: tuple[Any, Any], after: tuple[Any, Any]) -> None:
        self.redis.update(after[0] - before[0])
        self.warden.update(after[1] - before[1])


async def run_proxy(
    urls: dict[str, tuple[str, str, int]], redis_url: str, api_key: str, args: argparse.Namespace
) -> tuple[dict[str, dict[str, load.Phase]], dict[str, Tally]]:
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    phases = {w.name: {t: load.Phase() for t in TARGETS} for w in load.workloads(args.words)}
    tallies = {t: Tally() for t in TARGETS}
    counter = redis.Redis.from_url(redis_url)
    try:
        async with aiohttp.ClientSession() as scrape:

            async def snapshot(target: str) -> tuple[Any, Any]:
                return await redis_commands(counter), await warden_counts(scrape, urls[target][1])

            for round_no in range(args.rounds):
                order = TARGETS if round_no % 2 == 0 else TARGETS[::-1]
                for workload in load.workloads(args.words):
                    for target in order:
                        print(
                            f"  round {round_no + 1}/{args.rounds}  {workload.name:<11}"
                            f"  {target:<9}",
                            end="",
                            flush=True,
                        )
                        before = await snapshot(target)
                        url, _, pid = urls[target]
                        phase = await load.measure(url + load.PATH, pid, workload, headers, args)
                        await asyncio.sleep(0.3)  # the last settlements land after responses
                        tallies[target].add(before, await snapshot(target))
                        phases[workload.name][target].merge(phase)
                        rate = len(phase.latencies) / phase.elapsed
                        print(f"  {rate:8.1f} req/s  {phase.errors} errors", flush=True)
    finally:
        await counter.aclose()
    return phases, tallies


def print_latency(phases: dict[str, dict[str, load.Phase]]) -> None:
    for workload in load.workloads(1):
        s = {t: load.summarize(phases[workload.name][t]) for t in TARGETS}
        print(f"\n{workload.title}")
        head = f"{'target':<11}{'requests':>9}{'errors':>7}{'RPS':>8}{'cpu us/req':>11}"
        head += f"{'p50 ms':>9}{'p99 ms':>9}"
        if workload.stream:
            head += f"{'ttfb p50':>10}{'ttfb p99':>10}"
        print(head)
        print("-" * len(head))
        for target in TARGETS:
            row = s[target]
            line = f"{target:<11}{row.requests:>9}{row.errors:>7}{row.rps:>8.1f}"
            line += f"{load._us(row.server_cpu_us_per_request):>11}"
            line += f"{row.p50_ms:>9.3f}{row.p99_ms:>9.3f}"
            if workload.stream:
                line += f"{load._ms(row.ttfb_p50_ms):>10}{load._ms(row.ttfb_p99_ms):>10}"
            print(line)
        off = s["no limits"]
        for target in TARGETS[1:]:
            on = s[target]
            added = f"  added by {target!r}: p50 {on.p50_ms - off.p50_ms:+.3f} ms,"
            added += f" p99 {on.p99_ms - off.p99_ms:+.3f} ms"
            cpu_on, cpu_off = on.server_cpu_us_per_request, off.server_cpu_us_per_request
            if cpu_on is not None and cpu_off is not None:
                added += f", Warden CPU {cpu_on - cpu_off:+.0f} us per request"
            if workload.stream and on.ttfb_p50_ms is not None and off.ttfb_p50_ms is not None:
                added += f", ttfb p50 {on.ttfb_p50_ms - off.ttfb_p50_ms:+.3f} ms"
            print(added)
        for target in TARGETS:
            if s[target].first_error:
                print(f"  {target}: {s[target].errors} errors, first: {s[target].first_error}")


def print_round_trips(tallies: dict[str, Tally]) -> None:
    print("\nRedis round trips per proxied request (Redis INFO commandstats, Warden /metrics)")
    for target in TARGETS:
        tally = tallies[target]
        requests = tally.warden["requests"]
        if not requests:
            print(f"  {target:<10} no requests counted")
            continue
        scripts = sum(tally.redis[c] for c in _SCRIPT_CALLS)
        admitted, shared = tally.warden["admitted"], tally.warden["share_admitted"]
        # INFO is this benchmark's own call; everything else ran inside the scripts.
        inside = sum(n for c, n in tally.redis.items() if c not in (*_SCRIPT_CALLS, "info"))
        print(
            f"  {target:<10} {scripts / requests:.2f} script calls (EVALSHA/EVAL) per request:"
            f" reserve {(admitted - shared) / requests:.2f} on the request path"
            f" ({shared / requests:.2f} admitted from a share without one),"
            f" settle {tally.warden['settled'] / requests:.2f} after the response"
            f" in {tally.warden['settle_batch'] / requests:.2f} round trips;"
            f" {inside / requests:.1f} commands run inside them; {requests} requests"
        )
        usual = ("requests", "admitted", "share_admitted", "settled", "settle_batch")
        other = {k: v for k, v in tally.warden.items() if k not in usual}
        if other:
            print(f"             limiter events: {dict(other)}")


async def run_limiter(url: str, requests: int, concurrency: int) -> None:
    """reserve() alone, against the same Redis, with the limited Warden's settings."""
    settings, problems = read_typed(RateLimitSettings, LIMITS, {})
    assert isinstance(settings, RateLimitSettings) and not problems, problems
    client = create_client(url, settings.timeout, max_connections=concurrency)
    limiter = RateLimiter(client, settings)
    try:
        await limiter.warm_up()
        # The floor of any Redis call on this machine, to read the numbers below against.
        pings: list[float] = []
        for _ in range(min(requests, 2000)):
            started = time.perf_counter()
            await client.ping()
            pings.append(time.perf_counter() - started)
        latencies: list[float] = []
        queue = iter(range(requests))

        async def worker() -> None:
            for i in queue:
                context = RequestContext(f"t{i % 10}", f"k{i % 100}", "echo-1", "/v1", 300, 500)
                started = time.perf_counter()
                admission = await limiter.reserve(context)
                latencies.append(time.perf_counter() - started)
                assert admission.allowed and not admission.degraded
                await limiter.settle(admission, Usage(280, 120))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        latencies.sort()
        p50 = statistics.median(latencies) * 1e6
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1e6
        print(
            f"\nreserve() alone, {requests} calls at concurrency {concurrency}:"
            f" p50 {p50:,.0f} us, p99 {p99:,.0f} us"
            f" (one PING from here: p50 {statistics.median(pings) * 1e6:,.0f} us)"
        )
    finally:
        await limiter.aclose()
        await client.aclose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=1, help="callers (default 1)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured s per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up s per phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over both targets")
    parser.add_argument("--words", type=int, default=16, help="prompt words = streamed chunks")
    parser.add_argument("--no-audit", action="store_true", help="audit writer off in both")
    parser.add_argument("--limiter-requests", type=int, default=5000, help="reserve() calls")
    args = parser.parse_args(argv)
    if min(args.concurrency, args.rounds, args.words, args.limiter_requests) < 1:
        parser.error("counts must be at least 1")
    return args


def _run_targets(
    stack: servers.Stack, args: argparse.Namespace
) -> dict[str, dict[str, load.Phase]]:
    """Start the upstream and both Wardens on the stack, measure them, print the results."""
    upstream = stack.start("upstream")
    tmp = stack.tmp
    (tmp / "policies").mkdir()
    urls: dict[str, tuple[str, str, int]] = {}
    api_key = ""
    for target in TARGETS:
        config = load.warden_config(
            upstream.url,
            stack.pg.url_for(load.DATABASE),
            stack.redis.url,
            tmp / target.replace(" ", "-"),
            tmp / "policies",
            not args.no_audit,
        )
        admin_port = free_port()
        config["listen"]["admin"]["port"] = admin_port
        config["rate_limit"] = RATE_LIMITS[target]
        if not api_key:
            settings = settings_from_mapping(config, load.WARDEN_ENV)
            api_key = asyncio.run(load.prepare_database(stack.pg, settings))
        log = str(tmp / f"{target.replace(' ', '-')}.log")
        child = stack.start("warden", orjson.dumps(config).decode(), log, env=load.WARDEN_ENV)
        urls[target] = (child.url, f"http://{servers.HOST}:{admin_port}", child.process.pid)
    print()
    phases, tallies = asyncio.run(run_proxy(urls, stack.redis.url, api_key, args))
    print_latency(phases)
    print_round_trips(tallies)
    asyncio.run(run_limiter(stack.redis.url, args.limiter_requests, max(args.concurrency, 1)))
    return phases


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("Warden rate-limit benchmark")
    # Anything already running competes for the same cores and shows up as noise.
    print(f"  load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    print(
        f"  concurrency {args.concurrency}, warm-up {args.warmup:g} s, measured"
        f" {args.duration:g} s per phase, {args.rounds} rounds, audit"
        f" {'off' if args.no_audit else 'on'}"
    )
    phases: dict[str, dict[str, load.Phase]] = {}
    try:
        with servers.embedded_stack("warden-bench-rl-") as stack:
            phases = _run_targets(stack, args)
    except load.TargetDown as exc:
        print(f"\naborted: {exc}", file=sys.stderr)
        return 2
    errors = sum(p.errors for w in phases.values() for p in w.values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
