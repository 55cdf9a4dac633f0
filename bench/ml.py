"""What governing an ML prediction costs: on the request path, and off it in Redis.

Usage: python -m bench.ml [--iterations N] [--observations N] [--models M]

Request path (in process, one core): for demo-iris KServe v2 requests of 1 and 64 instances,
the access decision with the shipped policies (the input contract reads and checks every
instance) and the ML risk of the answer (parse it, top probabilities, outliers against a
snapshot). Off the request path: observations added up and merged into an embedded Redis,
with the script calls and commands Redis itself counted (INFO commandstats).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as redis

from proxy.config import settings_from_mapping
from proxy.demo_upstream.iris import iris_label, iris_probabilities
from proxy.devstack import EmbeddedRedis
from proxy.metrics import Metrics
from proxy.ml.features import Batch, Prediction, numeric_rows
from proxy.ml.observer import ModelObserver, Observation
from proxy.ml.outputs import top_probabilities
from proxy.ml.risk import Moments, combine, confidence_score, outlier_score
from proxy.ml.settings import MlSettings
from proxy.policy import PolicyInput, compile_directory
from proxy.resources import policy_compile_options

_REPO = Path(__file__).resolve().parent.parent
_MODEL = "demo-iris"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris_rows(count: int, rng: random.Random) -> list[list[float]]:
    centres = ((5.0, 3.4, 1.5, 0.2), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.0))
    return [[max(0.1, round(rng.gauss(c, 0.3), 2)) for c in centres[i % 3]] for i in range(count)]


def request_body(rows: list[list[float]]) -> dict[str, Any]:
    tensor = {"name": "input-0", "shape": [len(rows), 4], "datatype": "FP32", "data": rows}
    return {"inputs": [tensor]}


def answer_bytes(rows: list[list[float]]) -> bytes:
    probabilities = [iris_probabilities(row) for row in rows]
    outputs = [
        {"name": "probabilities", "datatype": "FP32", "shape": [len(rows), 3],
         "data": [p for ps in probabilities for p in ps]},
        {"name": "label", "datatype": "BYTES", "shape": [len(rows)],
         "data": [iris_label(ps) for ps in probabilities]},
    ]  # fmt: skip
    return orjson.dumps({"model_name": _MODEL, "outputs": outputs})


def timed(work: Callable[[], object], iterations: int) -> tuple[float, float]:
    """(median, p99) microseconds per call."""
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def moments_of(rows: list[list[float]]) -> dict[str, Moments]:
    stats = {}
    for index, name in enumerate(FEATURES):
        column = [r[index] for r in rows]
        mean = statistics.fmean(column)
        stats[name] = Moments(len(column), mean, sum((x - mean) ** 2 for x in column))
    return stats


def request_path(iterations: int) -> None:
    settings = settings_from_mapping({"upstreams": {}, "routes": []}, {})
    policy = compile_directory(_REPO / "policies", **policy_compile_options(settings))
    rng = random.Random(1)
    stats = moments_of(iris_rows(300, rng))
    ml = MlSettings()
    print(f"request path, per request ({iterations} iterations, median / p99 µs):")
    print(f"  {'instances':>9}  {'contract':>17}  {'ML risk':>17}  {'together':>17}")
    for size in (1, 64):
        rows = iris_rows(size, rng)
        body, answer = request_body(rows), answer_bytes(rows)

        def contract(body: dict[str, Any] = body) -> None:
            # As CheckAccess does: a fresh prediction, so its rows are read on every call.
            prediction = Prediction(_MODEL, "infer", body)
            inp = PolicyInput("demo", "/ml/", _MODEL, "infer", body, prediction=prediction)
            assert policy.decide("access", inp).action == "allow"

        def risk(body: dict[str, Any] = body, answer: bytes = answer) -> None:
            # As PredictionScorer does, after the contract read the rows.
            prediction = Prediction(_MODEL, "infer", body)
            batch = prediction.batch
            assert isinstance(batch, Batch)
            tops = top_probabilities("infer", orjson.loads(answer))
            scored = numeric_rows(batch, FEATURES, ml.max_rows, ml.max_features)
            outlier = outlier_score(scored, stats, min_samples=ml.min_samples, sigma=3)
            combine(confidence_score(tops), outlier, 0.1, ml.weights)

        def both(body: dict[str, Any] = body, answer: bytes = answer) -> None:
            prediction = Prediction(_MODEL, "infer", body)
            inp = PolicyInput("demo", "/ml/", _MODEL, "infer", body, prediction=prediction)
            assert policy.decide("access", inp).action == "allow"
            batch = prediction.batch  # read once, shared, as on the proxy
            assert isinstance(batch, Batch)
            tops = top_probabilities("infer", orjson.loads(answer))
            scored = numeric_rows(batch, FEATURES, ml.max_rows, ml.max_features)
            outlier = outlier_score(scored, stats, min_samples=ml.min_samples, sigma=3)
            combine(confidence_score(tops), outlier, 0.1, ml.weights)

        c, r, b = timed(contract, iterations), timed(risk, iterations), timed(both, iterations)
        print(
            f"  {size:>9}  {c[0]:>8.1f} / {c[1]:>6.1f}  {r[0]:>8.1f} / {r[1]:>6.1f}"
            f"  {b[0]:>8.1f} / {b[1]:>6.1f}"
        )


async def commands(client: redis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def off_path(url: str, observations: int, models: int) -> None:
    client = redis.Redis.from_url(url)
    try:
        settings = MlSettings(baseline_requests=observations // models // 2)
        observer = ModelObserver(client, settings, Metrics(), lambda m: FEATURES)
        rng = random.Random(2)
        batch = [
            Observation(
                Prediction(f"model-{i % models}", "infer", request_body(iris_rows(1, rng))),
                rng.uniform(0.002, 0.02),
                True,
                "normal",
            )
            for i in range(observations)
        ]
        per_flush = max(1, observations // 20)
        before = await commands(client)
        started = time.perf_counter()
        flush_ms = []
        for start in range(0, observations, per_flush):
            for item in batch[start : start + per_flush]:
                observer.observe(item)
            t0 = time.perf_counter()
            await observer.flush()
            flush_ms.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        after = await commands(client)
        calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        scripts = calls.get("evalsha", 0)
        print(
            f"off the request path: {observations} observations of {models} model(s), "
            f"{len(flush_ms)} flushes of {per_flush}"
        )
        print(
            f"  {observations / elapsed:,.0f} observations/s added up and merged (one core), "
            f"{elapsed / observations * 1e6:.0f} µs each"
        )
        print(
            f"  flush: median {statistics.median(flush_ms):.2f} ms, "
            f"max {max(flush_ms):.2f} ms; {scripts} script calls "
            f"({scripts / len(flush_ms):.1f} per flush, one per model), "
            f"{sum(calls.values())} Redis commands in all"
        )
        stats = observer.snapshots["model-0"].stats
        print(
            f"  model-0: {stats.requests} requests merged, baseline "
            f"{'frozen' if stats.baseline else 'collecting'}"
        )
    finally:
        await client.aclose()


def reference_ms() -> float:
    """A plain Python loop, printed beside the numbers: on a shared or busy machine, read
    them against it (it takes about 40 ms on an idle modern core)."""
    started = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ml", description=__doc__)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--observations", type=int, default=20000)
    parser.add_argument("--models", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"reference: 1M-iteration Python loop {reference_ms():.0f} ms")
    request_path(args.iterations)
    with tempfile.TemporaryDirectory(prefix="warden-bench-ml-") as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis")
        server.start()
        try:
            asyncio.run(off_path(server.url, args.observations, args.models))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
