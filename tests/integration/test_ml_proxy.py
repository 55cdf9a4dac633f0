"""ML endpoints through the real app: input contracts, ML risk, drift, shared statistics."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningWarden
from tests.integration.ml_helpers import (
    FEATURES,
    INFER,
    IRIS,
    PREDICT,
    infer,
    install_policies,
    iris_rows,
    ml_config,
    v2_body,
    wait_for,
)
from tests.upstream import SimulatedUpstream


@pytest.fixture
async def ml_warden(
    start_warden: Callable[..., Any], policy_dir: Path, repo_root: Path
) -> RunningWarden:
    install_policies(policy_dir, repo_root)
    running: RunningWarden = await start_warden(ml_config())
    return running


def _columns(**columns: list[Any]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "shape": [len(values)], "datatype": "FP32", "data": values}
            for name, values in columns.items()
        ]
    }


def _instance(*values: Any, **extra: Any) -> dict[str, Any]:
    return {**dict(zip(FEATURES, values, strict=True)), **extra}


def _case(path: str, body: Any, param: str, says: str, name: str) -> Any:
    return pytest.param(path, body, param, says, id=name)


REFUSED = [
    _case(INFER, v2_body([[5.1, 3.5, 1.4, 0.2], [6.3, 2.9, -1.3, 1.8]]), "petal_length",
          "row 1 of inputs[0]", "v2-matrix"),
    _case(INFER, _columns(sepal_length=[5.1], sepal_width=[3.5], petal_length=[1.4]),
          "petal_width", "is required", "v2-named-tensors"),
    _case(INFER, v2_body([[5.1, 3.5, 1.4, 0.2]] * 65), "inputs[0]", "limit of 64", "v2-batch"),
    _case(PREDICT, {"instances": [_instance(5.1, "wide", 1.4, 0.2)]}, "sepal_width",
          "must be a number, got 'wide'", "v1-type"),
    _case(PREDICT, {"instances": [_instance(5.1, 3.5, 1.4, 0.2, colour="blue")]}, "colour",
          "not a feature", "v1-extra"),
    _case(PREDICT, {"instances": [[5.1, 3.5, 1.4]]}, "instances", "expected 4 features",
          "v1-width"),
    _case("/json/churn", {"tenure_months": 12, "plan": "platinum"}, "plan",
          "must be one of 'basic', 'gold'", "json-path-model"),
    _case("/json/score",
          {"model": "churn", "instances": [{"tenure_months": 12, "plan": "gold"},
                                           {"tenure_months": 1.5, "plan": "gold"}]},
          "tenure_months", "instances[1]", "json-named-model"),
    _case("/json/churn", {"dataframe_split": {"columns": ["tenure_months"], "data": [[3]]}},
          "plan", "is required", "json-dataframe"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "param", "says"), REFUSED)
async def test_out_of_contract_inputs_are_refused_naming_the_feature(
    ml_warden: RunningWarden,
    upstream: SimulatedUpstream,
    path: str,
    body: dict[str, Any],
    param: str,
    says: str,
):
    key = await ml_warden.create_key("acme")
    async with ml_warden.http.post(
        ml_warden.proxy_url + path, json=body, headers={"authorization": f"Bearer {key}"}
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
        assert response.headers["x-warden-decision"] == "block"
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "contract_violation"
    assert says in error["message"]
    assert upstream.received == []


async def test_conforming_predictions_are_answered_with_their_ml_risk(
    ml_warden: RunningWarden, upstream: SimulatedUpstream
):
    key = await ml_warden.create_key("acme")
    response = await infer(ml_warden, key, [[5.0, 3.4, 1.5, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert response.status == 200
    assert response.headers["x-warden-decision"] == "allow"
    # No statistics yet: the risk is the confidence alone, and these are clear-cut flowers.
    assert response.headers["x-warden-ml-risk-label"] == "normal"
    assert float(response.headers["x-warden-ml-risk"]) < 0.2
    answer = await response.json()
    assert answer["outputs"][0]["name"] == "probabilities"
    headers = {"authorization": f"Bearer {key}"}
    # Halfway between two classes: the model is unsure, and says so through its probabilities.
    unsure = {"instances": [_instance(6.26, 2.87, 4.9, 1.68)]}
    async with ml_warden.http.post(
        ml_warden.proxy_url + PREDICT, json=unsure, headers=headers
    ) as response:
        assert response.status == 200
        assert response.headers["x-warden-ml-risk-label"] == "suspicious"
        predictions = (await response.json())["predictions"]
    assert max(predictions[0]["probabilities"].values()) < 0.6
    async with ml_warden.http.get(
        f"{ml_warden.proxy_url}/ml/v2/models/{IRIS}", headers=headers
    ) as response:
        assert response.status == 200  # metadata is not a prediction: no contract, no risk
        assert "x-warden-ml-risk" not in response.headers


async def test_a_flag_contract_forwards_and_records(
    ml_warden: RunningWarden, upstream: SimulatedUpstream
):
    key = await ml_warden.create_key("acme")
    async with ml_warden.http.post(
        ml_warden.proxy_url + "/json/scores",
        json={"amount": -5},
        headers={"authorization": f"Bearer {key}"},
    ) as response:
        assert response.status == 200
        assert response.headers["x-warden-decision"] == "flag"
        assert response.headers["x-warden-rules"] == "ml.scores.input"
    assert [r.path for r in upstream.received] == ["/scores"]
    report = await wait_for(ml_warden, lambda r: r["requests"] >= 1, name="scores")
    assert report["features"]["amount"]["mean"] == -5


async def test_shifted_inputs_raise_outlier_and_drift(ml_warden: RunningWarden):
    key = await ml_warden.create_key("acme")
    strict = await ml_warden.create_key("strict")
    for batch in range(10):
        response = await infer(ml_warden, key, iris_rows(4, seed=batch))
        assert response.status == 200
    report = await wait_for(ml_warden, lambda r: r["baseline"] is not None)
    assert report["baseline"]["requests"] >= 10 and report["baseline"]["source"] == "auto"
    # Inputs from the baseline's own distribution: no feature drifts. (Not the whole score: it
    # also holds latency drift, and a loopback upstream's few-ms latency jitters on a busy box.)
    assert max(report["drift"]["features"].values()) < 0.25
    assert set(report["drift"]["features"]) == set(FEATURES)
    assert set(report["features"]) == set(FEATURES)

    usual = await infer(ml_warden, strict, iris_rows(3, seed=99))
    assert usual.status == 200
    assert usual.headers["x-warden-decision"] == "allow"
    # Petal widths 3 cm wider than any iris: outliers now, and the model drifts if they go on.
    shifted = await infer(ml_warden, strict, iris_rows(3, seed=100, shift={"petal_width": 3.0}))
    assert shifted.status == 403
    assert shifted.headers["x-warden-rules"] == "ml.block-outliers"
    for batch in range(15):
        response = await infer(
            ml_warden, key, iris_rows(4, seed=200 + batch, shift={"petal_width": 3.0})
        )
        assert response.status == 200

    def drifted(r: dict[str, Any]) -> bool:
        return r["requests"] >= 27 and r["drift"]["score"] >= 0.75

    report = await wait_for(ml_warden, drifted)
    assert report["drift"]["label"] == "risky"
    assert max(report["drift"]["features"], key=report["drift"]["features"].get) == "petal_width"
    assert report["features"]["petal_width"]["recent_mean"] > 3.5
    # Every prediction now carries the model's drift: the next usual one is no longer normal.
    after = await infer(ml_warden, key, iris_rows(3, seed=99))
    assert after.headers["x-warden-ml-risk-label"] != "normal"
    assert float(after.headers["x-warden-ml-risk"]) > float(usual.headers["x-warden-ml-risk"])
    async with ml_warden.http.get(f"{ml_warden.admin_url}/metrics") as response:
        metrics = await response.text()
    assert f'warden_ml_drift_score{{model="{IRIS}"}}' in metrics
    assert f'warden_ml_predictions_total{{model="{IRIS}",risk="normal"}}' in metrics
    row = None
    for _ in range(100):
        row = await ml_warden.db.fetchrow(
            "SELECT risk_score, risk_label, model FROM audit_events WHERE status = 403"
        )
        if row is not None:
            break
        await asyncio.sleep(0.05)
    assert row is not None and row["model"] == IRIS and row["risk_score"] >= 0.25


async def test_replicas_share_statistics_through_redis(
    start_warden: Callable[..., Any], policy_dir: Path, repo_root: Path
):
    install_policies(policy_dir, repo_root)
    first = await start_warden(ml_config())
    second = await start_warden(ml_config())
    key, strict = await first.create_key("acme"), await first.create_key("strict")
    await asyncio.gather(
        *(infer(first, key, iris_rows(2, seed=i)) for i in range(12)),
        *(infer(second, key, iris_rows(1, seed=50 + i)) for i in range(3)),
    )
    for warden in (first, second):
        report = await wait_for(warden, lambda r: r["requests"] == 15)
        assert report["instances"] == 27
        assert report["features"]["petal_length"]["count"] == 27
    # The second replica merges once more, after the first replica's merges: what comes back
    # is the shared state. It saw 4 instances itself, under min_samples (10), yet it scores
    # outliers against all 28.
    await infer(second, key, iris_rows(1, seed=400))
    await wait_for(second, lambda r: r["requests"] == 16)
    odd = await infer(second, strict, iris_rows(1, seed=401, shift={"sepal_width": 4.0}))
    assert odd.status == 403
    assert odd.headers["x-warden-rules"] == "ml.block-outliers"


async def test_string_inputs_are_scanned_as_on_llm_routes(
    start_warden: Callable[..., Any],
    policy_dir: Path,
    repo_root: Path,
    upstream: SimulatedUpstream,
):
    for name in ("pii.yaml", "secrets.yaml"):
        shutil.copy(repo_root / "policies" / name, policy_dir / name)
    warden = await start_warden(ml_config())
    headers = {"authorization": f"Bearer {await warden.create_key('acme')}"}
    async with warden.http.post(
        f"{warden.proxy_url}/ml/v1/models/echo:predict",
        json={"instances": ["write to jane.doe@example.com please"]},
        headers=headers,
    ) as response:
        assert response.status == 200
        assert response.headers["x-warden-rules"] == "pii.redact-contact"
    assert b"jane.doe@example.com" not in upstream.received[-1].body
    secret = "AKIA" + "IOSFODNN7QWERTYZ"
    tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": [f"key {secret}"]}
    async with warden.http.post(
        f"{warden.proxy_url}/ml/v2/models/echo/infer", json={"inputs": [tensor]}, headers=headers
    ) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "secrets.block-in-prompts"
    assert len(upstream.received) == 1
