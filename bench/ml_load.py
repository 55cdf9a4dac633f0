"""demo-iris predictions through Warden with and without ML governance, closed loop.

Usage: python -m bench.ml_load [--concurrency N] [--duration S] [--warmup S] [--instances K]
                               [--rounds R]

Targets, each a separate process in front of the same demo upstream (`bench.servers`):
- `plain`: Warden with no policies and `ml.enabled: false` (authentication, routing, audit);
- `governed`: Warden with the shipped policies/ml.yaml (the demo-iris input contract, a
  response rule on ML risk) and ML statistics on: the contract check, ML risk per answer,
  statistics merged into Redis every 0.5 s.

Latency is noisy on shared machines; Warden's CPU time per request (from /proc) is the number
to read: the difference is what governing a prediction costs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import servers
from bench.load import (
    DATABASE,
    WARDEN_ENV,
    Phase,
    Summary,
    Workload,
    measure,
    prepare_database,
    summarize,
    warden_config,
)
from proxy.config import settings_from_mapping

_REPO = Path(__file__).resolve().parent.parent
PATH = "/ml/v2/models/demo-iris/infer"


def ml_config(base: dict[str, Any], upstream_url: str, governed: bool) -> dict[str, Any]:
    config = {**base}
    config["upstreams"] = {**base["upstreams"], "ml": {"url": upstream_url}}
    config["routes"] = [{"prefix": "/ml/", "upstream": "ml", "format": "kserve", "rewrite": "/"}]
    config["ml"] = {"enabled": governed, "baseline_requests": 200}
    return config


def workload(instances: int) -> Workload:
    rng = random.Random(3)
    centres = ((5.0, 3.4, 1.5, 0.2), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.0))
    rows = [
        [max(0.1, round(rng.gauss(c, 0.3), 2)) for c in centres[i % 3]] for i in range(instances)
    ]
    tensor = {"name": "input-0", "shape": [instances, 4], "datatype": "FP32", "data": rows}
    body = orjson.dumps({"inputs": [tensor]})
    return Workload("iris", f"KServe v2 infer, {instances} instance(s)", False, body)


def print_row(name: str, s: Summary) -> None:
    cpu = s.server_cpu_us_per_request
    print(
        f"  {name:<9} {s.requests:>7} req  {s.rps:>8.0f} rps  p50 {s.p50_ms:>6.2f} ms"
        f"  p99 {s.p99_ms:>6.2f} ms  Warden CPU {cpu if cpu is None else round(cpu):>5} µs/req"
        f"  errors {s.errors}" + (f" ({s.first_error})" if s.first_error else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ml_load", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--profile-governed", type=Path, metavar="PATH", help="cProfile stats")
    args = parser.parse_args(argv)
    with servers.embedded_stack("warden-bench-ml-") as stack:
        tmp, pg = stack.tmp, stack.pg
        upstream = stack.start("upstream")
        empty, ml_policies = tmp / "no-policies", tmp / "ml-policies"
        empty.mkdir()
        ml_policies.mkdir()
        shutil.copy(_REPO / "policies" / "ml.yaml", ml_policies / "ml.yaml")
        for name, policies, ml_on in (("plain", empty, False), ("governed", ml_policies, True)):
            base = warden_config(
                upstream.url, pg.url_for(DATABASE), stack.redis.url, tmp, policies, True
            )
            config = ml_config(base, upstream.url, ml_on)
            if name == "plain":
                api_key = asyncio.run(
                    prepare_database(pg, settings_from_mapping(config, WARDEN_ENV))
                )
            child_args = [orjson.dumps(config).decode(), str(tmp / f"{name}.log")]
            if ml_on and args.profile_governed:
                child_args += ["--profile", str(args.profile_governed.resolve())]
            stack.start("warden", *child_args, env=WARDEN_ENV)
        children = stack.children
        load = workload(args.instances)
        headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        print(
            f"{load.title}; concurrency {args.concurrency}, {args.duration:g} s per target"
            f" per round, {args.rounds} rounds"
        )
        phases: dict[str, Phase] = {}
        # Alternating rounds, so neither target always runs second on a warmer (or busier) box.
        order = [("plain", children[1]), ("governed", children[2])]
        for round_number in range(args.rounds):
            for name, child in order if round_number % 2 == 0 else order[::-1]:
                url = child.url + PATH
                phase = asyncio.run(measure(url, child.process.pid, load, headers, args))
                phases.setdefault(name, Phase()).merge(phase)
        results = {name: summarize(phase) for name, phase in phases.items()}
        for name in ("plain", "governed"):
            print_row(name, results[name])
        plain, governed = results["plain"], results["governed"]
        if plain.server_cpu_us_per_request and governed.server_cpu_us_per_request:
            added = governed.server_cpu_us_per_request - plain.server_cpu_us_per_request
            print(f"  ML governance adds {added:.0f} µs of Warden CPU per prediction")
        return 1 if plain.errors or governed.errors else 0


if __name__ == "__main__":
    sys.exit(main())
