"""Load benchmark: the same upstream called directly, through a bare pass-through, through Warden.

Run from the repo root: `python -m bench.load` (see bench/README.md). Everything it starts
(embedded Postgres and Redis, the upstream, the pass-through, Warden) listens on 127.0.0.1
only and is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import http_parser

import proxy
from bench import servers
from proxy import event_loop
from proxy.apikeys import create_key
from proxy.config import Settings, settings_from_mapping
from proxy.devstack import EmbeddedPostgres
from proxy.server import migrate_once

TARGETS = ("direct", "passthrough", "warden")
DATABASE = "warden_bench"
PATH = "/v1/chat/completions"
# The project's targets: Warden may add at most 1.5x what a bare aiohttp proxy adds at p50,
# and must keep at least 70% of its throughput.
MAX_ADDED_P50_RATIO = 1.5
MIN_RPS_RATIO = 0.70
# With everything shipped switched on (policies, scanners both ways, rate limits, audit):
# at least half the pass-through's throughput, at most 1.5 ms added to the p50 of one caller.
SHIPPED_MIN_RPS_RATIO = 0.50
SHIPPED_MAX_ADDED_P50_MS = 1.5
SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies"
_HUGE = 10**9
# config.yaml's rate_limit with every kind of limit on, all too high to refuse anything, so
# the whole cost is measured and nothing is turned away.
SHIPPED_RATE_LIMIT: Json = {
    "timeout": 1.0,  # a busy 2-core box must not fail open and skip the work being measured
    "defaults": {
        "key": {"requests_per_minute": _HUGE, "tokens_per_minute": _HUGE, "max_concurrent": _HUGE},
        "tenant": {"requests_per_minute": _HUGE},
        "model": {"echo-*": {"tokens_per_minute": _HUGE}},
        "key_budget": {"daily_usd": _HUGE},
        "tenant_budget": {"monthly_usd": _HUGE},
    },
    "prices": {"echo-*": {"input": 2.5, "output": 10}},
}
_STREAM_END = b"data: [DONE]\n\n"
_WORDS = "the quick brown fox jumps over the lazy dog".split()

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    title: str
    stream: bool
    body: bytes


def workloads(words: int, only: str | None = None) -> list[Workload]:
    prompt = " ".join(_WORDS[i % len(_WORDS)] for i in range(words))

    def body(stream: bool) -> bytes:
        messages = [{"role": "user", "content": prompt}]
        return orjson.dumps({"model": "echo-1", "messages": messages, "stream": stream})

    every = [
        Workload("chat", f"non-streaming chat completions (POST {PATH})", False, body(False)),
        Workload("chat_stream", f"streaming chat completions (POST {PATH}, SSE)", True, body(True)),
    ]
    return [w for w in every if only is None or w.name == only]


@dataclass(slots=True)
class Phase:
    """What one target answered in one timed phase; latencies in seconds, successes only."""

    latencies: list[float] = field(default_factory=list)
    first_bytes: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    elapsed: float = 0.0
    # CPU seconds the serving process (upstream, pass-through or Warden) spent in the phase;
    # unlike RPS it barely moves when a neighbour steals one of the few cores. None off Linux.
    server_cpu: float | None = 0.0

    def fail(self, why: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = why

    def merge(self, other: Phase) -> None:
        self.latencies += other.latencies
        self.first_bytes += other.first_bytes
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.elapsed += other.elapsed
        if self.server_cpu is not None and other.server_cpu is not None:
            self.server_cpu += other.server_cpu
        else:
            self.server_cpu = None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class TargetDown(Exception):
    """A server stopped accepting connections: every further request would only be refused."""


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    workload: Workload,
    headers: dict[str, str],
    deadline: float,
    phase: Phase,
) -> None:
    perf = time.perf_counter
    while perf() < deadline:
        first_byte: float | None = None
        begin = perf()
        try:
            async with session.post(url, data=workload.body, headers=headers) as response:
                if workload.stream:
                    tail = await response.content.readany()
                    first_byte = perf() - begin
                    async for chunk in response.content.iter_any():
                        tail = tail[-len(_STREAM_END) :] + chunk
                    # The last event proves the whole stream was relayed, not just its start.
                    complete = tail.endswith(_STREAM_END)
                else:
                    await response.read()
                    complete = True
                end = perf()
                status = response.status
        except aiohttp.ClientConnectorError as exc:
            raise TargetDown(f"cannot connect to {url}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            phase.fail(repr(exc))
            continue
        if status != 200 or not complete:
            phase.fail(f"status {status}" + ("" if complete else ", stream cut short"))
            continue
        phase.latencies.append(end - begin)
        if first_byte is not None:
            phase.first_bytes.append(first_byte)


async def _run_phase(
    session: aiohttp.ClientSession,
    url: str,
    workload: Workload,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
) -> Phase:
    """A closed loop: each of `concurrency` callers sends its next request when one returns."""
    phase = Phase()
    started = time.perf_counter()
    deadline = started + seconds
    try:
        # A TaskGroup, unlike gather, stops the other callers as soon as one fails.
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(_worker(session, url, workload, headers, deadline, phase))
    except* TargetDown as failed:
        raise failed.exceptions[0] from None
    phase.elapsed = time.perf_counter() - started
    return phase


async def measure(
    url: str, server_pid: int, workload: Workload, headers: dict[str, str], args: argparse.Namespace
) -> Phase:
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm-up opens every connection and fills every cache; its numbers are dropped.
        await _run_phase(session, url, workload, headers, args.concurrency, args.warmup)
        cpu_before = cpu_seconds(server_pid)
        phase = await _run_phase(session, url, workload, headers, args.concurrency, args.duration)
        cpu_after = cpu_seconds(server_pid)
    if cpu_before is None or cpu_after is None:
        phase.server_cpu = None
    else:
        phase.server_cpu = cpu_after - cpu_before
    return phase


async def run_all(
    children: dict[str, servers.Child], api_key: str, args: argparse.Namespace
) -> dict[str, dict[str, Phase]]:
    # Every target gets the same headers; the upstream and the pass-through ignore the key.
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    results = {w.name: {t: Phase() for t in TARGETS} for w in workloads(args.words, args.workload)}
    for round_no in range(args.rounds):
        # Rotating the order spreads slow drift (thermal, noisy neighbours) over all targets.
        order = TARGETS[round_no % 3 :] + TARGETS[: round_no % 3]
        for workload in workloads(args.words, args.workload):
            for target in order:
                print(
                    f"  round {round_no + 1}/{args.rounds}  {workload.name:<11}  {target:<11}",
                    end="",
                    flush=True,
                )
                child = children[target]
                url = child.url + PATH
                phase = await measure(url, child.process.pid, workload, headers, args)
                rate = len(phase.latencies) / phase.elapsed
                print(f"  {rate:8.1f} req/s  {phase.errors} errors", flush=True)
                results[workload.name][target].merge(phase)
    return results


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    errors: int
    first_error: str | None
    rps: float
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    server_cpu_us_per_request: float | None


def _p50_p99_ms(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        only = values[0] * 1000 if values else math.nan
        return only, only
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def summarize(phase: Phase) -> Summary:
    p50, p99 = _p50_p99_ms(phase.latencies)
    ttfb = _p50_p99_ms(phase.first_bytes) if phase.first_bytes else (None, None)
    return Summary(
        requests=len(phase.latencies),
        errors=phase.errors,
        first_error=phase.first_error,
        rps=len(phase.latencies) / phase.elapsed if phase.elapsed else 0.0,
        p50_ms=p50,
        p99_ms=p99,
        ttfb_p50_ms=ttfb[0],
        ttfb_p99_ms=ttfb[1],
        server_cpu_us_per_request=(
            phase.server_cpu / len(phase.latencies) * 1e6
            if phase.server_cpu is not None and phase.latencies
            else None
        ),
    )


@dataclass(frozen=True, slots=True)
class Check:
    workload: str
    name: str
    warden: float
    passthrough: float
    ratio: float | None
    limit: float
    at_most: bool

    @property
    def verdict(self) -> str:
        if self.ratio is None:
            return "N/A"
        ok = self.ratio <= self.limit if self.at_most else self.ratio >= self.limit
        return "PASS" if ok else "FAIL"


def _added_check(workload: str, name: str, warden: float, passthrough: float) -> Check:
    # A pass-through that adds nothing measurable leaves no denominator to compare against.
    ratio = warden / passthrough if passthrough > 0 else None
    return Check(workload, name, warden, passthrough, ratio, MAX_ADDED_P50_RATIO, True)


def shipped_checks_for(workload: Workload, s: dict[str, Summary], concurrency: int) -> list[Check]:
    """The targets with everything shipped on: throughput ratio, and what Warden adds to the
    p50 of a single caller (compared with calling the upstream directly)."""
    direct, passthrough, warden = s["direct"], s["passthrough"], s["warden"]
    rps_ratio = warden.rps / passthrough.rps if passthrough.rps else None
    result = [
        Check(
            workload.name,
            "RPS",
            warden.rps,
            passthrough.rps,
            rps_ratio,
            SHIPPED_MIN_RPS_RATIO,
            False,
        )
    ]
    # Added latency is a target at concurrency 1 only: above it, it is mostly queueing.
    added = warden.p50_ms - direct.p50_ms if concurrency == 1 else None
    result.append(
        Check(
            workload.name,
            "added p50 ms, c=1",
            warden.p50_ms,
            direct.p50_ms,
            added,
            SHIPPED_MAX_ADDED_P50_MS,
            True,
        )
    )
    return result


def checks_for(workload: Workload, s: dict[str, Summary]) -> list[Check]:
    direct, passthrough, warden = s["direct"], s["passthrough"], s["warden"]
    result = [
        _added_check(
            workload.name,
            "added p50 (total)",
            warden.p50_ms - direct.p50_ms,
            passthrough.p50_ms - direct.p50_ms,
        )
    ]
    if workload.stream:
        # No stream got through (every answer an error) leaves no TTFB: NaN fails the check.
        ttfb = {t: math.nan if v.ttfb_p50_ms is None else v.ttfb_p50_ms for t, v in s.items()}
        result.append(
            _added_check(
                workload.name,
                "added p50 (TTFB)",
                ttfb["warden"] - ttfb["direct"],
                ttfb["passthrough"] - ttfb["direct"],
            )
        )
    rps_ratio = warden.rps / passthrough.rps if passthrough.rps else None
    result.append(
        Check(workload.name, "RPS", warden.rps, passthrough.rps, rps_ratio, MIN_RPS_RATIO, False)
    )
    return result


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        # The pure-Python HTTP parser is several times slower and would skew every number.
        "aiohttp_c_parser": http_parser.HttpRequestParser is not http_parser.HttpRequestParserPy,
        "asyncpg": asyncpg.__version__,
        "orjson": orjson.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _added(value: float | None, base: float | None) -> str:
    if value is None or base is None or math.isnan(value - base):
        return "-"
    return f"{value - base:+.2f}"


def print_table(workload: Workload, s: dict[str, Summary]) -> None:
    print(f"\n{workload.title}")
    head = f"{'target':<12}{'requests':>9}{'errors':>7}{'RPS':>9}{'cpu us/req':>11}"
    head += f"{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}"
    if workload.stream:
        head += f"{'ttfb p50':>10}{'ttfb p99':>10}{'+ttfb p50':>11}{'+ttfb p99':>11}"
    print(head)
    print("-" * len(head))
    base = s["direct"]
    for target in TARGETS:
        row = s[target]
        is_base = target == "direct"
        line = f"{target:<12}{row.requests:>9}{row.errors:>7}{row.rps:>9.1f}"
        line += f"{_us(row.server_cpu_us_per_request):>11}"
        line += f"{_ms(row.p50_ms):>9}{_ms(row.p99_ms):>9}"
        line += f"{'-' if is_base else _added(row.p50_ms, base.p50_ms):>9}"
        line += f"{'-' if is_base else _added(row.p99_ms, base.p99_ms):>9}"
        if workload.stream:
            line += f"{_ms(row.ttfb_p50_ms):>10}{_ms(row.ttfb_p99_ms):>10}"
            line += f"{'-' if is_base else _added(row.ttfb_p50_ms, base.ttfb_p50_ms):>11}"
            line += f"{'-' if is_base else _added(row.ttfb_p99_ms, base.ttfb_p99_ms):>11}"
        print(line)
    warden_cpu = s["warden"].server_cpu_us_per_request
    passthrough_cpu = s["passthrough"].server_cpu_us_per_request
    if warden_cpu is not None and passthrough_cpu:
        print(
            f"  Warden's own CPU per request beyond the pass-through: "
            f"{warden_cpu - passthrough_cpu:+.0f} us (x{warden_cpu / passthrough_cpu:.2f})"
        )
    for target in TARGETS:
        if s[target].first_error:
            print(f"  {target}: {s[target].errors} errors, first: {s[target].first_error}")


def print_shipped_checks(checks: list[Check]) -> None:
    print(
        f"\nTargets with the shipped setup: RPS ratio >= {SHIPPED_MIN_RPS_RATIO:.2f};"
        f" added p50 <= {SHIPPED_MAX_ADDED_P50_MS} ms at concurrency 1 (warden p50 - direct p50)"
    )
    for c in checks:
        if c.name == "RPS":
            detail = f"warden {c.warden:.2f} req/s / passthrough {c.passthrough:.2f} req/s"
            value = "n/a" if c.ratio is None else f"{c.ratio:.2f}"
        else:
            detail = f"warden {c.warden:.2f} ms - direct {c.passthrough:.2f} ms"
            value = "n/a (run --concurrency 1)" if c.ratio is None else f"+{c.ratio:.2f} ms"
        bound = f"{'<=' if c.at_most else '>='} {c.limit}"
        print(f"  {c.workload:<12}{c.name:<18} {detail} = {value}  ({bound})  {c.verdict}")


def print_checks(checks: list[Check]) -> None:
    print(
        f"\nTargets (Warden vs pass-through): added p50 ratio <= {MAX_ADDED_P50_RATIO},"
        f" RPS ratio >= {MIN_RPS_RATIO:.2f}"
    )
    for c in checks:
        unit = "req/s" if c.name == "RPS" else "ms"
        sign = "" if c.name == "RPS" else "+"
        ratio = "n/a" if c.ratio is None else f"{c.ratio:.2f}"
        bound = f"{'<=' if c.at_most else '>='} {c.limit}"
        print(
            f"  {c.workload:<12}{c.name:<18} warden {sign}{c.warden:.2f} {unit} /"
            f" passthrough {sign}{c.passthrough:.2f} {unit} = {ratio:>5}  ({bound})  {c.verdict}"
        )


# Warden reads secrets only from ${ENV} references; this one is passed to its process.
WARDEN_ENV = {"BENCH_UPSTREAM_KEY": "sk-bench-not-a-real-key"}


def warden_config(
    upstream_url: str, database_url: str, redis_url: str, tmp: Path, policies: Path, audit: bool
) -> Json:
    """The shipped config.yaml's values, pointed at the bench services and a policy folder."""
    return {
        "policies": {"dir": str(policies.resolve())},
        "listen": {
            "proxy": {"host": servers.HOST, "port": 0},
            "admin": {"host": servers.HOST, "port": 0},
        },
        "postgres": {"url": database_url, "pool_min": 1, "pool_max": 10, "migrate_on_start": False},
        "redis": {"url": redis_url},
        "upstreams": {
            "openai": {
                "url": upstream_url,
                "credential": {
                    "header": "authorization",
                    "prefix": "Bearer ",
                    "value": "${BENCH_UPSTREAM_KEY}",
                },
            }
        },
        "routes": [{"prefix": "/v1", "upstream": "openai", "format": "openai"}],
        # Kept out of the checkout: anything Warden spools must vanish with the temp dir.
        "audit": {"enabled": audit, "spool_dir": str(tmp / "spool")},
        # Production's setting: one request line per request at info, so its cost is measured.
        "logging": {"level": "info", "requests": True},
    }


async def prepare_database(pg: EmbeddedPostgres, settings: Settings) -> str:
    """Create and migrate the bench database; return a fresh Warden API key for it."""
    conn = await asyncpg.connect(pg.url)
    try:
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    await migrate_once(settings)
    conn = await asyncpg.connect(settings.postgres.url)
    try:
        _, full_key = await create_key(conn, "bench", "load benchmark")
    finally:
        await conn.close()
    return full_key


def _request_log_lines(path: Path) -> int:
    try:
        with path.open("rb") as log:
            return sum(1 for line in log if b'"msg":"request"' in line)
    except OSError:
        return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured s (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up s (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over all targets")
    parser.add_argument("--words", type=int, default=16, help="prompt words = streamed chunks")
    parser.add_argument(
        "--workload",
        choices=("chat", "chat_stream"),
        help="run only this workload (default: both), e.g. to profile one",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write results as JSON")
    parser.add_argument(
        "--no-audit",
        action="store_true",
        help="turn the audit writer off, to measure the proxy core alone (default: on)",
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="everything shipped on: policies/, rate limits (never refusing) and the audit;"
        " checks the scanner issue's targets instead of the core's",
    )
    parser.add_argument(
        "--policies",
        type=Path,
        metavar="DIR",
        help="policy folder for Warden, e.g. policies/ for the shipped set (default: none)",
    )
    servers.add_passthrough_loop_option(parser)
    parser.add_argument(
        "--profile-warden",
        type=Path,
        metavar="PATH",
        help="run Warden under cProfile and write its pstats here (slows Warden down)",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.rounds < 1 or args.words < 1:
        parser.error("--concurrency, --rounds and --words must be at least 1")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if args.shipped and (args.no_audit or args.policies is not None):
        parser.error("--shipped turns on the shipped policies and the audit by itself")
    if args.shipped:
        args.policies = SHIPPED_POLICIES
    return args


def _run_targets(
    stack: servers.Stack, args: argparse.Namespace
) -> tuple[dict[str, dict[str, Phase]], int]:
    """Start the upstream, the pass-through and Warden on the stack; measure them all.
    Returns the phases and how many request lines Warden logged."""
    upstream = stack.start("upstream")
    policies = args.policies
    if policies is None:
        policies = stack.tmp / "no-policies"
        policies.mkdir()
    config = warden_config(
        upstream.url,
        stack.pg.url_for(DATABASE),
        stack.redis.url,
        stack.tmp,
        policies,
        not args.no_audit,
    )
    if args.shipped:
        config["rate_limit"] = SHIPPED_RATE_LIMIT
    settings = settings_from_mapping(config, WARDEN_ENV)
    api_key = asyncio.run(prepare_database(stack.pg, settings))
    stack.start("passthrough", upstream.url, "--event-loop", args.passthrough_loop)
    warden_log = stack.tmp / "warden.log"
    warden_args = [orjson.dumps(config).decode(), str(warden_log)]
    if args.profile_warden:
        warden_args += ["--profile", str(args.profile_warden.resolve())]
    stack.start("warden", *warden_args, env=WARDEN_ENV)
    # "direct" is served by the upstream itself; the others by their proxy process.
    targets = dict(zip(TARGETS, stack.children, strict=True))
    print(
        "  processes:   load generator (this, pid "
        f"{os.getpid()}), "
        + ", ".join(f"{c.name} pid {c.process.pid}" for c in stack.children)
        + ", Postgres, Redis"
    )
    print(
        f"  warden:      policies: {args.policies or 'none'} (scanning only for phases"
        f" with rules); audit {'off' if args.no_audit else 'on'};"
        f" rate limits {'on (never refusing)' if args.shipped else 'off'}; request log at info,"
        " written to a file; key cache TTL"
        f" {settings.keys.cache_ttl_seconds:g} s"
        + ("; UNDER cProfile" if args.profile_warden else "")
    )
    warden_loop = "uvloop" if event_loop.loop_factory(settings.listen.event_loop) else "asyncio"
    print(f"  event loops: pass-through {args.passthrough_loop}, warden {warden_loop}")
    # Warden's process imports this same tree, so it runs the build this one found.
    print(f"  warden build: {proxy.BUILD.describe()}")
    print()
    phases = asyncio.run(run_all(targets, api_key, args))
    return phases, _request_log_lines(warden_log)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print("Warden load benchmark")
    print(
        f"  environment: {env['cores']} cores ({env['usable_cores']} usable), {env['cpu']},"
        f" {env['platform']}"
    )
    print(
        f"  versions:    Python {env['python']}, aiohttp {env['aiohttp']}"
        f" (C parser: {'yes' if env['aiohttp_c_parser'] else 'NO'}), asyncpg {env['asyncpg']},"
        f" orjson {env['orjson']}"
    )
    # Anything already running competes for the same few cores and shows up as noise.
    print(f"  load avg:    {' '.join(f'{x:.2f}' for x in env['load_average_at_start'])}")
    print(
        f"  parameters:  concurrency {args.concurrency}, warm-up {args.warmup:g} s, measured"
        f" {args.duration:g} s per target per workload, rounds {args.rounds},"
        f" prompt {args.words} words"
    )
    try:
        with servers.embedded_stack("warden-bench-") as stack:
            phases, log_lines = _run_targets(stack, args)
    except TargetDown as exc:
        print(f"\naborted: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130

    report: dict[str, Any] = {"environment": env, "parameters": params, "workloads": {}}
    all_checks: list[Check] = []
    for workload in workloads(args.words, args.workload):
        summaries = {t: summarize(phases[workload.name][t]) for t in TARGETS}
        print_table(workload, summaries)
        if args.shipped:
            checks = shipped_checks_for(workload, summaries, args.concurrency)
        else:
            checks = checks_for(workload, summaries)
        all_checks += checks
        report["workloads"][workload.name] = {
            "title": workload.title,
            "targets": {t: asdict(s) for t, s in summaries.items()},
            "checks": [asdict(c) | {"verdict": c.verdict} for c in checks],
        }
    if args.shipped:
        print_shipped_checks(all_checks)
    else:
        print_checks(all_checks)
    verdicts = {c.verdict for c in all_checks}
    overall = "FAIL" if "FAIL" in verdicts else "PASS" if verdicts == {"PASS"} else "N/A"
    report["overall"] = overall
    report["warden_request_log_lines"] = log_lines
    print(f"\nOverall: {overall}")
    print(f"Warden wrote {log_lines} request log lines (warm-up included).")
    if args.profile_warden:
        print(f"Warden profile: {args.profile_warden} (python -m pstats; sort tottime)")
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"Results written to {args.json}")
    errors = sum(phases[w][t].errors for w in phases for t in TARGETS)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
