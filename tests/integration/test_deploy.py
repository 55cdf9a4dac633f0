"""deploy/: the alert rules and the Grafana dashboard parse, and use only metrics Warden exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningWarden
from tests.integration.test_metrics import promtool

_METRIC_NAME = re.compile(r"\bwarden_[a-z_]+\b")
# What Grafana substitutes before a query reaches Prometheus.
_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$route": ".*"}
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "info": ("_info",),
    "gauge": ("",),
}


def run_promtool(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def exported_names(warden: RunningWarden) -> set[str]:
    """Every series name /metrics can show, whether or not it has samples yet."""
    async with warden.http.get(f"{warden.admin_url}/metrics") as r:
        text = await r.text()
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", ()):
            expr = target["expr"]
            for variable, value in _GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append(expr)
    return queries


def alert_queries(rules: dict[str, Any]) -> list[str]:
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_check_and_unit_tests(repo_root: Path):
    folder = repo_root / "deploy" / "prometheus"
    run_promtool("check", "rules", "alerts.yml", cwd=folder)
    run_promtool("test", "rules", "alerts.test.yml", cwd=folder)


def test_dashboard_queries_are_valid_promql(repo_root: Path, tmp_path: Path):
    dashboard = json.loads((repo_root / "deploy" / "grafana" / "warden.json").read_text())
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 20
    # promtool parses the expression of every recording rule: a cheap PromQL syntax check.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.rules.yml").write_text(yaml.safe_dump(rules))
    run_promtool("check", "rules", "dashboard.rules.yml", cwd=tmp_path)
    titles = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert titles == ["Traffic", "Latency", "Decisions and findings", "Rate limits and tokens",
                      "Audit and dependencies"]  # fmt: skip


async def test_dashboard_and_alerts_only_use_exported_metrics(
    warden: RunningWarden, repo_root: Path
):
    exported = await exported_names(warden)
    dashboard = json.loads((repo_root / "deploy" / "grafana" / "warden.json").read_text())
    rules = yaml.safe_load((repo_root / "deploy" / "prometheus" / "alerts.yml").read_text())
    used = {
        name
        for query in dashboard_queries(dashboard) + alert_queries(rules)
        for name in _METRIC_NAME.findall(query)
    }
    assert used - exported == set()
    # And the board covers what the operators asked for, family by family.
    for family in ("requests", "overhead", "findings", "ratelimited", "audit", "dependency"):
        assert any(family in name for name in used), family
