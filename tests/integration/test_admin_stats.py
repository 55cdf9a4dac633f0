"""GET /admin/stats: counts by decision, rule, finding kind and risk; per model; per tenant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import RunningWarden, Services, eventually
from tests.integration.ml_helpers import (
    IRIS,
    drift_iris,
    install_policies,
    ml_config,
)
from tests.integration.test_alerts import send as send_many
from tests.integration.test_alerts import write_history
from tests.integration.test_audit_proxy import rows_for
from tests.rules import ECHO_MODELS_ONLY, REDACT_EMAILS, rules

RULES = rules(ECHO_MODELS_ONLY, REDACT_EMAILS)


async def send(warden: RunningWarden, key: str, model: str, text: str = "hi") -> int:
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        return r.status


async def stats(warden: RunningWarden, **params: str) -> tuple[int, Any]:
    async with warden.http.get(
        f"{warden.admin_url}/admin/stats", params=params, headers=warden.admin_headers()
    ) as r:
        return r.status, await r.json()


@pytest.fixture
async def busy(start_warden: Callable[..., Any], policy_dir: Path, db: asyncpg.Pool) -> Any:
    """acme: 3 plain, 2 with two emails each, 1 refused model; globex: 2 plain."""
    (policy_dir / "rules.yaml").write_text(RULES)
    warden: RunningWarden = await start_warden()
    acme, globex = await warden.create_key("acme"), await warden.create_key("globex")
    for _ in range(3):
        assert await send(warden, acme, "echo-1") == 200
    for _ in range(2):
        assert await send(warden, acme, "echo-1", "mail a@example.com and b@example.org") == 200
    assert await send(warden, acme, "gpt-unlisted") == 403
    for _ in range(2):
        assert await send(warden, globex, "echo-2") == 200
    await rows_for(db, 8)
    return warden


async def test_totals_breakdowns_models_tenants_and_series(busy: RunningWarden):
    status, body = await stats(busy)
    assert status == 200, body
    assert body["requests"] == 8
    assert body["by_decision"] == {"allow": 5, "redact": 2, "block": 1}
    assert body["by_status_class"] == {"2xx": 7, "4xx": 1}
    assert body["by_rule"] == {"pii.redact": 2, "models.allowlist": 1}
    assert body["by_finding_kind"]["pii.email"] == 4
    scored = sum(body["by_risk_label"].get(label, 0) for label in ("normal", "suspicious", "risky"))
    assert sum(b["requests"] for b in body["risk_distribution"]) == scored
    assert len(body["risk_distribution"]) == 10 and scored >= 7

    models = {m["model"]: m for m in body["models"]}
    assert {name: m["requests"] for name, m in models.items()} == {
        "echo-1": 5, "echo-2": 2, "gpt-unlisted": 1,
    }  # fmt: skip
    echo = models["echo-1"]
    assert echo["error_rate"] == 0 and echo["mean_latency_ms"] > 0
    assert echo["p95_latency_ms"] >= echo["mean_latency_ms"] * 0.5
    assert echo["prompt_tokens"] > 0 and echo["completion_tokens"] > 0

    tenants = {t["tenant"]: t for t in body["tenants"]}
    assert tenants["acme"]["requests"] == 6 and tenants["acme"]["blocked"] == 1
    assert tenants["acme"]["block_rate"] == round(1 / 6, 6)
    assert tenants["globex"]["block_rate"] == 0

    assert body["window"]["bucket"] == "5m"
    assert sum(point["requests"] for point in body["series"]) == 8


async def test_filters_narrow_the_stats(busy: RunningWarden):
    status, body = await stats(busy, tenant="globex", bucket="1m", since="30m")
    assert status == 200
    assert body["requests"] == 2 and [t["tenant"] for t in body["tenants"]] == ["globex"]
    assert body["window"]["bucket"] == "1m"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"bucket": "7m"}, "bucket"), ({"bucket": "1m", "since": "7d"}, "bucket"),
     ({"since": "soon"}, "since"),
     # Found by schemathesis: both used to overflow datetime and answer 500.
     ({"until": "890669d"}, "until"), ({"until": "0001-01-01T00:00:00Z"}, "until")],
)  # fmt: skip
async def test_bad_stats_parameters_name_the_field(
    warden: RunningWarden, params: dict[str, str], field: str
):
    status, body = await stats(warden, **params)
    assert status == 400 and body["error"]["param"] == field


def picked(item: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: item[name] for name in names}


@pytest.mark.parametrize("redis_up", [True, False], ids=["redis-up", "redis-down"])
async def test_tenant_health_and_latency_drift_against_the_hour_before_the_window(
    start_warden: Callable[..., Any],
    services: Services,
    db: asyncpg.Pool,
    tmp_path: Path,
    redis_up: bool,
):
    """Non-ML models have no statistics: Redis up or down, drift comes from audit rows."""
    await write_history(services, tmp_path, seconds_ago=20 * 60)  # echo-1 answered in 5 ms

    def edit(raw: dict[str, Any]) -> None:
        if not redis_up:
            raw["redis"] = {"url": "redis://127.0.0.1:1/0"}  # nothing listens there

    warden: RunningWarden = await start_warden(edit)
    acme, globex = await warden.create_key("acme"), await warden.create_key("globex")
    assert await send_many(warden, acme, 20, **{"x-sim-delay": "0.05"}) == [200] * 20
    assert await send_many(warden, acme, 5, **{"x-sim-status": "503"}) == [503] * 5
    assert await send_many(warden, globex, 2, model="echo-2") == [200] * 2
    await rows_for(db, 60 + 27)
    status, body = await stats(warden, since="10m")
    assert status == 200, body
    models = {m["model"]: m for m in body["models"]}
    echo = models["echo-1"]
    # 50 ms against 5 ms: ten times the baseline, far beyond drift_sigma (3) of its spread.
    assert echo["drift"] == 1.0 and echo["drift_source"] == "latency"
    assert echo["latency_ratio"] > 5
    unknown = {"drift": None, "drift_source": None, "latency_ratio": None}
    assert picked(models["echo-2"], *unknown) == unknown, "no baseline"
    tenants = {t["tenant"]: t for t in body["tenants"]}
    # 20% errors cost 40 points, models 3x slower or more the 25 of drift: 35.
    assert tenants["acme"]["error_rate"] == 0.2
    assert tenants["acme"]["drift_ratio"] == echo["latency_ratio"]
    assert (tenants["acme"]["health_score"], tenants["acme"]["health_label"]) == (35, "unhealthy")
    healthy = {"health_score": 100, "health_label": "healthy", "drift_ratio": None}
    assert picked(tenants["globex"], *healthy) == healthy


async def test_ml_models_report_the_drift_of_their_statistics(
    start_warden: Callable[..., Any], policy_dir: Path, repo_root: Path
):
    install_policies(policy_dir, repo_root)
    warden: RunningWarden = await start_warden(ml_config())
    report = await drift_iris(warden, await warden.create_key("acme"))
    await eventually(lambda: warden.db.fetchval("SELECT count(*) = 25 FROM audit_events"))
    status, body = await stats(warden)
    assert status == 200, body
    (iris,) = body["models"]
    assert iris["model"] == IRIS and iris["requests"] == 25
    assert iris["drift"] == report["drift"]["score"] and iris["drift_source"] == "ml"
    # Statistics know the drift of now only: a window that ends earlier goes without.
    until = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    status, body = await stats(warden, until=until)
    assert status == 200, body
    (iris,) = body["models"]
    assert iris["drift"] is None and iris["drift_source"] is None
