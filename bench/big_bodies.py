"""Big bodies: what small requests see while Warden scans a multi-megabyte one.

Usage: python -m bench.big_bodies [--duration 10] [--big-mb 2] [--big-every 1]

One client sends small chat requests one after another (concurrency 1) for `--duration`
seconds; another sends a big one (`--big-mb` MB of prose in one message, echoed back by the
model, so the answer is as big) every `--big-every` seconds. Warden runs with the shipped
policies (every scanner on prompts, PII and secrets on answers) three times:

- `no big requests`: the small requests alone, the baseline;
- `big, scanned inline`: `scanning.thread_above_chars: 0`, every scan on the event loop;
- `big, scanning process`: the default, scans above 64 K characters in a scanning process.

Printed: the small requests' p50 / p99 / max latency and count, and the big ones' p50.
Everything runs on 127.0.0.1 in a temp dir that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import servers
from bench.load import DATABASE, WARDEN_ENV, prepare_database, warden_config
from bench.scan_speed import prose
from proxy.config import settings_from_mapping

_REPO = Path(__file__).resolve().parent.parent
PATH = "/v1/chat/completions"


def body(text: str) -> bytes:
    return orjson.dumps({"model": "echo-1", "messages": [{"role": "user", "content": text}]})


async def small_loop(
    session: aiohttp.ClientSession, url: str, key: str, until: float
) -> list[float]:
    payload = body("please summarise the report for the team before friday, thanks a lot")
    latencies: list[float] = []
    while time.perf_counter() < until:
        started = time.perf_counter()
        async with session.post(url, data=payload, headers=_headers(key)) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"small request answered {response.status}")
        latencies.append(time.perf_counter() - started)
    return latencies


async def big_loop(
    session: aiohttp.ClientSession, url: str, key: str, until: float, size: int, every: float
) -> list[float]:
    text = prose(size) + " write to jane.doe@example.com"
    payload = body(text)
    latencies: list[float] = []
    while time.perf_counter() + every < until:
        await asyncio.sleep(every)
        started = time.perf_counter()
        async with session.post(url, data=payload, headers=_headers(key)) as response:
            answer = await response.read()
            if response.status != 200 or b"[EMAIL_1]" not in answer:
                raise RuntimeError(f"big request answered {response.status}")
        latencies.append(time.perf_counter() - started)
    return latencies


def _headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


async def measure(url: str, key: str, args: argparse.Namespace, big: bool) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await small_loop(session, url, key, time.perf_counter() + 1.0)  # warm-up
        size = int(args.big_mb * 1_000_000)
        if big:  # the first big scan starts the scanning process: not what is measured
            await big_loop(session, url, key, time.perf_counter() + 0.02, size, 0.01)
        until = time.perf_counter() + args.duration
        tasks = [small_loop(session, url, key, until)]
        if big:
            tasks.append(big_loop(session, url, key, until, size, args.big_every))
        results = await asyncio.gather(*tasks)
    small = sorted(results[0])
    return {
        "small": small,
        "big": results[1] if big else [],
    }


def run_variant(
    name: str, offload_above: int, big: bool, args: argparse.Namespace, base: dict[str, Any]
) -> dict[str, Any]:
    config = {**base["config"], "scanning": {"offload_above_chars": offload_above}}
    log = base["tmp"] / f"warden-{offload_above}.log"
    child = servers.start_child("warden", orjson.dumps(config).decode(), str(log), env=WARDEN_ENV)
    try:
        result = asyncio.run(measure(child.url + PATH, base["key"], args, big))
    finally:
        servers.stop_child(child.process)
    return {"name": name, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured s per variant")
    parser.add_argument("--big-mb", type=float, default=2.0, help="big prompt size, MB")
    parser.add_argument("--big-every", type=float, default=1.0, help="s between big requests")
    args = parser.parse_args(argv)
    rows = []
    with servers.embedded_stack("warden-bench-big-") as stack:
        upstream = stack.start("upstream")
        config = warden_config(
            upstream.url,
            stack.pg.url_for(DATABASE),
            stack.redis.url,
            stack.tmp,
            _REPO / "policies",
            True,
        )
        config["limits"] = {"max_body_bytes": 64 * 1024 * 1024}
        key = asyncio.run(prepare_database(stack.pg, settings_from_mapping(config, WARDEN_ENV)))
        base = {"config": config, "tmp": stack.tmp, "key": key}
        rows.append(run_variant("no big requests", 65_536, False, args, base))
        rows.append(run_variant("big, scanned inline", 0, True, args, base))
        rows.append(run_variant("big, scanning process", 65_536, True, args, base))
    print(
        f"## Small requests while {args.big_mb:g} MB ones are scanned (one every "
        f"{args.big_every:g} s), shipped policies, {args.duration:g} s each\n"
    )
    print("| variant | small p50 | small p99 | small max | small count | big p50 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        small = row["small"]
        big = row["big"]
        big_p50 = f"{statistics.median(big) * 1e3:.0f} ms ({len(big)})" if big else "-"
        print(
            f"| {row['name']} | {statistics.median(small) * 1e3:.2f} ms | "
            f"{small[int(len(small) * 0.99)] * 1e3:.2f} ms | {small[-1] * 1e3:.1f} ms | "
            f"{len(small)} | {big_p50} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
