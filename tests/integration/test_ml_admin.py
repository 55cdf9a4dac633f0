"""GET /admin/models, GET /admin/models/{name}, POST /admin/models/{name}/baseline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.integration.ml_helpers import (
    FEATURES,
    IRIS,
    infer,
    install_policies,
    iris_rows,
    ml_config,
    wait_for,
)


@pytest.fixture
async def warden_with_models(
    start_warden: Callable[..., Any], policy_dir: Path, repo_root: Path
) -> RunningWarden:
    """demo-iris with 12 predictions (a baseline after 10), and a plain JSON model by path."""
    install_policies(policy_dir, repo_root)
    warden: RunningWarden = await start_warden(ml_config(baseline_requests=10))
    key = await warden.create_key("acme")
    for seed in range(12):
        assert (await infer(warden, key, iris_rows(2, seed=seed))).status == 200
    async with warden.http.post(
        f"{warden.proxy_url}/json/fraud/score",
        json={"amount": 12.5, "country": "NL"},
        headers={"authorization": f"Bearer {key}"},
    ) as response:
        assert response.status == 200
    await wait_for(warden, lambda r: r["requests"] == 12)
    await wait_for(warden, lambda r: r["requests"] == 1, name="fraud/score")
    return warden


async def admin(
    warden: RunningWarden, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with warden.http.request(
        method, warden.admin_url + path, headers=warden.admin_headers(), **kwargs
    ) as response:
        return response.status, await response.json()


async def test_list_and_show_models(warden_with_models: RunningWarden):
    status, listing = await admin(warden_with_models, "GET", "/admin/models")
    assert status == 200
    assert [m["model"] for m in listing["data"]] == [IRIS, "fraud/score"]
    assert listing["next_cursor"] is None
    iris = listing["data"][0]
    assert iris["requests"] == 12 and iris["instances"] == 24 and iris["errors"] == 0
    assert sum(iris["risk"].values()) == 12
    assert set(iris["risk"]) == {"normal", "suspicious", "risky"}
    assert 0 < iris["latency_ms"]["mean"] <= iris["latency_ms"]["p95"]
    assert iris["latency_ms"]["samples"] == 12
    assert iris["baseline_status"] == "frozen" and iris["baseline"]["source"] == "auto"
    assert set(iris["baseline"]["features"]) == set(FEATURES)
    assert iris["drift"]["score"] is not None and iris["drift"]["label"] == "normal"
    petal = iris["features"]["petal_length"]
    assert petal["count"] == 24 and 1 < petal["mean"] < 6 and petal["std"] > 0
    assert "baseline_mean" in petal and "drift" in petal

    status, page = await admin(warden_with_models, "GET", "/admin/models?limit=1")
    assert status == 200 and [m["model"] for m in page["data"]] == [IRIS]
    status, rest = await admin(
        warden_with_models, "GET", f"/admin/models?limit=1&cursor={page['next_cursor']}"
    )
    assert [m["model"] for m in rest["data"]] == ["fraud/score"] and rest["next_cursor"] is None

    status, fraud = await admin(warden_with_models, "GET", "/admin/models/fraud/score")
    assert status == 200
    assert fraud["baseline_status"] == "collecting" and fraud["baseline_pending_requests"] == 9
    assert list(fraud["features"]) == ["amount"]  # the country is not a number
    assert fraud["drift"]["score"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("GET", "/admin/models/no-such-model", None, 404, "name"),
        ("POST", "/admin/models/no-such-model/baseline", {}, 404, "name"),
        ("POST", f"/admin/models/{IRIS}/baseline", {"action": "thaw"}, 400, "action"),
        ("POST", f"/admin/models/{IRIS}/baseline", {"when": "now"}, 422, "when"),
        ("GET", "/admin/models?limit=0", None, 400, "limit"),
    ],
)
async def test_bad_model_calls_name_the_field(
    warden_with_models: RunningWarden,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    param: str,
):
    got, answer = await admin(warden_with_models, method, path, json=body)
    assert got == status
    assert answer["type"] == "error" and answer["error"]["param"] == param
    assert answer["error"]["message"]


async def test_admin_token_is_required(warden_with_models: RunningWarden):
    async with warden_with_models.http.get(
        f"{warden_with_models.admin_url}/admin/models"
    ) as response:
        assert response.status == 401


async def test_reset_then_freeze_a_baseline(warden_with_models: RunningWarden):
    warden = warden_with_models
    status, reset = await admin(
        warden, "POST", f"/admin/models/{IRIS}/baseline", json={"action": "reset"}
    )
    assert status == 200
    assert reset["baseline"] is None and reset["baseline_status"] == "collecting"
    assert reset["baseline_pending_requests"] == 10 and reset["features"] == {}
    assert reset["requests"] == 12  # counters are kept

    status, error = await admin(warden, "POST", f"/admin/models/{IRIS}/baseline")
    assert status == 409 and error["error"]["param"] == "name"

    key = await warden.create_key("acme")
    for seed in range(3):
        await infer(warden, key, iris_rows(1, seed=500 + seed))
    await wait_for(warden, lambda r: r["requests"] == 15)
    status, frozen = await admin(warden, "POST", f"/admin/models/{IRIS}/baseline", json={})
    assert status == 200
    assert frozen["baseline"]["source"] == "admin" and frozen["baseline"]["requests"] == 3
    assert frozen["baseline"]["features"]["sepal_length"]["count"] == 3
    assert frozen["drift"]["score"] is not None and frozen["baseline_status"] == "frozen"


async def test_redis_down_is_a_503(start_warden: Callable[..., Any]):
    def no_redis(raw: dict[str, Any]) -> None:
        raw["redis"] = {"url": "redis://127.0.0.1:9/0", "timeout": 0.2}

    warden = await start_warden(no_redis)
    status, answer = await admin(warden, "GET", "/admin/models")
    assert status == 503
    assert answer["error"]["message"].startswith("model statistics are unavailable")
