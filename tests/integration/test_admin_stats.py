"""GET /admin/stats: counts by decision, rule, finding kind and risk; per model; per tenant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import RunningWarden
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
     ({"since": "soon"}, "since")],
)  # fmt: skip
async def test_bad_stats_parameters_name_the_field(
    warden: RunningWarden, params: dict[str, str], field: str
):
    status, body = await stats(warden, **params)
    assert status == 400 and body["error"]["param"] == field
