"""ML statistics feed the alerts: drift of a KServe model, latency against its frozen baseline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from proxy.alerts import store as alert_store
from proxy.alerts.rules import Firing
from tests.conftest import RunningWarden, Services, eventually
from tests.integration.ml_helpers import (
    IRIS,
    drift_iris,
    infer,
    install_policies,
    iris_rows,
    ml_config,
    wait_for,
)
from tests.integration.test_alerts import alerting, alerts_where, send, write_history


def ml_alerting(window_seconds: float = 4, **rules: dict[str, Any]) -> Callable[..., None]:
    """ML statistics merged every 50 ms, baselines from 10 predictions; fast alert rounds."""
    with_ml, with_alerts = ml_config(), alerting(None, **rules)

    def edit(raw: dict[str, Any]) -> None:
        with_ml(raw)
        with_alerts(raw)
        raw["alerts"]["window_seconds"] = window_seconds

    return edit


async def test_shifted_features_fire_one_drift_alert_that_grows_and_resolves(
    start_warden: Callable[..., Any], policy_dir: Path, repo_root: Path, db: asyncpg.Pool
):
    install_policies(policy_dir, repo_root)
    # A long window: only the model's drift, never its traffic leaving, can clear the alert.
    warden: RunningWarden = await start_warden(ml_alerting(window_seconds=60))
    report = await drift_iris(warden, await warden.create_key("acme"))
    assert report["drift"]["features"]["petal_width"] == 1.0

    async def grown() -> list[asyncpg.Record]:
        rows = await alerts_where(db, type="model_drift")
        return rows if rows and rows[0]["count"] >= 3 else []

    (alert,) = await eventually(grown)
    assert alert["subject"] == IRIS and alert["model"] == IRIS and alert["tenant"] is None
    assert alert["severity"] == "medium" and alert["status"] == "open"
    assert alert["value"] == 1.0 and alert["threshold"] == 0.75
    assert "drift score 1.00" in alert["message"] and "most in petal_width" in alert["message"]

    # The operator takes the new flowers as normal: a baseline frozen now. Drift falls below
    # the threshold, the condition is no longer found, and the alert resolves by itself.
    async with warden.http.post(
        f"{warden.admin_url}/admin/models/{IRIS}/baseline",
        json={"action": "freeze"},
        headers=warden.admin_headers(),
    ) as r:
        assert r.status == 200
        assert (await r.json())["drift"]["score"] < 0.75
    (resolved,) = await eventually(lambda: alerts_where(db, type="model_drift", status="resolved"))
    assert resolved["resolved_by"] == "auto" and resolved["id"] == alert["id"]
    await asyncio.sleep(0.5)  # rounds go on: the drift is gone, so no second alert
    assert len(await alerts_where(db, type="model_drift")) == 1
    async with warden.http.get(
        f"{warden.admin_url}/admin/alerts",
        params={"type": "model_drift", "model": IRIS},
        headers=warden.admin_headers(),
    ) as r:
        assert r.status == 200
        assert [a["id"] for a in (await r.json())["data"]] == [alert["id"]]


async def test_latency_drift_against_the_frozen_ml_baseline(
    start_warden: Callable[..., Any], policy_dir: Path, repo_root: Path, db: asyncpg.Pool
):
    install_policies(policy_dir, repo_root)
    warden: RunningWarden = await start_warden(
        ml_alerting(latency_drift={"min_samples": 5, "min_baseline_samples": 10})
    )
    key = await warden.create_key("acme")
    for batch in range(10):
        assert (await infer(warden, key, iris_rows(2, seed=batch))).status == 200
    report = await wait_for(warden, lambda r: r["baseline"] is not None)
    frozen_ms = report["baseline"]["latency_ms"]["mean"]
    assert frozen_ms < 100
    # All of it within the last window: there is no trailing window to compare with, so
    # only the frozen baseline can tell that the model slowed down.
    slow = await asyncio.gather(
        *(
            infer(warden, key, iris_rows(2, seed=50 + i), **{"x-sim-delay": "0.5"})
            for i in range(10)
        )
    )
    assert [r.status for r in slow] == [200] * 10
    (alert,) = await eventually(lambda: alerts_where(db, type="latency_drift"))
    assert alert["subject"] == IRIS and alert["model"] == IRIS
    assert alert["value"] >= 2
    assert f"its baseline of {frozen_ms:.0f} ms" in alert["message"]
    # The ML drift score counts slower answers too, so the model drifts as a whole.
    (drift,) = await eventually(lambda: alerts_where(db, type="model_drift"))
    assert drift["subject"] == IRIS and "latency" in drift["message"]


async def test_without_redis_alerts_fall_back_to_trailing_baselines_and_keep_drift_open(
    start_warden: Callable[..., Any], services: Services, db: asyncpg.Pool, tmp_path: Path
):
    await write_history(services, tmp_path, seconds_ago=40)  # echo-1 answered in 5 ms
    alerts = alerting(None, latency_drift={"min_samples": 5, "min_baseline_samples": 50})

    def redis_down(raw: dict[str, Any]) -> None:
        alerts(raw)
        raw["redis"] = {"url": "redis://127.0.0.1:1/0"}  # nothing listens there

    # Alerts from before the outage: a model's drift, and a tenant's risky traffic.
    earlier = datetime.now(UTC) - timedelta(seconds=30)
    async with db.acquire() as conn:
        for firing in (
            Firing("model_drift", IRIS, "medium", "drifted", 0.9, 0.75, model=IRIS),
            Firing("risky_events", "globex", "high", "risky", 12, 10, tenant="globex"),
        ):
            await alert_store.fire(conn, firing, earlier)
    warden: RunningWarden = await start_warden(redis_down)
    key = await warden.create_key("acme")
    assert await send(warden, key, 5, **{"x-sim-delay": "0.3"}) == [200] * 5
    (alert,) = await eventually(lambda: alerts_where(db, type="latency_drift"))
    assert alert["subject"] == "echo-1" and "baseline of 5 ms" in alert["message"]
    # Rounds ran and resolved what cleared; the drift nobody could look at stays open.
    await eventually(lambda: alerts_where(db, type="risky_events", status="resolved"))
    (drift,) = await alerts_where(db, type="model_drift")
    assert drift["status"] == "open"
    async with warden.http.get(f"{warden.admin_url}/metrics") as r:
        metrics = await r.text()
    line = next(
        x for x in metrics.splitlines()
        if x.startswith('warden_dependency_failures_total{dependency="redis",mode="fallback"}')
    )  # fmt: skip
    assert float(line.rsplit(" ", 1)[1]) >= 1
