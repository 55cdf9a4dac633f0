"""Shared by the ML tests: iris-like samples, predictions through Warden, waiting for stats."""

from __future__ import annotations

import asyncio
import random
import shutil
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import RunningWarden

IRIS = "demo-iris"
INFER = f"/ml/v2/models/{IRIS}/infer"
PREDICT = f"/ml/v1/models/{IRIS}:predict"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# Fisher's iris data per class: feature means and standard deviations (cm).
_CLASSES = (
    ((5.01, 3.43, 1.46, 0.25), (0.35, 0.38, 0.17, 0.11)),
    ((5.94, 2.77, 4.26, 1.33), (0.52, 0.31, 0.47, 0.20)),
    ((6.59, 2.97, 5.55, 2.03), (0.64, 0.32, 0.55, 0.27)),
)

# Contracts and rules the proxy tests add to the shipped ml.yaml.
TEST_POLICIES = """
contracts:
  - id: ml.churn.input
    description: The churn model takes a tenure and a plan.
    models: [churn]
    features:
      - {name: tenure_months, type: integer, min: 0, max: 600}
      - {name: plan, type: string, categories: [basic, gold]}
      - {name: referrer, type: string, required: false, nullable: true}
    max_batch: 10
  - id: ml.scores.input
    description: The scores model takes a positive amount; others are reviewed, not refused.
    models: [scores]
    features:
      - {name: amount, type: number, min: 0}
    action: flag
rules:
  - id: ml.block-outliers
    description: Inputs far outside anything demo-iris has seen are not answered.
    phase: response
    scope: {tenants: [strict]}
    when: {ml_outlier: {gte: 1}}
    action: block
    severity: high
"""


def install_policies(policy_dir: Path, repo_root: Path) -> None:
    shutil.copy(repo_root / "policies" / "ml.yaml", policy_dir / "ml.yaml")
    (policy_dir / "ml-tests.yaml").write_text(textwrap.dedent(TEST_POLICIES), encoding="utf-8")


def ml_config(baseline_requests: int = 10) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["ml"] = {
            "baseline_requests": baseline_requests,
            "flush_interval_seconds": 0.05,
            "min_samples": 10,
            "recent_window": 30,
        }

    return edit


def iris_rows(count: int, seed: int, shift: dict[str, float] | None = None) -> list[list[float]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        means, stds = _CLASSES[i % 3]
        row = [max(0.1, rng.gauss(m, s)) for m, s in zip(means, stds, strict=True)]
        for name, delta in (shift or {}).items():
            row[FEATURES.index(name)] += delta
        rows.append([round(x, 2) for x in row])
    return rows


def v2_body(rows: list[list[float]]) -> dict[str, Any]:
    return {
        "inputs": [{"name": "input-0", "shape": [len(rows), 4], "datatype": "FP32", "data": rows}]
    }


async def infer(warden: RunningWarden, key: str, rows: list[list[float]], **headers: str) -> Any:
    """One prediction; the response (already read) for its status, headers and body."""
    async with warden.http.post(
        warden.proxy_url + INFER,
        json=v2_body(rows),
        headers={"authorization": f"Bearer {key}", **headers},
    ) as response:
        await response.read()
        return response


async def model_report(warden: RunningWarden, name: str = IRIS) -> dict[str, Any] | None:
    async with warden.http.get(
        f"{warden.admin_url}/admin/models/{name}", headers=warden.admin_headers()
    ) as response:
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        report: dict[str, Any] = await response.json()
        return report


async def wait_for(
    warden: RunningWarden, check: Callable[[dict[str, Any]], bool], name: str = IRIS
) -> dict[str, Any]:
    """The model's report once `check` holds (statistics are merged every 50 ms here)."""
    deadline = time.monotonic() + 10
    while True:
        report = await model_report(warden, name)
        if report is not None and check(report):
            return report
        assert time.monotonic() < deadline, f"statistics never got there: {report}"
        await asyncio.sleep(0.05)


async def drift_iris(warden: RunningWarden, key: str) -> dict[str, Any]:
    """10 usual predictions freeze demo-iris's baseline; 15 with petal widths 3 cm wider than
    any iris move its recent means. The model's report once its drift score reaches 0.75."""
    for batch in range(10):
        assert (await infer(warden, key, iris_rows(4, seed=batch))).status == 200
    await wait_for(warden, lambda r: r["baseline"] is not None)
    for batch in range(15):
        shifted = iris_rows(4, seed=200 + batch, shift={"petal_width": 3.0})
        assert (await infer(warden, key, shifted)).status == 200
    return await wait_for(warden, lambda r: r["requests"] == 25 and r["drift"]["score"] >= 0.75)
