"""Admin API for policies: the active set, reload on demand, and dry-run evaluation."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import jsonschema
from aiohttp import web

from proxy.admin.common import AdminInputError, json_response, proxy_app, read_json_object
from proxy.keys import POLICIES, POLICY_SCAN
from proxy.policy import Decision, PolicyProblem, policy_schema
from proxy.policy.evaluate import evaluate


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def _problem(problem: PolicyProblem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "rule_id": problem.rule_id,
        "field": problem.field,
        "message": problem.message,
    }


def _decision(decision: Decision) -> dict[str, Any]:
    return {
        "phase": decision.phase,
        "action": decision.action,
        "rule_id": decision.rule_id,
        "reason": decision.reason,
        "severity": decision.severity,
        "rules": list(decision.rules),
        "monitored": [
            {"rule_id": m.rule_id, "action": m.action, "severity": m.severity}
            for m in decision.monitored
        ],
        "redact_kinds": list(decision.redact_kinds),
    }


async def show_policies(request: web.Request) -> web.Response:
    store = proxy_app(request)[POLICIES]
    active = store.active
    rules = [
        {
            "id": rule.id,
            "phase": rule.phase,
            "action": rule.action,
            "severity": rule.severity,
            "mode": rule.mode,
            "description": rule.description,
            "source": rule.source,
        }
        for phase_rules in active.rules.values()
        for rule in phase_rules
    ]
    last_error = None
    if store.last_error:
        last_error = {
            "at": _iso(store.last_error_at),
            "problems": [_problem(p) for p in store.last_error],
        }
    return json_response(
        {
            "version": active.version,
            "loaded_at": _iso(store.loaded_at),
            "files": list(active.files),
            "rule_count": active.rule_count,
            "rules": rules,
            "overrides": [
                {
                    "tenant": tenant,
                    "rule": rule,
                    "action": o.action,
                    "mode": o.mode,
                    "enabled": o.enabled,
                }
                for (tenant, rule), o in active.overrides.items()
            ],  # fmt: skip
            "defaults": {
                "access": active.defaults.access,
                "content": active.defaults.content,
                "response": active.defaults.response,
            },
            "last_error": last_error,
            # With several workers each holds its own copy; this says which one answered.
            "worker_pid": os.getpid(),
        }
    )


async def reload_policies(request: web.Request) -> web.Response:
    result = await proxy_app(request)[POLICIES].reload()
    if not result.ok:
        problems = [_problem(p) for p in result.problems]
        return json_response(
            {
                "type": "error",
                "error": {
                    "message": f"the policy set has {len(problems)} problem(s); "
                    "the active set is unchanged",
                    "type": "invalid_request_error",
                    "param": problems[0]["field"] if problems else None,
                    "code": "policy_invalid",
                },
                "problems": problems,
                "active_version": result.version,
            },
            status=400,
        )
    return json_response({"changed": result.changed, "version": result.version})


_REQUEST_SCHEMA = {**policy_schema()["$defs"]["test"]["properties"]["request"]}
_REQUEST_SCHEMA["$defs"] = policy_schema()["$defs"]


async def evaluate_policies(request: web.Request) -> web.Response:
    spec = await read_json_object(request, required=True)
    errors = sorted(
        jsonschema.Draft202012Validator(_REQUEST_SCHEMA).iter_errors(spec), key=lambda e: e.path
    )
    if errors:
        field = ".".join(str(p) for p in errors[0].absolute_path) or None
        raise AdminInputError(errors[0].message, field)
    app = proxy_app(request)
    policy = app[POLICIES].active
    scanning = app[POLICY_SCAN]
    evaluation = evaluate(policy, spec, scan=scanning.scan, request_texts=scanning.request_texts)
    return json_response(
        {
            "version": policy.version,
            "outcome": _decision(evaluation.outcome),
            "decisions": {phase: _decision(d) for phase, d in evaluation.decisions.items()},
            "scans": {
                phase: {
                    "risk_score": scanned.risk_score,
                    "risk_label": scanned.risk_label,
                    "findings": [
                        {
                            k: getattr(f, k)
                            for k in ("kind", "start", "end", "score")
                            if hasattr(f, k)
                        }
                        for f in scanned.findings
                    ],  # fmt: skip
                }
                for phase, scanned in evaluation.scans.items()
            },
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/policies", show_policies)
    app.router.add_post("/admin/policies/reload", reload_policies)
    app.router.add_post("/admin/policies/evaluate", evaluate_policies)
