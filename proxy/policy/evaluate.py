"""Dry runs: a described request through every phase, for policy tests and the admin API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.formats import FORMATS, Call
from proxy.ml.features import prediction_of
from proxy.ml.risk import combine
from proxy.policy.model import Decision, FindingLike, Phase, PolicyInput, outcome_of
from proxy.policy.policy_set import PolicySet


@dataclass(frozen=True, slots=True)
class Scanned:
    findings: Sequence[FindingLike] = ()
    risk_score: float = 0.0
    risk_label: str = "normal"


# Scans the texts of one phase; the caller decides which scanners run (policy's custom ones too).
Scan = Callable[[PolicySet, Sequence[str]], Scanned]
# The texts a model would read in a request body of a format (all of them, for scanning).
RequestTexts = Callable[[str, Call], list[str]]


def no_scan(policy: PolicySet, texts: Sequence[str]) -> Scanned:
    return Scanned()


@dataclass(frozen=True, slots=True)
class Evaluation:
    decisions: dict[Phase, Decision] = field(default_factory=dict)
    scans: dict[Phase, Scanned] = field(default_factory=dict)

    @property
    def outcome(self) -> Decision:
        return outcome_of(self.decisions.values())


def describe_request(spec: dict[str, Any]) -> Call:
    """Model and operation from the spec, or read from its body by the format's own reader."""
    body = spec.get("body")
    fmt, path = spec.get("format"), spec.get("path")
    call = Call("json", payload=body)
    if fmt is not None and path is not None:
        described = FORMATS[fmt]("POST", path, body)
        if isinstance(described, Call):
            call = described
    elif isinstance(body, dict) and isinstance(body.get("model"), str):
        call = Call("json", body["model"], payload=body)
    return Call(
        spec.get("operation", call.operation),
        spec.get("model", call.model),
        call.stream,
        body,
    )


def evaluate(
    policy: PolicySet,
    spec: dict[str, Any],
    *,
    scan: Scan = no_scan,
    request_texts: RequestTexts | None = None,
) -> Evaluation:
    """Access, then content (request texts), then response (`response_text`), like the proxy."""
    call = describe_request(spec)
    headers = {k.lower(): v for k, v in (spec.get("headers") or {}).items()}
    fmt = spec.get("format") or "json"
    prediction = prediction_of(fmt, call.operation, call.model, call.payload, spec.get("path", ""))
    base = PolicyInput(
        tenant=spec.get("tenant", ""),
        route=spec.get("route"),
        model=call.model,
        operation=call.operation,
        payload=call.payload,
        headers=headers,
        body_bytes=len(orjson.dumps(call.payload)) if call.payload is not None else 0,
        metadata=spec.get("metadata") or {},
        prediction=prediction,
    )
    evaluation = Evaluation()
    evaluation.decisions["access"] = policy.decide("access", base)
    if evaluation.decisions["access"].blocks:
        return evaluation
    texts = list(request_texts(fmt, call)) if request_texts else []
    if text := _joined(spec.get("text")):
        texts.append(text)
    phases: list[tuple[Phase, list[str]]] = [("content", texts)]
    response_text = _joined(spec.get("response_text"))
    if response_text or "ml_risk" in spec:
        phases.append(("response", [response_text] if response_text else []))
    if "ml_risk" in spec:
        # A described prediction's risk, as if its components all scored this.
        score = float(spec["ml_risk"])
        base = base._replace(ml_risk=combine(score, score, score))
    for phase, phase_texts in phases:
        scanned = scan(policy, phase_texts)
        evaluation.scans[phase] = scanned
        inp = base.with_findings(scanned.findings, scanned.risk_score, scanned.risk_label)
        decision = policy.decide(phase, inp)
        evaluation.decisions[phase] = decision
        if decision.blocks:
            break
    return evaluation


def _joined(value: str | list[str] | None) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


@dataclass(frozen=True, slots=True)
class TestOutcome:
    file: str
    line: int | None
    name: str
    passed: bool
    expected: str
    got: str


def run_policy_tests(
    policy: PolicySet, *, scan: Scan = no_scan, request_texts: RequestTexts | None = None
) -> list[TestOutcome]:
    """Each test beside the rules: request -> expected action, winning rule, monitored rules."""
    outcomes = []
    for file, line, test in policy.tests:
        expect = test["expect"]
        evaluation = evaluate(policy, test["request"], scan=scan, request_texts=request_texts)
        phase = expect.get("phase")
        decision = evaluation.decisions.get(phase) if phase else evaluation.outcome
        if decision is None:
            outcomes.append(
                TestOutcome(file, line, test["name"], False, str(expect), "not reached")
            )
            continue
        got: dict[str, Any] = {"action": decision.action, "rule": decision.rule_id}
        wanted: dict[str, Any] = {"action": expect["action"]}
        if "rule" in expect:
            wanted["rule"] = expect["rule"]
        if "param" in expect:
            wanted["param"] = expect["param"]
            got["param"] = decision.violation.param if decision.violation else None
        if "monitored" in expect:
            wanted["monitored"] = sorted(expect["monitored"])
            got["monitored"] = sorted(m.rule_id for m in decision.monitored)
        passed = all(got.get(k) == v for k, v in wanted.items())
        outcomes.append(TestOutcome(file, line, test["name"], passed, _show(wanted), _show(got)))
    return outcomes


def _show(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
